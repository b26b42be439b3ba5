/* quant_int8.c - see quant_int8.h.
 *
 * Layout.  Activations: per token, K bytes q + 128 (unsigned, as VNNI's
 * vpdpbusd wants its first operand) and per 32-block the scale dx and
 * dx * sum(q).  Weights, repacked per tile of 16 output rows: per 32-block
 * b, [8 groups of 4 values][16 rows][4 bytes] int8 (one 64-byte vector per
 * group holds 4 values of each row), then the rows' scales s, offsets o and
 * corrections c = 128 * sum(q) (the +128 of the activations).  For a token
 * and a block: dot = sum (xq + 128) wq - c, exact in int32; then
 * y += (float)dot * (s * dx) and y += o * (dx * sum(xq)) in F32. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include "model/kernel/quant_int8.h"

#include "model/kernel/clones.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernel/quant.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(LMD_NO_CLONES)
#include <immintrin.h>
#define LMD_VNNI 1
#define VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))
#endif

#define ROWS 16    /* output rows per tile */
#define TOK 8      /* tokens per kernel call */
#define PACK_B 512 /* packed quant bytes per 32-block of a tile */

int lmd_int8_supported(lmd_dtype dt) {
    return dt == LMD_Q8_0 || dt == LMD_Q4_0 || dt == LMD_Q4_K;
}

