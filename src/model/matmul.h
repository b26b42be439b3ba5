/* matmul.h - weight matrices in their stored dtype (F32, F16, BF16) and the
 * one entry for products of activations with them.
 *
 * Two ways a product runs:
 *  - F32 products (the exact path): F32 weights go to one cblas_sgemm.
 *    Other dtypes are never converted as a whole: the product walks the
 *    output features in tiles, each thread widens its tile of weights to F32
 *    in its own scratch (lmd_widen_tile; exact for F16/BF16) and calls
 *    sgemm on it.  A BF16 model thus needs its file size in memory.
 *  - BF16 products (bf16_products = 1, BF16 data): oneDNN's matmul
 *    primitive, activations rounded to BF16 (nearest even), F32
 *    accumulation and F32 output.  oneDNN picks the ISA at run time (AMX,
 *    AVX512-BF16, ...).  One primitive per shape, created on first use and
 *    cached for the life of the process (thread-safe).  The weights are
 *    read in place, or from a copy in oneDNN's blocked layout made at load
 *    (lmd_mat_pack, below). */
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
    /* 1: products in BF16 through oneDNN (dtype LMD_BF16, or a GGUF block
     * type / permuted rows: tiles rounded to BF16, quant_bf16.c) */
    int bf16_products;
    /* GGUF: row permutation of the stored rows (lmd_tensor.perm_head); 0 none.
     * Block-quantized and permuted matrices are in_major = 0. */
    int perm_head;
    /* BF16 products: a copy in oneDNN's preferred layout (lmd_mat_pack),
     * used instead of data; NULL: none */
    const struct lmd_packed *packed;
} lmd_mat;

/* Y[T x n_out] (row stride ldy) = X[T x n_in] (contiguous) W^T, or += when
 * accumulate.  Runs its own OpenMP/BLAS threads; call it from outside a
 * parallel region.  Returns -1 only when scratch memory cannot be allocated
 * or oneDNN refuses the product. */
int lmd_matmul(const float *X, size_t T, const lmd_mat *W, float *Y, size_t ldy, int accumulate);

/* The same with X's rows lda >= n_in floats apart (e.g. one half of a fused
 * gate/up output). */
int lmd_matmul_lda(const float *X, size_t lda, size_t T, const lmd_mat *W, float *Y, size_t ldy,
                   int accumulate);

/* Packed and fused weights for BF16 products, prepared once at load.
 * Matrices that share their input (q, k, v; gate, up) run as one product
 * with their outputs side by side, so the input is rounded to BF16 once
 * and oneDNN gets one large product instead of two or three; and every
 * such product reads its weights in the blocked layout oneDNN's kernel
 * prefers (format "any"), which it would otherwise re-block on the fly.
 *
 * lmd_mat_fusable: 1 when parts[0..n) are BF16-product matrices stored
 * [n_out x n_in] with the same n_in and no row permutation.
 *
 * lmd_mat_pack: *out = the n parts stacked, [sum of n_out x n_in] (n = 1:
 * one matrix), packed when oneDNN prefers another layout: *owned is then
 * the packed copy, and out->data the plain view or NULL (parts apart); else *owned is a plain
 * stacked copy, or NULL when the parts lie back to back already (as gate and up do in HF files:
 * *out is a view).  Copies are 2 MB-aligned, in huge pages where the kernel allows, and the caller
 * frees them with free().  With release, the parts' whole pages are handed back to the kernel once
 * copied (madvise MADV_DONTNEED), so the weights are not resident twice: pass it only for parts
 * inside a read-only file mapping, whose pages the kernel re-reads from the file should they be
 * touched again (never for malloc'd memory, which would read back as zeros).  -1: out of memory or
 * oneDNN failed. */
int lmd_mat_fusable(const lmd_mat *parts, int n);
/* lmd_mat_join: 1 and *out = the parts as one matrix (a view) when they lie
 * back to back in memory (gate and up in HF files), else 0.  No copy. */
int lmd_mat_join(const lmd_mat *parts, int n, lmd_mat *out);
int lmd_mat_pack(const lmd_mat *parts, int n, int release, lmd_mat *out, void **owned);

/* Widens output features j0 .. j0+cnt-1 of W to F32 in dst: [cnt x n_in]
 * when !in_major, [n_in x cnt] when in_major (the layout sgemm then reads).
 * The one place that knows how to read a tile of each stored dtype. */
void lmd_widen_tile(const lmd_mat *W, size_t j0, size_t cnt, float *dst);

/* Row r (0 <= r < n_out) of an in_major = 0 matrix as n_in floats: the
 * embedding lookup. */
void lmd_mat_row(const lmd_mat *W, int r, float *out);

/* Converts n values of a 16-bit or F32 buffer to F32 (vectorised). */
void lmd_convert_f32(const void *src, lmd_dtype dt, float *dst, size_t n);

/* Rounds n floats to BF16, to nearest even (NaN stays NaN). */
void lmd_f32_to_bf16(const float *src, uint16_t *dst, size_t n);

/* 1 when oneDNN runs BF16 products natively on this CPU (AVX512-BF16 or
 * AMX), 0 when it would emulate them or cannot run them at all. */
int lmd_bf16_native(void);

/* 1 when oneDNN can run BF16 products here at all (natively or emulated);
 * *impl (if not NULL) is then oneDNN's implementation name for a typical
 * shape, e.g. "brg:avx512_core_bf16" or "brg:avx512_core_amx". */
int lmd_bf16_available(const char **impl);

#endif
