/* quant.c - see quant.h.  Block layouts (all little-endian, "half" = F16):
 *   Q8_0   32: half d; int8 qs[32]                     y = d*q
 *   Q4_0   32: half d; u8 qs[16]                       y = d*(nibble-8)
 *   Q4_1   32: half d, m; u8 qs[16]                    y = d*nibble + m
 *   Q5_0   32: half d; u8 qh[4]; u8 qs[16]             y = d*(5-bit - 16)
 *   Q5_1   32: half d, m; u8 qh[4]; u8 qs[16]          y = d*5-bit + m
 *   IQ4_NL 32: half d; u8 qs[16]                       y = d*kvalues[nibble]
 * (element j < 16 is the low nibble of qs[j], j >= 16 the high nibble of
 * qs[j-16]; the fifth bit of element j is bit j of qh)
 *   Q2_K  256: u8 scales[16]; u8 qs[64]; half d, dmin
 *   Q3_K  256: u8 hmask[32]; u8 qs[64]; u8 scales[12]; half d
 *   Q4_K  256: half d, dmin; u8 scales[12]; u8 qs[128]
 *   Q5_K  256: half d, dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]
 *   Q6_K  256: u8 ql[128]; u8 qh[64]; int8 scales[16]; half d
 * The float operations are ggml's, in its order, so that results match
 * ggml's dequantize_row_* bit for bit. */
#include "model/kernel/quant.h"

#include <math.h>
#include <string.h>

#include "model/matmul.h"

static const struct {
    const char *name;
    int blck;
    size_t bytes;
} info[] = {
    [LMD_F32] = {"F32", 1, 4},           [LMD_F16] = {"F16", 1, 2},
    [LMD_BF16] = {"BF16", 1, 2},         [LMD_Q8_0] = {"Q8_0", 32, 34},
    [LMD_Q4_0] = {"Q4_0", 32, 18},       [LMD_Q4_1] = {"Q4_1", 32, 20},
    [LMD_Q5_0] = {"Q5_0", 32, 22},       [LMD_Q5_1] = {"Q5_1", 32, 24},
    [LMD_Q2_K] = {"Q2_K", 256, 84},      [LMD_Q3_K] = {"Q3_K", 256, 110},
    [LMD_Q4_K] = {"Q4_K", 256, 144},     [LMD_Q5_K] = {"Q5_K", 256, 176},
    [LMD_Q6_K] = {"Q6_K", 256, 210},     [LMD_IQ4_NL] = {"IQ4_NL", 32, 18},
    [LMD_DTYPE_OTHER] = {"other", 1, 0},
};

int lmd_dtype_block(lmd_dtype dt) {
    return info[dt].blck;
}
size_t lmd_dtype_block_bytes(lmd_dtype dt) {
    return info[dt].bytes;
}
size_t lmd_dtype_row_bytes(lmd_dtype dt, size_t n) {
    return n / (size_t)info[dt].blck * info[dt].bytes;
}
int lmd_dtype_is_quant(lmd_dtype dt) {
    return dt >= LMD_Q8_0 && dt < LMD_DTYPE_OTHER;
}
const char *lmd_dtype_name(lmd_dtype dt) {
    return info[dt].name;
}

static float half(const uint8_t *p) {
    float f;
    uint16_t h = (uint16_t)(p[0] | p[1] << 8);
    lmd_convert_f32(&h, LMD_F16, &f, 1);
    return f;
}

void lmd_dequant_q8_0(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 34, y += 32) {
        const float d = half(b);
        for (int j = 0; j < 32; j++)
            y[j] = (float)(int8_t)b[2 + j] * d;
    }
}

void lmd_dequant_q4_0(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 18, y += 32) {
        const float d = half(b);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b[2 + j] & 0x0F) - 8) * d;
            y[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
        }
    }
}

void lmd_dequant_q4_1(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 20, y += 32) {
        const float d = half(b), m = half(b + 2);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b[4 + j] & 0x0F) * d + m;
            y[j + 16] = (float)(b[4 + j] >> 4) * d + m;
        }
    }
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void lmd_dequant_q5_0(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 22, y += 32) {
        const float d = half(b);
        const uint32_t qh = le32(b + 2);
        const uint8_t *qs = b + 6;
        for (int j = 0; j < 16; j++) {
            const int x0 = (int)((qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10)) - 16;
            const int x1 = (int)((qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
            y[j] = (float)x0 * d;
            y[j + 16] = (float)x1 * d;
        }
    }
}

void lmd_dequant_q5_1(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 24, y += 32) {
        const float d = half(b), m = half(b + 2);
        const uint32_t qh = le32(b + 4);
        const uint8_t *qs = b + 8;
        for (int j = 0; j < 16; j++) {
            const int x0 = (int)((qs[j] & 0x0F) | (((qh >> j) << 4) & 0x10));
            const int x1 = (int)((qs[j] >> 4) | ((qh >> (j + 12)) & 0x10));
            y[j] = (float)x0 * d + m;
            y[j + 16] = (float)x1 * d + m;
        }
    }
}

