/* test_gguf_convert.c - `lmdiff convert` (lmd_gguf_convert) round trips: the
 * test models (GPT-2 tied and untied, Llama, Qwen2, GPT-NeoX, an F16 GPT-2)
 * written as F32 and F16 GGUFs and read back give every weight bit for bit
 * (F16: the F32 value rounded to F16), in Hugging Face order (q/k and qkv
 * permutations, GPT-2's transposes undone), and the same scores within 1e-5
 * (the products run through other BLAS calls); Q8_0 weights are within
 * ggml's rounding bound of the originals (|y - x| <= (1/2 + 127/2048) d,
 * d = max|x|/127 of the block: rounding to the step, plus the F16 scale). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/format/gguf_convert.h"
#include "model/model.h"
#include "model/kernel/quant.h"
#include "testutil.h"

/* A tensor in Hugging Face order as F32 (transposed GGUF storage undone). */
static float *hf_f32(const lmd_tensor *t) {
    float *a = malloc((size_t)t->numel * sizeof *a), *b = malloc((size_t)t->numel * sizeof *b);
    lmd_tensor_to_f32(t, a);
    if (!t->transposed) {
        free(b);
        return a;
    }
    const size_t rows = (size_t)t->shape[0], cols = (size_t)t->shape[1]; /* HF shape */
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            b[i * cols + j] = a[j * rows + i];
    free(a);
    return b;
}

static const lmd_tensor *find_any(const lmd_st_set *st, const char *name) {
    static const char *const pre[] = {"", "model.", "transformer.", "gpt_neox."};
    char full[300];
    for (size_t k = 0; k < 4; k++) {
        snprintf(full, sizeof full, "%s%s", pre[k], name);
        const lmd_tensor *t = lmd_st_find(st, full);
        if (t) return t;
    }
    return NULL;
}

static double score_gap(lmd_model *a, lmd_model *b) {
    static const char text[] = "Hello world, this is a test of the conversion to GGUF.";
    lmd_scores sa, sb;
    lmd_error err;
    if (lmd_score_text(a, text, sizeof text - 1, NULL, &sa, &err) < 0 ||
        lmd_score_text(b, text, sizeof text - 1, NULL, &sb, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(sa.n, sb.n);
    double gap = 0;
    for (size_t i = 0; i < sa.n; i++)
        gap = fmax(gap, fabs(sa.logprob[i] - sb.logprob[i]));
    lmd_scores_free(&sa);
    lmd_scores_free(&sb);
    return gap;
}

static void round_trip(const char *model, const char *type_name, lmd_dtype type) {
    char *src = tu_src_path(model), dir[] = "/tmp/lmd_conv_XXXXXX", out[128];
    assert_non_null(mkdtemp(dir));
    snprintf(out, sizeof out, "%s/m.gguf", dir);
    lmd_error err;
    if (lmd_gguf_convert(src, out, type, &err) < 0) fail_msg("%s: %s", model, err.msg);
    lmd_model *hf, *gg;
    if (lmd_model_load(src, &hf, &err) < 0 || lmd_model_load(out, &gg, &err) < 0)
        fail_msg("%s", err.msg);
    size_t checked = 0;
    for (size_t i = 0; i < gg->st.n_tensors; i++) {
        const lmd_tensor *g = &gg->st.tensors[i], *h = find_any(&hf->st, g->name);
        if (!h) fail_msg("%s: %s is not in the folder", model, g->name);
        assert_int_equal(g->numel, h->numel);
        float *x = hf_f32(h), *y = hf_f32(g);
        if (g->transposed && type == LMD_Q8_0) { /* blocks run along the stored rows */
            lmd_tensor_to_f32(g, y);
            const size_t rows = (size_t)g->shape[0], cols = (size_t)g->shape[1];
            float *xt = malloc((size_t)g->numel * sizeof *xt);
            for (size_t r = 0; r < rows; r++)
                for (size_t c = 0; c < cols; c++)
                    xt[c * rows + r] = x[r * cols + c];
            free(x);
            x = xt;
        }
        const int is_matrix = h->ndim == 2 && g->dtype != LMD_F32;
        for (int64_t k = 0; k < g->numel; k += is_matrix && type == LMD_Q8_0 ? 32 : 1) {
            if (!is_matrix || type == LMD_F32) {
                if (x[k] != y[k])
                    fail_msg("%s %s [%lld]: %g != %g", model, g->name, (long long)k, x[k], y[k]);
            } else if (g->dtype == LMD_F16) {
                float r;
                uint16_t hh = lmd_f32_to_f16(x[k]);
                lmd_dequant(LMD_F16, &hh, &r, 1);
                if (r != y[k])
                    fail_msg("%s %s [%lld]: %g != f16(%g)", model, g->name, (long long)k, y[k],
                             x[k]);
            } else { /* a Q8_0 block: the rows of HF order are whole blocks */
                float amax = 0;
                for (int j = 0; j < 32; j++)
                    amax = fmaxf(amax, fabsf(x[k + j]));
                for (int j = 0; j < 32; j++)
                    if (fabsf(y[k + j] - x[k + j]) > amax / 127 * (0.5f + 127.0f / 2048) * 1.0001f)
                        fail_msg("%s %s [%lld]: %g vs %g", model, g->name, (long long)(k + j),
                                 y[k + j], x[k + j]);
            }
        }
        free(x);
        free(y);
        checked++;
    }
    double gap = score_gap(hf, gg);
    print_message("%s as %s: %zu tensors checked, max |d logp| vs the folder %.2e\n", model,
                  type_name, checked, gap);
    if (type == LMD_F32) assert_true(gap <= 1e-5);
    assert_true(checked >= 8);
    lmd_model_free(hf);
    lmd_model_free(gg);
    unlink(out);
    rmdir(dir);
    free(src);
}

static const char *const models[] = {"tests/models/tiny-a",     "tests/models/tiny-untied",
                                     "tests/models/tiny-llama", "tests/models/tiny-qwen2",
                                     "tests/models/tiny-neox",  "tests/models/tiny-f16"};

static void test_f32(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        round_trip(models[i], "F32", LMD_F32);
}
static void test_f16(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        round_trip(models[i], "F16", LMD_F16);
}
static void test_q8_0(void **state) {
    (void)state;
    round_trip("tests/models/tiny-llama", "Q8_0", LMD_Q8_0);
    round_trip("tests/models/tiny-a", "Q8_0", LMD_Q8_0);
}

static void test_refused(void **state) {
    (void)state;
    char *src = tu_src_path("tests/models/tiny-bert");
    lmd_error err;
    assert_int_equal(lmd_gguf_convert(src, "/tmp/never.gguf", LMD_F16, &err), -1);
    assert_non_null(strstr(err.msg, "no GGUF form"));
    assert_int_equal(access("/tmp/never.gguf", F_OK), -1);
    assert_int_equal(lmd_gguf_convert(src, "/tmp/never.gguf", LMD_Q4_K, &err), -1);
    free(src);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f32),
        cmocka_unit_test(test_f16),
        cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
