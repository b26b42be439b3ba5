/* segments.h - two tokenizations of one text aligned on the byte positions
 * that are token boundaries in both (segments), and the measures that do not
 * depend on the tokenizer: bits and bits per byte per segment and per text
 * (docs/measures.md, "Segments: models with different tokenizers"). */
#ifndef LMD_SEGMENTS_H
#define LMD_SEGMENTS_H

#include "analysis/corpus.h"
#include "base/base.h"

typedef struct lmd_segments {
    size_t n;         /* segments */
    size_t len;       /* bytes of the text */
    uint32_t *at;     /* [n+1]: segment j is the bytes [at[j], at[j+1]) */
    size_t *first[2]; /* [n+1]: model m's tokens of segment j are
                         first[m][j] .. first[m][j+1]-1 */
    double *lp[2];    /* [n]: the sum of those tokens' log-probs, nats
                         (lmd_segments_sum) */
} lmd_segments;

/* Aligns the token spans of two tokenizations of a text of len bytes
 * (lmd_tokenize_spans).  Model m's cuts are 0, the start of each of its
 * tokens but the first, and len; the segments run between the cuts common
 * to both.  Every token lies in exactly one segment (the one holding its
 * start; the first token's in the first).  Linear in n1 + n2. */
int lmd_segments_align(const lmd_span *s1, size_t n1, const lmd_span *s2, size_t n2, size_t len,
                       lmd_segments *out, lmd_error *err);
/* Fills lp from each model's per-token log-probs (lp1[n1], lp2[n2]). */
void lmd_segments_sum(lmd_segments *sg, const double *lp1, const double *lp2);
void lmd_segments_free(lmd_segments *sg);

/* Bits of a log-probability in nats: -lp / ln 2. */
double lmd_bits(double lp);

/* The whole-text numbers: each model's bits and bits per byte, and
 * dbpb = bpb2 - bpb1 (< 0: model 2 needs fewer bits); agg: the
 * aggregations of the segments' Δ bits per byte (NaN without segments). */
typedef struct lmd_segment_stats {
    double bits[2], bpb[2], dbpb;
    double agg[LMD_AGG_COUNT];
} lmd_segment_stats;
int lmd_segment_stats_of(const lmd_segments *sg, lmd_segment_stats *st, lmd_error *err);

/* Δ bits per byte of segment j: (bits2 - bits1) / bytes. */
double lmd_segment_dbpb(const lmd_segments *sg, size_t j);

/* ------------------------------------------- two caches (compare_segments.c) */

/* Two caches of this tool whose tokenizers differ (different vocab hash). */
int lmd_compare_is_cross(const lmd_cache *a, const lmd_cache *b);
/* lmd_compare for such caches: needs token_spans in both (a cache without
 * them is refused with how to rebuild it); writes, in out_dir,
 * <m1>_<m2>_<dataset>.segments.csv and the reverse (out->csv): per text
 * n_bytes, n_segments, each model's tokens, bits per byte, their difference
 * and its aggregations over the segments; and the same numbers as the
 * segment columns of <m1>_<m2>_<dataset>.lmdt and the reverse (out->table). */
int lmd_compare_segments(lmd_cache *c[2], const char *out_dir, const lmd_compare_opts *o,
                         lmd_compare_out *out, lmd_error *err);

/* ------------------------------------------------ two models on one text */

typedef struct lmd_model lmd_model;

/* Both models' tokens (with spans) and scores of one text, and their
 * segments.  masked[m]: model m is a masked LM, its log-probs are
 * pseudo-log-likelihood terms (docs/scoring.md), not the same quantity as a
 * causal model's: comparable is 0 for a causal-masked pair. */
typedef struct lmd_xdiff {
    lmd_span *spans[2];
    lmd_scores sc[2];
    int masked[2], comparable;
    lmd_segments sg;
    lmd_segment_stats st;
} lmd_xdiff;

int lmd_xdiff_run(const lmd_model *m1, const lmd_model *m2, const char *text, size_t len,
                  const lmd_score_opts *so, lmd_xdiff *x, lmd_error *err);
void lmd_xdiff_free(lmd_xdiff *x);

/* The segments document of docs/cli.md ("lmdiff diff, models with
 * different tokenizers"). */
int lmd_json_xdiff(lmd_buf *b, const lmd_xdiff *x, const lmd_model *m1, const char *name1,
                   const lmd_model *m2, const char *name2, const char *text, size_t len);

#endif
