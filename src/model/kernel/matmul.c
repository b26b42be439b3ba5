/* matmul.c - see matmul.h. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include "model/matmul.h"

#include "model/kernel/clones.h"
#include "model/kernel/matmul_dnnl.h"
#include "model/kernel/quant.h"
#include "model/kernel/quant_bf16.h"
#include "model/kernel/scratch.h"

#include <cblas.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* per-thread scratch for one converted tile of weights */
#define TILE_BYTES ((size_t)2 << 20)

/* F16 -> F32 without branches, so the loop vectorises: the 15 magnitude bits
 * shifted into an F32 are the value times 2^-112 (subnormals included, since
 * F32's range is wider), so one exact multiplication rescales; exponent 31
 * (inf/NaN) is patched to F32's 255. */
static inline uint32_t f16_bits(uint16_t h) {
    uint32_t o = (uint32_t)(h & 0x7FFFu) << 13;
    union {
        uint32_t u;
        float f;
    } a = {.u = o}, r;
    r.f = a.f * 0x1p112f;
    uint32_t bits = (h & 0x7C00u) == 0x7C00u ? (o | 0x7F800000u) : r.u;
    return bits | ((uint32_t)(h & 0x8000u) << 16);
}

LMD_CLONES static void f16_to_f32(const uint16_t *restrict s, float *restrict d, size_t n) {
    uint32_t *du = (uint32_t *)d;
    for (size_t i = 0; i < n; i++)
        du[i] = f16_bits(s[i]);
}

LMD_CLONES static void bf16_to_f32(const uint16_t *restrict s, float *restrict d, size_t n) {
    uint32_t *du = (uint32_t *)d;
    for (size_t i = 0; i < n; i++)
        du[i] = (uint32_t)s[i] << 16;
}

void lmd_convert_f32(const void *src, lmd_dtype dt, float *dst, size_t n) {
    if (dt == LMD_F16)
        f16_to_f32(src, dst, n);
    else if (dt == LMD_BF16)
        bf16_to_f32(src, dst, n);
    else
        memcpy(dst, src, n * sizeof *dst);
}

static size_t esize(lmd_dtype dt) {
    return dt == LMD_F32 ? 4 : 2;
}

/* F32 -> BF16, round to nearest even; a NaN keeps its sign and stays NaN */
LMD_CLONES static void f32_to_bf16(const float *restrict s, uint16_t *restrict d, size_t n) {
    const uint32_t *su = (const uint32_t *)s;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = su[i];
        uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
        d[i] = (uint16_t)((u & 0x7FFFFFFFu) > 0x7F800000u ? (u >> 16) | 0x40u : r);
    }
}

void lmd_f32_to_bf16(const float *src, uint16_t *dst, size_t n) {
    f32_to_bf16(src, dst, n);
}

/* Rows j0..j0+cnt of an in_major = 0 matrix to F32: GGUF's block types and
 * row permutations through quant.c, the rest converted in one run. */
static void widen_rows(const lmd_mat *W, size_t j0, size_t cnt, float *S) {
    const size_t k = (size_t)W->n_in, rb = lmd_dtype_row_bytes(W->dtype, k);
    const uint8_t *base = W->data;
    if (!W->perm_head && !lmd_dtype_is_quant(W->dtype)) {
        lmd_convert_f32(base + j0 * rb, W->dtype, S, cnt * k);
        return;
    }
    for (size_t r = 0; r < cnt; r++)
        lmd_dequant(W->dtype, base + lmd_perm_row(W->perm_head, (size_t)W->n_out, j0 + r) * rb,
                    S + r * k, k);
}

void lmd_mat_row(const lmd_mat *W, int r, float *out) {
    widen_rows(W, (size_t)r, 1, out);
}

void lmd_widen_tile(const lmd_mat *W, size_t j0, size_t cnt, float *dst) {
    const uint8_t *base = W->data;
    const size_t k = (size_t)W->n_in, n = (size_t)W->n_out;
    if (!W->in_major) {
        widen_rows(W, j0, cnt, dst);
        return;
    }
    for (size_t i = 0; i < k; i++)
        lmd_convert_f32(base + (i * n + j0) * esize(W->dtype), W->dtype, dst + i * cnt, cnt);
}

