/* test_matmul.c - the weight-matrix product in the stored dtype
 * (src/model/matmul.c):
 *   - the vectorised F16/BF16 -> F32 conversion equals the scalar reference
 *     converter of safetensors.c on all 65536 bit patterns (NaN payloads
 *     included);
 *   - lmd_matmul on F16/BF16/F32 weights, both layouts (nn.Linear [out, in]
 *     and Conv1D [in, out]), sizes that leave partial tiles, 1..300 rows,
 *     accumulate on and off, equals a double-precision product of the
 *     converted weights within float rounding;
 *   - lmd_mat_row gives the converted row. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/matmul.h"
#include "model/safetensors.h"
#include "testutil.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void test_convert_all(void **state) {
    (void)state;
    uint16_t *src = malloc(65536 * 2);
    float *a = malloc(65536 * 4), *b = malloc(65536 * 4);
    for (int i = 0; i < 65536; i++)
        src[i] = (uint16_t)i;
    lmd_convert_f32(src, LMD_F16, a, 65536);
    lmd_f16_to_f32(src, b, 65536);
    assert_memory_equal(a, b, 65536 * 4);
    lmd_convert_f32(src, LMD_BF16, a, 65536);
    lmd_bf16_to_f32(src, b, 65536);
    assert_memory_equal(a, b, 65536 * 4);
    /* a few known values */
    uint16_t h[] = {0x3C00, 0xC000, 0x0001, 0x7C00, 0x03FF};
    float want[] = {1.0f, -2.0f, 5.9604644775390625e-08f, INFINITY, 6.097555160522461e-05f};
    lmd_convert_f32(h, LMD_F16, a, 5);
    for (int i = 0; i < 5; i++)
        assert_true(a[i] == want[i]);
    free(src), free(a), free(b);
}

static uint16_t to16(float x, lmd_dtype dt) {
    uint32_t u;
    memcpy(&u, &x, 4);
    if (dt == LMD_BF16) return (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
    /* F16 for |x| < 1 (our test values): normal range, round to nearest */
    _Float16 f = (_Float16)x;
    uint16_t r;
    memcpy(&r, &f, 2);
    return r;
}

static void check_product(lmd_dtype dt, int in_major, int T, int n, int k, int acc) {
    size_t nw = (size_t)n * k;
    float *w32 = malloc(nw * 4), *wf = malloc(nw * 4);
    uint16_t *w16 = malloc(nw * 2);
    for (size_t i = 0; i < nw; i++) {
        w32[i] = frand();
        if (dt != LMD_F32) w16[i] = to16(w32[i], dt);
    }
    if (dt != LMD_F32)
        lmd_convert_f32(w16, dt, wf, nw);
    else
        memcpy(wf, w32, nw * 4);
    float *X = malloc((size_t)T * k * 4), *Y = malloc((size_t)T * (n + 3) * 4);
    for (size_t i = 0; i < (size_t)T * k; i++)
        X[i] = frand();
    size_t ldy = (size_t)n + 3; /* a row stride wider than n */
    for (size_t i = 0; i < (size_t)T * ldy; i++)
        Y[i] = acc ? frand() : NAN;
    float *Y0 = malloc((size_t)T * ldy * 4);
    memcpy(Y0, Y, (size_t)T * ldy * 4);
    lmd_mat W = {dt == LMD_F32 ? (const void *)w32 : (const void *)w16, dt, n, k, in_major, 0};
    assert_int_equal(lmd_matmul(X, (size_t)T, &W, Y, ldy, acc), 0);
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int j = 0; j < n; j++) {
            double s = acc ? Y0[t * ldy + j] : 0, mag = fabs(s);
            for (int i = 0; i < k; i++) {
                double w = in_major ? wf[(size_t)i * n + j] : wf[(size_t)j * k + i];
                s += (double)X[(size_t)t * k + i] * w;
                mag += fabs((double)X[(size_t)t * k + i] * w);
            }
            double e = fabs(Y[t * ldy + j] - s) / (mag + 1e-30);
            if (e > worst) worst = e;
        }
    /* columns beyond n untouched */
    for (int t = 0; t < T; t++)
        for (size_t j = (size_t)n; j < ldy; j++)
            assert_memory_equal(&Y[t * ldy + j], &Y0[t * ldy + j], 4);
    if (!(worst < 1e-5))
        fail_msg("dtype %d in_major %d T %d n %d k %d acc %d: relative error %g", dt, in_major, T,
                 n, k, acc, worst);
    free(w32), free(wf), free(w16), free(X), free(Y), free(Y0);
}

static void test_products(void **state) {
    (void)state;
    lmd_dtype dts[] = {LMD_F32, LMD_F16, LMD_BF16};
    int shapes[][3] = {{1, 7, 5},    {3, 16, 16},    {37, 61, 40},
                       {5, 300, 33}, {300, 130, 24}, {2, 1000, 700}};
    for (int d = 0; d < 3; d++)
        for (int lay = 0; lay < 2; lay++)
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
                for (int acc = 0; acc < 2; acc++)
                    check_product(dts[d], lay, shapes[s][0], shapes[s][1], shapes[s][2], acc);
}

static void test_row(void **state) {
    (void)state;
    uint16_t w[6 * 4];
    float f[6 * 4], r[4];
    for (int i = 0; i < 24; i++)
        w[i] = to16(frand(), LMD_BF16);
    lmd_convert_f32(w, LMD_BF16, f, 24);
    lmd_mat W = {w, LMD_BF16, 6, 4, 0, 0};
    lmd_mat_row(&W, 5, r);
    assert_memory_equal(r, f + 20, 16);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_all),
        cmocka_unit_test(test_products),
        cmocka_unit_test(test_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
