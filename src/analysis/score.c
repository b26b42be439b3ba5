/* score.c - turns a model's logits into the per-token numbers of lmdiff:
 * probability, log-probability, rank and entropy of the true token, and the
 * top-k predictions.  Texts are cut into windows (sliding when longer than
 * the context), windows are packed into forward batches, and the logits of
 * a batch are produced a block of rows at a time and reduced at once, so a
 * [tokens x vocabulary] matrix never exists.  On a device backend the output
 * layer and the reduction run there and only the per-token numbers come
 * back (dev_block). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/score_internal.h"
#include "model/kernel/backend.h"
#include "model/kernel/scratch.h"
#include "model/kernels.h"
#include "model/model.h"

#define DEFAULT_TOP_K 10
#define DEFAULT_BATCH_TOKENS 4096
#define LOGIT_BLOCK 512 /* rows of logits computed per sgemm */

/* One forward window: s[a .. a+len-1] of text `text`, scoring the targets
 * first..last (positions in s; target p is predicted by window row p-a-1). */
typedef struct window {
    size_t text;
    size_t a;
    int len;
    size_t first, last;
} window;

void lmd_scores_free(lmd_scores *s) {
    if (!s) return;
    free(s->ids);
    free(s->prob);
    free(s->logprob);
    free(s->rank);
    free(s->entropy);
    free(s->topk_ids);
    free(s->topk_prob);
    memset(s, 0, sizeof *s);
}

int lmd_scores_alloc(lmd_scores *s, size_t n, int k, lmd_error *err) {
    memset(s, 0, sizeof *s);
    s->n = n;
    s->k = k;
    size_t n1 = n ? n : 1, nk = n1 * (size_t)(k > 0 ? k : 1);
    s->ids = calloc(n1, sizeof *s->ids);
    s->prob = calloc(n1, sizeof *s->prob);
    s->logprob = calloc(n1, sizeof *s->logprob);
    s->rank = calloc(n1, sizeof *s->rank);
    s->entropy = calloc(n1, sizeof *s->entropy);
    s->topk_ids = calloc(nk, sizeof *s->topk_ids);
    s->topk_prob = calloc(nk, sizeof *s->topk_prob);
    if (!s->ids || !s->prob || !s->logprob || !s->rank || !s->entropy || !s->topk_ids ||
        !s->topk_prob) {
        lmd_scores_free(s);
        return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory for the scores of %zu tokens",
                             n);
    }
    return 0;
}

/* The top-k of z[V] by a single scan in id order into tk_val/tk_id (k >= 1,
 * largest first): an equal value never displaces an earlier (lower) id, so
 * ties go to the lower id.  Once k are held, a group of 16 values none above
 * the k-th is skipped at once (its maximum is vectorised; the result is the
 * same as value by value). */
static void top_k(const float *z, int V, int k, float *tk_val, int32_t *tk_id) {
    int c = 0;
    for (int v = 0; v < V; v++) {
        if (c == k && (v & 15) == 0 && V - v >= 16) {
            float g = -INFINITY; /* a NaN is never above the k-th, nor chosen here */
#pragma omp simd reduction(max : g)
            for (int j = 0; j < 16; j++)
                g = z[v + j] > g ? z[v + j] : g;
            if (!(g > tk_val[k - 1])) {
                v += 15;
                continue;
            }
        }
        float x = z[v];
        if (c == k && !(x > tk_val[k - 1])) continue;
        int j = c < k ? c : k - 1;
        while (j > 0 && tk_val[j - 1] < x) {
            tk_val[j] = tk_val[j - 1];
            tk_id[j] = tk_id[j - 1];
            j--;
        }
        tk_val[j] = x;
        tk_id[j] = v;
        if (c < k) c++;
    }
}

/* Slot i of s from row z's maximum m and its sums S, wsum (lmd_expsum). */
static void finish_row(const float *z, int V, int32_t y, lmd_scores *s, size_t i, float m, double S,
                       double wsum, float *tk_val, int32_t *tk_id) {
    const int k = s->k;
    double logS = log(S);
    double lse = (double)m + logS;
    double lp = (double)z[y] - lse;
    s->logprob[i] = lp;
    s->prob[i] = (float)exp(lp);
    s->entropy[i] = (float)(logS - wsum / S);
    s->rank[i] = 1 + (int32_t)lmd_count_greater(z, (size_t)V, z[y]);
    if (k < 1) return;
    top_k(z, V, k, tk_val, tk_id);
    for (int j = 0; j < k; j++) {
        s->topk_ids[i * (size_t)k + j] = tk_id[j];
        s->topk_prob[i * (size_t)k + j] = (float)exp((double)tk_val[j] - lse);
    }
}

