/* kl.c - what needs both models' full distributions at once (kl.h): the
 * per-token KL(P1 || P2) over the whole vocabulary, and the statistics
 * llama.cpp's `llama-perplexity --kl-divergence` prints (docs/measures.md).
 *
 * Both models run over [BOS] + ids in the scorer's sliding windows of the
 * smaller context (docs/scoring.md), a window at a time; the logits are made
 * LOGIT_ROWS rows at a time for both, so the memory is two windows of hidden
 * states plus 2 x LOGIT_ROWS x V floats, whatever the text length. */
#include "analysis/kl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/diff.h"
#include "model/model.h"

#define LOGIT_ROWS 32

/* The argmax of one row (lower id on ties). */
static int32_t row_top(const float *z, int V) {
    int32_t arg = 0;
    for (int v = 1; v < V; v++)
        if (z[v] > z[arg]) arg = v;
    return arg;
}

/* Both directions in one pass of 2V exps, in double: with e_k = exp(z_k -
 * max_k), s_k = sum e_k and l_k = max_k + ln s_k (the log-sum-exp),
 * KL(P1||P2) = sum P1 (ln P1 - ln P2) = sum e1 (z1 - z2) / s1 - l1 + l2,
 * since sum P1 = 1; the same with 1 and 2 swapped for KL(P2||P1). */
static void row_kl(const float *z1, const float *z2, int V, int32_t y, lmd_kl_token *out) {
    out->top1_1 = row_top(z1, V);
    out->top1_2 = row_top(z2, V);
    const double m1 = z1[out->top1_1], m2 = z2[out->top1_2];
    double s1 = 0, s2 = 0, t1 = 0, t2 = 0;
    for (int v = 0; v < V; v++) {
        const double e1 = exp(z1[v] - m1), e2 = exp(z2[v] - m2), d = (double)z1[v] - z2[v];
        s1 += e1, s2 += e2, t1 += e1 * d, t2 -= e2 * d;
    }
    const double l1 = m1 + log(s1), l2 = m2 + log(s2);
    const double kl = t1 / s1 - l1 + l2, kr = t2 / s2 - l2 + l1;
    out->kl = kl > 0 ? kl : 0; /* rounding can leave -1e-17 */
    out->kl_rev = kr > 0 ? kr : 0;
    out->logp1 = z1[y] - l1;
    out->logp2 = z2[y] - l2;
}

/* One window of the scorer's sliding windows (docs/scoring.md): s[a ..
 * a+len) scores targets first..last of s = [BOS] + ids. */
typedef struct kl_window {
    size_t a, first, last;
    int len;
} kl_window;

static kl_window next_window(size_t done, size_t n, size_t W) {
    kl_window w;
    if (done == 0) {
        w.a = 0;
        w.last = n + 1 <= W ? n : W - 1;
        w.len = (int)(w.last + 1);
        w.first = 1;
    } else {
        w.last = done + W / 2 < n ? done + W / 2 : n;
        w.a = w.last + 1 - W;
        w.len = (int)W;
        w.first = done + 1;
    }
    return w;
}