int lmd_int8_vnni(void) {
#ifdef LMD_VNNI
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

typedef struct acts {
    uint8_t *q;     /* [T][K] q + 128 */
    float *d, *sum; /* [T][nb] dx, dx * sum(q) */
    size_t K, nb;
} acts;

typedef struct tile {
    int8_t *q;        /* [nb][8][ROWS][4] */
    float *s, *o, *c; /* [nb][ROWS] */
    int has_off;      /* some o != 0 */
} tile;

/* ggml's quantize_row_q8_0 on a row of nb blocks: d = max|x| / 127 (stored
 * as F16), q = x / d rounded to nearest even as its AVX code does
 * (_mm256_round_ps; the _ref version rounds halves away from zero).  |x| as
 * integer bits, so that the max vectorises (NaN aside, the order is the same). */
LMD_CLONES static void quant_row(const float *restrict x, size_t nb, uint8_t *restrict q,
                                 float *restrict d, float *restrict sum) {
    for (size_t b = 0; b < nb; b++, x += 32, q += 32) {
        uint32_t amax = 0;
        for (int i = 0; i < 32; i++) {
            uint32_t u;
            memcpy(&u, x + i, 4);
            u &= 0x7FFFFFFFu;
            amax = u > amax ? u : amax;
        }
        float am;
        memcpy(&am, &amax, 4);
        const float dd = am / 127, id = dd != 0 ? 1.0f / dd : 0.0f;
        const uint16_t h = lmd_f32_to_f16(dd);
        int s = 0;
        for (int i = 0; i < 32; i++) {
            const int v = (int)rintf(x[i] * id);
            q[i] = (uint8_t)(v + 128);
            s += v;
        }
        lmd_convert_f32(&h, LMD_F16, d + b, 1);
        sum[b] = d[b] * (float)s;
    }
}

static int quant_acts(const float *X, size_t T, size_t K, acts *a) {
    a->K = K, a->nb = K / 32;
    a->q = malloc(T * K);
    a->d = malloc(T * a->nb * sizeof *a->d);
    a->sum = malloc(T * a->nb * sizeof *a->sum);
    if (!a->q || !a->d || !a->sum) return -1;
#pragma omp parallel for schedule(static)
    for (size_t t = 0; t < T; t++)
        quant_row(X + t * K, a->nb, a->q + t * K, a->d + t * a->nb, a->sum + t * a->nb);
    return 0;
}

/* Rows j0 .. j0+cnt-1 of W into the tile (rows past cnt zero); rowq, rs,
 * ro: one row's scratch. */
static void pack_tile(const lmd_mat *W, size_t j0, size_t cnt, tile *P, int8_t *rowq, float *rs,
                      float *ro) {
    const size_t K = (size_t)W->n_in, nb = K / 32, rb = lmd_dtype_row_bytes(W->dtype, K);
    const uint8_t *base = W->data;
    P->has_off = 0;
    for (size_t r = 0; r < ROWS; r++) {
        if (r < cnt)
            lmd_unpack_i8(W->dtype,
                          base + lmd_perm_row(W->perm_head, (size_t)W->n_out, j0 + r) * rb, K, rowq,
                          rs, ro);
        else
            memset(rowq, 0, K), memset(rs, 0, nb * sizeof *rs), memset(ro, 0, nb * sizeof *ro);
        for (size_t b = 0; b < nb; b++) {
            const int8_t *src = rowq + b * 32;
            int sum = 0;
            for (int i = 0; i < 32; i++)
                sum += src[i];
            for (int g = 0; g < 8; g++) /* 4 values of the row per 64-byte group */
                memcpy(P->q + b * PACK_B + (size_t)g * 64 + r * 4, src + g * 4, 4);
            P->s[b * ROWS + r] = rs[b];
            P->o[b * ROWS + r] = ro[b];
            P->c[b * ROWS + r] = 128.0f * (float)sum;
            P->has_off |= ro[b] != 0;
        }
    }
}

/* Portable: acc[t][r] for tokens t0 .. t0+nt-1 of the tile's 16 rows. */
static void kernel_c(const tile *P, const acts *A, size_t t0, size_t nt, float *acc) {
    for (size_t t = 0; t < nt; t++) {
        const uint8_t *x = A->q + (t0 + t) * A->K;
        const float *dx = A->d + (t0 + t) * A->nb, *sx = A->sum + (t0 + t) * A->nb;
        for (int r = 0; r < ROWS; r++) {
            float y = 0;
            for (size_t b = 0; b < A->nb; b++) {
                int32_t dot = 0;
                for (int g = 0; g < 8; g++)
                    for (int k = 0; k < 4; k++)
                        dot += (int32_t)x[b * 32 + (size_t)g * 4 + (size_t)k] *
                               P->q[b * PACK_B + (size_t)g * 64 + (size_t)r * 4 + (size_t)k];
                const float f = (float)dot - P->c[b * ROWS + (size_t)r];
                y = fmaf(f, P->s[b * ROWS + (size_t)r] * dx[b], y);
                if (P->has_off) y = fmaf(P->o[b * ROWS + (size_t)r], sx[b], y);
            }
            acc[t * ROWS + (size_t)r] = y;
        }
    }
}

#ifdef LMD_VNNI
/* AVX512-VNNI: NT tokens at a time, the block's 8 weight vectors loaded
 * once for all of them. */
#define KERNEL_VNNI(NT)                                                                            \
    VNNI_TARGET static void kernel_vnni##NT(const tile *P, const acts *A, size_t t0, float *acc) { \
        __m512 y[NT];                                                                              \
        for (int t = 0; t < NT; t++)                                                               \
            y[t] = _mm512_setzero_ps();                                                            \
        for (size_t b = 0; b < A->nb; b++) {                                                       \
            const int8_t *wq = P->q + b * PACK_B;                                                  \
            __m512i w[8];                                                                          \
            for (int g = 0; g < 8; g++)                                                            \
                w[g] = _mm512_loadu_si512((const void *)(wq + g * 64));                            \
            const __m512 s = _mm512_loadu_ps(P->s + b * ROWS),                                     \
                         c = _mm512_loadu_ps(P->c + b * ROWS);                                     \
            const __m512 o = _mm512_loadu_ps(P->o + b * ROWS);                                     \
            for (int t = 0; t < NT; t++) {                                                         \
                const uint8_t *x = A->q + (t0 + (size_t)t) * A->K + b * 32;                        \
                const size_t db = (t0 + (size_t)t) * A->nb + b;                                    \
                __m512i dot = _mm512_setzero_si512();                                              \
                for (int g = 0; g < 8; g++) {                                                      \
                    int32_t x4;                                                                    \
                    memcpy(&x4, x + g * 4, 4);                                                     \
                    dot = _mm512_dpbusd_epi32(dot, _mm512_set1_epi32(x4), w[g]);                   \
                }                                                                                  \
                const __m512 f = _mm512_sub_ps(_mm512_cvtepi32_ps(dot), c);                        \
                y[t] = _mm512_fmadd_ps(f, _mm512_mul_ps(s, _mm512_set1_ps(A->d[db])), y[t]);       \
                if (P->has_off) y[t] = _mm512_fmadd_ps(o, _mm512_set1_ps(A->sum[db]), y[t]);       \
            }                                                                                      \
        }                                                                                          \
        for (int t = 0; t < NT; t++)                                                               \
            _mm512_storeu_ps(acc + t * ROWS, y[t]);                                                \
    }
