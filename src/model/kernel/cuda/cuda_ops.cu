/* cuda_ops.cu - see cuda_ops.h.  Products through cuBLASLt; the rest as
 * small kernels, one thread block per row where a row is reduced (RMSNorm,
 * the logit reduction) and a grid-stride loop where each value is on its
 * own (GLU, bias, adds).  Everything runs on the handle's one stream. */
#include "cuda_ops.h"

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 256
#define WS_BYTES ((size_t)32 << 20) /* cuBLASLt workspace */

typedef struct wentry {
    const void *host;
    size_t n;    /* values */
    int widened; /* 1: stored as F32 widened from its dtype */
    void *dev;
} wentry;

struct lmd_cuda {
    int dev;
    cudaStream_t s;
    cublasLtHandle_t lt;
    void *ws;
    wentry *w; /* the uploaded weights, looked up by host pointer */
    size_t nw, capw;
    void *scratch; /* BF16 activations, the scorer's outputs */
    size_t scratch_bytes;
    size_t base_used, peak;
    char name[256];
    char msg[512];
};

static int fail(lmd_cuda *c, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->msg, sizeof c->msg, fmt, ap);
    va_end(ap);
    return -1;
}

#define CK(call, what)                                                                             \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) return fail(c, "CUDA %s: %s", what, cudaGetErrorString(e_));        \
    } while (0)
#define LT(call, what)                                                                             \
    do {                                                                                           \
        cublasStatus_t st_ = (call);                                                               \
        if (st_ != CUBLAS_STATUS_SUCCESS)                                                          \
            return fail(c, "cuBLASLt %s: status %d", what, (int)st_);                              \
    } while (0)
#define LAUNCHED(what) CK(cudaGetLastError(), what)

static unsigned blocks_for(size_t n) {
    size_t b = (n + THREADS - 1) / THREADS;
    return (unsigned)(b > 65535 ? 65535 : (b ? b : 1));
}

static void note_peak(lmd_cuda *c) {
    size_t fr, tot;
    if (cudaMemGetInfo(&fr, &tot) == cudaSuccess && tot - fr > c->base_used &&
        tot - fr - c->base_used > c->peak)
        c->peak = tot - fr - c->base_used;
}

/* ---------------------------------------------------------------- handle */

extern "C" int lmd_cuda_device_count(void) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

extern "C" lmd_cuda *lmd_cuda_open(int dev, char *msg, size_t cap) {
    int n = lmd_cuda_device_count();
    if (dev < 0 || dev >= n) {
        if (n == 0)
            snprintf(msg, cap, "no CUDA device is present (or no driver)");
        else
            snprintf(msg, cap, "no CUDA device %d: %d device(s) present", dev, n);
        return NULL;
    }
    lmd_cuda *c = (lmd_cuda *)calloc(1, sizeof *c);
    cudaDeviceProp p;
    if (!c) return snprintf(msg, cap, "out of memory"), (lmd_cuda *)NULL;
    c->dev = dev;
    size_t fr = 0, tot = 0;
    if (cudaSetDevice(dev) != cudaSuccess || cudaStreamCreate(&c->s) != cudaSuccess ||
        cublasLtCreate(&c->lt) != CUBLAS_STATUS_SUCCESS ||
        cudaMemGetInfo(&fr, &tot) != cudaSuccess || cudaMalloc(&c->ws, WS_BYTES) != cudaSuccess ||
        cudaGetDeviceProperties(&p, dev) != cudaSuccess) {
        snprintf(msg, cap, "CUDA device %d: cannot set it up (%s)", dev,
                 cudaGetErrorString(cudaGetLastError()));
        lmd_cuda_close(c);
        return NULL;
    }
    c->base_used = tot - fr;
    snprintf(c->name, sizeof c->name, "%s", p.name);
    note_peak(c);
    return c;
}