/* BF16 products: the activations rounded to BF16 (in the thread's kept
 * scratch, kernel/scratch.h), then one oneDNN call.
 * An output with a row stride wider than its row (q, k, v written side by
 * side) is produced dense in scratch and copied: oneDNN 2.6 runs strided
 * outputs with its older gemm:jit kernel, ~20% slower than the brgemm one
 * for Llama-1B's q, k, v (docs/performance.md); the copy is T x n floats. */
static int matmul_bf16(const float *X, size_t lda, size_t T, const lmd_mat *W, float *Y, size_t ldy,
                       int accumulate) {
    const size_t k = (size_t)W->n_in, n = (size_t)W->n_out;
    const int dense = ldy != n && !accumulate;
    uint16_t *A = lmd_scratch(LMD_SCR_BF16_IN, T * k * sizeof *A);
    float *D = dense ? lmd_scratch(LMD_SCR_DENSE, T * n * sizeof *D) : NULL;
    int rc = -1;
    if (!A || (dense && !D)) return -1;
#pragma omp parallel for schedule(static)
    for (size_t t = 0; t < T; t++)
        f32_to_bf16(X + t * lda, A + t * k, k);
    rc = lmd_dnnl_bf16(A, T, W->data, W->packed, W->n_out, W->n_in, W->in_major, dense ? D : Y,
                       dense ? n : ldy, accumulate);
    if (rc == 0 && dense) {
#pragma omp parallel for schedule(static) if (T * n >= 32768)
        for (size_t t = 0; t < T; t++)
            memcpy(Y + t * ldy, D + t * n, n * sizeof *Y);
    }
    return rc;
}

/* F32 products of 16-bit (or other non-F32) weights: tiles of nb output
 * features, a multiple of 16, at most TILE_BYTES of F32 and small enough
 * that every thread gets one, widened then multiplied by sgemm */
static int matmul_widened(const float *X, size_t lda, size_t T, const lmd_mat *W, float *Y,
                          size_t ldy, float beta) {
    const int n = W->n_out, k = W->n_in;
    const int nth = omp_get_max_threads();
    size_t nb = TILE_BYTES / (4 * (size_t)k);
    size_t per = ((size_t)n + (size_t)nth - 1) / (size_t)nth;
    per = (per + 15) / 16 * 16;
    if (nb > per) nb = per;
    nb = nb / 16 * 16;
    if (nb < 16) nb = 16;
    const size_t ntiles = ((size_t)n + nb - 1) / nb;
    float *scratch = lmd_scratch(LMD_SCR_WEIGHTS, (size_t)nth * nb * (size_t)k * sizeof *scratch);
    if (!scratch) return -1;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t t = 0; t < ntiles; t++) {
        float *S = scratch + (size_t)omp_get_thread_num() * nb * (size_t)k;
        size_t j0 = t * nb, cnt = (size_t)n - j0 < nb ? (size_t)n - j0 : nb;
        lmd_widen_tile(W, j0, cnt, S);
        if (!W->in_major)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)cnt, k, 1.0f, X,
                        (int)lda, S, k, beta, Y + j0, (int)ldy);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)cnt, k, 1.0f, X,
                        (int)lda, S, (int)cnt, beta, Y + j0, (int)ldy);
    }
    return 0;
}

int lmd_matmul_lda(const float *X, size_t lda, size_t T, const lmd_mat *W, float *Y, size_t ldy,
                   int accumulate) {
    const int n = W->n_out, k = W->n_in;
    const float beta = accumulate ? 1.0f : 0.0f;
    if (T == 0) return 0;
    if (W->bf16_products && (lmd_dtype_is_quant(W->dtype) || W->perm_head))
        return lmd_matmul_quant_bf16(X, lda, T, W, Y, ldy, accumulate); /* GGUF tiles */
    if (W->bf16_products && W->dtype == LMD_BF16)
        return matmul_bf16(X, lda, T, W, Y, ldy, accumulate);
    if (W->dtype != LMD_F32 || W->perm_head) return matmul_widened(X, lda, T, W, Y, ldy, beta);
    if (!W->in_major)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, n, k, 1.0f, X, (int)lda,
                    W->data, k, beta, Y, (int)ldy);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, n, k, 1.0f, X, (int)lda,
                    W->data, n, beta, Y, (int)ldy);
    return 0;
}