KERNEL_VNNI(1)
KERNEL_VNNI(8)
#endif

/* All tokens against one packed tile, into Y's columns j0 .. j0+cnt-1. */
static void tile_product(const tile *P, const acts *A, size_t T, int vnni, float *Y, size_t ldy,
                         size_t j0, size_t cnt, int accumulate) {
    float acc[TOK * ROWS];
    for (size_t t0 = 0; t0 < T; t0 += TOK) {
        const size_t nt = T - t0 < TOK ? T - t0 : TOK;
#ifdef LMD_VNNI
        if (vnni && nt == TOK)
            kernel_vnni8(P, A, t0, acc);
        else if (vnni)
            for (size_t t = 0; t < nt; t++)
                kernel_vnni1(P, A, t0 + t, acc + t * ROWS);
        else
#endif
            kernel_c(P, A, t0, nt, acc);
        (void)vnni;
        for (size_t t = 0; t < nt; t++) {
            float *y = Y + (t0 + t) * ldy + j0;
            for (size_t r = 0; r < cnt; r++)
                y[r] = accumulate ? y[r] + acc[t * ROWS + r] : acc[t * ROWS + r];
        }
    }
}

static int matmul_int8(const float *X, size_t T, const lmd_mat *W, float *Y, size_t ldy,
                       int accumulate, int vnni) {
    const size_t K = (size_t)W->n_in, n = (size_t)W->n_out, nb = K / 32;
    const int nth = omp_get_max_threads();
    const size_t per = nb * (PACK_B + 3 * ROWS * sizeof(float)) + K + 2 * nb * sizeof(float);
    acts A = {0};
    uint8_t *scratch = malloc((size_t)nth * per);
    int rc = -1;
    if (!scratch || quant_acts(X, T, K, &A) < 0) goto done;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t j0 = 0; j0 < n; j0 += ROWS) {
        uint8_t *m = scratch + (size_t)omp_get_thread_num() * per;
        tile P = {(int8_t *)m, (float *)(m + nb * PACK_B), NULL, NULL, 0};
        P.o = P.s + nb * ROWS, P.c = P.o + nb * ROWS;
        float *rs = P.c + nb * ROWS, *ro = rs + nb;
        const size_t cnt = n - j0 < ROWS ? n - j0 : ROWS;
        pack_tile(W, j0, cnt, &P, (int8_t *)(ro + nb), rs, ro);
        tile_product(&P, &A, T, vnni, Y, ldy, j0, cnt, accumulate);
    }
    rc = 0;
done:
    free(scratch), free(A.q), free(A.d), free(A.sum);
    return rc;
}

int lmd_matmul_int8(const float *X, size_t T, const lmd_mat *W, float *Y, size_t ldy,
                    int accumulate) {
    return matmul_int8(X, T, W, Y, ldy, accumulate, lmd_int8_vnni());
}

int lmd_matmul_int8_portable(const float *X, size_t T, const lmd_mat *W, float *Y, size_t ldy,
                             int accumulate) {
    return matmul_int8(X, T, W, Y, ldy, accumulate, 0);
}
