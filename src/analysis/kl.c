/* kl.c - what needs both models' full distributions at once (kl.h): the
 * per-token KL(P1 || P2) over the whole vocabulary, and the statistics
 * llama.cpp's `llama-perplexity --kl-divergence` prints (docs/measures.md).
 *
 * Both models run over [BOS] + ids in the scorer's sliding windows of the
 * smaller context (docs/scoring.md); several texts' windows go through one
 * forward call (up to a budget of rows, as the cache phase batches), and the
 * logits are made `rows` rows at a time for both (as many as fit LOGIT_BYTES
 * per model, 32 to 512: each call reads the whole output matrix, widened
 * from F16/BF16 where it is stored so), so the memory is both models' hidden
 * states of one batch plus 2 x rows x V floats, whatever the text length;
 * these are the calling thread's kept scratch (LMD_SCR_SCORE, LMD_SCR_LOGITS),
 * grown to the largest call and reused, so a repeated call touches no fresh
 * pages for them (docs/performance.md). */
#include "analysis/kl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/diff.h"
#include "model/kernel/scratch.h"
#include "model/model.h"

#define LOGIT_BYTES ((size_t)32 << 20)
#define LOGIT_ROWS_MIN 32
#define LOGIT_ROWS 512 /* the most */

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
 * a+len) of text `text` scores targets first..last of s = [BOS] + ids. */
typedef struct kl_window {
    size_t text, a, first, last;
    int len;
} kl_window;

