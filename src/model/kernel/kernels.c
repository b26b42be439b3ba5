/* kernels.c - see kernels.h.  Plain C loops written so that GCC vectorises
 * them; target_clones builds each for several instruction sets. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include "model/kernels.h"

#include "model/kernel/clones.h"

#include <math.h>
#include <omp.h>
#include <string.h>

/* exp(x) as 2^n * p(r), x = n ln2 + r, |r| <= ln2/2, with a degree-6
 * polynomial (the classic single-precision coefficients).  Branch-free so
 * that loops around it vectorise: rounding by the 1.5*2^23 trick, 2^n built
 * in the exponent bits. */
static inline float exp_one(float x) {
    const float lo = -87.0f, hi = 88.0f;
    float xc = x < lo ? lo : x;
    xc = xc > hi ? hi : xc;
    const float shifter = 12582912.0f; /* 1.5 * 2^23 */
    float t = xc * 1.44269504088896341f + shifter;
    float n = t - shifter;
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500E-4f;
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    p = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } u;
    u.i = ((int32_t)n + 127) << 23;
    float y = p * u.f;
    return x < lo ? 0.0f : y;
}

LMD_CLONES void lmd_vexp(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = exp_one(x[i]);
}

LMD_CLONES void lmd_layernorm_row(const float *x, float *y, int d, const float *w, const float *b,
                                  float eps) {
    float sum = 0;
    for (int i = 0; i < d; i++)
        sum += x[i];
    float mean = sum / (float)d;
    float var = 0;
    for (int i = 0; i < d; i++) {
        float t = x[i] - mean;
        var += t * t;
    }
    var /= (float)d;
    float inv = 1.0f / sqrtf(var + eps);
    for (int i = 0; i < d; i++)
        y[i] = (x[i] - mean) * inv * w[i] + b[i];
}

LMD_CLONES void lmd_rmsnorm_row(const float *x, float *y, int d, const float *w, float eps) {
    float ss = 0;
    for (int i = 0; i < d; i++)
        ss += x[i] * x[i];
    float inv = 1.0f / sqrtf(ss / (float)d + eps);
    for (int i = 0; i < d; i++)
        y[i] = x[i] * inv * w[i];
}

LMD_CLONES void lmd_vmul(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] *= y[i];
}

LMD_CLONES static void gelu_tanh(float *x, size_t n) {
    /* 0.5 x (1 + tanh(u)) = x * sigmoid(2u) = x / (1 + exp(-2u)) */
    const float c = 0.7978845608028654f; /* sqrt(2/pi) */
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float u = c * (v + 0.044715f * v * v * v);
        x[i] = v / (1.0f + exp_one(-2.0f * u));
    }
}

/* 0.5 x (1 + erf(x / sqrt 2)), with erf from Abramowitz & Stegun 7.1.26
 * (|error| <= 1.5e-7; erf(u) = 1 - poly(t) exp(-u^2), t = 1/(1 + p|u|)), so
 * that the loop vectorises; libm's erff does not (it took 40x longer). */
LMD_CLONES static void gelu_erf(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        float u = v * 0.7071067811865476f;
        float au = u < 0 ? -u : u;
        float t = 1.0f / (1.0f + 0.3275911f * au);
        float p = 1.061405429f;
        p = p * t - 1.453152027f;
        p = p * t + 1.421413741f;
        p = p * t - 0.284496736f;
        p = p * t + 0.254829592f;
        float e = 1.0f - p * t * exp_one(-au * au);
        x[i] = 0.5f * v * (1.0f + (u < 0 ? -e : e));
    }
}

LMD_CLONES static void silu(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = x[i] / (1.0f + exp_one(-x[i]));
}

void lmd_activate(float *x, size_t n, lmd_activation act) {
    switch (act) {
    case LMD_ACT_GELU_TANH:
        gelu_tanh(x, n);
        break;
    case LMD_ACT_GELU_ERF:
        gelu_erf(x, n);
        break;
    case LMD_ACT_RELU:
        for (size_t i = 0; i < n; i++)
            x[i] = x[i] > 0 ? x[i] : 0;
        break;
    case LMD_ACT_SILU:
        silu(x, n);
        break;
    }
}

LMD_CLONES void lmd_add_bias(float *x, size_t rows, size_t cols, const float *b) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * cols;
        for (size_t c = 0; c < cols; c++)
            row[c] += b[c];
    }
}

