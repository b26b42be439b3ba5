/* kernels.h - the numeric inner loops of every forward pass and of the
 * scorer, once for all architectures: layer norm, RMS norm, bias,
 * activations, linear layers, softmax pieces, a vectorisable exp.  Matrix
 * products go through matmul.h; attention and RoPE are in attention.h.  The
 * row loops are compiled for AVX-512, AVX2 and a generic x86-64 and the
 * best one is picked at run time; the *_rows forms run the rows in
 * parallel when there is enough work. */
#ifndef LMD_KERNELS_H
#define LMD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "model/matmul.h"

/* y[i] = exp(x[i]) for n elements, max relative error ~2 ulp for x in
 * [-87, 88]; below -87 the result is 0. y may equal x. */
void lmd_vexp(const float *x, float *y, size_t n);

/* One row of LayerNorm: y = (x - mean) / sqrt(var + eps) * w + b. */
void lmd_layernorm_row(const float *x, float *y, int d, const float *w, const float *b, float eps);

/* One row of RMSNorm: y = x / sqrt(mean(x^2) + eps) * w. */
void lmd_rmsnorm_row(const float *x, float *y, int d, const float *w, float eps);

/* x[i] = x[i] * y[i] (the SwiGLU product). */
void lmd_vmul(float *x, const float *y, size_t n);

typedef enum {
    LMD_ACT_GELU_TANH, /* gelu_new, gelu_pytorch_tanh, gelu_fast */
    LMD_ACT_GELU_ERF,  /* gelu */
    LMD_ACT_RELU,
    LMD_ACT_SILU,
} lmd_activation;

/* Applies an activation in place to n elements. */
void lmd_activate(float *x, size_t n, lmd_activation act);

/* x[r][c] += b[c] for rows x cols. */
void lmd_add_bias(float *x, size_t rows, size_t cols, const float *b);

/* ---- whole blocks of rows (row stride = width unless said) ---- */

/* LayerNorm of each row of d: y may equal x. */
void lmd_layernorm_rows(const float *x, float *y, size_t rows, int d, const float *w,
                        const float *b, float eps);

/* RMSNorm of each row of d: y may equal x. */
void lmd_rmsnorm_rows(const float *x, float *y, size_t rows, int d, const float *w, float eps);

/* RMSNorm in place over pieces of d values: in each of `rows` rows (stride
 * ld), n pieces at x + r*ld + j*stride, each normalised on its own with the
 * same w[d] (per-head q/k norms: n heads of d; a norm over a whole
 * projection: n = 1, d = its width). */
void lmd_rmsnorm_pieces(float *x, size_t rows, size_t ld, int n, size_t stride, int d,
                        const float *w, float eps);

/* x[r*ld + c] += b[c] for c < n, each of `rows` rows; nothing when b is NULL. */
void lmd_bias_rows(float *x, size_t rows, size_t ld, int n, const float *b);

/* An activation over each of `rows` rows of n values (stride ld). */
void lmd_activate_rows(float *x, size_t rows, size_t ld, int n, lmd_activation act);

/* The gated unit of SwiGLU / GeGLU: g[r] = act(g[r]) * u[r] over n values
 * of each row (row stride ld for both). */
void lmd_glu_rows(float *g, const float *u, size_t rows, size_t ld, int n, lmd_activation act);

/* A linear layer: out[T x W.n_out] (row stride ldo) = (accumulate ? out : 0)
 * + in[T x W.n_in] W^T + b (b may be NULL).  -1 when out of memory. */
int lmd_linear(const float *in, size_t T, const lmd_mat *W, const float *b, float *out, size_t ldo,
               int accumulate);

/* x = cap * tanh(x / cap) for n values (Gemma 2's soft-capping). */
void lmd_softcap(float *x, size_t n, float cap);

/* Maximum of n floats (n >= 1). */
float lmd_vmax(const float *x, size_t n);

/* For a logit row z (n values) with maximum m: returns S = sum exp(z - m)
 * and stores sum exp(z - m) * (z - m) in *wsum, both accumulated in double
 * over blocks.  scratch holds n floats. */
double lmd_expsum(const float *z, size_t n, float m, double *wsum, float *scratch);

/* lmd_expsum with each block's float sums in any order (vectorised): not
 * bit for bit the same, so for BF16 products only (score.c). */
double lmd_expsum_simd(const float *z, size_t n, float m, double *wsum);

/* Number of i with x[i] > t. */
size_t lmd_count_greater(const float *x, size_t n, float t);

/* In-place softmax of one row of n floats (n >= 1). */
void lmd_softmax_row(float *x, int n);

#endif
