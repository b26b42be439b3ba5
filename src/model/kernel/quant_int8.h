/* quant_int8.h - products with block-quantized GGUF weights (Q8_0, Q4_0,
 * Q4_K) in integers, the way llama.cpp's CPU vec_dot runs them: each
 * activation row is quantized per 32 values to int8 with a scale (ggml's
 * quantize_row_q8_0: d = max|x| / 127 stored as F16, q = x / d rounded to
 * nearest even), each
 * 32-value block product is an exact integer dot product, and the block
 * scales (and Q4_K's offsets, through the activation block sums) are applied
 * in F32.  The numbers thus move as llama.cpp's do (it uses 256-value
 * activation blocks for Q4_K, lmdiff 32 for every type).  AVX512-VNNI where
 * the CPU has it (chosen at run time), portable C with the same arithmetic
 * elsewhere. */
#ifndef LMD_QUANT_INT8_H
#define LMD_QUANT_INT8_H

#include <stddef.h>

#include "model/matmul.h"

/* 1 for the weight types with an int8 product. */
int lmd_int8_supported(lmd_dtype dt);

/* 1 when the AVX512-VNNI kernel runs on this CPU (else portable C). */
int lmd_int8_vnni(void);

/* Y[T x n_out] (row stride ldy) (+)= X[T x n_in] W^T for W of a supported
 * type (in_major = 0, rows permuted by perm_head).  Runs its own OpenMP
 * threads.  Returns -1 when scratch memory cannot be allocated. */
int lmd_matmul_int8(const float *X, size_t T, const lmd_mat *W, float *Y, size_t ldy,
                    int accumulate);
/* The same with the portable kernel whatever the CPU (tests, benchmarks). */
int lmd_matmul_int8_portable(const float *X, size_t T, const lmd_mat *W, float *Y, size_t ldy,
                             int accumulate);

#endif
