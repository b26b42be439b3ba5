/* backend.c - see backend.h: the CPU table (today's kernels, unchanged) and
 * the CUDA table over kernel/cuda/cuda_ops.h when the build has it. */
#include "model/kernel/backend.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/score_internal.h"
#include "base/base.h"

#ifdef LMD_HAVE_CUDA
#include "model/kernel/cuda/cuda_ops.h"
#endif

/* ------------------------------------------------------------------ CPU */

static void *cpu_alloc(lmd_backend *b, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) snprintf(b->msg, sizeof b->msg, "out of memory (%zu bytes)", bytes);
    return p;
}

static void cpu_release(lmd_backend *b, void *p) {
    (void)b;
    free(p);
}

static int cpu_copy(lmd_backend *b, void *dst, const void *src, size_t bytes, int to_device) {
    (void)b, (void)to_device;
    memcpy(dst, src, bytes);
    return 0;
}

static int cpu_linear(lmd_backend *b, const float *in, size_t T, const lmd_mat *W,
                      const float *bias, float *out, size_t ldo, int accumulate) {
    if (lmd_linear(in, T, W, bias, out, ldo, accumulate) == 0) return 0;
    snprintf(b->msg, sizeof b->msg, "out of memory for a product of %zu rows", T);
    return -1;
}

static int cpu_rmsnorm_rows(lmd_backend *b, const float *x, float *y, size_t rows, int d,
                            const float *w, float eps) {
    (void)b;
    lmd_rmsnorm_rows(x, y, rows, d, w, eps);
    return 0;
}

static int cpu_bias_rows(lmd_backend *b, float *x, size_t rows, size_t ld, int n,
                         const float *bias) {
    (void)b;
    lmd_bias_rows(x, rows, ld, n, bias);
    return 0;
}

static int cpu_glu_rows(lmd_backend *b, float *g, const float *u, size_t rows, size_t ld, int n,
                        lmd_activation act) {
    (void)b;
    lmd_glu_rows(g, u, rows, ld, n, act);
    return 0;
}

static int cpu_add(lmd_backend *b, float *x, const float *y, size_t n) {
    (void)b;
    lmd_add_bias(x, 1, n, y); /* one long row: x += y */
    return 0;
}

static int cpu_score_rows(lmd_backend *b, const float *z, size_t rows, int V, const int32_t *ids,
                          lmd_scores *s, size_t i0) {
    const int k = s->k > 0 ? s->k : 1;
    float *scratch = malloc((size_t)V * sizeof *scratch), *tk_val = malloc((size_t)k * 4);
    int32_t *tk_id = malloc((size_t)k * sizeof *tk_id);
    int rc = scratch && tk_val && tk_id ? 0 : -1;
    for (size_t r = 0; rc == 0 && r < rows; r++)
        lmd_score_row(z + r * (size_t)V, V, ids[r], s, i0 + r, scratch, tk_val, tk_id);
    if (rc < 0) snprintf(b->msg, sizeof b->msg, "out of memory for a vocabulary of %d", V);
    free(scratch), free(tk_val), free(tk_id);
    return rc;
}

static const lmd_backend cpu_table = {.name = "cpu",
                                      .alloc = cpu_alloc,
                                      .release = cpu_release,
                                      .copy = cpu_copy,
                                      .linear = cpu_linear,
                                      .rmsnorm_rows = cpu_rmsnorm_rows,
                                      .bias_rows = cpu_bias_rows,
                                      .glu_rows = cpu_glu_rows,
                                      .add = cpu_add,
                                      .score_rows = cpu_score_rows};

/* ----------------------------------------------------------------- CUDA */

#ifdef LMD_HAVE_CUDA
/* the op's status, its message copied into b->msg on failure */
static int cu(lmd_backend *b, int rc) {
    if (rc < 0) snprintf(b->msg, sizeof b->msg, "%s: %s", b->name, lmd_cuda_error(b->dev));
    return rc;
}

static void *cu_alloc(lmd_backend *b, size_t bytes) {
    void *p = lmd_cuda_alloc(b->dev, bytes);
    if (!p) cu(b, -1);
    return p;
}

static void cu_release(lmd_backend *b, void *p) { lmd_cuda_free(b->dev, p); }

static int cu_copy(lmd_backend *b, void *dst, const void *src, size_t bytes, int to_device) {
    return cu(b, lmd_cuda_copy(b->dev, dst, src, bytes, to_device));
}

static int cu_linear(lmd_backend *b, const float *in, size_t T, const lmd_mat *W,
                     const float *bias, float *out, size_t ldo, int accumulate) {
    int dt = W->dtype == LMD_F32 ? LMD_CUDA_F32
             : W->dtype == LMD_F16 ? LMD_CUDA_F16
             : W->dtype == LMD_BF16 ? LMD_CUDA_BF16
                                    : -1;
    if (dt < 0 || W->perm_head) {
        snprintf(b->msg, sizeof b->msg,
                 "%s: products of quantized or row-permuted GGUF weights are not on CUDA yet",
                 b->name);
        return -1;
    }
    return cu(b, lmd_cuda_linear(b->dev, in, T, W->data, dt, W->n_out, W->n_in, W->in_major,
                                 W->bf16_products, bias, out, ldo, accumulate));
}

