/* test_matmul.c - the weight-matrix product in the stored dtype
 * (src/model/matmul.c):
 *   - the vectorised F16/BF16 -> F32 conversion equals the scalar reference
 *     converter of safetensors.c on all 65536 bit patterns (NaN payloads
 *     included);
 *   - lmd_matmul on F16/BF16/F32 weights, both layouts (nn.Linear [out, in]
 *     and Conv1D [in, out]), sizes that leave partial tiles, 1..300 rows,
 *     accumulate on and off, equals a double-precision product of the
 *     converted weights within float rounding;
 *   - lmd_mat_row gives the converted row;
 *   - lmd_f32_to_bf16 rounds to the nearest BF16 (ties to even), checked
 *     against a search over the two neighbouring BF16 values in double;
 *   - BF16 products through oneDNN (bf16_products = 1) equal a double
 *     product of the BF16 weights and the BF16-rounded activations within
 *     F32 accumulation error (skipped when oneDNN has no BF16 matmul here),
 *     and an output with a wider row stride gets bit for bit the rows of a
 *     dense one (matmul.c computes it dense and copies);
 *   - four threads running BF16 products at once (shared and new primitive
 *     shapes, as server threads do) each get the single-threaded result
 *     bit for bit;
 *   - packed and fused products (lmd_mat_pack): q, k, v stacked into one
 *     matrix, packed in oneDNN's blocked layout where its kernel is a
 *     brgemm one, give each part's columns of the separate plain products
 *     bit for bit (same BF16 inputs, F32 accumulation) for 1..298 rows;
 *     parts back to back join as a view (lmd_mat_join), and packed keep
 *     that plain view; what cannot fuse is refused;
 *     released pages of a file mapping leave the resident set and read
 *     back unchanged; lmd_matmul_lda on strided rows equals the product
 *     of the compact rows bit for bit, at F32 and BF16. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
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

/* The worst error of Y[T x n] (rows ldy apart) against the double product
 * X[T x k] W^T (plus Y0 when acc), relative to the sum of the |terms|; W =
 * wf, k x n when in_major, else n x k.  Checks that the columns from n to
 * ldy are untouched (Y0's). */
static double worst_error(const float *X, const float *wf, const float *Y, const float *Y0, int T,
                          int n, int k, size_t ldy, int in_major, int acc) {
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
    for (int t = 0; t < T; t++)
        for (size_t j = (size_t)n; j < ldy; j++)
            assert_memory_equal(&Y[t * ldy + j], &Y0[t * ldy + j], 4);
    return worst;
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
    lmd_mat W = {
        dt == LMD_F32 ? (const void *)w32 : (const void *)w16, dt, n, k, in_major, 0, 0, NULL};
    assert_int_equal(lmd_matmul(X, (size_t)T, &W, Y, ldy, acc), 0);
    double worst = worst_error(X, wf, Y, Y0, T, n, k, ldy, in_major, acc);
    if (!acc) { /* a strided output holds exactly the rows of a dense one */
        float *Yd = malloc((size_t)T * n * 4);
        assert_int_equal(lmd_matmul(X, (size_t)T, &W, Yd, (size_t)n, 0), 0);
        for (int t = 0; t < T; t++)
            assert_memory_equal(&Y[t * ldy], &Yd[(size_t)t * n], (size_t)n * 4);
        free(Yd);
    }
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
    lmd_mat W = {w, LMD_BF16, 6, 4, 0, 0, 0, NULL};
    lmd_mat_row(&W, 5, r);
    assert_memory_equal(r, f + 20, 16);
}

/* the nearest BF16 to x by definition: of the two BF16 values around x
 * (truncation and the next one away from zero), the closer; a tie goes to the
 * even one.  Finite x only. */
static uint16_t nearest_bf16(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    uint16_t lo = (uint16_t)(u >> 16), hi = (uint16_t)(lo + 1);
    float fl, fh;
    uint32_t a = (uint32_t)lo << 16, b = (uint32_t)hi << 16;
    memcpy(&fl, &a, 4);
    memcpy(&fh, &b, 4);
    /* past the largest finite BF16 the next value is inf: measure to 2^128 */
    double vh = (hi & 0x7F80) == 0x7F80 ? copysign(0x1p128, (double)x) : (double)fh;
    double dl = fabs((double)x - fl), dh = fabs((double)x - vh);
    if (dl < dh) return lo;
    if (dh < dl) return hi;
    return (lo & 1) ? hi : lo;
}