LMD_CLONES float lmd_vmax(const float *x, size_t n) {
    float m = x[0];
#pragma omp simd reduction(max : m)
    for (size_t i = 1; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

LMD_CLONES double lmd_expsum(const float *z, size_t n, float m, double *wsum, float *scratch) {
    double s = 0, w = 0;
    const size_t B = 256;
    for (size_t i0 = 0; i0 < n; i0 += B) {
        size_t len = n - i0 < B ? n - i0 : B;
        float *d = scratch + i0;
        for (size_t i = 0; i < len; i++)
            d[i] = z[i0 + i] - m;
        float bs = 0, bw = 0;
        for (size_t i = 0; i < len; i++) {
            float e = exp_one(d[i]);
            bs += e;
            bw += e * d[i];
        }
        s += bs;
        w += bw;
    }
    *wsum = w;
    return s;
}

/* lmd_expsum with each block's sums reassociated (omp simd), so that the
 * exponentials run vectorised: the BF16 path's (--precision bf16) */
LMD_CLONES double lmd_expsum_simd(const float *z, size_t n, float m, double *wsum) {
    double s = 0, w = 0;
    const size_t B = 256;
    for (size_t i0 = 0; i0 < n; i0 += B) {
        size_t len = n - i0 < B ? n - i0 : B;
        float bs = 0, bw = 0;
#pragma omp simd reduction(+ : bs, bw)
        for (size_t i = 0; i < len; i++) {
            float d = z[i0 + i] - m, e = exp_one(d);
            bs += e;
            bw += e * d;
        }
        s += bs;
        w += bw;
    }
    *wsum = w;
    return s;
}

LMD_CLONES size_t lmd_count_greater(const float *x, size_t n, float t) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += x[i] > t;
    return c;
}

void lmd_softmax_row(float *x, int n) {
    float m = lmd_vmax(x, (size_t)n);
    for (int i = 0; i < n; i++)
        x[i] -= m;
    lmd_vexp(x, x, (size_t)n);
    float s = 0;
    for (int i = 0; i < n; i++)
        s += x[i];
    float inv = 1.0f / s;
    for (int i = 0; i < n; i++)
        x[i] *= inv;
}

/* loops over fewer values than this run on one thread: a parallel region
 * costs more than they do (tiny models would pay it thousands of times) */
#define PAR_MIN 32768

void lmd_layernorm_rows(const float *x, float *y, size_t rows, int d, const float *w,
                        const float *b, float eps) {
#pragma omp parallel for schedule(static) if (rows * (size_t)d >= PAR_MIN)
    for (size_t r = 0; r < rows; r++)
        lmd_layernorm_row(x + r * (size_t)d, y + r * (size_t)d, d, w, b, eps);
}

void lmd_rmsnorm_rows(const float *x, float *y, size_t rows, int d, const float *w, float eps) {
#pragma omp parallel for schedule(static) if (rows * (size_t)d >= PAR_MIN)
    for (size_t r = 0; r < rows; r++)
        lmd_rmsnorm_row(x + r * (size_t)d, y + r * (size_t)d, d, w, eps);
}

void lmd_rmsnorm_pieces(float *x, size_t rows, size_t ld, int n, size_t stride, int d,
                        const float *w, float eps) {
#pragma omp parallel for schedule(static) if (rows * (size_t)n * (size_t)d >= PAR_MIN)
    for (size_t r = 0; r < rows; r++)
        for (int j = 0; j < n; j++) {
            float *p = x + r * ld + (size_t)j * stride;
            lmd_rmsnorm_row(p, p, d, w, eps);
        }
}

void lmd_bias_rows(float *x, size_t rows, size_t ld, int n, const float *b) {
    if (!b) return;
#pragma omp parallel for schedule(static) if (rows * (size_t)n >= PAR_MIN)
    for (size_t r = 0; r < rows; r++)
        lmd_add_bias(x + r * ld, 1, (size_t)n, b);
}

void lmd_activate_rows(float *x, size_t rows, size_t ld, int n, lmd_activation act) {
#pragma omp parallel for schedule(static) if (rows * (size_t)n >= PAR_MIN)
    for (size_t r = 0; r < rows; r++)
        lmd_activate(x + r * ld, (size_t)n, act);
}

void lmd_glu_rows(float *g, const float *u, size_t rows, size_t ld, int n, lmd_activation act) {
#pragma omp parallel for schedule(static) if (rows * (size_t)n >= PAR_MIN)
    for (size_t r = 0; r < rows; r++) {
        lmd_activate(g + r * ld, (size_t)n, act);
        lmd_vmul(g + r * ld, u + r * ld, (size_t)n);
    }
}

int lmd_linear(const float *in, size_t T, const lmd_mat *W, const float *b, float *out, size_t ldo,
               int accumulate) {
    if (T == 0) return 0;
    if (lmd_matmul(in, T, W, out, ldo, accumulate) < 0) return -1;
    lmd_bias_rows(out, T, ldo, W->n_out, b);
    return 0;
}

void lmd_softcap(float *x, size_t n, float cap) {
    for (size_t i = 0; i < n; i++)
        x[i] = cap * tanhf(x[i] / cap);
}