/* Reduces one logit row z[V] for true id y into slot i of s. */
void lmd_score_row(const float *z, int V, int32_t y, lmd_scores *s, size_t i, float *scratch,
                   float *tk_val, int32_t *tk_id) {
    float m = lmd_vmax(z, (size_t)V);
    double wsum, S = lmd_expsum(z, (size_t)V, m, &wsum, scratch);
    finish_row(z, V, y, s, i, m, S, wsum, tk_val, tk_id);
}

void lmd_score_row_bf16(const float *z, int V, int32_t y, lmd_scores *s, size_t i, float *tk_val,
                        int32_t *tk_id) {
    float m = lmd_vmax(z, (size_t)V);
    double wsum, S = lmd_expsum_simd(z, (size_t)V, m, &wsum);
    finish_row(z, V, y, s, i, m, S, wsum, tk_val, tk_id);
}

/* The device's buffers for one block of rows: hidden rows, logits, and the
 * per-token numbers that come back. */
typedef struct dev_block {
    float *h, *z;
    lmd_scores blk;
    int32_t ids[LOGIT_BLOCK];
} dev_block;

static int dev_block_init(lmd_backend *be, dev_block *db, int d, int V, int k, lmd_error *err) {
    db->h = be->alloc(be, (size_t)LOGIT_BLOCK * d * sizeof(float));
    db->z = db->h ? be->alloc(be, (size_t)LOGIT_BLOCK * V * sizeof(float)) : NULL;
    if (!db->z) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "%s", be->msg);
    return lmd_scores_alloc(&db->blk, LOGIT_BLOCK, k, err);
}

static void dev_block_free(lmd_backend *be, dev_block *db) {
    if (db->h) be->release(be, db->h);
    if (db->z) be->release(be, db->z);
    lmd_scores_free(&db->blk);
}

/* Scores nb rows hrows (host) on the device: target b is position bp[b] of
 * text bt[b], its numbers go to slot bp[b] - 1 of out[bt[b]]. */
static int dev_block_score(const lmd_model *m, lmd_backend *be, dev_block *db, const float *hrows,
                           int nb, const size_t *bt, const size_t *bp, int32_t *const *seq,
                           lmd_scores *out, lmd_error *err) {
    const int V = m->info.vocab_size, d = m->info.n_embd, k = db->blk.k;
    for (int b = 0; b < nb; b++)
        db->ids[b] = seq[bt[b]][bp[b]];
    if (be->copy(be, db->h, hrows, (size_t)nb * d * sizeof *hrows, 1) < 0 ||
        lmd_model_logits_on(m, be, db->h, (size_t)nb, db->z, (size_t)V) < 0 ||
        be->score_rows(be, db->z, (size_t)nb, V, db->ids, &db->blk, 0) < 0)
        return lmd_fail(err, "%s", be->msg);
    for (int b = 0; b < nb; b++) {
        lmd_scores *s = &out[bt[b]];
        const size_t i = bp[b] - 1;
        s->prob[i] = db->blk.prob[b], s->logprob[i] = db->blk.logprob[b];
        s->rank[i] = db->blk.rank[b], s->entropy[i] = db->blk.entropy[b];
        memcpy(s->topk_ids + i * k, db->blk.topk_ids + (size_t)b * k, (size_t)k * 4);
        memcpy(s->topk_prob + i * k, db->blk.topk_prob + (size_t)b * k, (size_t)k * 4);
    }
    return 0;
}

/* Cuts text t (sequence s of n+1 tokens, BOS first) into windows of at most W
 * tokens: the first window scores targets 1..W-1; each next one ends S = W/2
 * targets later and scores only its new targets, so every target has at
 * least W - S tokens of context. */