int lmd_matmul(const float *X, size_t T, const lmd_mat *W, float *Y, size_t ldy, int accumulate) {
    return lmd_matmul_lda(X, (size_t)W->n_in, T, W, Y, ldy, accumulate);
}

int lmd_mat_fusable(const lmd_mat *parts, int n) {
    for (int i = 0; i < n; i++) {
        const lmd_mat *p = &parts[i];
        if (!p->data || p->packed || !p->bf16_products || p->dtype != LMD_BF16 || p->in_major ||
            p->perm_head || p->n_in != parts[0].n_in)
            return 0;
    }
    return n > 0;
}

#define HUGE_PAGE ((size_t)2 << 20)

/* The whole pages inside [p, p + bytes) handed back to the kernel. */
static void release_pages(const void *p, size_t bytes) {
    const size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + pg - 1) / pg * pg, b = ((uintptr_t)p + bytes) / pg * pg;
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED); /* a hint: failure costs memory only */
}

int lmd_mat_join(const lmd_mat *parts, int n, lmd_mat *out) {
    const size_t row = (size_t)parts[0].n_in * 2;
    int r = 0;
    for (int i = 0; i < n; r += parts[i].n_out, i++)
        if ((const char *)parts[0].data + (size_t)r * row != (const char *)parts[i].data) return 0;
    *out = parts[0];
    out->n_out = r;
    return 1;
}

/* The parts stacked: a view when back to back (*tmp NULL), else a copy in
 * *tmp (2 MB-aligned); NULL when out of memory. */
static const void *stack(const lmd_mat *parts, int n, size_t rows, char **tmp) {
    const size_t row = (size_t)parts[0].n_in * 2;
    lmd_mat view;
    *tmp = NULL;
    if (lmd_mat_join(parts, n, &view)) return view.data;
    size_t bytes = (rows * row + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    if (posix_memalign((void **)tmp, HUGE_PAGE, bytes) != 0) return *tmp = NULL;
#ifdef MADV_HUGEPAGE
    madvise(*tmp, bytes, MADV_HUGEPAGE); /* a hint: fewer TLB misses streaming the weights */
#endif
    for (int i = 0, r = 0; i < n; r += parts[i].n_out, i++)
        memcpy(*tmp + (size_t)r * row, parts[i].data, (size_t)parts[i].n_out * row);
    return *tmp;
}

int lmd_mat_pack(const lmd_mat *parts, int n, int release, lmd_mat *out, void **owned) {
    lmd_mat m = parts[0];
    size_t rows = 0;
    for (int i = 0; i < n; i++)
        rows += (size_t)parts[i].n_out;
    char *tmp;
    struct lmd_packed *pk = NULL;
    *owned = NULL;
    const void *src = stack(parts, n, rows, &tmp);
    if (!src || lmd_dnnl_pack(src, (int)rows, m.n_in, &pk) < 0) {
        free(tmp);
        return -1;
    }
    m.n_out = (int)rows;
    m.data = src;
    if (pk) { /* the plain copy is not needed: the parts stay valid as they were */
        free(tmp);
        m.data = tmp ? NULL : src, m.packed = pk, *owned = pk;
    } else {
        *owned = tmp;
    }
    for (int i = 0; release && *owned && i < n; i++)
        release_pages(parts[i].data, (size_t)parts[i].n_out * (size_t)parts[i].n_in * 2);
    *out = m;
    return 0;
}

int lmd_bf16_native(void) {
    return lmd_dnnl_bf16_native() && lmd_dnnl_bf16_impl() != NULL;
}

int lmd_bf16_available(const char **impl) {
    const char *s = lmd_dnnl_bf16_impl();
    if (impl) *impl = s;
    return s != NULL;
}
