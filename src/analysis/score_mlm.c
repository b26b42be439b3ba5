/* score_mlm.c - pseudo-likelihood scoring of masked LMs (docs/scoring.md).
 *
 * For a text of n ids, token i is scored from its own copy of the text,
 * pre + ids + post (the tokenizer's frame, [CLS] ... [SEP] or <s> ... </s>)
 * with ids[i] replaced by the mask id, read at i's row: every token, the
 * last one included, and never the frame's tokens.  A text longer than the
 * C content positions the model has left after the frame is scored with a
 * window of C ids per token, centred on the token where the text allows.
 *
 * Copies of one text and of several texts are packed into forward batches of
 * at most max_batch_tokens tokens (at least one copy); the encoder computes
 * its last layer, the head transform and the output layer only at each
 * copy's masked row (lmd_model_forward_sel), one logit row per copy,
 * reduced by the same lmd_score_row as the causal scorer.  Its buffers are
 * the calling thread's kept scratch (LMD_SCR_SCORE, LMD_SCR_LOGITS). */
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/score_internal.h"
#include "model/kernel/scratch.h"
#include "model/kernels.h"
#include "model/model.h"

#define DEFAULT_TOP_K 10
#define DEFAULT_BATCH_TOKENS 4096
#define LOGIT_BLOCK 512 /* copies whose logits are computed per sgemm */

/* The window of token i of a text of n ids with C content positions: its
 * start; its length is min(n, C). */
static size_t window_start(size_t i, size_t n, size_t C) {
    if (n <= C) return 0;
    size_t half = (C - 1) / 2;
    size_t a = i > half ? i - half : 0;
    return a > n - C ? n - C : a;
}

