/* test_mlm.c - masked LMs (BERT, DistilBERT, RoBERTa) against the float64
 * reference tools/reference/mlmref.py, by pseudo-likelihood:
 *   - the C tokenizer gives the reference's ids;
 *   - |log p(C) - log p(ref)| <= 1e-4 and |H(C) - H(ref)| <= 1e-4 nats
 *     (the worst seen is printed; it is ~1e-6);
 *   - the C rank lies in the reference's [rank_lo, rank_hi] (ties within
 *     1e-5), top-k ids equal modulo such ties;
 *   - the same with one copy per forward batch and with 64-token batches.
 * Plus: the refusal of checkpoints without an MLM head, the model info, and
 * the last-layer-at-one-row forward against the full forward. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model/model.h"
#include "testutil.h"

static void check_model(const char *dir, const char *golden_path) {
    lmd_error err;
    lmd_model *m;
    if (lmd_model_load(dir, &m, &err) < 0) fail_msg("%s", err.msg);
    lmd_model_info info;
    lmd_model_get_info(m, &info);
    assert_int_equal(info.masked_lm, 1);
    tu_golden g;
    tu_golden_read(&g, golden_path, lmd_model_tokenizer(m), dir);
    const size_t nc = g.n;
    size_t total = 0;
    const int32_t *idp[TU_GOLDEN_MAX];
    for (size_t i = 0; i < nc; i++)
        idp[i] = g.ids[i], total += g.n_ids[i];
    /* all texts at once (default batches), one copy per batch, 64-token
     * batches (several copies of a text and of different texts together) */
    lmd_score_opts opts[] = {
        {.top_k = 10}, {.top_k = 10, .max_batch_tokens = 1}, {.top_k = 10, .max_batch_tokens = 64}};
    double worst[2] = {0, 0};
    for (size_t o = 0; o < sizeof opts / sizeof opts[0]; o++) {
        lmd_scores sc[TU_GOLDEN_MAX];
        if (lmd_score_ids(m, idp, g.n_ids, nc, &opts[o], sc, &err) < 0) fail_msg("%s", err.msg);
        for (size_t c = 0; c < nc; c++) {
            tu_golden_check(&g, c, &sc[c], dir, worst);
            lmd_scores_free(&sc[c]);
        }
    }
    printf("  %s: %zu texts, %zu tokens; worst |dlogp| %.2e\n", dir, nc, total, worst[0]);
    tu_golden_free(&g);
    lmd_model_free(m);
}

static void test_bert(void **state) {
    (void)state;
    tu_golden_run(check_model, "tests/models/", "", "tiny-bert");
}
static void test_distilbert(void **state) {
    (void)state;
    tu_golden_run(check_model, "tests/models/", "", "tiny-distilbert");
}
static void test_roberta(void **state) {
    (void)state;
    tu_golden_run(check_model, "tests/models/", "", "tiny-roberta");
}

/* The demo BERT pair (demo/models, trained by tools/demo/train_bert.py) against
 * golden files from the training code's own float64 forward: ties the masked-LM
 * engine to trained weights and a real WordPiece vocabulary. */
static void test_demo_bert(void **state) {
    (void)state;
    tu_golden_run(check_model, "demo/models/", "demo-", "bert-base");
    tu_golden_run(check_model, "demo/models/", "demo-", "bert-kjv");
}

static void test_tiniest_bert(void **state) {
    (void)state;
    tu_golden_run_shared(check_model, "tiniest-bert");
}

static void expect_refusal(const char *name, const char *needle) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/models/%s", name);
    char *dir = tu_src_path(rel);
    lmd_model *m = NULL;
    lmd_error err = {0};
    assert_int_equal(lmd_model_load(dir, &m, &err), -1);
    assert_null(m);
    if (!strstr(err.msg, needle)) fail_msg("%s: message lacks \"%s\": %s", name, needle, err.msg);
    free(dir);
}

static void test_headless_refused(void **state) {
    (void)state;
    expect_refusal("tiny-bert-cls", "has no masked-LM head");
    expect_refusal("tiny-bert-nohead", "no masked-LM head");
}

static void test_info(void **state) {
    (void)state;
    static const struct {
        const char *name, *arch;
        int masked, ctx;
    } want[] = {{"tiny-bert", "BertForMaskedLM", 1, 64},
                {"tiny-distilbert", "DistilBertForMaskedLM", 1, 64},
                {"tiny-roberta", "RobertaForMaskedLM", 1, 22}, /* 24 - pad 1 - 1 */
                {"tiny-a", "GPT2LMHeadModel", 0, 64}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/models/%s", want[i].name);
        char *dir = tu_src_path(rel);
        lmd_model *m;
        lmd_error err;
        if (lmd_model_load(dir, &m, &err) < 0) fail_msg("%s", err.msg);
        lmd_model_info info;
        lmd_model_get_info(m, &info);
        assert_string_equal(info.arch, want[i].arch);
        assert_int_equal(info.masked_lm, want[i].masked);
        assert_int_equal(info.n_ctx, want[i].ctx);
        if (want[i].masked && strcmp(want[i].name, "tiny-roberta")) {
            /* every stored tensor is a parameter, the tied decoder counted
             * once (tiny-roberta stores its decoder bias twice, as HF does) */
            int64_t sum = 0;
            for (size_t t = 0; t < m->st.n_tensors; t++)
                sum += m->st.tensors[t].numel;
            assert_int_equal(info.n_params, sum);
        }
        lmd_model_free(m);
        free(dir);
    }
}

/* The forward that runs the last layer at one row per sequence gives the
 * rows of the full forward. */
static void test_forward_sel(void **state) {
    (void)state;
    char *dir = tu_src_path("tests/models/tiny-bert");
    lmd_model *m;
    lmd_error err;
    if (lmd_model_load(dir, &m, &err) < 0) fail_msg("%s", err.msg);
    const int d = m->info.n_embd;
    int32_t a[40], b[7];
    for (int i = 0; i < 40; i++)
        a[i] = (i * 37 + 5) % 550;
    for (int i = 0; i < 7; i++)
        b[i] = (i * 91 + 3) % 550;
    lmd_seq seqs[2] = {{a, 40}, {b, 7}};
    int sel[2] = {39, 0};
    float *full = malloc(47 * (size_t)d * sizeof *full), *one = malloc(2 * (size_t)d * sizeof *one);
    assert_int_equal(m->ops->forward(m, seqs, 2, full, &err), 0);
    assert_int_equal(lmd_bert_forward_sel(m, seqs, 2, sel, one, &err), 0);
    double worst = 0;
    for (int s = 0; s < 2; s++) {
        const float *r = full + (size_t)(s == 0 ? 39 : 40) * d;
        for (int i = 0; i < d; i++) {
            double e = fabs((double)r[i] - (double)one[(size_t)s * d + i]);
            if (e > worst) worst = e;
        }
    }
    if (worst > 1e-5) fail_msg("forward_sel differs from forward by %g", worst);
    /* a selected row outside its sequence is an error, not a crash */
    sel[1] = 7;
    assert_int_equal(lmd_bert_forward_sel(m, seqs, 2, sel, one, &err), -1);
    free(full);
    free(one);
    lmd_model_free(m);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert),
        cmocka_unit_test(test_distilbert),
        cmocka_unit_test(test_roberta),
        cmocka_unit_test(test_tiniest_bert),
        cmocka_unit_test(test_demo_bert),
        cmocka_unit_test(test_headless_refused),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_forward_sel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
