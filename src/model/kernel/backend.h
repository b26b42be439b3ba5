/* backend.h - the one table of operations that a forward pass and the
 * scorer run, per device: "cpu" (the functions of kernels.h and matmul.h
 * and the scorer's row reduction, called as they are) and, in a build with
 * the CUDA backend (CMake LMD_CUDA), "cuda:N" (kernel/cuda/cuda_ops.h:
 * cuBLASLt products, small kernels, the logit reduction on the device so
 * that only per-token numbers come back).
 *
 * Activation buffers passed to the ops live on the backend's device
 * (b->alloc); weights (lmd_mat), norm weights and biases are the model's host
 * pointers, which a device backend uploads once and reuses.
 *
 * Threads may share a device backend: each op holds its lock, and the work
 * of all of them runs in order on the device's one stream.  The host memory
 * of a weight it has uploaded must stay as it is while the backend lives
 * (the model's mapping does).
 *
 * Status (issue #18): the decoder forward (decoder.c) runs through this
 * table; the CUDA ops are compiled but have not run on a GPU yet
 * (test_backend_gpu, ctest label gpu, compares each with the CPU op). */
#ifndef LMD_BACKEND_H
#define LMD_BACKEND_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "lmdiff.h"
#include "model/kernel/attention.h"
#include "model/kernels.h"

typedef struct lmd_backend lmd_backend;

struct lmd_backend {
    char name[32];        /* "cpu" or "cuda:N" */
    void *dev;            /* the device handle (lmd_cuda *); NULL on the CPU */
    char msg[512];        /* why the last op failed */
    pthread_mutex_t lock; /* a device's: each op holds it (the CPU's is unused) */

    void *(*alloc)(lmd_backend *b, size_t bytes);
    void (*release)(lmd_backend *b, void *p);
    /* bytes from the host to the device (to_device) or back */
    int (*copy)(lmd_backend *b, void *dst, const void *src, size_t bytes, int to_device);

    /* lmd_linear with an input row stride (lmd_matmul_lda): out[T x n_out]
     * (row stride ldo) = (accumulate ? out : 0) + in W^T + bias, where in's
     * rows are lda >= W->n_in floats apart (W->n_in: contiguous). */
    int (*linear)(lmd_backend *b, const float *in, size_t lda, size_t T, const lmd_mat *W,
                  const float *bias, float *out, size_t ldo, int accumulate);
    /* lmd_rmsnorm_rows */
    int (*rmsnorm_rows)(lmd_backend *b, const float *x, float *y, size_t rows, int d,
                        const float *w, float eps);
    /* lmd_rmsnorm_pieces */
    int (*rmsnorm_pieces)(lmd_backend *b, float *x, size_t rows, size_t ld, int n, size_t stride,
                          int d, const float *w, float eps);
    /* lmd_rope_apply */
    int (*rope)(lmd_backend *b, const lmd_rope *r, const lmd_seq *seqs, int n_seqs, float *x,
                size_t ld, int n_heads, size_t head_stride);
    /* lmd_attention (the CUDA one: every row a query, a->sel NULL) */
    int (*attention)(lmd_backend *b, const lmd_seq *seqs, int n_seqs, const lmd_attn *a);
    /* lmd_bias_rows */
    int (*bias_rows)(lmd_backend *b, float *x, size_t rows, size_t ld, int n, const float *bias);
    /* lmd_glu_rows */
    int (*glu_rows)(lmd_backend *b, float *g, const float *u, size_t rows, size_t ld, int n,
                    lmd_activation act);
    /* lmd_softcap over n values of each row (stride ld) */
    int (*softcap)(lmd_backend *b, float *x, size_t rows, size_t ld, int n, float cap);
    /* x[i] += y[i] (a residual add) */
    int (*add)(lmd_backend *b, float *x, const float *y, size_t n);
    /* The scorer's reduction (lmd_score_row) of logit rows z[rows x V] with
     * true ids ids[rows] (host) into slots i0 .. i0+rows-1 of s (host): every
     * field, ids included. */
    int (*score_rows)(lmd_backend *b, const float *z, size_t rows, int V, const int32_t *ids,
                      lmd_scores *s, size_t i0);
};

/* Opens the backend a --device value names: "cpu", "cuda" (= "cuda:0"),
 * "cuda:N", or "auto" (CUDA device 0 when this build has the backend and a
 * device is present, else the CPU).  Fails naming the value when it is
 * malformed, when this build has no CUDA backend, or when the device is
 * missing. */
int lmd_backend_open(const char *device, lmd_backend **out, lmd_error *err);
/* The CUDA device index a --device value names ("cuda" is 0, "cuda:N" is
 * N), or -1 when it names none (it may still be "cpu" or "auto"). */
int lmd_backend_cuda_index(const char *device);
void lmd_backend_close(lmd_backend *b);

/* For the benchmarks (bench/bench_gpu.c): the device's name ("CPU" for the
 * CPU), the peak of its memory in use since the backend opened (bytes; 0 on
 * the CPU), and the best TFLOP/s of cuBLASLt BF16 x BF16 -> F32 products
 * [M x K] by [K x N] over reps runs (-1 on the CPU or on failure). */
const char *lmd_backend_device_name(const lmd_backend *b);
size_t lmd_backend_peak_bytes(const lmd_backend *b);
double lmd_backend_gemm_tflops(lmd_backend *b, int M, int N, int K, int reps);

/* The CPU's table, one for the process: its ops are thread-safe, its msg
 * is not meaningful when several threads use it. */
lmd_backend *lmd_backend_cpu(void);

/* 1 when this build has the CUDA backend. */
int lmd_backend_cuda_built(void);

/* Number of CUDA devices present (0 without the backend). */
int lmd_backend_cuda_devices(void);

#endif
