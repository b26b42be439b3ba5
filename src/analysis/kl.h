/* kl.h - measures that need both models' full next-token distributions at
 * once (kl.c): per-token KL(P1 || P2) and llama.cpp's quantization
 * statistics.  Definitions and formulas: docs/measures.md. */
#ifndef LMD_KL_H
#define LMD_KL_H

#include <stddef.h>
#include <stdint.h>

#include "analysis/corpus.h"
#include "base/base.h"

typedef struct lmd_kl_token {
    double kl;              /* sum_v P1(v) (ln P1(v) - ln P2(v)), nats, full vocabulary */
    double logp1, logp2;    /* ln P(true token) under each model */
    int32_t top1_1, top1_2; /* each model's most likely token (lower id on ties) */
    double kl_rev;          /* KL(P2 || P1), the same pass */
} lmd_kl_token;

/* Both models over [BOS] + ids, in the scorer's sliding windows (of the
 * smaller context) for long texts; out[i] describes the prediction of
 * ids[i].  The models must share tokenizer and vocabulary. */
int lmd_kl_tokens(const lmd_model *m1, const lmd_model *m2, const int32_t *ids, size_t n,
                  lmd_kl_token *out, lmd_error *err);

/* The same for n_texts texts at once: ids[t][0..n[t]) into out[t][0..n[t]).
 * Their windows go through each model's forward in batches of at most
 * `budget` rows (at least one window; 0: the smaller context). */
int lmd_kl_tokens_batch(const lmd_model *m1, const lmd_model *m2, const int32_t *const *ids,
                        const size_t *n, size_t n_texts, size_t budget, lmd_kl_token *const *out,
                        lmd_error *err);

/* Appends the members `,"kl":[per token],"kl_mean":m,"kl_max":x` (nats) of
 * an instance-view document (docs/api.md) whose closing brace the caller
 * writes.  0, or -1 when out of memory. */
int lmd_kl_json(lmd_buf *out, const lmd_kl_token *k, size_t n);

/* What `llama-perplexity --kl-divergence` prints, model 1 = the base, model 2
 * = the quantized one.  Percentiles at lmd_kl_fraction(k): 1 (max), .999,
 * .99, .95, .90, .5, .10, .05, .01, 0 (min). */
#define LMD_KL_NPCT 10
typedef struct lmd_kl_report {
    size_t n;
    double ppl1, ppl1_err, ppl2, ppl2_err, cor;
    double ln_ratio, ln_ratio_err, ratio, ratio_err, diff, diff_err;
    double kl_mean, kl_err, kl_pct[LMD_KL_NPCT];
    double dp_mean, dp_err, dp_rms, dp_rms_err, dp_pct[LMD_KL_NPCT]; /* p2 - p1 of the true token */
    double same_top, same_top_err;
} lmd_kl_report;

int lmd_kl_stats(const lmd_kl_token *t, size_t n, lmd_kl_report *r, lmd_error *err);
double lmd_kl_fraction(int k);

/* ---- the KL pair file of a corpus (kl_pair.c; docs/corpus.md) */

typedef struct lmd_kl_pair_opts {
    lmd_progress_fn progress; /* texts done, texts, tokens done */
    void *progress_ctx;
    volatile sig_atomic_t *cancel;
    size_t batch_tokens;    /* tokens per forward batch; 0 = LMD_KL_BATCH_TOKENS */
    int restart;            /* discard the parts of an interrupted pass */
    uint64_t *resumed_from; /* NULL, or set to the texts an earlier pass had done */
} lmd_kl_pair_opts;
#define LMD_KL_BATCH_TOKENS 8192 /* as the cache phase */

/* Runs m1 and m2 (the models of the two caches of one dataset) over the
 * token ids of each text of cache1 and writes both KL directions of every
 * token to path, atomically.  Batch by batch, each batch a file in
 * <path>.parts (tmp, fsync, rename): a rerun with the same batch_tokens
 * continues where an interrupted one stopped and writes the same bytes.  weights_hash2: model 2's,
 * as its cache records it (the file names both models' and the dataset's hashes). */
int lmd_kl_pair_write(const lmd_model *m1, const lmd_model *m2, const char *cache1,
                      const char *weights_hash2, const char *path, const lmd_kl_pair_opts *o,
                      lmd_error *err);

typedef struct lmd_kl_pair lmd_kl_pair;
/* Maps a pair file; a damaged or foreign one is refused with its path. */
int lmd_kl_pair_open(const char *path, lmd_kl_pair **out, lmd_error *err);
void lmd_kl_pair_close(lmd_kl_pair *p);
uint64_t lmd_kl_pair_n_texts(const lmd_kl_pair *p);
/* 1 when the file was made from this dataset and these two models' weights. */
int lmd_kl_pair_matches(const lmd_kl_pair *p, const char *dataset_checksum,
                        const char *weights_hash1, const char *weights_hash2);
/* Text i's KL per token, *n of them, in place: KL(P1||P2), or KL(P2||P1)
 * when reverse.  NULL (and *n = 0) past the last text. */
const float *lmd_kl_pair_text(const lmd_kl_pair *p, uint64_t i, int reverse, size_t *n);
/* The pair file a comparison table names (beside it), checked against the
 * table's dataset and weights; *out = NULL when it names none.  *reverse:
 * the table's direction is the file's KL(P2||P1). */
int lmd_kl_pair_of_table(const lmd_table *t, lmd_kl_pair **out, int *reverse, lmd_error *err);

#endif
