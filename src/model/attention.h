/* attention.h - the pieces the rotary decoders share (Llama, Mistral,
 * Qwen2, GPT-NeoX): rotary position embeddings with their config.json
 * parameters, RMSNorm rows, and causal multi-head / grouped-query attention
 * computed a block of query rows at a time (memory O(block x length), not
 * O(length^2)). */
#ifndef LMD_ATTENTION_H
#define LMD_ATTENTION_H

#include <cjson/cJSON.h>

#include "model/model.h"

typedef struct lmd_rope {
    int rot_dim;      /* rotated dimensions per head (even, <= head_dim) */
    double *inv_freq; /* [rot_dim / 2], scaling already applied */
} lmd_rope;

/* Sets up RoPE for heads of head_dim with the first rot_dim of them rotated,
 * base theta, and config.json's "rope_scaling" (null, "default", "linear",
 * "llama3"; anything else is refused naming the key). */
int lmd_rope_init(lmd_rope *r, const cJSON *cfg, const char *path, int head_dim, int rot_dim,
                  double theta, lmd_error *err);
void lmd_rope_free(lmd_rope *r);

/* Rotates, in every row of x (row stride ld; the sequences' rows one after
 * another, positions restarting at 0 in each), n_heads heads found at
 * x + j * head_stride, in HF's rotate-half convention: dims i and
 * i + rot_dim/2 form a pair.  Returns -1 when out of memory. */
int lmd_rope_apply(const lmd_rope *r, const lmd_seq *seqs, int n_seqs, float *x, size_t ld,
                   int n_heads, size_t head_stride);

/* y = x / sqrt(mean(x^2) + eps) * w for each of `rows` rows of d. */
void lmd_rmsnorm_rows(const float *x, float *y, size_t rows, int d, const float *w, float eps);

/* Causal attention over each sequence.  Row r's query head j is at
 * q + r*ld + j*qs, key/value head g at k + r*ld + g*ks / v + r*ld + g*vs,
 * and query head j reads key/value head j / (H / KV).  softmax(scale q k^T)
 * v goes to out + r*ldo + j*D.  Returns -1 when out of memory. */
int lmd_attention(const lmd_seq *seqs, int n_seqs, int H, int KV, int D, float scale,
                  const float *q, size_t qs, const float *k, size_t ks, const float *v, size_t vs,
                  size_t ld, float *out, size_t ldo);

#endif