extern "C" void lmd_cuda_close(lmd_cuda *c) {
    if (!c) return;
    cudaSetDevice(c->dev);
    for (size_t i = 0; i < c->nw; i++)
        cudaFree(c->w[i].dev);
    free(c->w);
    cudaFree(c->scratch);
    cudaFree(c->ws);
    if (c->lt) cublasLtDestroy(c->lt);
    if (c->s) cudaStreamDestroy(c->s);
    free(c);
}

extern "C" const char *lmd_cuda_error(const lmd_cuda *c) {
    return c->msg;
}
extern "C" const char *lmd_cuda_name(const lmd_cuda *c) {
    return c->name;
}
extern "C" size_t lmd_cuda_peak_bytes(const lmd_cuda *c) {
    return c->peak;
}

extern "C" void *lmd_cuda_alloc(lmd_cuda *c, size_t bytes) {
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        fail(c, "CUDA: cannot allocate %zu bytes on device %d", bytes, c->dev);
        return NULL;
    }
    note_peak(c);
    return p;
}

extern "C" void lmd_cuda_free(lmd_cuda *c, void *p) {
    (void)c;
    cudaFree(p);
}

extern "C" int lmd_cuda_sync(lmd_cuda *c) {
    CK(cudaStreamSynchronize(c->s), "stream");
    return 0;
}

extern "C" int lmd_cuda_copy(lmd_cuda *c, void *dst, const void *src, size_t bytes, int to_device) {
    CK(cudaMemcpyAsync(dst, src, bytes, to_device ? cudaMemcpyHostToDevice : cudaMemcpyDeviceToHost,
                       c->s),
       "copy");
    return lmd_cuda_sync(c);
}

/* A scratch buffer of at least bytes (grow-only; freeing waits for the
 * device, so queued work that reads the old one has finished). */
static void *scratch(lmd_cuda *c, size_t bytes) {
    if (bytes > c->scratch_bytes) {
        cudaFree(c->scratch);
        c->scratch = lmd_cuda_alloc(c, bytes);
        c->scratch_bytes = c->scratch ? bytes : 0;
    }
    return c->scratch;
}

/* --------------------------------------------------------------- weights */

__global__ void widen_k(const void *src, int dtype, float *dst, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        unsigned short h = ((const unsigned short *)src)[i];
        dst[i] = dtype == LMD_CUDA_F16 ? __half2float(__ushort_as_half(h))
                                       : __uint_as_float((unsigned)h << 16);
    }
}

/* The device copy of n values of a host weight of dtype, as stored or
 * widened to F32; uploaded on first use.  NULL on failure. */
static const void *weight(lmd_cuda *c, const void *host, size_t n, int dtype, int widen) {
    widen = widen && dtype != LMD_CUDA_F32;
    for (size_t i = 0; i < c->nw; i++)
        if (c->w[i].host == host && c->w[i].n == n && c->w[i].widened == widen) return c->w[i].dev;
    if (c->nw == c->capw) {
        size_t cap = c->capw ? 2 * c->capw : 256;
        wentry *w = (wentry *)realloc(c->w, cap * sizeof *w);
        if (!w) return fail(c, "out of memory"), (const void *)NULL;
        c->w = w, c->capw = cap;
    }
    size_t esize = dtype == LMD_CUDA_F32 ? 4 : 2;
    void *dev = lmd_cuda_alloc(c, n * (widen ? 4 : esize));
    if (!dev) return NULL;
    void *src = dev;
    if (widen && !(src = scratch(c, n * esize))) return cudaFree(dev), (const void *)NULL;
    if (lmd_cuda_copy(c, src, host, n * esize, 1) < 0) return cudaFree(dev), (const void *)NULL;
    if (widen) {
        widen_k<<<blocks_for(n), THREADS, 0, c->s>>>(src, dtype, (float *)dev, n);
        if (cudaGetLastError() != cudaSuccess) {
            cudaFree(dev);
            return fail(c, "CUDA: widening a weight failed"), (const void *)NULL;
        }
    }
    c->w[c->nw++] = (wentry){host, n, widen, dev};
    return dev;
}