int lmd_kl_tokens(const lmd_model *m1, const lmd_model *m2, const int32_t *ids, size_t n,
                  lmd_kl_token *out, lmd_error *err) {
    const lmd_model *ms[2] = {m1, m2};
    const int V = m1->info.vocab_size;
    for (int k = 0; k < 2; k++)
        if (ms[k]->info.masked_lm)
            return lmd_fail_code(err, LMD_ERR_UNSUPPORTED,
                                 "%s: KL needs causal LMs (this one is masked)", ms[k]->name);
    if (m2->info.vocab_size != V)
        return lmd_fail_code(err, LMD_ERR_UNSUPPORTED,
                             "%s and %s: vocabularies of %d and %d rows: KL needs the same one",
                             m1->name, m2->name, V, m2->info.vocab_size);
    if (!lmd_tokenizers_compatible(m1->tok, m2->tok))
        return lmd_fail_code(err, LMD_ERR_UNSUPPORTED, "%s and %s do not share a tokenizer",
                             m1->name, m2->name);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V)
            return lmd_fail(err, "token id %d is outside the vocabulary", ids[i]);
    if (n == 0) return 0;
    /* both models see the same windows: those of the smaller context */
    const size_t W = (size_t)(m1->info.n_ctx < m2->info.n_ctx ? m1->info.n_ctx : m2->info.n_ctx);
    const size_t rows_max = n + 1 < W ? n + 1 : W;
    int32_t *seq = malloc((n + 1) * sizeof *seq);
    float *h[2] = {NULL, NULL}, *z[2] = {NULL, NULL};
    int rc = -1;
    if (!seq) goto oom;
    seq[0] = lmd_tokenizer_bos(m1->tok);
    memcpy(seq + 1, ids, n * sizeof *ids);
    for (int k = 0; k < 2; k++) {
        h[k] = malloc(rows_max * (size_t)ms[k]->info.n_embd * sizeof **h);
        z[k] = malloc((size_t)LOGIT_ROWS * (size_t)V * sizeof **z);
        if (!h[k] || !z[k]) goto oom;
    }
    for (size_t done = 0; done < n;) {
        const kl_window w = next_window(done, n, W);
        lmd_seq s = {seq + w.a, w.len};
        for (int k = 0; k < 2; k++)
            if (ms[k]->ops->forward(ms[k], &s, 1, h[k], err) < 0) goto done;
        /* window row j predicts s[a + j + 1]: targets first..last */
        for (size_t t0 = w.first; t0 <= w.last; t0 += LOGIT_ROWS) {
            const size_t rows = w.last + 1 - t0 < LOGIT_ROWS ? w.last + 1 - t0 : LOGIT_ROWS;
            for (int k = 0; k < 2; k++) {
                const size_t d = (size_t)ms[k]->info.n_embd;
                if (lmd_model_logits(ms[k], h[k] + (t0 - 1 - w.a) * d, rows, z[k], (size_t)V) < 0)
                    goto oom;
            }
#pragma omp parallel for schedule(static)
            for (size_t r = 0; r < rows; r++)
                row_kl(z[0] + r * (size_t)V, z[1] + r * (size_t)V, V, seq[t0 + r],
                       &out[t0 + r - 1]);
        }
        done = w.last;
    }
    rc = 0;
    goto done;
oom:
    lmd_fail(err, "out of memory");
done:
    for (int k = 0; k < 2; k++)
        free(h[k]), free(z[k]);
    free(seq);
    return rc;
}

int lmd_kl_json(lmd_buf *out, const lmd_kl_token *k, size_t n) {
    double sum = 0, mx = 0;
    lmd_buf_puts(out, ",\"kl\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) lmd_buf_puts(out, ",");
        lmd_json_f64(out, k[i].kl);
        sum += k[i].kl;
        if (k[i].kl > mx) mx = k[i].kl;
    }
    lmd_buf_puts(out, "],\"kl_mean\":");
    lmd_json_f64(out, n ? sum / (double)n : 0);
    lmd_buf_puts(out, ",\"kl_max\":");
    return lmd_json_f64(out, mx);
}

/* ---- llama-perplexity --kl-divergence's statistics */

typedef struct moments {
    double n, s, ss;
} moments;

static void add(moments *m, double x) {
    m->n++, m->s += x, m->ss += x * x;
}
static double mean(const moments *m) {
    return m->n ? m->s / m->n : 0;
}
/* the standard error of the mean: sqrt(var / (n - 1)), var = E[x^2] - E[x]^2 */
static double sem(const moments *m) {
    if (m->n < 2) return 0;
    const double v = m->ss / m->n - mean(m) * mean(m);
    return v > 0 ? sqrt(v / (m->n - 1)) : 0;
}

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Value at fraction f of sorted v[n], linearly between neighbours. */
static double pct(const double *v, size_t n, double f) {
    if (n == 0) return 0;
    const double p = f * (double)(n - 1);
    const size_t i = (size_t)p;
    return i + 1 < n ? v[i] + (p - (double)i) * (v[i + 1] - v[i]) : v[n - 1];
}

