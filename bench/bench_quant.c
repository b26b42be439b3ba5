/* bench_quant.c - do int8 products pay for quantized GGUF weights?
 * For the products of a Llama-3.2-1B layer (q/o 2048x2048, k/v 512x2048,
 * gate/up 8192x2048, down 2048x8192) at T rows, with Q8_0, Q4_0 and Q4_K
 * weights (random values; Q8_0/Q4_0 through ggml's reference quantizers,
 * Q4_K random blocks), GFLOP/s (best of reps, wall or CPU time) of
 *   f32   today's path: tiles dequantized to F32, OpenBLAS sgemm (lmd_matmul)
 *   bf16  tiles of 256 rows dequantized to BF16, oneDNN BF16 matmul (lmd_matmul
 *         with bf16_products: quant_bf16.c, what --precision bf16 runs)
 *   int8  lmd_matmul_int8 (activations to int8 per 32, AVX512-VNNI if here)
 * against the ceilings of the same run: sgemm of F32 weights and oneDNN's
 * BF16 matmul of BF16 weights (neither fits a quantized model's memory).
 * Also each path's distance from the f32 path's output: max and mean |dy|
 * over the output's rms.
 *
 * usage: bench_quant [T] [reps] [cpu]   (default 512 rows, 3 reps; cpu: rates per
 * CPU-second of the process instead of wall time, for a loaded machine) */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchlib.h"
#include "model/kernel/quant.h"
#include "model/kernel/quant_int8.h"
#include "model/matmul.h"

static int per_cpu;

typedef int (*product)(const float *X, size_t T, const lmd_mat *W, float *Y);

static int prod_f32(const float *X, size_t T, const lmd_mat *W, float *Y) {
    return lmd_matmul(X, T, W, Y, (size_t)W->n_out, 0);
}

static int prod_int8(const float *X, size_t T, const lmd_mat *W, float *Y) {
    return lmd_matmul_int8(X, T, W, Y, (size_t)W->n_out, 0);
}

/* What --precision bf16 runs (quant_bf16.c): tiles rounded to BF16, oneDNN. */
static int prod_bf16(const float *X, size_t T, const lmd_mat *W, float *Y) {
    lmd_mat w = *W;
    w.bf16_products = 1;
    return lmd_matmul(X, T, &w, Y, (size_t)W->n_out, 0);
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* Instruction ceilings of one core, by CPU time: 8 independent chains of
 * vpdpbusd (int8, 64 multiply-adds) and vdpbf16ps (BF16, 32), in GOP/s. */
#define CHAINS(OP)                                                                                 \
    a0 = OP(a0, x, y), a1 = OP(a1, x, y), a2 = OP(a2, x, y), a3 = OP(a3, x, y);                    \
    a4 = OP(a4, x, y), a5 = OP(a5, x, y), a6 = OP(a6, x, y), a7 = OP(a7, x, y)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static double peak_int8(long n) {
    __m512i x = _mm512_set1_epi8(1), y = _mm512_set1_epi8(2), a0 = x, a1 = y, a2 = x, a3 = y,
            a4 = x, a5 = y, a6 = x, a7 = y;
    double t = bl_cpu_now();
    for (long k = 0; k < n; k++) {
        CHAINS(_mm512_dpbusd_epi32);
        __asm__ volatile(""
                         : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6),
                           "+v"(a7));
    }
    t = bl_cpu_now() - t;
    return 8.0 * n * 64 * 2 / t / 1e9;
}
__attribute__((target("avx512f,avx512bf16"))) static double peak_bf16(long n) {
    __m512bh x = (__m512bh)_mm512_set1_epi16(0x3F80), y = x;
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    double t = bl_cpu_now();
    for (long k = 0; k < n; k++) {
        CHAINS(_mm512_dpbf16_ps);
        __asm__ volatile(""
                         : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6),
                           "+v"(a7));
    }
    t = bl_cpu_now() - t;
    return 8.0 * n * 32 * 2 / t / 1e9;
}
static void print_peaks(void) {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512vnni") || !__builtin_cpu_supports("avx512bf16")) return;
    double i8 = 0, b16 = 0;
    for (int r = 0; r < 3; r++) {
        double a = peak_int8(20000000), b = peak_bf16(20000000);
        i8 = a > i8 ? a : i8, b16 = b > b16 ? b : b16;
    }
    printf("instruction ceilings of one core (CPU time): int8 vpdpbusd %.0f GOP/s, "
           "BF16 vdpbf16ps %.0f GFLOP/s (ratio %.2f)\n",
           i8, b16, i8 / b16);
}
#else
static void print_peaks(void) {}
#endif

/* Random weights [N x K] of type dt. */
static void *make_weights(lmd_dtype dt, int N, int K) {
    const size_t n = (size_t)N * K, bytes = lmd_dtype_row_bytes(dt, (size_t)K) * (size_t)N;
    uint8_t *q = malloc(bytes);
    if (dt == LMD_Q4_K) { /* random blocks, d and dmin ~ 1e-3 */
        for (size_t i = 0; i < bytes; i++)
            q[i] = (uint8_t)(rand() & 0xFF);
        for (size_t b = 0; b < bytes; b += 144) {
            uint16_t d = lmd_f32_to_f16(0.001f * (1 + bl_frand() * 0.5f)),
                     m = lmd_f32_to_f16(0.0005f * (1 + bl_frand() * 0.5f));
            memcpy(q + b, &d, 2), memcpy(q + b + 2, &m, 2);
        }
        return q;
    }
    float *w = malloc(n * sizeof *w);
    for (size_t i = 0; i < n; i++)
        w[i] = bl_frand() * 0.05f;
    (dt == LMD_Q8_0 ? lmd_quant_q8_0 : lmd_quant_q4_0)(w, q, n / 32);
    free(w);
    return q;
}