/* -------------------------------------------------------------- products */

/* y[n / k x k] (contiguous) = x's rows of k values, lda apart, rounded. */
__global__ void to_bf16_k(const float *x, size_t lda, int k, __nv_bfloat16 *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        y[i] = __float2bfloat16_rn(x[i / k * lda + i % k]); /* nearest even, NaN stays NaN */
}

/* The alignment of p in bytes, up to 256 (what cuBLASLt assumes unless told). */
static uint32_t alignment(const void *p) {
    uint32_t a = 256;
    while (a > 1 && (uintptr_t)p % a)
        a /= 2;
    return a;
}

/* D[m x n] (column-major, ld ldd) = alpha op(A) B + beta D, with A [k x m]
 * (ta: stored k rows by m columns, transposed) or [m x k], B [k x n] (ld ldb). */
static int lt_matmul(lmd_cuda *c, int ta, const void *A, const void *B, int64_t ldb,
                     cudaDataType_t ab, float *D, uint64_t m, uint64_t n, uint64_t k, int64_t ldd,
                     float beta) {
    cublasLtMatmulDesc_t op = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, ld = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t res;
    int found = 0, rc = -1;
    cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = CUBLAS_OP_N;
    size_t ws = WS_BYTES;
    const float alpha = 1.0f;
    cublasStatus_t st = cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatrixLayoutCreate(&la, ab, ta ? k : m, ta ? m : k, (int64_t)(ta ? k : m));
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatrixLayoutCreate(&lb, ab, k, n, ldb);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatrixLayoutCreate(&ld, CUDA_R_32F, m, n, ldd);
    if (st == CUBLAS_STATUS_SUCCESS) st = cublasLtMatmulPreferenceCreate(&pref);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                  &ws, sizeof ws);
    /* the operands' real alignment (an output at qkv + qd is not 256-aligned) */
    const uint32_t al[3] = {alignment(A), alignment(B), alignment(D)};
    const cublasLtMatmulPreferenceAttributes_t which[4] = {
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
        CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES};
    for (int i = 0; i < 4 && st == CUBLAS_STATUS_SUCCESS; i++)
        st = cublasLtMatmulPreferenceSetAttribute(pref, which[i], &al[i < 3 ? i : 2], sizeof al[0]);
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmulAlgoGetHeuristic(c->lt, op, la, lb, ld, ld, pref, 1, &res, &found);
    if (st == CUBLAS_STATUS_SUCCESS && found == 0) st = CUBLAS_STATUS_NOT_SUPPORTED;
    if (st == CUBLAS_STATUS_SUCCESS)
        st = cublasLtMatmul(c->lt, op, &alpha, A, la, B, lb, &beta, D, ld, D, ld, &res.algo, c->ws,
                            WS_BYTES, c->s);
    if (st == CUBLAS_STATUS_SUCCESS)
        rc = 0;
    else
        fail(c, "cuBLASLt: product of %llu x %llu by %llu x %llu: status %d", (unsigned long long)m,
             (unsigned long long)k, (unsigned long long)k, (unsigned long long)n, (int)st);
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (op) cublasLtMatmulDescDestroy(op);
    return rc;
}

