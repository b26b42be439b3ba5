/* test_quant_products.c - the two non-F32 products of quantized GGUF
 * weights against float64 sums written here from their definitions:
 *  - int8 (quant_int8.c): activations quantized per 32 as ggml's
 *    quantize_row_q8_0 defines it (d = max|x| / 127 rounded to F16,
 *    q = x / d rounded to nearest even, as its AVX code rounds),
 *    y = sum of w * (d q) with w the exactly dequantized weights; the
 *    AVX512-VNNI (when the CPU has it) and the portable kernel each;
 *  - BF16 tiles (quant_bf16.c, lmd_matmul with bf16_products): weights and
 *    activations rounded to BF16 (nearest even, done here on the bits),
 *    y = their float64 dot product; permuted rows too.
 * Shapes with a row tail (300 rows: 18 tiles of 16 and 12, or BF16 tiles of
 * 256 and 44) and a token tail (T = 11: one call of 8 tokens, then 3 single
 * ones); permuted rows; accumulate adds to what Y holds.  Tolerance: 1e-5 of
 * the sum of |terms| (F32 accumulation of a few hundred terms), plus 1e-6. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernel/quant.h"
#include "model/kernel/quant_int8.h"
#include "model/matmul.h"
#include "testutil.h"

#define T 11
#define N 300
#define K 512

static float frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 32768.0f - 1.0f;
}

/* Random weights of type dt, n rows of K. */
static uint8_t *weights(lmd_dtype dt, unsigned seed) {
    const size_t rb = lmd_dtype_row_bytes(dt, K);
    uint8_t *q = malloc(rb * N);
    float *w = malloc(sizeof *w * N * K);
    for (size_t i = 0; i < (size_t)N * K; i++)
        w[i] = frand(&seed) * 0.1f;
    if (dt == LMD_Q4_K) { /* random blocks with small d, dmin */
        for (size_t i = 0; i < rb * N; i++)
            q[i] = (uint8_t)(frand(&seed) * 128 + 128);
        for (size_t b = 0; b < rb * N; b += 144) {
            uint16_t d = lmd_f32_to_f16(0.002f), m = lmd_f32_to_f16(0.001f);
            memcpy(q + b, &d, 2), memcpy(q + b + 2, &m, 2);
        }
    } else
        (dt == LMD_Q8_0 ? lmd_quant_q8_0 : lmd_quant_q4_0)(w, q, (size_t)N * K / 32);
    free(w);
    return q;
}

static double f16_round(float x) {
    float f;
    uint16_t h = lmd_f32_to_f16(x);
    lmd_convert_f32(&h, LMD_F16, &f, 1);
    return f;
}

static double bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    u = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    memcpy(&x, &u, 4);
    return x;
}

/* x quantized per 32 as ggml's quantize_row_q8_0, back to values d * q. */
static void q8_values(const float *x, double *v) {
    for (int b = 0; b < K / 32; b++) {
        float amax = 0;
        for (int i = 0; i < 32; i++)
            amax = fmaxf(amax, fabsf(x[b * 32 + i]));
        const float d = amax / 127, id = d != 0 ? 1.0f / d : 0.0f;
        for (int i = 0; i < 32; i++)
            v[b * 32 + i] = f16_round(d) * rintf(x[b * 32 + i] * id);
    }
}

/* ref[t][j] = sum_i a[t][i] w[row j][i] and mag = sum |terms|; w from the
 * stored rows (perm undone), each weight through wround. */
static void reference(const lmd_mat *W, const double *a, double (*wround)(float), double *ref,
                      double *mag) {
    const size_t rb = lmd_dtype_row_bytes(W->dtype, K);
    float row[K];
    for (int j = 0; j < N; j++) {
        lmd_dequant(W->dtype, (const uint8_t *)W->data + lmd_perm_row(W->perm_head, N, j) * rb, row,
                    K);
        for (int t = 0; t < T; t++) {
            double s = 0, m = 0;
            for (int i = 0; i < K; i++) {
                const double p = wround(row[i]) * a[t * K + i];
                s += p, m += fabs(p);
            }
            ref[t * N + j] = s, mag[t * N + j] = m;
        }
    }
}

