/* cuda_ops.h - the CUDA side of the backend table (backend.h): one device
 * with its stream, cuBLASLt handle and the weights uploaded to it, and the
 * operations a forward pass and the scorer run there.  Plain C types only
 * so that nvcc's C++ and the library's C both read it; backend.c turns an
 * lmd_mat into the (data, dtype, shape) the products take.
 *
 * Buffers passed as float * live on the device (lmd_cuda_alloc); weights,
 * norm weights and biases are passed as the host pointers the model maps and
 * are uploaded on first use, then reused (one upload per weight per
 * device).  Every call returns -1 on failure with lmd_cuda_error() saying
 * what failed; calls are queued on the device's stream and finished by
 * lmd_cuda_copy to the host or lmd_cuda_sync. */
#ifndef LMD_CUDA_OPS_H
#define LMD_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lmd_cuda lmd_cuda;

/* The stored types of a weight matrix the products take. */
enum { LMD_CUDA_F32 = 0, LMD_CUDA_F16 = 1, LMD_CUDA_BF16 = 2 };

/* Number of CUDA devices (0 when there is none or no driver). */
int lmd_cuda_device_count(void);

/* Opens device dev; NULL with the reason in msg[cap] when it cannot. */
lmd_cuda *lmd_cuda_open(int dev, char *msg, size_t cap);
void lmd_cuda_close(lmd_cuda *c);
const char *lmd_cuda_error(const lmd_cuda *c);
/* The device's name, e.g. "NVIDIA H100 80GB HBM3". */
const char *lmd_cuda_name(const lmd_cuda *c);
/* Peak device memory allocated through this handle, bytes. */
size_t lmd_cuda_peak_bytes(const lmd_cuda *c);

void *lmd_cuda_alloc(lmd_cuda *c, size_t bytes);
void lmd_cuda_free(lmd_cuda *c, void *p);
/* Copies bytes host -> device (to_device) or device -> host, waiting for
 * the queued work first. */
int lmd_cuda_copy(lmd_cuda *c, void *dst, const void *src, size_t bytes, int to_device);
int lmd_cuda_sync(lmd_cuda *c);

/* out[T x n_out] (row stride ldo) = (accumulate ? out : 0) + in[T x n_in] W^T
 * + b (host pointer or NULL), in's rows lda >= n_in floats apart.  W:
 * n_out x n_in stored row-major, or
 * n_in x n_out when in_major.  bf16_products (dtype BF16 only): cuBLASLt BF16
 * x BF16 with F32 accumulation, activations rounded to BF16; otherwise F32
 * products with TF32 off, F16/BF16 weights widened to F32 once on upload. */
int lmd_cuda_linear(lmd_cuda *c, const float *in, size_t lda, size_t T, const void *W, int dtype,
                    int n_out, int n_in, int in_major, int bf16_products, const float *b,
                    float *out, size_t ldo, int accumulate);

/* RMSNorm of each row of d (w: host pointer to d floats); y may equal x. */
int lmd_cuda_rmsnorm_rows(lmd_cuda *c, const float *x, float *y, size_t rows, int d, const float *w,
                          float eps);
/* x[r*ld + j] += b[j] for j < n (b: host pointer). */
int lmd_cuda_bias_rows(lmd_cuda *c, float *x, size_t rows, size_t ld, int n, const float *b);
/* g = act(g) * u over n values of each row (stride ld); act as
 * lmd_activation: 0 GELU tanh, 1 GELU erf, 2 ReLU, 3 SiLU. */
int lmd_cuda_glu_rows(lmd_cuda *c, float *g, const float *u, size_t rows, size_t ld, int n,
                      int act);
/* RMSNorm in place over pieces (lmd_rmsnorm_pieces): in each of rows rows
 * (stride ld), n pieces of d values at x + r*ld + j*stride, all with w[d]
 * (host). */
int lmd_cuda_rmsnorm_pieces(lmd_cuda *c, float *x, size_t rows, size_t ld, int n, size_t stride,
                            int d, const float *w, float eps);

/* RoPE (rotate-half) of n_heads heads at x + t*ld + j*head_stride, rows
 * t < T: row t rotated with the half (cos, sin) pairs at cs + off[t]*2*half
 * (cs: n_cs floats and off: T entries, both host, uploaded here). */
int lmd_cuda_rope(lmd_cuda *c, float *x, size_t T, size_t ld, int n_heads, size_t head_stride,
                  int half, const float *cs, size_t n_cs, const uint32_t *off);

/* One attention call (lmd_attn without sel): query row t (of T) is position
 * pos[t] of a sequence of len[t] rows whose first row is start[t] (host
 * arrays); head j reads key/value head j / (H / KV).  D <= 512.  Computed
 * one query row and head per thread block, keys in chunks with a running
 * softmax (memory O(1) per query, nothing of size length^2). */
typedef struct lmd_cuda_attn {
    int H, KV, D;
    float scale;
    int causal, window;
    float softcap;
    const float *q, *k, *v;
    size_t q_ld, q_hs, kv_ld, k_hs, v_hs;
    float *out;
    size_t out_ld;
} lmd_cuda_attn;
int lmd_cuda_attention(lmd_cuda *c, const lmd_cuda_attn *a, size_t T, const int32_t *start,
                       const int32_t *pos, const int32_t *len);

/* x = cap * tanh(x / cap) over n values of each row (stride ld). */
int lmd_cuda_softcap(lmd_cuda *c, float *x, size_t rows, size_t ld, int n, float cap);
/* x[i] += y[i], n values. */
int lmd_cuda_add(lmd_cuda *c, float *x, const float *y, size_t n);

/* Per-token numbers of `rows` logit rows z[rows x V] (device) with true ids
 * ids[rows] (host): ln p, rank (1 + #logits greater than the true one),
 * entropy in nats, and the k largest (ties: lower id) with their
 * probabilities; all outputs are host arrays.  Only these come back. */
int lmd_cuda_score_rows(lmd_cuda *c, const float *z, size_t rows, int V, const int32_t *ids, int k,
                        double *logprob, int32_t *rank, float *entropy, int32_t *topk_ids,
                        float *topk_prob);

/* Times cuBLASLt BF16 x BF16 -> F32 products of [M x K] by [K x N] (F32
 * accumulation): the ceiling the forward's products are measured against.
 * Returns the best of reps runs in TFLOP/s, or -1. */
double lmd_cuda_gemm_tflops(lmd_cuda *c, int M, int N, int K, int reps);

#ifdef __cplusplus
}
#endif

#endif