/* Best GFLOP/s over reps by wall time, or by the process's CPU time when
 * per_cpu (this machine is shared: CPU time is the steadier measure). */
static double best_gflops(product p, const float *X, int T, const lmd_mat *W, float *Y, int reps) {
    double best = 0;
    if (p(X, (size_t)T, W, Y) < 0) return 0; /* warm-up (oneDNN primitives) */
    for (int r = 0; r < reps; r++) {
        double t0 = per_cpu ? bl_cpu_now() : bl_now();
        p(X, (size_t)T, W, Y);
        double g = 2.0 * T * W->n_out * W->n_in / ((per_cpu ? bl_cpu_now() : bl_now()) - t0) / 1e9;
        if (g > best) best = g;
    }
    return best;
}

/* max and mean |y - ref| over rms(ref) */
static void distance(const float *y, const float *ref, size_t n, double *mx, double *mean) {
    double ss = 0, s = 0, m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)y[i] - ref[i]);
        ss += (double)ref[i] * ref[i], s += d, m = d > m ? d : m;
    }
    const double rms = sqrt(ss / (double)n);
    *mx = m / rms, *mean = s / (double)n / rms;
}

int main(int argc, char **argv) {
    const int T = argc > 1 ? atoi(argv[1]) : 512, reps = argc > 2 ? atoi(argv[2]) : 3;
    per_cpu = argc > 3 && !strcmp(argv[3], "cpu");
    static const struct {
        const char *name;
        int N, K, count; /* count: products of this shape per layer */
    } shapes[] = {{"q,o", 2048, 2048, 2},
                  {"k,v", 512, 2048, 2},
                  {"gate,up", 8192, 2048, 2},
                  {"down", 2048, 8192, 1}};
    static const lmd_dtype types[] = {LMD_Q8_0, LMD_Q4_0, LMD_Q4_K};
    const char *impl = NULL;
    lmd_bf16_available(&impl);
    printf("bench_quant: T = %d rows, %d threads, best of %d by %s time; int8 kernel: %s; "
           "oneDNN BF16: %s\n",
           T, omp_get_max_threads(), reps, per_cpu ? "CPU" : "wall",
           lmd_int8_vnni() ? "AVX512-VNNI" : "portable C", impl ? impl : "none");
    printf("%-7s %-8s %9s %9s | %9s %9s %9s | %6s %6s | %s\n", "type", "shape", "sgemm", "bf16",
           "f32", "bf16", "int8", "int8/", "int8/", "|dy|/rms max, mean: bf16 ; int8");
    printf("%-7s %-8s %9s %9s | %9s %9s %9s | %6s %6s |\n", "", "", "ceiling", "ceiling", "path",
           "tiles", "vnni", "f32", "bf16c");
    print_peaks();
    float *X = malloc((size_t)T * 8192 * 4);
    for (size_t i = 0; i < (size_t)T * 8192; i++)
        X[i] = bl_frand();
    double ceil_s[4], ceil_b[4];
    for (int s = 0; s < 4; s++) {
        double cs, cb;
        ceil_s[s] = bl_sgemm_gflops(T, shapes[s].N, shapes[s].K, reps, &cs);
        ceil_b[s] = bl_matmul_gflops(LMD_BF16, 1, T, shapes[s].N, shapes[s].K, reps, &cb);
        if (per_cpu) ceil_s[s] = cs, ceil_b[s] = cb;
    }
    for (int ti = 0; ti < 3; ti++) {
        double tot[3] = {0, 0, 0}, flops = 0; /* seconds per layer */
        for (int s = 0; s < 4; s++) {
            const int N = shapes[s].N, K = shapes[s].K;
            void *wq = make_weights(types[ti], N, K);
            lmd_mat W = {.data = wq, .dtype = types[ti], .n_out = N, .n_in = K};
            float *Y[3];
            double g[3], mx[3], mean[3];
            product p[3] = {prod_f32, prod_bf16, prod_int8};
            for (int m = 0; m < 3; m++) {
                Y[m] = malloc((size_t)T * N * 4);
                g[m] = best_gflops(p[m], X, T, &W, Y[m], reps);
                distance(Y[m], Y[0], (size_t)T * N, &mx[m], &mean[m]);
                tot[m] += shapes[s].count * 2.0 * T * N * K / (g[m] * 1e9);
            }
            flops += shapes[s].count * 2.0 * T * N * K;
            printf("%-7s %-8s %9.1f %9.1f | %9.1f %9.1f %9.1f | %6.2f %6.2f | %.1e %.1e ; %.1e "
                   "%.1e\n",
                   lmd_dtype_name(types[ti]), shapes[s].name, ceil_s[s], ceil_b[s], g[0], g[1],
                   g[2], g[2] / g[0], g[2] / ceil_b[s], mx[1], mean[1], mx[2], mean[2]);
            for (int m = 0; m < 3; m++)
                free(Y[m]);
            free(wq);
        }
        printf(
            "%-7s %-8s %9s %9s | %9.1f %9.1f %9.1f | %6.2f        | (GFLOP/s of a whole layer)\n",
            lmd_dtype_name(types[ti]), "layer", "", "", flops / tot[0] / 1e9, flops / tot[1] / 1e9,
            flops / tot[2] / 1e9, tot[0] / tot[2]);
    }
    free(X);
    return 0;
}