void lmd_dequant_iq4_nl(const uint8_t *b, float *y, size_t nb) {
    static const int8_t kv[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                  1,    13,   25,  38,  53,  69,  89,  113};
    for (size_t i = 0; i < nb; i++, b += 18, y += 32) {
        const float d = half(b);
        for (int j = 0; j < 16; j++) {
            y[j] = d * (float)kv[b[2 + j] & 0x0F];
            y[j + 16] = d * (float)kv[b[2 + j] >> 4];
        }
    }
}

void lmd_dequant_q2_k(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 84) {
        const uint8_t *sc = b, *q = b + 16;
        const float d = half(b + 80), dmin = half(b + 82);
        int is = 0;
        for (int n = 0; n < 256; n += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2)
                for (int half16 = 0; half16 < 2; half16++) {
                    const uint8_t s = sc[is++];
                    const float dl = d * (float)(s & 0x0F), ml = dmin * (float)(s >> 4);
                    for (int l = 0; l < 16; l++)
                        *y++ = dl * (float)((q[l + 16 * half16] >> shift) & 3) - ml;
                }
    }
}

void lmd_dequant_q3_k(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 110) {
        const uint8_t *hm = b, *q = b + 32, *s = b + 96;
        const float d_all = half(b + 108);
        /* 16 6-bit scales: low 4 bits from s[0..7] (low nibbles first, then
         * high nibbles), high 2 bits from s[8..11] */
        int8_t scales[16];
        for (int j = 0; j < 16; j++) {
            const int lo = j < 8 ? s[j] & 0x0F : s[j - 8] >> 4;
            const int hi = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
            scales[j] = (int8_t)((lo | hi << 4) - 32);
        }
        int is = 0;
        uint8_t m = 1;
        for (int n = 0; n < 256; n += 128, q += 32)
            for (int shift = 0; shift < 8; shift += 2, m = (uint8_t)(m << 1))
                for (int half16 = 0; half16 < 2; half16++) {
                    const float dl = d_all * (float)scales[is++];
                    for (int l = 16 * half16; l < 16 * half16 + 16; l++)
                        *y++ = dl * (float)((int)((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
                }
    }
}

/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K block. */
static void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

void lmd_dequant_q4_k(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 144) {
        const float d = half(b), min = half(b + 2);
        const uint8_t *scales = b + 4, *q = b + 16;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
            uint8_t sc, m;
            scale_min_k4(is, scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            scale_min_k4(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)(q[l] & 0x0F) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void lmd_dequant_q5_k(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 176) {
        const float d = half(b), min = half(b + 2);
        const uint8_t *scales = b + 4, *qh = b + 16, *ql = b + 48;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32) {
            uint8_t sc, m;
            scale_min_k4(is, scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            scale_min_k4(is + 1, scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((ql[l] & 0x0F) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            u1 = (uint8_t)(u1 << 2);
            u2 = (uint8_t)(u2 << 2);
        }
    }
}

void lmd_dequant_q6_k(const uint8_t *b, float *y, size_t nb) {
    for (size_t i = 0; i < nb; i++, b += 210) {
        const float d = half(b + 208);
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8)
            for (int l = 0; l < 32; l++) {
                const int is = l / 16;
                const int q1 = (int)((ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4) - 32;
                const int q2 = (int)((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32;
                const int q3 = (int)((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                const int q4 = (int)((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                y[l] = d * (float)sc[is] * (float)q1;
                y[l + 32] = d * (float)sc[is + 2] * (float)q2;
                y[l + 64] = d * (float)sc[is + 4] * (float)q3;
                y[l + 96] = d * (float)sc[is + 6] * (float)q4;
            }
    }
}

int lmd_unpack_i8(lmd_dtype dt, const uint8_t *b, size_t n, int8_t *q, float *s, float *o) {
    if (dt == LMD_Q8_0 || dt == LMD_Q4_0) {
        for (size_t i = 0; i < n / 32; i++, b += dt == LMD_Q8_0 ? 34 : 18, q += 32) {
            s[i] = half(b), o[i] = 0;
            for (int j = 0; j < 16 && dt == LMD_Q4_0; j++) {
                q[j] = (int8_t)((b[2 + j] & 0x0F) - 8);
                q[j + 16] = (int8_t)((b[2 + j] >> 4) - 8);
            }
            if (dt == LMD_Q8_0) memcpy(q, b + 2, 32);
        }
        return 0;
    }
    if (dt != LMD_Q4_K) return -1;
    for (size_t i = 0; i < n / 256; i++, b += 144) {
        const float d = half(b), min = half(b + 2);
        const uint8_t *qs = b + 16;
        for (int j = 0; j < 8; j++, q += 32, s++, o++) {
            uint8_t sc, m;
            scale_min_k4(j, b + 4, &sc, &m);
            *s = d * sc, *o = -(min * m);
            for (int l = 0; l < 32; l++)
                q[l] = (int8_t)(j % 2 ? qs[32 * (j / 2) + l] >> 4 : qs[32 * (j / 2) + l] & 0x0F);
        }
    }
    return 0;
}

void lmd_dequant(lmd_dtype dt, const void *src, float *dst, size_t n) {
    const size_t nb = n / (size_t)info[dt].blck;
    switch (dt) {
    case LMD_F32:
    case LMD_F16:
    case LMD_BF16:
        lmd_convert_f32(src, dt, dst, n);
        break;
    case LMD_Q8_0:
        lmd_dequant_q8_0(src, dst, nb);
        break;
    case LMD_Q4_0:
        lmd_dequant_q4_0(src, dst, nb);
        break;
    case LMD_Q4_1:
        lmd_dequant_q4_1(src, dst, nb);
        break;
    case LMD_Q5_0:
        lmd_dequant_q5_0(src, dst, nb);
        break;
    case LMD_Q5_1:
        lmd_dequant_q5_1(src, dst, nb);
        break;
    case LMD_Q2_K:
        lmd_dequant_q2_k(src, dst, nb);
        break;
    case LMD_Q3_K:
        lmd_dequant_q3_k(src, dst, nb);
        break;
    case LMD_Q4_K:
        lmd_dequant_q4_k(src, dst, nb);
        break;
    case LMD_Q5_K:
        lmd_dequant_q5_k(src, dst, nb);
        break;
    case LMD_Q6_K:
        lmd_dequant_q6_k(src, dst, nb);
        break;
    case LMD_IQ4_NL:
        lmd_dequant_iq4_nl(src, dst, nb);
        break;
    case LMD_DTYPE_OTHER:
        memset(dst, 0, n * sizeof *dst);
        break;
    }
}

void lmd_tensor_to_f32(const lmd_tensor *t, float *dst) {
    const size_t n = (size_t)t->numel;
    if (!t->perm_head) {
        lmd_dequant(t->dtype, t->data, dst, n);
        return;
    }
    const size_t rows = (size_t)t->shape[0], len = n / rows;
    const size_t rb = lmd_dtype_row_bytes(t->dtype, len);
    for (size_t r = 0; r < rows; r++)
        lmd_dequant(t->dtype, t->data + lmd_perm_row(t->perm_head, rows, r) * rb, dst + r * len,
                    len);
}

/* ---- quantizing (the GGUF writer): ggml's reference quantizers */

uint16_t lmd_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return sign | 0x7E00;  /* NaN */
    if (ax >= 0x477FF000u) return sign | 0x7C00; /* rounds past 65504: inf */
    if (ax < 0x38800000u) {                      /* below 2^-14: subnormal or 0 */
        float a;
        memcpy(&a, &ax, 4);
        return sign | (uint16_t)lrintf(a * 0x1p24f); /* to nearest, ties to even */
    }
    uint32_t h = ((ax >> 23) - 112) << 10 | (ax & 0x7FFFFF) >> 13;
    const uint32_t rem = ax & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return sign | (uint16_t)h;
}

static void put_half(uint8_t *p, float v) {
    const uint16_t h = lmd_f32_to_f16(v);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
}

/* quantize_row_q8_0_ref: d = max|x| / 127, q = round(x / d) */
void lmd_quant_q8_0(const float *x, uint8_t *b, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += 32, b += 34) {
        float amax = 0;
        for (int j = 0; j < 32; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
        put_half(b, d);
        for (int j = 0; j < 32; j++)
            b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
    }
}

/* quantize_row_q4_0_ref: d = (the value of largest magnitude) / -8,
 * q = min(15, (int8)(x / d + 8.5)) */
void lmd_quant_q4_0(const float *x, uint8_t *b, size_t nb) {
    for (size_t i = 0; i < nb; i++, x += 32, b += 18) {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++)
            if (amax < fabsf(x[j])) amax = fabsf(x[j]), max = x[j];
        const float d = max / -8, id = d ? 1.0f / d : 0.0f;
        put_half(b, d);
        for (int j = 0; j < 16; j++) {
            const int8_t a = (int8_t)(x[j] * id + 8.5f), c = (int8_t)(x[j + 16] * id + 8.5f);
            const uint8_t lo = (uint8_t)(a < 15 ? a : 15), hi = (uint8_t)(c < 15 ? c : 15);
            b[2 + j] = (uint8_t)(lo | hi << 4);
        }
    }
}