extern "C" int lmd_cuda_linear(lmd_cuda *c, const float *in, size_t lda, size_t T, const void *W,
                               int dtype, int n_out, int n_in, int in_major, int bf16_products,
                               const float *b, float *out, size_t ldo, int accumulate) {
    if (bf16_products && dtype != LMD_CUDA_BF16)
        return fail(c, "CUDA: BF16 products need BF16 weights (dtype %d)", dtype);
    if (T == 0) return 0;
    const void *dw = weight(c, W, (size_t)n_out * (size_t)n_in, dtype, !bf16_products);
    if (!dw) return -1;
    const void *x = in;
    if (bf16_products) { /* rounded into contiguous rows */
        size_t n = T * (size_t)n_in;
        __nv_bfloat16 *x16 = (__nv_bfloat16 *)scratch(c, n * sizeof *x16);
        if (!x16) return -1;
        to_bf16_k<<<blocks_for(n), THREADS, 0, c->s>>>(in, lda, n_in, x16, n);
        LAUNCHED("rounding activations to BF16");
        x = x16, lda = (size_t)n_in;
    }
    /* row-major Y[T x n_out] = X W^T is column-major Y^T = op(W) X^T */
    if (lt_matmul(c, !in_major, dw, x, (int64_t)lda, bf16_products ? CUDA_R_16BF : CUDA_R_32F, out,
                  (uint64_t)n_out, (uint64_t)T, (uint64_t)n_in, (int64_t)ldo,
                  accumulate ? 1.0f : 0.0f) < 0)
        return -1;
    return lmd_cuda_bias_rows(c, out, T, ldo, n_out, b);
}

/* --------------------------------------------------------- row kernels */

template <typename V> __device__ V warp_sum(V v) {
    for (int o = 16; o > 0; o >>= 1)
        v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

/* Sum over the block (THREADS threads); the result in every thread. */
template <typename V> __device__ V block_sum(V v) {
    __shared__ V part[THREADS / 32];
    __shared__ V total;
    v = warp_sum(v);
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        V t = threadIdx.x < THREADS / 32 ? part[threadIdx.x] : (V)0;
        t = warp_sum(t);
        if (threadIdx.x == 0) total = t;
    }
    __syncthreads();
    V r = total;
    __syncthreads();
    return r;
}

/* The best (largest value, then lowest id) over the block; in every thread. */
__device__ void block_best(float &v, int &id) {
    __shared__ float pv[THREADS / 32];
    __shared__ int pid[THREADS / 32];
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_down_sync(0xffffffffu, v, o);
        int oi = __shfl_down_sync(0xffffffffu, id, o);
        if (oi >= 0 && (id < 0 || ov > v || (ov == v && oi < id))) v = ov, id = oi;
    }
    if ((threadIdx.x & 31) == 0) pv[threadIdx.x >> 5] = v, pid[threadIdx.x >> 5] = id;
    __syncthreads();
    if (threadIdx.x == 0)
        for (int w = 1; w < THREADS / 32; w++)
            if (pid[w] >= 0 && (pid[0] < 0 || pv[w] > pv[0] || (pv[w] == pv[0] && pid[w] < pid[0])))
                pv[0] = pv[w], pid[0] = pid[w];
    __syncthreads();
    v = pv[0], id = pid[0];
    __syncthreads();
}

/* One block per piece: piece b is piece b % n of row b / n, at
 * x + row*ld + piece*stride (a whole row: n = 1). */
__global__ void rmsnorm_k(const float *x, float *y, size_t ld, int n, size_t stride, int d,
                          const float *w, float eps) {
    const size_t o = (blockIdx.x / n) * ld + (blockIdx.x % n) * stride;
    const float *xr = x + o;
    float *yr = y + o;
    float ss = 0;
    for (int i = threadIdx.x; i < d; i += THREADS)
        ss += xr[i] * xr[i];
    float inv = 1.0f / sqrtf(block_sum(ss) / (float)d + eps);
    for (int i = threadIdx.x; i < d; i += THREADS)
        yr[i] = xr[i] * inv * w[i];
}

static int rmsnorm(lmd_cuda *c, const float *x, float *y, size_t rows, size_t ld, int n,
                   size_t stride, int d, const float *w, float eps) {
    const float *dw = (const float *)weight(c, w, (size_t)d, LMD_CUDA_F32, 0);
    if (!dw) return -1;
    if (rows == 0 || n == 0) return 0;
    rmsnorm_k<<<(unsigned)(rows * (size_t)n), THREADS, 0, c->s>>>(x, y, ld, n, stride, d, dw, eps);
    LAUNCHED("RMSNorm");
    return 0;
}