static void test_round_bf16(void **state) {
    (void)state;
    enum { N = 200000 };
    float *x = malloc(N * 4);
    uint16_t *got = malloc(N * 2);
    for (int i = 0; i < N; i++) {
        uint32_t u = (uint32_t)(frand() * 2147483647.0f) * 2u + (uint32_t)(i & 1);
        if (i % 4 == 0) u = (u & 0xFFFF0000u) | 0x8000u; /* exact ties */
        memcpy(&x[i], &u, 4);
        if (isnan(x[i]) || isinf(x[i])) x[i] = 1.0f;
    }
    lmd_f32_to_bf16(x, got, N);
    for (int i = 0; i < N; i++)
        if (got[i] != nearest_bf16(x[i]))
            fail_msg("%a: got 0x%04x, want 0x%04x", (double)x[i], got[i], nearest_bf16(x[i]));
    float sp[4] = {NAN, -INFINITY, 0x1.ffp127f, -0.0f};
    uint16_t o[4];
    lmd_f32_to_bf16(sp, o, 4);
    assert_true((o[0] & 0x7F80) == 0x7F80 && (o[0] & 0x7F) != 0); /* NaN */
    assert_int_equal(o[1], 0xFF80);
    assert_int_equal(o[2],
                     0x7F80); /* 0x1.ffp127: a tie above the largest BF16 (0x1.fep127), to inf */
    assert_int_equal(o[3], 0x8000);
    free(x), free(got);
}

static void check_bf16_product(int in_major, int T, int n, int k, int acc) {
    size_t nw = (size_t)n * k;
    uint16_t *w16 = malloc(nw * 2), *x16 = malloc((size_t)T * k * 2);
    float *wf = malloc(nw * 4), *X = malloc((size_t)T * k * 4), *xf = malloc((size_t)T * k * 4);
    for (size_t i = 0; i < nw; i++)
        w16[i] = nearest_bf16(frand());
    lmd_convert_f32(w16, LMD_BF16, wf, nw);
    for (size_t i = 0; i < (size_t)T * k; i++) {
        X[i] = frand();
        x16[i] = nearest_bf16(X[i]);
    }
    lmd_convert_f32(x16, LMD_BF16, xf, (size_t)T * k);
    size_t ldy = (size_t)n + 5;
    float *Y = malloc((size_t)T * ldy * 4), *Y0 = malloc((size_t)T * ldy * 4);
    for (size_t i = 0; i < (size_t)T * ldy; i++)
        Y[i] = acc ? frand() : NAN;
    memcpy(Y0, Y, (size_t)T * ldy * 4);
    lmd_mat W = {w16, LMD_BF16, n, k, in_major, 1, 0, NULL};
    assert_int_equal(lmd_matmul(X, (size_t)T, &W, Y, ldy, acc), 0);
    double worst = worst_error(xf, wf, Y, Y0, T, n, k, ldy, in_major, acc);
    if (!(worst < 1e-5))
        fail_msg("bf16 in_major %d T %d n %d k %d acc %d: relative error %g", in_major, T, n, k,
                 acc, worst);
    free(w16), free(x16), free(wf), free(X), free(xf), free(Y), free(Y0);
}

static void test_bf16_products(void **state) {
    (void)state;
    const char *impl;
    if (!lmd_bf16_available(&impl)) skip();
    print_message("oneDNN BF16 matmul: %s (native %d)\n", impl, lmd_bf16_native());
    int shapes[][3] = {{1, 7, 5},    {3, 16, 16},    {37, 61, 40},
                       {5, 300, 33}, {300, 130, 24}, {2, 1000, 700}};
    for (int rep = 0; rep < 2; rep++) /* the second time from the primitive cache */
        for (int lay = 0; lay < 2; lay++)
            for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
                for (int acc = 0; acc < 2; acc++)
                    check_bf16_product(lay, shapes[s][0], shapes[s][1], shapes[s][2], acc);
}

typedef struct job {
    const lmd_mat *W;
    const float *X;
    int T;
    float *Y;
} job;

static void *run_job(void *arg) {
    job *j = arg;
    for (int r = 0; r < 20; r++) /* again and again, while the others create and run */
        if (lmd_matmul(j->X, (size_t)j->T, j->W, j->Y, (size_t)j->W->n_out, 0) < 0) return arg;
    return NULL;
}

