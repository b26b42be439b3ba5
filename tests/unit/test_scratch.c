/* test_scratch.c - the working memory threads keep between forwards
 * (kernel/scratch.h): a slot grows and is then reused, parts are aligned and
 * disjoint, each thread has its own slots and a thread's exit or
 * lmd_scratch_release frees them; and no score depends on what the kept
 * buffers held before: each model (GPT-2, GPT-NeoX, BERT's masked LM, Llama
 * and a Qwen3 MoE at f32 and bf16, Llama packed) scores three texts in one
 * batch from fresh memory and again after every slot was filled with NaN
 * bytes, and the two agree bit for bit; the repeated scoring takes no fresh
 * slot memory.  The masked LMs (BERT, RoBERTa, DistilBERT: score_mlm.c, texts
 * longer than RoBERTa's context) and a KL pair (kl.c: GPT-2 against another
 * GPT-2, a text longer than the context, batches smaller than the texts)
 * are checked the same way. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/kl.h"
#include "lmdiff.h"
#include "model/kernel/scratch.h"
#include "model/matmul.h"
#include "testutil.h"

#define N_TEXTS 3

static void test_slots(void **state) {
    (void)state;
    lmd_scratch_release();
    assert_int_equal(lmd_scratch_held(), 0);
    char *a = lmd_scratch(LMD_SCR_DENSE, 1000);
    assert_non_null(a);
    assert_int_equal((uintptr_t)a % 64, 0);
    assert_true(lmd_scratch_size(LMD_SCR_DENSE) >= 1000);
    memset(a, 1, 1000);
    assert_ptr_equal(lmd_scratch(LMD_SCR_DENSE, 500), a); /* kept, not shrunk */
    char *b = lmd_scratch(LMD_SCR_DENSE, 1 << 20);        /* grown */
    assert_non_null(b);
    memset(b, 2, 1 << 20);
    assert_true(lmd_scratch_size(LMD_SCR_DENSE) >= (1 << 20));
    size_t sz[3] = {3, 100, 65};
    void *p[3];
    assert_int_equal(lmd_scratch_parts(LMD_SCR_ATTN, 3, sz, p), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal((uintptr_t)p[i] % 64, 0);
    assert_true((char *)p[1] >= (char *)p[0] + 3 && (char *)p[2] >= (char *)p[1] + 100);
    char *l = lmd_scratch(LMD_SCR_LOGITS, 10);
    assert_int_equal((uintptr_t)l % (2u << 20), 0); /* the logits: 2 MB-aligned */
    assert_int_equal(lmd_scratch_held(), lmd_scratch_size(LMD_SCR_DENSE) +
                                             lmd_scratch_size(LMD_SCR_ATTN) +
                                             lmd_scratch_size(LMD_SCR_LOGITS));
    lmd_scratch_release();
    assert_int_equal(lmd_scratch_held(), 0);
}

static void *other_thread(void *arg) {
    (void)arg;
    size_t before = lmd_scratch_held();
    void *p = lmd_scratch(LMD_SCR_FORWARD, 4096);
    return (void *)(uintptr_t)(before == 0 && p && lmd_scratch_held() >= 4096);
}

static void test_threads(void **state) {
    (void)state;
    void *mine = lmd_scratch(LMD_SCR_FORWARD, 100);
    assert_non_null(mine);
    pthread_t t;
    void *ok;
    for (int i = 0; i < 2; i++) { /* slots of their own; freed at their exit (ASan: no leak) */
        assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
        assert_int_equal(pthread_join(t, &ok), 0);
        assert_true(ok != NULL);
    }
    assert_ptr_equal(lmd_scratch(LMD_SCR_FORWARD, 100), mine);
    lmd_scratch_release();
}

static const size_t LENS[N_TEXTS] = {1, 17, 40};

static lmd_model *load(const char *name, lmd_precision prec, int pack) {
    lmd_model_opts o = {.precision = prec, .pack_weights = pack};
    return tu_test_model(name, &o);
}

static void poison(void) {
    for (int i = 0; i < LMD_SCR_N; i++) {
        size_t n = lmd_scratch_size((lmd_scratch_slot)i);
        if (n) memset(lmd_scratch((lmd_scratch_slot)i, n), 0xFF, n); /* NaN floats */
    }
}

