/* quant.h - ggml's tensor types as lmdiff reads them: block sizes and one
 * dequantizer per type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K,
 * Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL), each exactly as ggml defines it
 * (ggml-common.h block layouts, ggml-quants.c dequantize_row_*). */
#ifndef LMD_QUANT_H
#define LMD_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "model/safetensors.h"

/* Elements per block (1 for F32/F16/BF16) and bytes per block. */
int lmd_dtype_block(lmd_dtype dt);
size_t lmd_dtype_block_bytes(lmd_dtype dt);
/* Bytes of a row of n elements (n a multiple of the block). */
size_t lmd_dtype_row_bytes(lmd_dtype dt, size_t n);
/* 1 for the block-quantized types. */
int lmd_dtype_is_quant(lmd_dtype dt);
const char *lmd_dtype_name(lmd_dtype dt);

/* The per-type dequantizers: nb blocks at src into nb * block floats. */
void lmd_dequant_q8_0(const uint8_t *src, float *dst, size_t nb);
void lmd_dequant_q4_0(const uint8_t *src, float *dst, size_t nb);
void lmd_dequant_q4_1(const uint8_t *src, float *dst, size_t nb);
void lmd_dequant_q5_0(const uint8_t *src, float *dst, size_t nb);
void lmd_dequant_q5_1(const uint8_t *src, float *dst, size_t nb);
void lmd_dequant_q2_k(const uint8_t *src, float *dst, size_t nb);
void lmd_dequant_q3_k(const uint8_t *src, float *dst, size_t nb);
void lmd_dequant_q4_k(const uint8_t *src, float *dst, size_t nb);
void lmd_dequant_q5_k(const uint8_t *src, float *dst, size_t nb);
void lmd_dequant_q6_k(const uint8_t *src, float *dst, size_t nb);
void lmd_dequant_iq4_nl(const uint8_t *src, float *dst, size_t nb);

/* A row of n values of Q8_0, Q4_0 or Q4_K as int8 quants q[n] with a scale
 * s and an offset o per 32 (value = s * q + o, the float operations of the
 * dequantizers), for int8 products (quant_int8.c); -1 for other types. */
int lmd_unpack_i8(lmd_dtype dt, const uint8_t *row, size_t n, int8_t *q, float *s, float *o);

/* n values (a multiple of the block) of any supported dtype to F32. */
void lmd_dequant(lmd_dtype dt, const void *src, float *dst, size_t n);

/* The stored row of row r of a tensor of `rows` rows with
 * lmd_tensor.perm_head perm (0: r). */
static inline size_t lmd_perm_row(int perm, size_t rows, size_t r) {
    if (perm > 1) {
        const size_t D = (size_t)perm, h = r / D, w = r % D, half = D / 2;
        return h * D + 2 * (w % half) + w / half;
    }
    if (perm < -1) {
        const size_t D = (size_t)-perm, h = r / (3 * D), p = r % (3 * D) / D, i = r % D;
        return p * (rows / 3) + h * D + i;
    }
    return r;
}

/* F32 -> F16, rounding to nearest even; and ggml's reference quantizers
 * (quantize_row_q8_0_ref, quantize_row_q4_0_ref) of nb blocks of 32. */
uint16_t lmd_f32_to_f16(float f);
void lmd_quant_q8_0(const float *x, uint8_t *dst, size_t nb);
void lmd_quant_q4_0(const float *x, uint8_t *dst, size_t nb);

/* A whole tensor to F32 (rows in Hugging Face order: perm_head undone). */
void lmd_tensor_to_f32(const lmd_tensor *t, float *dst);

#endif