static void test_bf16_threads(void **state) {
    (void)state;
    if (!lmd_bf16_available(NULL)) skip();
    enum { N = 96, K = 80, NT = 4 };
    uint16_t *w = malloc(N * K * 2);
    for (int i = 0; i < N * K; i++)
        w[i] = nearest_bf16(frand());
    lmd_mat W = {w, LMD_BF16, N, K, 0, 1, 0, NULL};
    job jobs[NT];
    float *want[NT];
    for (int t = 0; t < NT; t++) { /* two threads share a shape; all shapes are new here */
        int T = 7 + (t % 2 ? 100 + t : 0);
        float *X = malloc((size_t)T * K * 4);
        for (int i = 0; i < T * K; i++)
            X[i] = frand();
        jobs[t] = (job){&W, X, T, calloc((size_t)T * N, 4)};
    }
    pthread_t th[NT];
    for (int t = 0; t < NT; t++)
        assert_int_equal(pthread_create(&th[t], NULL, run_job, &jobs[t]), 0);
    for (int t = 0; t < NT; t++) {
        void *ret;
        pthread_join(th[t], &ret);
        assert_null(ret);
        want[t] = malloc((size_t)jobs[t].T * N * 4); /* afterwards, alone */
        assert_int_equal(lmd_matmul(jobs[t].X, (size_t)jobs[t].T, &W, want[t], N, 0), 0);
        assert_memory_equal(jobs[t].Y, want[t], (size_t)jobs[t].T * N * 4);
        free((void *)jobs[t].X), free(jobs[t].Y), free(want[t]);
    }
    free(w);
}

/* n random BF16 values */
static uint16_t *rand_bf16(size_t n) {
    uint16_t *w = malloc(n * 2);
    for (size_t i = 0; i < n; i++)
        w[i] = nearest_bf16(frand());
    return w;
}

/* The fused product's columns equal the separate products bit for bit. */
static void check_fused_product(const lmd_mat *parts, int n, const lmd_mat *F, int T) {
    const int k = F->n_in, N = F->n_out;
    float *X = malloc((size_t)T * k * 4), *Yf = malloc((size_t)T * N * 4);
    float *Ys = malloc((size_t)T * N * 4);
    for (int i = 0; i < T * k; i++)
        X[i] = frand();
    assert_int_equal(lmd_matmul(X, (size_t)T, F, Yf, (size_t)N, 0), 0);
    for (int i = 0, c = 0; i < n; c += parts[i].n_out, i++)
        assert_int_equal(lmd_matmul(X, (size_t)T, &parts[i], Ys + c, (size_t)N, 0), 0);
    assert_memory_equal(Yf, Ys, (size_t)T * N * 4);
    free(X), free(Yf), free(Ys);
}

static void test_fuse(void **state) {
    (void)state;
    enum { K = 96 };
    const int rows[3] = {64, 32, 32};
    lmd_mat parts[3], F;
    uint16_t *apart[3];
    for (int i = 0; i < 3; i++) { /* apart in memory: a copy */
        apart[i] = rand_bf16((size_t)rows[i] * K);
        parts[i] = (lmd_mat){apart[i], LMD_BF16, rows[i], K, 0, 1, 0, NULL};
    }
    void *owned;
    assert_int_equal(lmd_mat_fusable(parts, 3), 1);
    assert_int_equal(lmd_mat_join(parts, 3, &F), 0); /* apart: no view */
    assert_int_equal(lmd_mat_pack(parts, 3, 0, &F, &owned), 0);
    assert_non_null(owned);
    assert_int_equal(F.n_out, 128);
    assert_int_equal(F.n_in, K);
    const char *impl = "";
    int brg = lmd_bf16_available(&impl) && !strncmp(impl, "brg", 3);
    print_message("fused q/k/v: %s\n", F.packed ? "packed" : "plain copy");
    assert_int_equal(F.packed != NULL, brg); /* brgemm kernels prefer a blocked layout */
    if (F.packed) {
        assert_ptr_equal(F.packed, owned);
        assert_null(F.data);
    } else {
        assert_ptr_equal(F.data, owned);
        for (int i = 0, r = 0; i < 3; r += rows[i], i++)
            assert_memory_equal((const uint16_t *)F.data + (size_t)r * K, parts[i].data,
                                (size_t)rows[i] * K * 2);
    }
    if (lmd_bf16_available(NULL))
        for (int T = 1; T <= 300; T += 99) /* one layout for every row count */
            check_fused_product(parts, 3, &F, T);
    free(owned);
    /* back to back: a view when not packed, and the plain view kept when packed */
    uint16_t *one = rand_bf16(128 * K);
    for (int i = 0, r = 0; i < 3; r += rows[i], i++)
        parts[i].data = one + (size_t)r * K;
    assert_int_equal(lmd_mat_join(parts, 3, &F), 1);
    assert_ptr_equal(F.data, one);
    assert_int_equal(F.n_out, 128);
    assert_null(F.packed);
    if (lmd_bf16_available(NULL)) check_fused_product(parts, 3, &F, 77);
    assert_int_equal(lmd_mat_pack(parts, 3, 0, &F, &owned), 0);
    assert_ptr_equal(F.data, one);
    assert_ptr_equal(owned, F.packed);
    assert_int_equal(F.n_out, 128);
    if (lmd_bf16_available(NULL)) check_fused_product(parts, 3, &F, 77);
    free(owned);
    /* one matrix (o, down): packed the same way */
    assert_int_equal(lmd_mat_pack(parts, 1, 0, &F, &owned), 0);
    assert_int_equal(F.n_out, 64);
    if (lmd_bf16_available(NULL)) check_fused_product(parts, 1, &F, 50);
    /* not fusable: another n_in, F32 products, input-major storage, packed already */
    lmd_mat bad = parts[1];
    bad.n_in = K / 2;
    assert_int_equal(lmd_mat_fusable((lmd_mat[]){parts[0], bad}, 2), 0);
    bad = parts[1], bad.bf16_products = 0;
    assert_int_equal(lmd_mat_fusable((lmd_mat[]){parts[0], bad}, 2), 0);
    bad = parts[1], bad.in_major = 1;
    assert_int_equal(lmd_mat_fusable((lmd_mat[]){parts[0], bad}, 2), 0);
    if (F.packed) assert_int_equal(lmd_mat_fusable(&F, 1), 0);
    free(owned);
    free(one);
    for (int i = 0; i < 3; i++)
        free(apart[i]);
}