int lmd_score_mlm(const lmd_model *m, const int32_t *const *ids, const size_t *n_ids,
                  size_t n_texts, const lmd_score_opts *opts, lmd_scores *out, lmd_error *err) {
    int k = opts && opts->top_k > 0 ? opts->top_k : DEFAULT_TOP_K;
    size_t budget =
        opts && opts->max_batch_tokens > 0 ? (size_t)opts->max_batch_tokens : DEFAULT_BATCH_TOKENS;
    const int V = m->info.vocab_size, d = m->info.n_embd;
    if (k > V) k = V;
    for (size_t t = 0; t < n_texts; t++)
        memset(&out[t], 0, sizeof out[t]);
    const int32_t *pre, *post;
    size_t n_pre, n_post;
    lmd_tokenizer_frame(m->tok, &pre, &n_pre, &post, &n_post);
    const int32_t mask = lmd_tokenizer_mask(m->tok);
    if (mask < 0 || mask >= V)
        return lmd_fail(err, "%s: the tokenizer has no mask token in the vocabulary", m->name);
    for (size_t j = 0; j < n_pre + n_post; j++) {
        int32_t id = j < n_pre ? pre[j] : post[j - n_pre];
        if (id < 0 || id >= V)
            return lmd_fail(err,
                            "%s: the tokenizer's special token %d is outside the vocabulary "
                            "of %d",
                            m->name, id, V);
    }
    if ((size_t)m->info.n_ctx <= n_pre + n_post)
        return lmd_fail(err,
                        "%s: %d positions leave no room for a text between the %zu special "
                        "tokens",
                        m->name, m->info.n_ctx, n_pre + n_post);
    const size_t C = (size_t)m->info.n_ctx - n_pre - n_post;

    int saved_threads = omp_get_max_threads();
    if (opts && opts->n_threads > 0) omp_set_num_threads(opts->n_threads);
    const int nthreads = omp_get_max_threads();

    size_t total = 0; /* copies */
    for (size_t t = 0; t < n_texts; t++) {
        for (size_t i = 0; i < n_ids[t]; i++)
            if (ids[t][i] < 0 || ids[t][i] >= V) {
                lmd_fail(err,
                         "%s: token id %d (text %zu, position %zu) is outside the vocabulary "
                         "of %d",
                         m->name, ids[t][i], t, i, V);
                goto fail_early;
            }
        total += n_ids[t];
    }
    for (size_t t = 0; t < n_texts; t++)
        if (lmd_scores_alloc(&out[t], n_ids[t], k, err) < 0) {
            goto fail_early;
        } else if (n_ids[t]) {
            memcpy(out[t].ids, ids[t], n_ids[t] * sizeof **ids);
        }

    /* a batch holds at most max_copies copies; each is at most Lmax long */
    const size_t Lmax = n_pre + n_post + C;
    size_t max_copies = budget / (n_pre + n_post + 1);
    if (max_copies < 1) max_copies = 1;
    if (max_copies > total) max_copies = total ? total : 1;
    size_t tok_cap = budget > Lmax ? budget : Lmax;
    const size_t lb = max_copies < LOGIT_BLOCK ? max_copies : LOGIT_BLOCK;
    /* the batch's tokens and copies, its hidden rows, per-thread row scratch
     * and the block of logits are the thread's kept scratch, as in the
     * causal scorer (kernel/scratch.h): no fresh pages per call */
    const size_t sz[9] = {tok_cap * sizeof(int32_t),
                          max_copies * sizeof(lmd_seq),
                          max_copies * sizeof(int),
                          max_copies * sizeof(size_t),
                          max_copies * sizeof(size_t),
                          max_copies * (size_t)d * sizeof(float),
                          (size_t)nthreads * V * sizeof(float),
                          (size_t)nthreads * k * sizeof(float),
                          (size_t)nthreads * k * sizeof(int32_t)};
    void *buf[9];
    float *logits = lmd_scratch(LMD_SCR_LOGITS, lb * (size_t)V * sizeof *logits);
    int rc = -1;
    if (lmd_scratch_parts(LMD_SCR_SCORE, 9, sz, buf) < 0 || !logits) {
        lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory for scoring buffers");
        goto done;
    }
    int32_t *toks = buf[0], *tk_id = buf[8];
    lmd_seq *seqs = buf[1];
    int *sel = buf[2];
    size_t *ct = buf[3], *ci = buf[4];
    float *hidden = buf[5], *scratch = buf[6], *tk_val = buf[7];
    size_t t = 0, i = 0; /* the next copy: token i of text t */
    while (t < n_texts && i >= n_ids[t])
        t++, i = 0;
    while (t < n_texts) {
        /* pack copies into one batch */
        size_t nc = 0, used = 0;
        while (t < n_texts && nc < max_copies) {
            size_t n = n_ids[t], len = n < C ? n : C, L = n_pre + len + n_post;
            if (nc > 0 && used + L > budget) break;
            size_t a = window_start(i, n, C);
            int32_t *s = toks + used;
            memcpy(s, pre, n_pre * sizeof *s);
            memcpy(s + n_pre, ids[t] + a, len * sizeof *s);
            memcpy(s + n_pre + len, post, n_post * sizeof *s);
            s[n_pre + (i - a)] = mask;
            seqs[nc].tokens = s;
            seqs[nc].len = (int)L;
            sel[nc] = (int)(n_pre + (i - a));
            ct[nc] = t;
            ci[nc] = i;
            nc++;
            used += L;
            if (++i >= n) {
                t++, i = 0;
                while (t < n_texts && i >= n_ids[t])
                    t++;
            }
        }
        if (lmd_model_forward_sel(m, seqs, (int)nc, sel, hidden, err) < 0) goto done;
        for (size_t b0 = 0; b0 < nc; b0 += LOGIT_BLOCK) {
            int nb = (int)(nc - b0 < LOGIT_BLOCK ? nc - b0 : LOGIT_BLOCK);
            if (lmd_model_logits(m, hidden + b0 * (size_t)d, (size_t)nb, logits, (size_t)V) < 0) {
                lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory for the output layer");
                goto done;
            }
#pragma omp parallel for schedule(static)
            for (int b = 0; b < nb; b++) {
                int th = omp_get_thread_num();
                size_t tt = ct[b0 + b], ii = ci[b0 + b];
                lmd_score_row(logits + (size_t)b * V, V, ids[tt][ii], &out[tt], ii,
                              scratch + (size_t)th * V, tk_val + (size_t)th * k,
                              tk_id + (size_t)th * k);
            }
        }
    }
    rc = 0;
done:
    if (opts && opts->n_threads > 0) omp_set_num_threads(saved_threads);
    if (rc < 0)
        for (size_t u = 0; u < n_texts; u++)
            lmd_scores_free(&out[u]);
    return rc;
fail_early:
    if (opts && opts->n_threads > 0) omp_set_num_threads(saved_threads);
    for (size_t u = 0; u < n_texts; u++)
        lmd_scores_free(&out[u]);
    return -1;
}