static int cut_windows(size_t t, size_t n, int W, window **ws, size_t *nw, size_t *cap) {
    if (n == 0) return 0;
    size_t S = (size_t)W / 2;
    size_t done = 0;
    while (done < n) {
        window w;
        w.text = t;
        if (done == 0) {
            w.a = 0;
            w.last = n + 1 <= (size_t)W ? n : (size_t)W - 1;
            w.len = (int)(w.last + 1);
            w.first = 1;
        } else {
            w.last = done + S < n ? done + S : n;
            w.a = w.last + 1 - (size_t)W;
            w.len = W;
            w.first = done + 1;
        }
        if (*nw == *cap) {
            size_t nc = *cap ? *cap * 2 : 64;
            window *p = realloc(*ws, nc * sizeof *p);
            if (!p) return -1;
            *ws = p;
            *cap = nc;
        }
        (*ws)[(*nw)++] = w;
        done = w.last;
    }
    return 0;
}

int lmd_score_ids(const lmd_model *m, const int32_t *const *ids, const size_t *n_ids,
                  size_t n_texts, const lmd_score_opts *opts, lmd_scores *out, lmd_error *err) {
    if (m->info.masked_lm) return lmd_score_mlm(m, ids, n_ids, n_texts, opts, out, err);
    int k = opts && opts->top_k > 0 ? opts->top_k : DEFAULT_TOP_K;
    size_t budget = opts && opts->max_batch_tokens > 0 ? (size_t)opts->max_batch_tokens
                                                        : DEFAULT_BATCH_TOKENS;
    const int V = m->info.vocab_size, d = m->info.n_embd, W = m->info.n_ctx;
    if (k > V) k = V;
    int32_t bos = lmd_tokenizer_bos(m->tok);
    int saved_threads = omp_get_max_threads();
    if (opts && opts->n_threads > 0) omp_set_num_threads(opts->n_threads);
    const int nthreads = omp_get_max_threads();
    const int bf16 = m->info.precision && !strcmp(m->info.precision, "bf16");

    int32_t **seq = calloc(n_texts ? n_texts : 1, sizeof *seq);
    window *ws = NULL;
    size_t nw = 0, wcap = 0;
    float *hidden = NULL, *hrows = NULL, *logits = NULL, *scratch = NULL, *tk_val = NULL;
    int32_t *tk_id = NULL;
    void *buf[5] = {NULL};
    lmd_seq *seqs = NULL;
    size_t *row_of = NULL;
    lmd_backend *be = lmd_model_backend(m);
    dev_block dev = {0};
    int rc = -1;
    for (size_t t = 0; t < n_texts; t++) memset(&out[t], 0, sizeof out[t]);
    if (!seq) {
        lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    for (size_t t = 0; t < n_texts; t++) {
        size_t n = n_ids[t];
        for (size_t i = 0; i < n; i++)
            if (ids[t][i] < 0 || ids[t][i] >= V) {
                lmd_fail_code(err, LMD_ERR_BAD_INPUT,
                              "%s: token id %d (text %zu, position %zu) is outside the vocabulary "
                              "of %d",
                              m->name, ids[t][i], t, i, V);
                goto done;
            }
        if (lmd_scores_alloc(&out[t], n, k, err) < 0 ||
            !(seq[t] = malloc((n + 1) * sizeof **seq)) ||
            cut_windows(t, n, W, &ws, &nw, &wcap) < 0) {
            lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
            goto done;
        }
        seq[t][0] = bos;
        if (n) memcpy(seq[t] + 1, ids[t], n * sizeof **ids);
        if (n) memcpy(out[t].ids, ids[t], n * sizeof **ids);
    }
    size_t max_rows = budget > (size_t)W ? budget : (size_t)W;
    /* the batch's hidden rows, a block's rows, per-thread row scratch and
     * the block of logits (up to 512 x V floats: 263 MB for a 128k
     * vocabulary, in 2 MB pages where the kernel offers them) are the
     * thread's kept scratch (kernel/scratch.h): no fresh pages per call */
    const size_t sz[5] = {max_rows * (size_t)d * 4, (size_t)LOGIT_BLOCK * d * 4,
                          (size_t)nthreads * V * 4, (size_t)nthreads * k * 4,
                          (size_t)nthreads * k * 4};
    if (lmd_scratch_parts(LMD_SCR_SCORE, 5, sz, buf) == 0)
        hidden = buf[0], hrows = buf[1], scratch = buf[2], tk_val = buf[3], tk_id = buf[4];
    logits = be->dev ? NULL : lmd_scratch(LMD_SCR_LOGITS, (size_t)LOGIT_BLOCK * V * 4);
    seqs = malloc((nw ? nw : 1) * sizeof *seqs);
    row_of = malloc((nw ? nw : 1) * sizeof *row_of);
    if (!hidden || !(logits || be->dev) || !seqs || !row_of) {
        lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory for scoring buffers");
        goto done;
    }
    if (be->dev && dev_block_init(be, &dev, d, V, k, err) < 0) goto done;
    for (size_t w0 = 0; w0 < nw;) {
        /* pack windows w0..w1-1 into one forward batch */
        size_t w1 = w0, rows = 0;
        while (w1 < nw && (w1 == w0 || rows + (size_t)ws[w1].len <= max_rows)) {
            seqs[w1 - w0].tokens = seq[ws[w1].text] + ws[w1].a;
            seqs[w1 - w0].len = ws[w1].len;
            row_of[w1 - w0] = rows;
            rows += (size_t)ws[w1].len;
            w1++;
        }
        if (m->ops->forward(m, seqs, (int)(w1 - w0), hidden, err) < 0) goto done;
        /* walk the targets of these windows in blocks of LOGIT_BLOCK rows */
        size_t wi = w0, p = ws[w0].first;
        while (wi < w1) {
            size_t bt[LOGIT_BLOCK], bp[LOGIT_BLOCK];
            int nb = 0;
            while (nb < LOGIT_BLOCK && wi < w1) {
                const window *w = &ws[wi];
                size_t r = row_of[wi - w0] + (p - w->a - 1);
                memcpy(hrows + (size_t)nb * d, hidden + r * d, (size_t)d * sizeof *hrows);
                bt[nb] = w->text;
                bp[nb] = p;
                nb++;
                if (++p > w->last) {
                    wi++;
                    if (wi < w1) p = ws[wi].first;
                }
            }
            if (be->dev) {
                if (dev_block_score(m, be, &dev, hrows, nb, bt, bp, seq, out, err) < 0) goto done;
                continue;
            }
            if (lmd_model_logits(m, hrows, (size_t)nb, logits, (size_t)V) < 0) {
                lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory for the output layer");
                goto done;
            }
#pragma omp parallel for schedule(static)
            for (int b = 0; b < nb; b++) {
                int th = omp_get_thread_num();
                size_t tt = bt[b], pos = bp[b];
                if (bf16) /* the soft-max sums vectorised: not the f32 path's order */
                    lmd_score_row_bf16(logits + (size_t)b * V, V, seq[tt][pos], &out[tt], pos - 1,
                                       tk_val + (size_t)th * k, tk_id + (size_t)th * k);
                else
                    lmd_score_row(logits + (size_t)b * V, V, seq[tt][pos], &out[tt], pos - 1,
                                  scratch + (size_t)th * V, tk_val + (size_t)th * k,
                                  tk_id + (size_t)th * k);
            }
        }
        w0 = w1;
    }
    rc = 0;
done:
    if (opts && opts->n_threads > 0) omp_set_num_threads(saved_threads);
    if (seq)
        for (size_t t = 0; t < n_texts; t++)
            free(seq[t]);
    free(seq), free(ws), free(seqs), free(row_of);
    if (be->dev) dev_block_free(be, &dev);
    if (rc < 0)
        for (size_t t = 0; t < n_texts; t++)
            lmd_scores_free(&out[t]);
    return rc;
}

int lmd_score_text(const lmd_model *m, const char *text, size_t len, const lmd_score_opts *opts,
                   lmd_scores *out, lmd_error *err) {
    int32_t *ids;
    size_t n;
    memset(out, 0, sizeof *out);
    if (lmd_tokenize(m->tok, text, len, &ids, &n, err) < 0) return -1;
    if (n == 0) {
        free(ids);
        return lmd_fail_code(err, LMD_ERR_BAD_INPUT, len ? LMD_MSG_NO_TOKENS : "the text is empty");
    }
    const int32_t *const p[1] = {ids};
    int rc = lmd_score_ids(m, p, &n, 1, opts, out, err);
    free(ids);
    return rc;
}