static double exact(float x) {
    return x;
}

static void check(const float *y, const double *ref, const double *mag, const float *before,
                  const char *what) {
    for (int i = 0; i < T * N; i++) {
        const double want = ref[i] + (before ? before[i] : 0);
        if (!(fabs(y[i] - want) <= 1e-5 * mag[i] + 1e-6))
            fail_msg("%s: y[%d][%d] = %.9g, reference %.9g (sum |terms| %.3g)", what, i / N, i % N,
                     (double)y[i], want, mag[i]);
    }
}

static void test_int8(void **state) {
    (void)state;
    static const lmd_dtype types[] = {LMD_Q8_0, LMD_Q4_0, LMD_Q4_K};
    static float X[T * K], Y[T * N], Y2[T * N], before[T * N];
    static double a[T * K], ref[T * N], mag[T * N];
    unsigned seed = 7;
    for (int i = 0; i < T * K; i++)
        X[i] = frand(&seed) * (i % 97 == 0 ? 8.0f : 1.0f); /* some outliers per block */
    for (int t = 0; t < T; t++)
        q8_values(X + t * K, a + t * K);
    for (int ti = 0; ti < 4; ti++) { /* the last: Q8_0 with rows permuted in heads of 10 */
        uint8_t *q = weights(types[ti % 3], 11 + (unsigned)ti);
        lmd_mat W = {.data = q,
                     .dtype = types[ti % 3],
                     .n_out = N,
                     .n_in = K,
                     .perm_head = ti == 3 ? 10 : 0};
        assert_true(lmd_int8_supported(types[ti % 3]));
        reference(&W, a, exact, ref, mag);
        assert_int_equal(lmd_matmul_int8(X, T, &W, Y, N, 0), 0);
        check(Y, ref, mag, NULL, lmd_dtype_name(types[ti % 3]));
        assert_int_equal(lmd_matmul_int8_portable(X, T, &W, Y2, N, 0), 0);
        check(Y2, ref, mag, NULL, "portable kernel");
        for (int i = 0; i < T * N; i++)
            before[i] = Y2[i] = (float)i * 0.25f;
        assert_int_equal(lmd_matmul_int8(X, T, &W, Y2, N, 1), 0);
        check(Y2, ref, mag, before, "accumulate");
        free(q);
    }
    assert_false(lmd_int8_supported(LMD_Q6_K));
}

static void test_bf16_tiles(void **state) {
    (void)state;
    if (!lmd_bf16_available(NULL)) skip();
    static float X[T * K], Y[T * N], before[T * N];
    static double a[T * K], ref[T * N], mag[T * N];
    unsigned seed = 3;
    for (int i = 0; i < T * K; i++) {
        X[i] = frand(&seed);
        a[i] = bf16_round(X[i]);
    }
    for (int perm = 0; perm <= 10; perm += 10) {
        uint8_t *q = weights(LMD_Q4_0, 5);
        lmd_mat W = {.data = q,
                     .dtype = LMD_Q4_0,
                     .n_out = N,
                     .n_in = K,
                     .bf16_products = 1,
                     .perm_head = perm};
        reference(&W, a, bf16_round, ref, mag);
        assert_int_equal(lmd_matmul(X, T, &W, Y, N, 0), 0);
        check(Y, ref, mag, NULL, perm ? "BF16 tiles, permuted rows" : "BF16 tiles");
        for (int i = 0; i < T * N; i++)
            before[i] = Y[i] = (float)i * 0.25f;
        assert_int_equal(lmd_matmul(X, T, &W, Y, N, 1), 0);
        check(Y, ref, mag, before, "BF16 tiles, accumulate");
        free(q);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int8),
        cmocka_unit_test(test_bf16_tiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
