/* kl.h - measures that need both models' full next-token distributions at
 * once (kl.c): per-token KL(P1 || P2) and llama.cpp's quantization
 * statistics.  Definitions and formulas: docs/measures.md. */
#ifndef LMD_KL_H
#define LMD_KL_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

typedef struct lmd_kl_token {
    double kl;              /* sum_v P1(v) (ln P1(v) - ln P2(v)), nats, full vocabulary */
    double logp1, logp2;    /* ln P(true token) under each model */
    int32_t top1_1, top1_2; /* each model's most likely token (lower id on ties) */
} lmd_kl_token;

/* Both models over [BOS] + ids, in the scorer's sliding windows (of the
 * smaller context) for long texts; out[i] describes the prediction of
 * ids[i].  The models must share tokenizer and vocabulary. */
int lmd_kl_tokens(const lmd_model *m1, const lmd_model *m2, const int32_t *ids, size_t n,
                  lmd_kl_token *out, lmd_error *err);

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

#endif