static kl_window next_window(size_t done, size_t n, size_t W) {
    kl_window w = {0};
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

/* What one batched pass holds: each text's [BOS] + ids, its windows, and
 * per model the hidden states of one forward batch (at most max_rows rows),
 * `rows` gathered rows and their logits. */
typedef struct kl_run {
    const lmd_model *ms[2];
    int V, rows;
    int32_t **seq;
    kl_window *ws;
    size_t nw, max_rows;
    lmd_seq *seqs;
    size_t *row_of;
    float *h[2], *hr[2], *z[2];
} kl_run;

static int check_pair(const lmd_model *m1, const lmd_model *m2, lmd_error *err) {
    const lmd_model *ms[2] = {m1, m2};
    for (int k = 0; k < 2; k++)
        if (ms[k]->info.masked_lm)
            return lmd_fail_code(err, LMD_ERR_UNSUPPORTED,
                                 "%s: KL needs causal LMs (this one is masked)", ms[k]->name);
    if (m2->info.vocab_size != m1->info.vocab_size)
        return lmd_fail_code(err, LMD_ERR_UNSUPPORTED,
                             "%s and %s: vocabularies of %d and %d rows: KL needs the same one",
                             m1->name, m2->name, m1->info.vocab_size, m2->info.vocab_size);
    if (!lmd_tokenizers_compatible(m1->tok, m2->tok))
        return lmd_fail_code(err, LMD_ERR_UNSUPPORTED, "%s and %s do not share a tokenizer",
                             m1->name, m2->name);
    return 0;
}

/* The sequences and windows of every text (the windows of the smaller
 * context, so both models see the same ones), and the buffers. */
static int run_init(kl_run *r, const int32_t *const *ids, const size_t *n, size_t n_texts,
                    size_t budget, lmd_error *err) {
    const size_t W = (size_t)(r->ms[0]->info.n_ctx < r->ms[1]->info.n_ctx ? r->ms[0]->info.n_ctx
                                                                          : r->ms[1]->info.n_ctx);
    size_t nw = 0, rows = 0;
    for (size_t t = 0; t < n_texts; t++) {
        for (size_t i = 0; i < n[t]; i++)
            if (ids[t][i] < 0 || ids[t][i] >= r->V)
                return lmd_fail(err, "token id %d is outside the vocabulary", ids[t][i]);
        for (size_t done = 0; done < n[t]; nw++)
            done = next_window(done, n[t], W).last;
    }
    if (!(r->seq = calloc(n_texts ? n_texts : 1, sizeof *r->seq)) ||
        !(r->ws = malloc((nw ? nw : 1) * sizeof *r->ws)) ||
        !(r->seqs = malloc((nw ? nw : 1) * sizeof *r->seqs)) ||
        !(r->row_of = malloc((nw ? nw : 1) * sizeof *r->row_of)))
        return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    for (size_t t = 0; t < n_texts; t++) {
        if (!n[t]) continue;
        if (!(r->seq[t] = malloc((n[t] + 1) * sizeof **r->seq)))
            return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
        r->seq[t][0] = lmd_tokenizer_bos(r->ms[0]->tok);
        memcpy(r->seq[t] + 1, ids[t], n[t] * sizeof **ids);
        for (size_t done = 0; done < n[t]; done = r->ws[r->nw++].last) {
            r->ws[r->nw] = next_window(done, n[t], W);
            r->ws[r->nw].text = t;
            rows += (size_t)r->ws[r->nw].len;
        }
    }
    const size_t fit = LOGIT_BYTES / ((size_t)r->V * sizeof(float));
    r->rows = fit < LOGIT_ROWS_MIN ? LOGIT_ROWS_MIN : fit > LOGIT_ROWS ? LOGIT_ROWS : (int)fit;
    r->max_rows = budget > W ? budget : W;
    if (r->max_rows > rows) r->max_rows = rows;
    /* per model its hidden rows and gathered rows, and its block of logits:
     * the thread's kept scratch (kernel/scratch.h), no fresh pages per call */
    size_t sz[4], zsz[2];
    for (int k = 0; k < 2; k++) {
        const size_t d = (size_t)r->ms[k]->info.n_embd;
        sz[2 * k] = (r->max_rows ? r->max_rows : 1) * d * sizeof **r->h;
        sz[2 * k + 1] = (size_t)r->rows * d * sizeof **r->hr;
        zsz[k] = (size_t)r->rows * (size_t)r->V * sizeof **r->z;
    }
    void *p[4], *z[2];
    if (lmd_scratch_parts(LMD_SCR_SCORE, 4, sz, p) < 0 ||
        lmd_scratch_parts(LMD_SCR_LOGITS, 2, zsz, z) < 0)
        return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    r->h[0] = p[0], r->hr[0] = p[1], r->h[1] = p[2], r->hr[1] = p[3];
    r->z[0] = z[0], r->z[1] = z[1];
    return 0;
}

static void run_free(kl_run *r, size_t n_texts) {
    if (r->seq)
        for (size_t t = 0; t < n_texts; t++)
            free(r->seq[t]);
    free(r->seq), free(r->ws), free(r->seqs), free(r->row_of);
}

/* The targets of windows w0..w1-1 (one forward batch), r->rows at a
 * time: their hidden rows gathered, both models' logits, then the KL. */
static int run_targets(kl_run *r, size_t w0, size_t w1, lmd_kl_token *const *out) {
    const size_t V = (size_t)r->V;
    size_t wi = w0, p = r->ws[w0].first;
    while (wi < w1) {
        size_t bt[LOGIT_ROWS], bp[LOGIT_ROWS];
        int nb = 0;
        for (; nb < r->rows && wi < w1; nb++) {
            const kl_window *w = &r->ws[wi];
            const size_t row = r->row_of[wi - w0] + (p - w->a - 1); /* row j predicts s[a+j+1] */
            for (int k = 0; k < 2; k++) {
                const size_t d = (size_t)r->ms[k]->info.n_embd;
                memcpy(r->hr[k] + (size_t)nb * d, r->h[k] + row * d, d * sizeof **r->hr);
            }
            bt[nb] = w->text, bp[nb] = p;
            if (++p > w->last && ++wi < w1) p = r->ws[wi].first;
        }
        for (int k = 0; k < 2; k++)
            if (lmd_model_logits(r->ms[k], r->hr[k], (size_t)nb, r->z[k], V) < 0) return -1;
#pragma omp parallel for schedule(static)
        for (int b = 0; b < nb; b++)
            row_kl(r->z[0] + (size_t)b * V, r->z[1] + (size_t)b * V, r->V, r->seq[bt[b]][bp[b]],
                   &out[bt[b]][bp[b] - 1]);
    }
    return 0;
}

int lmd_kl_tokens_batch(const lmd_model *m1, const lmd_model *m2, const int32_t *const *ids,
                        const size_t *n, size_t n_texts, size_t budget, lmd_kl_token *const *out,
                        lmd_error *err) {
    if (check_pair(m1, m2, err) < 0) return -1;
    kl_run r = {{m1, m2}, m1->info.vocab_size, 0, NULL, NULL, 0, 0, NULL, NULL, {0}, {0}, {0}};
    int rc = -1;
    if (run_init(&r, ids, n, n_texts, budget, err) < 0) goto done;
    for (size_t w0 = 0; w0 < r.nw;) {
        /* pack windows w0..w1-1 into one forward batch of at most max_rows rows */
        size_t w1 = w0, rows = 0;
        for (; w1 < r.nw && (w1 == w0 || rows + (size_t)r.ws[w1].len <= r.max_rows); w1++) {
            r.seqs[w1 - w0] = (lmd_seq){r.seq[r.ws[w1].text] + r.ws[w1].a, r.ws[w1].len};
            r.row_of[w1 - w0] = rows;
            rows += (size_t)r.ws[w1].len;
        }
        for (int k = 0; k < 2; k++)
            if (r.ms[k]->ops->forward(r.ms[k], r.seqs, (int)(w1 - w0), r.h[k], err) < 0) goto done;
        if (run_targets(&r, w0, w1, out) < 0) {
            lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory for the output layer");
            goto done;
        }
        w0 = w1;
    }
    rc = 0;
done:
    run_free(&r, n_texts);
    return rc;
}

int lmd_kl_tokens(const lmd_model *m1, const lmd_model *m2, const int32_t *ids, size_t n,
                  lmd_kl_token *out, lmd_error *err) {
    const int32_t *const p[1] = {ids};
    lmd_kl_token *const o[1] = {out};
    return lmd_kl_tokens_batch(m1, m2, p, &n, 1, 0, o, err);
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