static void check(const char *name, lmd_precision prec, int pack) {
    lmd_model *m = load(name, prec, pack);
    lmd_scores a[N_TEXTS] = {0}, b[N_TEXTS] = {0};
    lmd_scratch_release();
    tu_score_random(m, 777, N_TEXTS, LENS, a); /* fresh memory */
    size_t held = lmd_scratch_held();
    assert_true(held > 0);
    poison();
    tu_score_random(m, 777, N_TEXTS, LENS, b);
    assert_int_equal(lmd_scratch_held(), held); /* the same batch: nothing new */
    tu_expect_same_scores(a, b, N_TEXTS);
    print_message("%s (%s%s): equal over poisoned scratch; %.1f kB kept\n", name,
                  prec == LMD_PRECISION_BF16 ? "bf16" : "f32", pack ? ", packed" : "",
                  (double)held / 1024);
    lmd_model_free(m);
    assert_int_equal(lmd_scratch_held(), 0); /* lmd_model_free releases its thread's */
}

static void test_scores_ignore_contents(void **state) {
    (void)state;
    check("tiny-a", LMD_PRECISION_F32, 0);
    check("tiny-f16", LMD_PRECISION_F32, 0); /* widened tiles */
    check("tiny-neox", LMD_PRECISION_F32, 0);
    check("tiny-bert", LMD_PRECISION_F32, 0); /* masked LMs: score_mlm.c */
    check("tiny-roberta", LMD_PRECISION_F32, 0);
    check("tiny-distilbert", LMD_PRECISION_F32, 0);
    check("tiny-llama-bf16", LMD_PRECISION_F32, 0);
    check("tiny-qwen3moe-bf16", LMD_PRECISION_F32, 0);
    if (!lmd_bf16_available(NULL)) return; /* no BF16 matmul in this oneDNN build */
    check("tiny-a", LMD_PRECISION_BF16, 0);
    check("tiny-llama-bf16", LMD_PRECISION_BF16, 0);
    check("tiny-llama-bf16", LMD_PRECISION_BF16, 1);
    check("tiny-qwen3moe-bf16", LMD_PRECISION_BF16, 0);
}

/* KL of tiny-a against tiny-b over texts of 1, 17 and 150 tokens (the last
 * in windows of the context of 64) in forward batches of at most 64 rows. */
static void kl(const lmd_model *a, const lmd_model *b, lmd_kl_token **out) {
    int32_t *ids[N_TEXTS];
    const size_t lens[N_TEXTS] = {1, 17, 150};
    tu_random_ids(777, 557, N_TEXTS, lens, ids);
    for (int t = 0; t < N_TEXTS; t++)
        out[t] = malloc(lens[t] * sizeof **out);
    lmd_error err;
    if (lmd_kl_tokens_batch(a, b, (const int32_t *const *)ids, lens, N_TEXTS, 64, out, &err) < 0)
        fail_msg("%s", err.msg);
    for (int t = 0; t < N_TEXTS; t++)
        free(ids[t]);
}

static void test_kl_ignores_contents(void **state) {
    (void)state;
    lmd_model *a = load("tiny-a", LMD_PRECISION_F32, 0), *b = load("tiny-b", LMD_PRECISION_F32, 0);
    lmd_kl_token *x[N_TEXTS], *y[N_TEXTS];
    lmd_scratch_release();
    kl(a, b, x); /* fresh memory */
    size_t held = lmd_scratch_held();
    poison();
    kl(a, b, y);
    assert_int_equal(lmd_scratch_held(), held);
    const size_t lens[N_TEXTS] = {1, 17, 150};
    for (int t = 0; t < N_TEXTS; t++) {
        for (size_t i = 0; i < lens[t]; i++) /* the pair differs: the KL is not a constant */
            assert_true(x[t][i].kl > 0 && x[t][i].kl < 1e3);
        assert_memory_equal(x[t], y[t], lens[t] * sizeof **x);
        free(x[t]), free(y[t]);
    }
    print_message("KL tiny-a || tiny-b: equal over poisoned scratch; %.1f kB kept\n",
                  (double)held / 1024);
    lmd_model_free(a), lmd_model_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_slots), cmocka_unit_test(test_threads),
                                       cmocka_unit_test(test_scores_ignore_contents),
                                       cmocka_unit_test(test_kl_ignores_contents)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