static const double fractions[LMD_KL_NPCT] = {1.0, 0.999, 0.99, 0.95, 0.90,
                                              0.5, 0.10,  0.05, 0.01, 0.0};

int lmd_kl_stats(const lmd_kl_token *t, size_t n, lmd_kl_report *r, lmd_error *err) {
    memset(r, 0, sizeof *r);
    if (n < 2) return lmd_fail(err, "the statistics need at least 2 tokens");
    double *kl = malloc(n * sizeof *kl), *dp = malloc(n * sizeof *dp);
    if (!kl || !dp) {
        free(kl), free(dp);
        return lmd_fail(err, "out of memory");
    }
    moments nll1 = {0}, nll2 = {0}, dn = {0}, mk = {0}, mdp = {0}, mdp2 = {0}, same = {0};
    double cross = 0;
    for (size_t i = 0; i < n; i++) {
        add(&nll1, -t[i].logp1);
        add(&nll2, -t[i].logp2);
        add(&dn, t[i].logp1 - t[i].logp2); /* ln PPL(2)/PPL(1) per token */
        cross += t[i].logp1 * t[i].logp2;
        add(&mk, t[i].kl);
        kl[i] = t[i].kl;
        dp[i] = exp(t[i].logp2) - exp(t[i].logp1);
        add(&mdp, dp[i]);
        add(&mdp2, dp[i] * dp[i]);
        add(&same, t[i].top1_1 == t[i].top1_2);
    }
    r->n = n;
    r->ppl1 = exp(mean(&nll1)), r->ppl1_err = r->ppl1 * sem(&nll1);
    r->ppl2 = exp(mean(&nll2)), r->ppl2_err = r->ppl2 * sem(&nll2);
    const double v1 = nll1.ss / n - mean(&nll1) * mean(&nll1);
    const double v2 = nll2.ss / n - mean(&nll2) * mean(&nll2);
    const double cov = cross / n - mean(&nll1) * mean(&nll2);
    r->cor = v1 > 0 && v2 > 0 ? cov / sqrt(v1 * v2) : 1;
    r->ln_ratio = mean(&dn), r->ln_ratio_err = sem(&dn);
    r->ratio = exp(r->ln_ratio), r->ratio_err = r->ratio * r->ln_ratio_err;
    r->diff = r->ppl2 - r->ppl1;
    const double u = r->ppl1_err * r->ppl1_err + r->ppl2_err * r->ppl2_err -
                     2 * r->cor * r->ppl1_err * r->ppl2_err;
    r->diff_err = u > 0 ? sqrt(u) : 0;
    r->kl_mean = mean(&mk), r->kl_err = sem(&mk);
    r->dp_mean = mean(&mdp), r->dp_err = sem(&mdp);
    r->dp_rms = sqrt(mean(&mdp2));
    r->dp_rms_err = r->dp_rms > 0 ? sem(&mdp2) / (2 * r->dp_rms) : 0;
    r->same_top = mean(&same);
    r->same_top_err = sqrt(r->same_top * (1 - r->same_top) / (double)(n - 1));
    qsort(kl, n, sizeof *kl, cmp_d);
    qsort(dp, n, sizeof *dp, cmp_d);
    for (int k = 0; k < LMD_KL_NPCT; k++) {
        r->kl_pct[k] = pct(kl, n, fractions[k]);
        r->dp_pct[k] = pct(dp, n, fractions[k]);
    }
    free(kl);
    free(dp);
    return 0;
}

double lmd_kl_fraction(int k) {
    return fractions[k];
}
