/* test_kl.c - the per-token KL and llama.cpp's quantization statistics:
 * lmd_kl_stats on four tokens whose statistics are worked out by hand in
 * the comments; lmd_kl_tokens of a model against itself is 0 and its
 * log-probabilities and top-1 tokens are the scorer's (score.c, another code
 * path), also for a text longer than the context (the sliding windows).  The KL values themselves
 * are checked against the float64 tools/reference/klref.py in tests/cli/gguf.sh. */
#include <math.h>
#include <stdlib.h>

#include "analysis/kl.h"
#include "lmdiff.h"
#include "testutil.h"

static void near(double got, double want, const char *what) {
    if (fabs(got - want) > 1e-12 + 1e-9 * fabs(want))
        fail_msg("%s: %.12g, wanted %.12g", what, got, want);
}

static void test_stats_by_hand(void **state) {
    (void)state;
    const double h = log(0.5), q = log(0.25), a = log(2.0);
    /* logp1, logp2, kl, top-1 same: (1/2, 1/4, .1, yes) (1/2, 1/2, .2, no)
     * (1/4, 1/2, .3, yes) (1/4, 1/4, .4, yes) */
    lmd_kl_token t[4] = {
        {0.1, h, q, 5, 5, 0}, {0.2, h, h, 5, 6, 0}, {0.3, q, h, 7, 7, 0}, {0.4, q, q, 1, 1, 0}};
    lmd_kl_report r;
    lmd_error err;
    assert_int_equal(lmd_kl_stats(t, 4, &r, &err), 0);
    /* NLL of both: ln2, ln2, ln4, ln4 in some order: mean 1.5 ln 2, PPL 2^1.5 */
    near(r.ppl1, pow(2, 1.5), "ppl base");
    near(r.ppl2, pow(2, 1.5), "ppl q");
    /* ln PPL ratio per token: ln2, 0, -ln2, 0: mean 0, var ln^2 2 / 2,
     * sem sqrt(var / 3) = ln2 / sqrt 6 */
    near(r.ln_ratio, 0, "ln ratio");
    near(r.ln_ratio_err, a / sqrt(6), "ln ratio err");
    near(r.ratio, 1, "ratio");
    /* centred NLLs (-a/2 -a/2 a/2 a/2) and (a/2 -a/2 -a/2 a/2): cov 0 */
    near(r.cor, 0, "cor");
    /* KL .1 .2 .3 .4: mean .25, var .075 - .0625, sem sqrt(.0125 / 3) */
    near(r.kl_mean, 0.25, "kl mean");
    near(r.kl_err, sqrt(0.0125 / 3), "kl err");
    near(r.kl_pct[0], 0.4, "kl max");
    near(r.kl_pct[4], 0.37, "kl 90%"); /* at 0.9 * 3 = 2.7: .3 + .7 * .1 */
    near(r.kl_pct[5], 0.25, "kl median");
    near(r.kl_pct[9], 0.1, "kl min");
    /* dp = p2 - p1: -.25, 0, .25, 0: mean 0, RMS sqrt(.125 / 4) */
    near(r.dp_mean, 0, "dp mean");
    near(r.dp_rms, sqrt(0.03125), "dp rms");
    near(r.dp_pct[0], 0.25, "dp max");
    near(r.dp_pct[9], -0.25, "dp min");
    /* same top: 3 of 4, err sqrt(.75 * .25 / 3) = .25 */
    near(r.same_top, 0.75, "same top");
    near(r.same_top_err, 0.25, "same top err");
    assert_int_equal(lmd_kl_stats(t, 1, &r, &err), -1);
}

static void against_scorer(const char *model) {
    char *dir = tu_src_path(model);
    lmd_model *m;
    lmd_error err;
    if (lmd_model_load(dir, &m, &err) < 0) fail_msg("%s", err.msg);
    /* longer than tiny-ctx16's 16-token context: the sliding windows */
    static const char text[] = "The scorer and the KL code must agree, window after window.";
    lmd_scores s;
    if (lmd_score_text(m, text, sizeof text - 1, NULL, &s, &err) < 0) fail_msg("%s", err.msg);
    lmd_kl_token *k = calloc(s.n, sizeof *k);
    if (lmd_kl_tokens(m, m, s.ids, s.n, k, &err) < 0) fail_msg("%s", err.msg);
    for (size_t i = 0; i < s.n; i++) {
        assert_true(k[i].kl == 0);
        assert_true(fabs(k[i].logp1 - s.logprob[i]) < 1e-6);
        assert_true(k[i].logp1 == k[i].logp2);
        assert_int_equal(k[i].top1_1, s.topk_ids[i * (size_t)s.k]);
    }
    free(k);
    lmd_scores_free(&s);
    lmd_model_free(m);
    free(dir);
}

static void test_against_scorer(void **state) {
    (void)state;
    against_scorer("tests/models/tiny-llama");
    against_scorer("tests/models/tiny-ctx16");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stats_by_hand),
        cmocka_unit_test(test_against_scorer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