extern "C" int lmd_cuda_rmsnorm_rows(lmd_cuda *c, const float *x, float *y, size_t rows, int d,
                                     const float *w, float eps) {
    return rmsnorm(c, x, y, rows, (size_t)d, 1, 0, d, w, eps);
}

extern "C" int lmd_cuda_rmsnorm_pieces(lmd_cuda *c, float *x, size_t rows, size_t ld, int n,
                                       size_t stride, int d, const float *w, float eps) {
    return rmsnorm(c, x, x, rows, ld, n, stride, d, w, eps);
}

__global__ void bias_k(float *x, size_t rows, size_t ld, int n, const float *b) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < rows * (size_t)n;
         i += (size_t)gridDim.x * blockDim.x)
        x[(i / n) * ld + i % n] += b[i % n];
}

extern "C" int lmd_cuda_bias_rows(lmd_cuda *c, float *x, size_t rows, size_t ld, int n,
                                  const float *b) {
    if (!b || rows == 0) return 0;
    const float *db = (const float *)weight(c, b, (size_t)n, LMD_CUDA_F32, 0);
    if (!db) return -1;
    bias_k<<<blocks_for(rows * (size_t)n), THREADS, 0, c->s>>>(x, rows, ld, n, db);
    LAUNCHED("bias");
    return 0;
}

__device__ float activate(float v, int act) {
    switch (act) {
    case 0:
        return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    case 1:
        return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
    case 2:
        return v > 0 ? v : 0;
    default:
        return v / (1.0f + expf(-v));
    }
}

__global__ void glu_k(float *g, const float *u, size_t rows, size_t ld, int n, int act) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < rows * (size_t)n;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t j = (i / n) * ld + i % n;
        g[j] = activate(g[j], act) * u[j];
    }
}

extern "C" int lmd_cuda_glu_rows(lmd_cuda *c, float *g, const float *u, size_t rows, size_t ld,
                                 int n, int act) {
    if (rows == 0) return 0;
    glu_k<<<blocks_for(rows * (size_t)n), THREADS, 0, c->s>>>(g, u, rows, ld, n, act);
    LAUNCHED("GLU");
    return 0;
}

__global__ void softcap_k(float *x, size_t rows, size_t ld, int n, float cap) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < rows * (size_t)n;
         i += (size_t)gridDim.x * blockDim.x) {
        float *p = x + (i / n) * ld + i % n;
        *p = cap * tanhf(*p / cap);
    }
}

extern "C" int lmd_cuda_softcap(lmd_cuda *c, float *x, size_t rows, size_t ld, int n, float cap) {
    if (rows == 0) return 0;
    softcap_k<<<blocks_for(rows * (size_t)n), THREADS, 0, c->s>>>(x, rows, ld, n, cap);
    LAUNCHED("soft-capping");
    return 0;
}

__global__ void add_k(float *x, const float *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] += y[i];
}

extern "C" int lmd_cuda_add(lmd_cuda *c, float *x, const float *y, size_t n) {
    if (n == 0) return 0;
    add_k<<<blocks_for(n), THREADS, 0, c->s>>>(x, y, n);
    LAUNCHED("add");
    return 0;
}

/* ------------------------------------------------------- RoPE, attention */

__global__ void rope_k(float *x, size_t T, size_t ld, int nh, size_t hs, int half, const float *cs,
                       const uint32_t *off) {
    const size_t n = T * (size_t)nh * (size_t)half;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t t = i / ((size_t)nh * half);
        const int j = (int)(i / half % nh), k = (int)(i % half);
        float *h = x + t * ld + (size_t)j * hs;
        const float *p = cs + ((size_t)off[t] * half + k) * 2;
        float a = h[k], b = h[k + half];
        h[k] = a * p[0] - b * p[1];
        h[k + half] = b * p[0] + a * p[1];
    }
}

