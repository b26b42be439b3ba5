/* test_packed.c - lmd_model_opts.pack_weights (decoder.c's bind through
 * lmd_mat_pack): for the BF16 decoder models in tests/models (Llama with an
 * untied head, Phi-3's fused qkv_proj / gate_up_proj, OLMo-2, Gemma 2, a
 * Qwen3 MoE), scores at --precision bf16 with packed weights equal the
 * unpacked ones bit for bit (the same BF16 inputs and weights, F32
 * accumulation: packing moves bytes, it rounds nothing), on texts long
 * of 1, 17 and 40 tokens in one batch; the packed copies exist (q/k/v
 * fused, o, gate/up fused, down) only when asked.  (That released pages leave the
 * resident set is test_matmul's.)  Skipped where oneDNN has no BF16 matmul. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmdiff.h"
#include "model/arch/decoder.h"
#include "model/matmul.h"
#include "model/model.h"
#include "testutil.h"

#define N_TEXTS 3

static const size_t LENS[N_TEXTS] = {1, 17, 40};

static lmd_model *load(const char *name, int pack) {
    lmd_model_opts o = {.precision = LMD_PRECISION_BF16, .pack_weights = pack};
    return tu_test_model(name, &o);
}

static void check_model(const char *name) {
    lmd_model *a = load(name, 0), *b = load(name, 1);
    const lmd_dec_layer *la = a->layers, *lb = b->layers;
    assert_null(la[0].wdown.packed); /* packed only when asked */
    if (!lb[0].router.data) {        /* the MoE's experts stay as they are */
        assert_non_null(lb[0].wdown.packed);
        assert_non_null(lb[0].wgate_up.packed);
    }
    assert_non_null(lb[0].wqkv.packed);
    assert_non_null(lb[0].wo.packed);
    lmd_scores sa[N_TEXTS] = {0}, sb[N_TEXTS] = {0};
    tu_score_random(a, 12345, N_TEXTS, LENS, sa);
    tu_score_random(b, 12345, N_TEXTS, LENS, sb);
    tu_expect_same_scores(sa, sb, N_TEXTS);
    print_message("%s: packed scores equal the unpacked ones bit for bit\n", name);
    lmd_model_free(a), lmd_model_free(b);
}

static void test_packed_scores(void **state) {
    (void)state;
    const char *impl;
    if (!lmd_bf16_available(&impl)) skip();
    print_message("oneDNN BF16 matmul: %s\n", impl);
    static const char *const models[] = {"tiny-llama-bf16", "tiny-phi3-bf16", "tiny-olmo2-bf16",
                                         "tiny-gemma2-bf16", "tiny-qwen3moe-bf16"};
    for (size_t i = 0; i < sizeof models / sizeof *models; i++)
        check_model(models[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_packed_scores)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
