/* matmul_dnnl.h - BF16 products through oneDNN's matmul primitive, for
 * matmul.c only. */
#ifndef LMD_MATMUL_DNNL_H
#define LMD_MATMUL_DNNL_H

#include <stddef.h>
#include <stdint.h>

struct lmd_packed;

/* Y[T x n] (row stride ldy) (+)= A[T x k] W^T with A and W in BF16, F32
 * accumulation.  W is [n x k] (in_major = 0) or [k x n] (in_major = 1), or,
 * when pw is not NULL, the packed copy pw (W unused).
 * Returns -1 when oneDNN cannot create or run the primitive, or on OOM. */
int lmd_dnnl_bf16(const uint16_t *A, size_t T, const uint16_t *W, const struct lmd_packed *pw,
                  int n, int k, int in_major, float *Y, size_t ldy, int accumulate);

/* W [n x k] (in_major = 0) reordered into the layout oneDNN's matmul kernel
 * asks for (format "any"; for brgemm a blocked one, the same for every row
 * count, checked in test_matmul): *out, one block to free() (2 MB-aligned,
 * in huge pages where the kernel allows), or NULL when the kernel takes
 * the plain layout as it is.  -1: out of memory or oneDNN failed. */
int lmd_dnnl_pack(const uint16_t *W, int n, int k, struct lmd_packed **out);

/* oneDNN's implementation name for a typical BF16 shape, or NULL when it
 * has none on this CPU. */
const char *lmd_dnnl_bf16_impl(void);

/* 1 when the CPU ISA oneDNN dispatches to has BF16 instructions. */
int lmd_dnnl_bf16_native(void);

#endif