/* The process's resident file pages, kB (/proc/self/status), -1 unknown. */
static long rss_file_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "RssFile:", 8)) kb = atol(line + 8);
    if (f) fclose(f);
    return kb;
}

/* Packing parts of a read-only file mapping with release: the products are
 * right, the parts' whole pages leave the process's resident set, and the
 * mapping reads back the file's bytes unchanged. */
static void test_fuse_release(void **state) {
    (void)state;
    enum { K = 4096, R = 64 }; /* two parts of 512 KB each, at an odd offset */
    const size_t n = (size_t)2 * R * K + 3;
    uint16_t *w = rand_bf16(n);
    char path[] = "/tmp/lmdiff-test-fuse-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_int_equal(fwrite(w, 2, n, f), n);
    fclose(f);
    lmd_map map;
    lmd_error err;
    assert_int_equal(lmd_map_file(path, &map, &err), 0);
    unlink(path);
    assert_memory_equal(map.data, w, n * 2); /* every page resident now */
    const uint16_t *p = (const uint16_t *)map.data + 3;
    lmd_mat parts[2] = {{p + (size_t)R * K, LMD_BF16, R, K, 0, 1, 0, NULL},
                        {p, LMD_BF16, R, K, 0, 1, 0, NULL}}; /* out of order: a copy */
    lmd_mat F;
    void *owned;
    long before = rss_file_kb();
    assert_int_equal(lmd_mat_pack(parts, 2, 1, &F, &owned), 0);
    long after = rss_file_kb();
    assert_non_null(owned);
    if (before >= 0) { /* 2 x 127 whole 4 KB pages released */
        print_message("RssFile %ld kB -> %ld kB\n", before, after);
        assert_true(before - after >= 900);
    }
    if (lmd_bf16_available(NULL)) check_fused_product(parts, 2, &F, 33);
    assert_memory_equal(map.data, w, n * 2); /* the file's bytes still */
    free(owned), free(w);
    lmd_unmap(&map);
}

/* X's rows lda floats apart give the product of the compact rows. */
static void test_lda(void **state) {
    (void)state;
    enum { T = 37, N = 50, K = 64, LDA = 100 };
    float *X = malloc(T * LDA * 4), *Xc = malloc(T * K * 4), *w = malloc(N * K * 4);
    float *Y = malloc(T * N * 4), *Yc = malloc(T * N * 4);
    for (int i = 0; i < T * LDA; i++)
        X[i] = frand();
    for (int t = 0; t < T; t++)
        memcpy(Xc + t * K, X + t * LDA, K * 4);
    for (int i = 0; i < N * K; i++)
        w[i] = frand();
    uint16_t *w16 = rand_bf16(N * K);
    lmd_mat mats[] = {{w, LMD_F32, N, K, 0, 0, 0, NULL},
                      {w16, LMD_BF16, N, K, 0, 0, 0, NULL},
                      {w16, LMD_BF16, N, K, 0, 1, 0, NULL}};
    for (int i = 0; i < 3; i++) {
        if (mats[i].bf16_products && !lmd_bf16_available(NULL)) continue;
        assert_int_equal(lmd_matmul_lda(X, LDA, T, &mats[i], Y, N, 0), 0);
        assert_int_equal(lmd_matmul(Xc, T, &mats[i], Yc, N, 0), 0);
        assert_memory_equal(Y, Yc, T * N * 4);
    }
    free(X), free(Xc), free(w), free(Y), free(Yc), free(w16);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_all),   cmocka_unit_test(test_products),
        cmocka_unit_test(test_row),           cmocka_unit_test(test_round_bf16),
        cmocka_unit_test(test_bf16_products), cmocka_unit_test(test_bf16_threads),
        cmocka_unit_test(test_fuse),          cmocka_unit_test(test_fuse_release),
        cmocka_unit_test(test_lda),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