extern "C" int lmd_cuda_rope(lmd_cuda *c, float *x, size_t T, size_t ld, int n_heads,
                             size_t head_stride, int half, const float *cs, size_t n_cs,
                             const uint32_t *off) {
    if (T == 0 || half == 0) return 0;
    float *d = (float *)scratch(c, n_cs * sizeof *cs + T * sizeof *off);
    if (!d) return -1;
    uint32_t *doff = (uint32_t *)(d + n_cs);
    CK(cudaMemcpyAsync(d, cs, n_cs * sizeof *cs, cudaMemcpyHostToDevice, c->s), "copy RoPE table");
    CK(cudaMemcpyAsync(doff, off, T * sizeof *off, cudaMemcpyHostToDevice, c->s), "copy RoPE rows");
    rope_k<<<blocks_for(T * n_heads * (size_t)half), THREADS, 0, c->s>>>(
        x, T, ld, n_heads, head_stride, half, d, doff);
    LAUNCHED("RoPE");
    return lmd_cuda_sync(c); /* the host arrays may go once this returns */
}

__device__ float block_max(float v) {
    __shared__ float part[THREADS / 32];
    for (int o = 16; o > 0; o >>= 1)
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
    __syncthreads();
    float r = part[0];
    for (int w = 1; w < THREADS / 32; w++)
        r = fmaxf(r, part[w]);
    __syncthreads();
    return r;
}

#define ATT_DMAX 512 /* D per thread block: THREADS x 2 accumulators */

/* Block (t, h): query row t, head h; keys lo..hi of its sequence THREADS at a
 * time, one per thread, with a running maximum m and sum l (flash-style). */
__global__ void attention_k(lmd_cuda_attn a, const int32_t *start, const int32_t *pos,
                            const int32_t *len) {
    __shared__ float qs[ATT_DMAX], ps[THREADS];
    const size_t t = blockIdx.x;
    const int h = blockIdx.y, g = h / (a.H / a.KV), i = pos[t];
    const size_t s0 = (size_t)start[t];
    const int hi = a.causal ? i : len[t] - 1;
    const int lo = a.causal && a.window > 0 && i - a.window + 1 > 0 ? i - a.window + 1 : 0;
    const float *q = a.q + t * a.q_ld + (size_t)h * a.q_hs;
    for (int d = threadIdx.x; d < a.D; d += THREADS)
        qs[d] = q[d];
    __syncthreads();
    float m = -INFINITY, l = 0, acc[ATT_DMAX / THREADS] = {0, 0};
    for (int j0 = lo; j0 <= hi; j0 += THREADS) {
        const int j = j0 + (int)threadIdx.x;
        float sc = -INFINITY;
        if (j <= hi) {
            const float *k = a.k + (s0 + j) * a.kv_ld + (size_t)g * a.k_hs;
            float dot = 0;
            for (int d = 0; d < a.D; d++)
                dot += qs[d] * k[d];
            sc = a.scale * dot;
            if (a.softcap > 0) sc = a.softcap * tanhf(sc / a.softcap);
        }
        const float mn = fmaxf(m, block_max(sc)), corr = expf(m - mn);
        const float p = j <= hi ? expf(sc - mn) : 0.0f;
        ps[threadIdx.x] = p;
        l = l * corr + block_sum(p); /* its barriers publish ps */
        const int nk = hi - j0 + 1 < THREADS ? hi - j0 + 1 : THREADS;
        for (int r = 0; r < ATT_DMAX / THREADS; r++) {
            const int d = (int)threadIdx.x + r * THREADS;
            if (d >= a.D) break;
            const float *v = a.v + (s0 + j0) * a.kv_ld + (size_t)g * a.v_hs + d;
            float s = acc[r] * corr;
            for (int jj = 0; jj < nk; jj++)
                s += ps[jj] * v[(size_t)jj * a.kv_ld];
            acc[r] = s;
        }
        m = mn;
        __syncthreads(); /* ps is rewritten next chunk */
    }
    for (int r = 0; r < ATT_DMAX / THREADS; r++) {
        const int d = (int)threadIdx.x + r * THREADS;
        if (d < a.D) a.out[t * a.out_ld + (size_t)h * a.D + d] = acc[r] / l;
    }
}

