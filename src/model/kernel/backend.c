/* backend.c - see backend.h: the CPU table (today's kernels, unchanged) and
 * the CUDA table over kernel/cuda/cuda_ops.h, whose functions live in the
 * module liblmdiff-cuda.so (a build with LMD_CUDA), opened with dlopen the
 * first time a device is asked for. */
#include "model/kernel/backend.h"

#include <dlfcn.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/score_internal.h"
#include "base/base.h"

#include "model/kernel/cuda/cuda_ops.h"
#include "model/kernel/scratch.h"

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

/* lmd_linear's steps with the row stride: lmd_matmul is lmd_matmul_lda
 * with lda = n_in, so a contiguous input gives lmd_linear's bits. */
static int cpu_linear(lmd_backend *b, const float *in, size_t lda, size_t T, const lmd_mat *W,
                      const float *bias, float *out, size_t ldo, int accumulate) {
    if (lmd_matmul_lda(in, lda, T, W, out, ldo, accumulate) < 0) {
        snprintf(b->msg, sizeof b->msg, "out of memory for a product of %zu rows", T);
        return -1;
    }
    lmd_bias_rows(out, T, ldo, W->n_out, bias);
    return 0;
}

static int cpu_rmsnorm_rows(lmd_backend *b, const float *x, float *y, size_t rows, int d,
                            const float *w, float eps) {
    (void)b;
    lmd_rmsnorm_rows(x, y, rows, d, w, eps);
    return 0;
}

static int cpu_rmsnorm_pieces(lmd_backend *b, float *x, size_t rows, size_t ld, int n,
                              size_t stride, int d, const float *w, float eps) {
    (void)b;
    lmd_rmsnorm_pieces(x, rows, ld, n, stride, d, w, eps);
    return 0;
}

static int cpu_rope(lmd_backend *b, const lmd_rope *r, const lmd_seq *seqs, int n_seqs, float *x,
                    size_t ld, int n_heads, size_t head_stride) {
    if (lmd_rope_apply(r, seqs, n_seqs, x, ld, n_heads, head_stride) == 0) return 0;
    snprintf(b->msg, sizeof b->msg, "out of memory for RoPE");
    return -1;
}

static int cpu_attention(lmd_backend *b, const lmd_seq *seqs, int n_seqs, const lmd_attn *a) {
    if (lmd_attention(seqs, n_seqs, a) == 0) return 0;
    snprintf(b->msg, sizeof b->msg, "out of memory for attention");
    return -1;
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

static int cpu_softcap(lmd_backend *b, float *x, size_t rows, size_t ld, int n, float cap) {
    (void)b;
    for (size_t r = 0; r < rows; r++)
        lmd_softcap(x + r * ld, (size_t)n, cap);
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
    const size_t sz[3] = {(size_t)V * sizeof(float), (size_t)k * 4, (size_t)k * sizeof(int32_t)};
    void *p[3]; /* the thread's kept scratch: no fresh pages per call */
    if (lmd_scratch_parts(LMD_SCR_ROWS, 3, sz, p) < 0) {
        snprintf(b->msg, sizeof b->msg, "out of memory for a vocabulary of %d", V);
        return -1;
    }
    for (size_t r = 0; r < rows; r++) {
        s->ids[i0 + r] = ids[r];
        lmd_score_row(z + r * (size_t)V, V, ids[r], s, i0 + r, p[0], p[1], p[2]);
    }
    return 0;
}

static lmd_backend cpu_table = {.name = "cpu",
                                .alloc = cpu_alloc,
                                .release = cpu_release,
                                .copy = cpu_copy,
                                .linear = cpu_linear,
                                .rmsnorm_rows = cpu_rmsnorm_rows,
                                .rmsnorm_pieces = cpu_rmsnorm_pieces,
                                .rope = cpu_rope,
                                .attention = cpu_attention,
                                .bias_rows = cpu_bias_rows,
                                .glu_rows = cpu_glu_rows,
                                .softcap = cpu_softcap,
                                .add = cpu_add,
                                .score_rows = cpu_score_rows};

/* (its msg is shared by every thread that uses it: callers on the CPU name
 * the failure themselves, as they did before the table existed) */
lmd_backend *lmd_backend_cpu(void) {
    return &cpu_table;
}

/* ----------------------------------------------------------------- CUDA */

/* The module's functions, found by name (lmd_cuda_NAME); all or none. */
#define CUDA_FUNCS(X)                                                                              \
    X(device_count)                                                                                \
    X(open)                                                                                        \
    X(close)                                                                                       \
    X(error)                                                                                       \
    X(alloc) X(free) X(copy) X(linear) X(rmsnorm_rows) X(rmsnorm_pieces) X(rope) X(attention)      \
        X(bias_rows) X(glu_rows) X(softcap) X(add) X(score_rows) X(name) X(peak_bytes)             \
            X(gemm_tflops)
static struct {
#define CUDA_FIELD(n) __typeof__(&lmd_cuda_##n) n;
    CUDA_FUNCS(CUDA_FIELD)
} cuda;
static char cuda_why[512]; /* why the module is not there; empty when it is */

#ifdef LMD_HAVE_CUDA
/* dlopen of the first of $LMD_CUDA_MODULE, the build's and the installed
 * module that exists. */
static void *cuda_dlopen(void) {
    const char *env = getenv("LMD_CUDA_MODULE");
    const char *paths[] = {env && *env ? env : NULL, LMD_CUDA_MODULE_BUILD,
                           LMD_CUDA_MODULE_INSTALL};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        void *h = paths[i] ? dlopen(paths[i], RTLD_NOW | RTLD_LOCAL) : NULL;
        if (h) return h;
        if (paths[i])
            snprintf(cuda_why, sizeof cuda_why, "cannot load %s (%s)", paths[i], dlerror());
    }
    return NULL;
}
#endif