static int cu_rmsnorm_rows(lmd_backend *b, const float *x, float *y, size_t rows, int d,
                           const float *w, float eps) {
    return cu(b, lmd_cuda_rmsnorm_rows(b->dev, x, y, rows, d, w, eps));
}

static int cu_bias_rows(lmd_backend *b, float *x, size_t rows, size_t ld, int n,
                        const float *bias) {
    return cu(b, lmd_cuda_bias_rows(b->dev, x, rows, ld, n, bias));
}

static int cu_glu_rows(lmd_backend *b, float *g, const float *u, size_t rows, size_t ld, int n,
                       lmd_activation act) {
    return cu(b, lmd_cuda_glu_rows(b->dev, g, u, rows, ld, n, (int)act));
}

static int cu_add(lmd_backend *b, float *x, const float *y, size_t n) {
    return cu(b, lmd_cuda_add(b->dev, x, y, n));
}

static int cu_score_rows(lmd_backend *b, const float *z, size_t rows, int V, const int32_t *ids,
                         lmd_scores *s, size_t i0) {
    const size_t k = (size_t)s->k;
    if (cu(b, lmd_cuda_score_rows(b->dev, z, rows, V, ids, s->k, s->logprob + i0, s->rank + i0,
                                  s->entropy + i0, s->topk_ids + i0 * k,
                                  s->topk_prob + i0 * k)) < 0)
        return -1;
    for (size_t r = 0; r < rows; r++) {
        s->ids[i0 + r] = ids[r];
        s->prob[i0 + r] = (float)exp(s->logprob[i0 + r]);
    }
    return 0;
}

static const lmd_backend cuda_table = {.alloc = cu_alloc,
                                       .release = cu_release,
                                       .copy = cu_copy,
                                       .linear = cu_linear,
                                       .rmsnorm_rows = cu_rmsnorm_rows,
                                       .bias_rows = cu_bias_rows,
                                       .glu_rows = cu_glu_rows,
                                       .add = cu_add,
                                       .score_rows = cu_score_rows};
#endif

/* -------------------------------------------------------------- opening */

int lmd_backend_cuda_built(void) {
#ifdef LMD_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

int lmd_backend_cuda_devices(void) {
#ifdef LMD_HAVE_CUDA
    return lmd_cuda_device_count();
#else
    return 0;
#endif
}

/* The CUDA device index of "cuda" or "cuda:N"; -1 when s is neither. */
static int cuda_index(const char *s) {
    if (strncmp(s, "cuda", 4)) return -1;
    if (s[4] == '\0') return 0;
    if (s[4] != ':' || s[5] < '0' || s[5] > '9') return -1;
    char *end;
    long n = strtol(s + 5, &end, 10);
    return *end || n > 1024 ? -1 : (int)n;
}

static int open_cuda(int idx, lmd_backend *b, lmd_error *err) {
#ifdef LMD_HAVE_CUDA
    char msg[256];
    *b = cuda_table;
    snprintf(b->name, sizeof b->name, "cuda:%d", idx);
    if (!(b->dev = lmd_cuda_open(idx, msg, sizeof msg)))
        return lmd_fail_code(err, LMD_ERR_UNSUPPORTED, "--device cuda:%d: %s", idx, msg);
    return 0;
#else
    (void)b;
    return lmd_fail_code(err, LMD_ERR_UNSUPPORTED,
                         "--device cuda:%d: this lmdiff was built without CUDA (CMake LMD_CUDA; "
                         "nvcc was not found or the option was OFF)",
                         idx);
#endif
}

int lmd_backend_open(const char *device, lmd_backend **out, lmd_error *err) {
    *out = NULL;
    const char *d = device ? device : "auto";
    int idx = cuda_index(d);
    if (idx < 0 && strcmp(d, "cpu") && strcmp(d, "auto"))
        return lmd_fail_code(err, LMD_ERR_BAD_INPUT,
                             "--device must be cpu, cuda, cuda:N or auto, not '%s'", d);
    if (!strcmp(d, "auto")) idx = lmd_backend_cuda_devices() > 0 ? 0 : -1;
    lmd_backend *b = calloc(1, sizeof *b);
    if (!b) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    *b = cpu_table;
    if (idx >= 0 && open_cuda(idx, b, err) < 0) return free(b), -1;
    *out = b;
    return 0;
}

void lmd_backend_close(lmd_backend *b) {
    if (!b) return;
#ifdef LMD_HAVE_CUDA
    if (b->dev) lmd_cuda_close(b->dev);
#endif
    free(b);
}