extern "C" int lmd_cuda_attention(lmd_cuda *c, const lmd_cuda_attn *a, size_t T,
                                  const int32_t *start, const int32_t *pos, const int32_t *len) {
    if (T == 0) return 0;
    if (a->D > ATT_DMAX || a->KV <= 0 || a->H % a->KV || a->H > 65535)
        return fail(c, "CUDA attention: %d heads of %d over %d key/value heads not supported", a->H,
                    a->D, a->KV);
    int32_t *d = (int32_t *)scratch(c, 3 * T * sizeof *d);
    if (!d) return -1;
    CK(cudaMemcpyAsync(d, start, T * sizeof *d, cudaMemcpyHostToDevice, c->s), "copy rows");
    CK(cudaMemcpyAsync(d + T, pos, T * sizeof *d, cudaMemcpyHostToDevice, c->s), "copy rows");
    CK(cudaMemcpyAsync(d + 2 * T, len, T * sizeof *d, cudaMemcpyHostToDevice, c->s), "copy rows");
    attention_k<<<dim3((unsigned)T, (unsigned)a->H), THREADS, 0, c->s>>>(*a, d, d + T, d + 2 * T);
    LAUNCHED("attention");
    return lmd_cuda_sync(c); /* the host arrays may go once this returns */
}

/* --------------------------------------------------------- the scorer */

typedef struct score_out {
    double *lp;
    int *rank, *tk_id;
    float *ent, *tk_p;
    const int *ids;
} score_out;

/* One block per logit row: max, sum exp(z - m) and sum exp(z - m)(z - m) in
 * double, the rank of the true id, then the top k one pass each (each pass
 * takes the best entry ordered after the previous one: value down, id up). */
__global__ void score_k(const float *z, int V, int k, score_out o) {
    const size_t r = blockIdx.x;
    const float *zr = z + r * (size_t)V;
    const int y = o.ids[r];
    float m = -FLT_MAX;
    for (int i = threadIdx.x; i < V; i += THREADS)
        m = fmaxf(m, zr[i]);
    int mid = 0;
    block_best(m, mid);
    double S = 0, W = 0;
    int greater = 0;
    const float zy = zr[y];
    for (int i = threadIdx.x; i < V; i += THREADS) {
        float t = zr[i] - m;
        double e = exp((double)t);
        S += e, W += e * (double)t;
        greater += zr[i] > zy;
    }
    S = block_sum(S), W = block_sum(W);
    greater = block_sum(greater);
    const double logS = log(S), lse = (double)m + logS;
    if (threadIdx.x == 0) {
        o.lp[r] = (double)zy - lse;
        o.rank[r] = 1 + greater;
        o.ent[r] = (float)(logS - W / S);
    }
    float pv = FLT_MAX;
    int pid = -1;
    for (int j = 0; j < k; j++) {
        float bv = -FLT_MAX;
        int bid = -1;
        for (int i = threadIdx.x; i < V; i += THREADS) {
            float v = zr[i];
            if ((v < pv || (v == pv && i > pid)) && (bid < 0 || v > bv)) bv = v, bid = i;
        }
        block_best(bv, bid);
        if (threadIdx.x == 0) {
            o.tk_id[r * k + j] = bid;
            o.tk_p[r * k + j] = bid < 0 ? 0.0f : (float)exp((double)bv - lse);
        }
        pv = bv, pid = bid;
    }
}