static void cuda_load(void) {
#ifdef LMD_HAVE_CUDA
    void *h = cuda_dlopen();
    if (!h) return;
#define CUDA_SYM(n)                                                                                \
    if (!(*(void **)&cuda.n = dlsym(h, "lmd_cuda_" #n))) {                                         \
        snprintf(cuda_why, sizeof cuda_why, "the CUDA module lacks lmd_cuda_" #n);                 \
        return;                                                                                    \
    }
    CUDA_FUNCS(CUDA_SYM)
    cuda_why[0] = 0;
#else
    snprintf(cuda_why, sizeof cuda_why,
             "this lmdiff was built without CUDA (CMake LMD_CUDA; nvcc was not found or the "
             "option was OFF)");
#endif
}

/* 1 when the module is loaded (loading it the first time). */
static int cuda_ready(void) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, cuda_load);
    return cuda_why[0] == 0;
}

/* Each op runs under the backend's lock (its stream, scratch and uploaded
 * weights are shared by the threads of a server): CU(b, call) takes it,
 * runs the call and ends with cu_done, which copies the message into b->msg
 * on failure and lets the lock go. */
static int cu_done(lmd_backend *b, int rc) {
    if (rc < 0) snprintf(b->msg, sizeof b->msg, "%s: %s", b->name, cuda.error(b->dev));
    pthread_mutex_unlock(&b->lock);
    return rc;
}
#define CU(b, call) (pthread_mutex_lock(&(b)->lock), cu_done((b), (call)))

static void *cu_alloc(lmd_backend *b, size_t bytes) {
    pthread_mutex_lock(&b->lock);
    void *p = cuda.alloc(b->dev, bytes);
    cu_done(b, p ? 0 : -1);
    return p;
}

static void cu_release(lmd_backend *b, void *p) {
    pthread_mutex_lock(&b->lock);
    cuda.free(b->dev, p);
    pthread_mutex_unlock(&b->lock);
}

static int cu_copy(lmd_backend *b, void *dst, const void *src, size_t bytes, int to_device) {
    return CU(b, cuda.copy(b->dev, dst, src, bytes, to_device));
}

static int cu_linear(lmd_backend *b, const float *in, size_t lda, size_t T, const lmd_mat *W,
                     const float *bias, float *out, size_t ldo, int accumulate) {
    int dt = W->dtype == LMD_F32    ? LMD_CUDA_F32
             : W->dtype == LMD_F16  ? LMD_CUDA_F16
             : W->dtype == LMD_BF16 ? LMD_CUDA_BF16
                                    : -1;
    if (dt < 0 || W->perm_head) {
        snprintf(b->msg, sizeof b->msg,
                 "%s: products of quantized or row-permuted GGUF weights are not on CUDA yet",
                 b->name);
        return -1;
    }
    return CU(b, cuda.linear(b->dev, in, lda, T, W->data, dt, W->n_out, W->n_in, W->in_major,
                             W->bf16_products, bias, out, ldo, accumulate));
}

static int cu_rmsnorm_rows(lmd_backend *b, const float *x, float *y, size_t rows, int d,
                           const float *w, float eps) {
    return CU(b, cuda.rmsnorm_rows(b->dev, x, y, rows, d, w, eps));
}

static int cu_rmsnorm_pieces(lmd_backend *b, float *x, size_t rows, size_t ld, int n, size_t stride,
                             int d, const float *w, float eps) {
    return CU(b, cuda.rmsnorm_pieces(b->dev, x, rows, ld, n, stride, d, w, eps));
}

/* The rows of a batch: first row of each row's sequence, its position and
 * the sequence's length; NULL when out of memory. */
static int32_t *batch_rows(const lmd_seq *seqs, int n_seqs, size_t *T) {
    size_t n = 0;
    for (int s = 0; s < n_seqs; s++)
        n += (size_t)seqs[s].len;
    int32_t *rows = malloc(3 * (n ? n : 1) * sizeof *rows);
    for (int s = 0, t = 0, start = 0; rows && s < n_seqs; start += seqs[s++].len)
        for (int p = 0; p < seqs[s].len; p++, t++)
            rows[t] = start, rows[n + t] = p, rows[2 * n + t] = seqs[s].len;
    *T = n;
    return rows;
}

/* The host builds the cos/sin table (lmd_rope_cos_sin, as the CPU does);
 * the device rotates. */
static int cu_rope(lmd_backend *b, const lmd_rope *r, const lmd_seq *seqs, int n_seqs, float *x,
                   size_t ld, int n_heads, size_t head_stride) {
    const int half = r->rot_dim / 2;
    int Lmax[2] = {0, 0};
    for (int s = 0; s < n_seqs; s++) {
        int l = lmd_rope_use_long(r, seqs[s].len);
        if (seqs[s].len > Lmax[l]) Lmax[l] = seqs[s].len;
    }
    size_t T, n_cs = ((size_t)Lmax[0] + (size_t)Lmax[1]) * (size_t)half * 2;
    int32_t *rows = batch_rows(seqs, n_seqs, &T);
    float *cs = malloc((n_cs + 1) * sizeof *cs);
    uint32_t *off = malloc((T + 1) * sizeof *off);
    int rc = -1;
    if (rows && cs && off) {
        lmd_rope_cos_sin(r, r->inv_freq, Lmax[0], cs);
        if (Lmax[1])
            lmd_rope_cos_sin(r, r->inv_freq_long, Lmax[1], cs + (size_t)Lmax[0] * half * 2);
        for (size_t t = 0; t < T; t++)
            off[t] =
                (uint32_t)((lmd_rope_use_long(r, rows[2 * T + t]) ? Lmax[0] : 0) + rows[T + t]);
        rc = CU(b, cuda.rope(b->dev, x, T, ld, n_heads, head_stride, half, cs, n_cs, off));
    } else
        snprintf(b->msg, sizeof b->msg, "out of memory for RoPE");
    free(rows), free(cs), free(off);
    return rc;
}

static int cu_attention(lmd_backend *b, const lmd_seq *seqs, int n_seqs, const lmd_attn *a) {
    if (a->sel) {
        snprintf(b->msg, sizeof b->msg, "%s: attention of selected rows is not on CUDA", b->name);
        return -1;
    }
    size_t T;
    int32_t *rows = batch_rows(seqs, n_seqs, &T);
    if (!rows) return snprintf(b->msg, sizeof b->msg, "out of memory for attention"), -1;
    lmd_cuda_attn c = {.H = a->H,
                       .KV = a->KV,
                       .D = a->D,
                       .scale = a->scale,
                       .causal = a->causal,
                       .window = a->window,
                       .softcap = a->softcap,
                       .q = a->q,
                       .k = a->k,
                       .v = a->v,
                       .q_ld = a->q_ld,
                       .q_hs = a->q_hs,
                       .kv_ld = a->kv_ld,
                       .k_hs = a->k_hs,
                       .v_hs = a->v_hs,
                       .out = a->out,
                       .out_ld = a->out_ld};
    int rc = CU(b, cuda.attention(b->dev, &c, T, rows, rows + T, rows + 2 * T));
    free(rows);
    return rc;
}

static int cu_bias_rows(lmd_backend *b, float *x, size_t rows, size_t ld, int n,
                        const float *bias) {
    return CU(b, cuda.bias_rows(b->dev, x, rows, ld, n, bias));
}

static int cu_glu_rows(lmd_backend *b, float *g, const float *u, size_t rows, size_t ld, int n,
                       lmd_activation act) {
    return CU(b, cuda.glu_rows(b->dev, g, u, rows, ld, n, (int)act));
}

static int cu_softcap(lmd_backend *b, float *x, size_t rows, size_t ld, int n, float cap) {
    return CU(b, cuda.softcap(b->dev, x, rows, ld, n, cap));
}

static int cu_add(lmd_backend *b, float *x, const float *y, size_t n) {
    return CU(b, cuda.add(b->dev, x, y, n));
}

static int cu_score_rows(lmd_backend *b, const float *z, size_t rows, int V, const int32_t *ids,
                         lmd_scores *s, size_t i0) {
    const size_t k = (size_t)s->k;
    if (CU(b, cuda.score_rows(b->dev, z, rows, V, ids, s->k, s->logprob + i0, s->rank + i0,
                              s->entropy + i0, s->topk_ids + i0 * k, s->topk_prob + i0 * k)) < 0)
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
                                       .rmsnorm_pieces = cu_rmsnorm_pieces,
                                       .rope = cu_rope,
                                       .attention = cu_attention,
                                       .bias_rows = cu_bias_rows,
                                       .glu_rows = cu_glu_rows,
                                       .softcap = cu_softcap,
                                       .add = cu_add,
                                       .score_rows = cu_score_rows};

/* -------------------------------------------------------------- opening */

int lmd_backend_cuda_built(void) {
#ifdef LMD_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

int lmd_backend_cuda_devices(void) {
    return cuda_ready() ? cuda.device_count() : 0;
}

int lmd_backend_cuda_index(const char *s) {
    if (strncmp(s, "cuda", 4)) return -1;
    if (s[4] == '\0') return 0;
    if (s[4] != ':' || s[5] < '0' || s[5] > '9') return -1;
    char *end;
    long n = strtol(s + 5, &end, 10);
    return *end || n > 1024 ? -1 : (int)n;
}

static int open_cuda(int idx, lmd_backend *b, lmd_error *err) {
    char msg[256];
    if (!cuda_ready())
        return lmd_fail_code(err, LMD_ERR_UNSUPPORTED, "--device cuda:%d: %s", idx, cuda_why);
    *b = cuda_table;
    snprintf(b->name, sizeof b->name, "cuda:%d", idx);
    if (!(b->dev = cuda.open(idx, msg, sizeof msg)))
        return lmd_fail_code(err, LMD_ERR_UNSUPPORTED, "--device cuda:%d: %s", idx, msg);
    pthread_mutex_init(&b->lock, NULL);
    return 0;
}

int lmd_backend_open(const char *device, lmd_backend **out, lmd_error *err) {
    *out = NULL;
    const char *d = device ? device : "auto";
    int idx = lmd_backend_cuda_index(d);
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

const char *lmd_backend_device_name(const lmd_backend *b) {
    return b->dev ? cuda.name(b->dev) : "CPU";
}

size_t lmd_backend_peak_bytes(const lmd_backend *b) {
    return b->dev ? cuda.peak_bytes(b->dev) : 0;
}

double lmd_backend_gemm_tflops(lmd_backend *b, int M, int N, int K, int reps) {
    if (!b->dev) return -1;
    pthread_mutex_lock(&b->lock);
    double t = cuda.gemm_tflops(b->dev, M, N, K, reps);
    pthread_mutex_unlock(&b->lock);
    return t;
}

void lmd_backend_close(lmd_backend *b) {
    if (!b) return;
    if (b->dev) cuda.close(b->dev), pthread_mutex_destroy(&b->lock);
    free(b);
}
