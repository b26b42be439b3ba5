/* score_internal.h - what score.c shares with the masked-LM scorer
 * (score_mlm.c): the reduction of one logit row, and the entry point of
 * pseudo-likelihood scoring. */
#ifndef LMD_SCORE_INTERNAL_H
#define LMD_SCORE_INTERNAL_H

#include "lmdiff.h"

/* Reduces one logit row z[V] for true id y into slot i of s: logprob, prob,
 * rank, entropy, top-k (s->k).  scratch holds V floats, tk_val/tk_id k. */
void lmd_score_row(const float *z, int V, int32_t y, lmd_scores *s, size_t i, float *scratch,
                   float *tk_val, int32_t *tk_id);

/* lmd_score_row for a model whose products run in BF16: its soft-max sums
 * vectorised (lmd_expsum_simd), the rest the same. */
void lmd_score_row_bf16(const float *z, int V, int32_t y, lmd_scores *s, size_t i,
                        float *tk_val, int32_t *tk_id);

/* lmd_score_ids for models with info.masked_lm (docs/scoring.md). */
int lmd_score_mlm(const lmd_model *m, const int32_t *const *ids, const size_t *n_ids,
                  size_t n_texts, const lmd_score_opts *opts, lmd_scores *out, lmd_error *err);

#endif