extern "C" int lmd_cuda_score_rows(lmd_cuda *c, const float *z, size_t rows, int V,
                                   const int32_t *ids, int k, double *logprob, int32_t *rank,
                                   float *entropy, int32_t *topk_ids, float *topk_prob) {
    if (rows == 0) return 0;
    const size_t kk = (size_t)k * rows;
    const size_t bytes = rows * (sizeof(double) + 2 * sizeof(int) + sizeof(float)) +
                         kk * (sizeof(int) + sizeof(float));
    char *s = (char *)scratch(c, bytes);
    if (!s) return -1;
    score_out o;
    o.lp = (double *)s;
    o.rank = (int *)(o.lp + rows);
    int *ids_d = o.rank + rows;
    o.ids = ids_d;
    o.ent = (float *)(ids_d + rows);
    o.tk_id = (int *)(o.ent + rows);
    o.tk_p = (float *)(o.tk_id + kk);
    CK(cudaMemcpyAsync(ids_d, ids, rows * sizeof *ids, cudaMemcpyHostToDevice, c->s), "copy ids");
    for (size_t r0 = 0; r0 < rows; r0 += 65535) {
        unsigned n = (unsigned)(rows - r0 < 65535 ? rows - r0 : 65535);
        score_out p = o;
        p.lp += r0, p.rank += r0, p.ids += r0, p.ent += r0, p.tk_id += r0 * k, p.tk_p += r0 * k;
        score_k<<<n, THREADS, 0, c->s>>>(z + r0 * (size_t)V, V, k, p);
        LAUNCHED("scoring logits");
    }
    if (lmd_cuda_copy(c, logprob, o.lp, rows * sizeof *logprob, 0) < 0 ||
        lmd_cuda_copy(c, rank, o.rank, rows * sizeof *rank, 0) < 0 ||
        lmd_cuda_copy(c, entropy, o.ent, rows * sizeof *entropy, 0) < 0 ||
        (k > 0 && (lmd_cuda_copy(c, topk_ids, o.tk_id, kk * sizeof *topk_ids, 0) < 0 ||
                   lmd_cuda_copy(c, topk_prob, o.tk_p, kk * sizeof *topk_prob, 0) < 0)))
        return -1;
    return 0;
}

/* ------------------------------------------------------------ ceiling */

__global__ void fill_k(__nv_bfloat16 *x, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        x[i] = __float2bfloat16_rn((float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f);
}

extern "C" double lmd_cuda_gemm_tflops(lmd_cuda *c, int M, int N, int K, int reps) {
    __nv_bfloat16 *a = (__nv_bfloat16 *)lmd_cuda_alloc(c, (size_t)M * K * 2);
    __nv_bfloat16 *b = (__nv_bfloat16 *)lmd_cuda_alloc(c, (size_t)K * N * 2);
    float *d = (float *)lmd_cuda_alloc(c, (size_t)M * N * 4);
    cudaEvent_t e0 = NULL, e1 = NULL;
    double best = -1;
    if (a && b && d && cudaEventCreate(&e0) == cudaSuccess && cudaEventCreate(&e1) == cudaSuccess) {
        fill_k<<<blocks_for((size_t)M * K), THREADS, 0, c->s>>>(a, (size_t)M * K);
        fill_k<<<blocks_for((size_t)K * N), THREADS, 0, c->s>>>(b, (size_t)K * N);
        int ok = lt_matmul(c, 1, a, b, K, CUDA_R_16BF, d, (uint64_t)M, (uint64_t)N, (uint64_t)K, M,
                           0.0f) == 0; /* warm-up */
        for (int i = 0; ok && i < reps; i++) {
            float ms = 0;
            cudaEventRecord(e0, c->s);
            ok = lt_matmul(c, 1, a, b, K, CUDA_R_16BF, d, (uint64_t)M, (uint64_t)N, (uint64_t)K, M,
                           0.0f) == 0;
            cudaEventRecord(e1, c->s);
            if (ok && cudaEventSynchronize(e1) == cudaSuccess &&
                cudaEventElapsedTime(&ms, e0, e1) == cudaSuccess && ms > 0) {
                double t = 2.0 * M * N * (double)K / (ms * 1e-3) / 1e12;
                best = t > best ? t : best;
            }
        }
    }
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    cudaFree(a), cudaFree(b), cudaFree(d);
    return best;
}
