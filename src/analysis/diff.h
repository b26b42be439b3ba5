/* diff.h - per-token differences between two scorings of one text, and the
 * JSON documents of lmdiff's instance view (shared by the CLI and the
 * server).  Definitions: docs/measures.md. */
#ifndef LMD_DIFF_H
#define LMD_DIFF_H

#include "base/base.h"

typedef enum {
    LMD_MEASURE_PROB,         /* p2 - p1 */
    LMD_MEASURE_LOGPROB,      /* ln p2 - ln p1 */
    LMD_MEASURE_RANK,         /* r2 - r1, 1-based ranks */
    LMD_MEASURE_RANK_CLAMPED, /* min(r2, C) - min(r1, C) */
    LMD_MEASURE_TOPK,         /* #(top-k of model 1 missing from top-k of model 2) */
    LMD_MEASURE_ENTROPY,      /* H2 - H1, nats */
    LMD_MEASURE_COUNT
} lmd_measure;

#define LMD_DEFAULT_CLAMP 50

/* "prob", "logprob", "rank", "rank_clamped", "topk", "entropy"; -1 if unknown. */
int lmd_measure_parse(const char *name);
const char *lmd_measure_name(lmd_measure m);

/* Number of ids in a[0..ka) that are not in b[0..kb) (-1: out of memory). */
int lmd_topk_missing(const int32_t *a, int ka, const int32_t *b, int kb);

/* The measure at token i (a and b score the same ids). */
double lmd_token_measure(const lmd_scores *a, const lmd_scores *b, size_t i, lmd_measure m,
                         int clamp);

/* JSON writers: a string literal (invalid UTF-8 bytes become U+FFFD), and
 * floats/doubles in the shortest form that reads back to the same value
 * (NaN and infinities as null). */
int lmd_json_str(lmd_buf *b, const char *s, size_t len);
int lmd_json_f32(lmd_buf *b, float v);
int lmd_json_f64(lmd_buf *b, double v);

/* Writes the display text of token id as a JSON string (or null). */
typedef int (*lmd_token_text_fn)(lmd_buf *b, const void *ctx, int32_t id);
/* The tokenizer's display string (lmd_token_display); ctx is the tokenizer. */
int lmd_json_token_text(lmd_buf *b, const void *tok, int32_t id);

/* {"prob": [...], "logprob": [...], "rank": [...], "entropy": [...],
 *  "topk": [[{"id", "text", "prob"}, ...], ...]} for one scoring; token texts
 * come from text(ctx, id). */
int lmd_json_scores_columns(lmd_buf *b, const lmd_scores *s, lmd_token_text_fn text,
                            const void *ctx);
/* {"prob", "logprob", "rank", "rank_clamped", "topk", "entropy"}: the six
 * per-token measures of docs/measures.md, model 2 minus model 1. */
int lmd_json_diff_columns(lmd_buf *b, const lmd_scores *a, const lmd_scores *b2, int clamp);

/* The instance-view document (docs/cli.md, docs/api.md): text, tokens, m1,
 * m2 and diff. */
int lmd_json_diff(lmd_buf *b, const lmd_tokenizer *tok, const char *text, size_t len,
                  const char *name1, const lmd_scores *a, const char *name2, const lmd_scores *b2,
                  int clamp);

#endif
