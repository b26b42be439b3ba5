/* kernels.h - the numeric inner loops of every forward pass and of the
 * scorer: layer norm, activations, softmax pieces, a vectorisable exp.  All
 * matrix products go through OpenBLAS (cblas_sgemm) in the callers.  The
 * loops are compiled for AVX-512, AVX2 and a generic x86-64 and the best
 * one is picked at run time. */
#ifndef LMD_KERNELS_H
#define LMD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

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

/* Maximum of n floats (n >= 1). */
float lmd_vmax(const float *x, size_t n);

/* For a logit row z (n values) with maximum m: returns S = sum exp(z - m)
 * and stores sum exp(z - m) * (z - m) in *wsum, both accumulated in double
 * over blocks.  scratch holds n floats. */
double lmd_expsum(const float *z, size_t n, float m, double *wsum, float *scratch);

/* Number of i with x[i] > t. */
size_t lmd_count_greater(const float *x, size_t n, float t);

/* In-place softmax of one row of n floats (n >= 1). */
void lmd_softmax_row(float *x, int n);

#endif
