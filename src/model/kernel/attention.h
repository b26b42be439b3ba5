/* attention.h - the one attention of every architecture (causal or
 * bidirectional, grouped-query, sliding window, soft-capping, all or
 * selected query rows) and rotary position embeddings with their
 * config.json parameters. */
#ifndef LMD_ATTENTION_H
#define LMD_ATTENTION_H

#include <cjson/cJSON.h>

#include "model/model.h"

typedef struct lmd_rope {
    int rot_dim;           /* rotated dimensions per head (even, <= head_dim) */
    double *inv_freq;      /* [rot_dim / 2], scaling already applied */
    double mscale;         /* cos and sin are multiplied by it (LongRoPE's attention factor) */
    double *inv_freq_long; /* LongRoPE: the long factors' frequencies, else NULL */
    long long_after;       /* with inv_freq_long: sequences longer than this use it */
} lmd_rope;

/* Sets up RoPE for heads of head_dim with the first rot_dim of them rotated,
 * base theta, and config.json's "rope_scaling" (null, "default", "linear",
 * "llama3", and "longrope" when longrope_ok; anything else is refused
 * naming the key), and "rope_freqs" (a GGUF's rope_freqs.weight: each
 * frequency divided by its factor; with default or linear only).  LongRoPE
 * (Phi-3) switches from its short to its long factors for sequences longer
 * than original_max_position_embeddings, as HF does per forward (seq_len =
 * the largest position + 1); lmd_rope_apply chooses per sequence. */
int lmd_rope_init(lmd_rope *r, const cJSON *cfg, const char *path, int head_dim, int rot_dim,
                  double theta, int longrope_ok, lmd_error *err);
void lmd_rope_free(lmd_rope *r);

/* Rotates, in every row of x (row stride ld; the sequences' rows one after
 * another, positions restarting at 0 in each), n_heads heads found at
 * x + j * head_stride, in HF's rotate-half convention: dims i and
 * i + rot_dim/2 form a pair; a LongRoPE sequence longer than long_after
 * with the long factors.  Returns -1 when out of memory. */
int lmd_rope_apply(const lmd_rope *r, const lmd_seq *seqs, int n_seqs, float *x, size_t ld,
                   int n_heads, size_t head_stride);

/* 1 when a sequence of len positions is rotated with the long (LongRoPE)
 * frequencies. */
int lmd_rope_use_long(const lmd_rope *r, int len);
/* cs[p][i] = (cos, sin)(p * inv[i]) * mscale for p < L, i < rot_dim / 2,
 * computed in double: the table lmd_rope_apply rotates with (inv: r's
 * inv_freq or inv_freq_long). */
void lmd_rope_cos_sin(const lmd_rope *r, const double *inv, int L, float *cs);

/* One attention call: where the heads are and what each query may see.
 * Row r of the batch (the sequences' rows one after another) holds query
 * head j at q + r*q_ld + j*q_hs, key/value head g at k + r*kv_ld + g*k_hs /
 * v + r*kv_ld + g*v_hs; query head j reads key/value head j / (H / KV).
 * softmax(mask(cap(scale q k^T))) v goes to out + r*out_ld + j*D. */
typedef struct lmd_attn {
    int H, KV, D;
    float scale;
    int causal;    /* query i sees keys j <= i; else every key of its sequence */
    int window;    /* > 0 (causal only): and only keys with i - j < window */
    float softcap; /* > 0: scores s become softcap * tanh(s / softcap) */
    const float *q, *k, *v;
    size_t q_ld, q_hs, kv_ld, k_hs, v_hs;
    float *out;
    size_t out_ld;
    /* NULL: every row is a query.  Else one query per sequence, position
     * sel[s] of sequence s, whose q and out rows are row s of q / out. */
    const int *sel;
} lmd_attn;

/* Multi-head / grouped-query attention over each sequence, computed a block
 * of query rows at a time (memory O(block x length)).  -1 when out of memory. */
int lmd_attention(const lmd_seq *seqs, int n_seqs, const lmd_attn *a);

#endif
