/* matmul.h - weight matrices in their stored dtype (F32, F16, BF16) and the
 * product of activations with them.
 *
 * F32 weights go to one cblas_sgemm.  F16/BF16 weights are never converted
 * as a whole: the product walks the output features in tiles, each thread
 * converts its tile of weights to F32 in its own scratch (exactly: both
 * formats are subsets of F32) and calls sgemm on it.  A BF16 model thus
 * needs its file size in memory (mapped), not twice that in F32. */
#ifndef LMD_MATMUL_H
#define LMD_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "model/safetensors.h"

typedef struct lmd_mat {
    const void *data; /* the mapping (or an owned copy when misaligned) */
    lmd_dtype dtype;  /* LMD_F32, LMD_F16, LMD_BF16 or a GGUF block type (quant.h) */
    int n_out, n_in;
    /* 0: stored [n_out x n_in] (nn.Linear, embeddings, output heads);
     * 1: stored [n_in x n_out] (GPT-2's Conv1D) */
    int in_major;
    /* GGUF: row permutation of the stored rows (lmd_tensor.perm_head); 0 none.
     * Block-quantized and permuted matrices are in_major = 0. */
    int perm_head;
} lmd_mat;

/* Y[T x n_out] (row stride ldy) = X[T x n_in] (contiguous) W^T, or += when
 * accumulate.  Runs its own OpenMP/BLAS threads; call it from outside a
 * parallel region.  Returns -1 only when the tile scratch cannot be
 * allocated (16-bit weights). */
int lmd_matmul(const float *X, size_t T, const lmd_mat *W, float *Y, size_t ldy, int accumulate);

/* Row r (0 <= r < n_out) of an in_major = 0 matrix as n_in floats: the
 * embedding lookup. */
void lmd_mat_row(const lmd_mat *W, int r, float *out);

/* Converts n values of a 16-bit or F32 buffer to F32 (vectorised). */
void lmd_convert_f32(const void *src, lmd_dtype dt, float *dst, size_t n);

#endif
