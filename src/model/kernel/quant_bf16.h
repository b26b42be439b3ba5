/* quant_bf16.h - BF16 products (--precision bf16) of GGUF weights that are
 * block-quantized or stored with permuted rows: what lmd_matmul runs for
 * such a matrix with bf16_products set.  Each weight becomes the BF16
 * rounding of its exact value (d * q for Q8_0), so the numbers move as
 * they do for an F16 model at bf16 precision; docs/gguf.md has how much. */
#ifndef LMD_QUANT_BF16_H
#define LMD_QUANT_BF16_H

#include <stddef.h>

#include "model/matmul.h"

/* Y[T x n_out] (row stride ldy) (+)= X[T x n_in] (row stride lda) W^T, W
 * in_major = 0 of any dtype lmd_dequant reads.  Returns -1 on OOM or when
 * oneDNN refuses. */
int lmd_matmul_quant_bf16(const float *X, size_t lda, size_t T, const lmd_mat *W, float *Y,
                          size_t ldy, int accumulate);

#endif
