/* quant_bf16.c - BF16 products of block-quantized or row-permuted GGUF
 * weights (see quant_bf16.h): tiles of rows dequantized to F32 exactly,
 * rounded to BF16 (nearest even), and multiplied by oneDNN's BF16 matmul
 * (activations rounded to BF16, F32 accumulation).  A tile at a time, so
 * the model stays at about its file size of memory. */
#include "model/kernel/quant_bf16.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernel/matmul_dnnl.h"
#include "model/kernel/quant.h"
#include "model/kernel/scratch.h"

#define TILE_ROWS 256

/* Rows j0 .. j0+cnt-1 of W (stored order undone) as BF16 in B [cnt x K]. */
static int tile_bf16(const lmd_mat *W, size_t j0, size_t cnt, uint16_t *B) {
    const size_t K = (size_t)W->n_in, rb = lmd_dtype_row_bytes(W->dtype, K);
    int rc = 0;
#pragma omp parallel reduction(| : rc)
    {
        float *row = malloc(K * sizeof *row);
        rc = row ? 0 : 1;
#pragma omp for schedule(static)
        for (size_t r = 0; r < cnt; r++) {
            if (!row) continue;
            const size_t s = lmd_perm_row(W->perm_head, (size_t)W->n_out, j0 + r);
            lmd_dequant(W->dtype, (const uint8_t *)W->data + s * rb, row, K);
            lmd_f32_to_bf16(row, B + r * K, K);
        }
        free(row);
    }
    return rc ? -1 : 0;
}

int lmd_matmul_quant_bf16(const float *X, size_t lda, size_t T, const lmd_mat *W, float *Y,
                          size_t ldy, int accumulate) {
    const size_t K = (size_t)W->n_in, n = (size_t)W->n_out;
    const size_t tile = n < TILE_ROWS ? n : TILE_ROWS;
    uint16_t *A = lmd_scratch(LMD_SCR_BF16_IN, T * K * sizeof *A);
    uint16_t *B = lmd_scratch(LMD_SCR_WEIGHTS, tile * K * sizeof *B);
    float *D = lmd_scratch(LMD_SCR_DENSE, T * tile * sizeof *D); /* dense: the brgemm kernel */
    int rc = A && B && D ? 0 : -1;
    if (rc == 0) {
#pragma omp parallel for schedule(static)
        for (size_t t = 0; t < T; t++)
            lmd_f32_to_bf16(X + t * lda, A + t * K, K);
    }
    for (size_t j0 = 0; rc == 0 && j0 < n; j0 += tile) {
        const size_t cnt = n - j0 < tile ? n - j0 : tile;
        if (tile_bf16(W, j0, cnt, B) < 0 ||
            lmd_dnnl_bf16(A, T, B, NULL, (int)cnt, (int)K, 0, D, cnt, 0) < 0) {
            rc = -1;
            break;
        }
#pragma omp parallel for schedule(static) if (T * cnt >= 32768)
        for (size_t t = 0; t < T; t++) {
            float *y = Y + t * ldy + j0;
            const float *d = D + t * cnt;
            if (accumulate)
                for (size_t j = 0; j < cnt; j++)
                    y[j] += d[j];
            else
                memcpy(y, d, cnt * sizeof *y);
        }
    }
    return rc;
}
