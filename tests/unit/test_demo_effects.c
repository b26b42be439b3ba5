/* test_demo_effects.c - the demo zoo shows what it is meant to show
 * (issue "demo zoo", §4): after fine-tuning on Austen, gpt-austen gives the
 * held-out Persuasion paragraphs a clearly higher mean log-probability per
 * token than gpt-base, and the in-domain WordNet glosses a clearly lower one;
 * gpt-distil (half the layers, distilled from gpt-base) trails gpt-base on
 * both.  Measured on the first 60 texts of each demo dataset. */
#include <stdio.h>
#include <stdlib.h>

#include "analysis/corpus.h"
#include "testutil.h"

#define N_TEXTS 60
#define MARGIN 0.3        /* nats per token */
#define MARGIN_DISTIL 0.1 /* nats per token */

static double mean_logprob(const char *model, const char *dataset) {
    char rel[256];
    snprintf(rel, sizeof rel, "demo/models/%s", model);
    char *mdir = tu_src_path(rel);
    snprintf(rel, sizeof rel, "demo/datasets/%s.txt", dataset);
    char *dpath = tu_src_path(rel);
    lmd_error err;
    lmd_model *m;
    lmd_dataset *ds;
    if (lmd_model_load(mdir, &m, &err) < 0) fail_msg("%s", err.msg);
    if (lmd_dataset_load(dpath, 1, &ds, &err) < 0) fail_msg("%s", err.msg);
    size_t n = ds->n_texts < N_TEXTS ? ds->n_texts : N_TEXTS;
    assert_true(n > 0);
    int32_t **ids = calloc(n, sizeof *ids);
    size_t *lens = calloc(n, sizeof *lens);
    lmd_scores *s = calloc(n, sizeof *s);
    for (size_t i = 0; i < n; i++)
        if (lmd_tokenize(lmd_model_tokenizer(m), ds->texts[i], ds->lens[i], &ids[i], &lens[i],
                         &err) < 0)
            fail_msg("%s", err.msg);
    if (lmd_score_ids(m, (const int32_t *const *)ids, lens, n, NULL, s, &err) < 0)
        fail_msg("%s", err.msg);
    double sum = 0;
    size_t tokens = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t t = 0; t < s[i].n; t++)
            sum += s[i].logprob[t];
        tokens += s[i].n;
        lmd_scores_free(&s[i]);
        free(ids[i]);
    }
    free(ids), free(lens), free(s);
    lmd_dataset_free(ds);
    lmd_model_free(m);
    free(mdir);
    free(dpath);
    double mean = sum / (double)tokens;
    printf("  %-10s on %-10s: %zu tokens, mean log-prob %.4f\n", model, dataset, tokens, mean);
    return mean;
}

static void test_finetune_effect(void **state) {
    (void)state;
    double base_p = mean_logprob("gpt-base", "persuasion");
    double austen_p = mean_logprob("gpt-austen", "persuasion");
    double base_g = mean_logprob("gpt-base", "glosses");
    double austen_g = mean_logprob("gpt-austen", "glosses");
    assert_true(austen_p > base_p + MARGIN);
    assert_true(base_g > austen_g + MARGIN);
}

static void test_distil_trails(void **state) {
    (void)state;
    double base_p = mean_logprob("gpt-base", "persuasion");
    double distil_p = mean_logprob("gpt-distil", "persuasion");
    double base_g = mean_logprob("gpt-base", "glosses");
    double distil_g = mean_logprob("gpt-distil", "glosses");
    assert_true(base_p > distil_p + MARGIN_DISTIL);
    assert_true(base_g > distil_g + MARGIN_DISTIL);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_finetune_effect),
                                       cmocka_unit_test(test_distil_trails)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
