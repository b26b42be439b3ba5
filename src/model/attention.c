/* attention.c - see attention.h. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include "model/attention.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernels.h"

#define QBLOCK 64 /* query rows per attention task */

static int rope_num(const cJSON *o, const char *key, double *out, const char *path,
                    lmd_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return lmd_fail(err, "%s: \"rope_scaling\" needs a number \"%s\"", path, key);
    *out = v->valuedouble;
    return 0;
}

int lmd_rope_init(lmd_rope *r, const cJSON *cfg, const char *path, int head_dim, int rot_dim,
                  double theta, lmd_error *err) {
    memset(r, 0, sizeof *r);
    if (rot_dim < 0 || rot_dim > head_dim || rot_dim % 2)
        return lmd_fail(err,
                        "%s: %d rotary dimensions of a head of %d (must be even and at most "
                        "the head size)",
                        path, rot_dim, head_dim);
    if (!(theta > 0) || !isfinite(theta))
        return lmd_fail(err, "%s: rotary base (rope_theta / rotary_emb_base) %g must be positive",
                        path, theta);
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
    const char *type = "default";
    if (sc && !cJSON_IsNull(sc)) {
        if (!cJSON_IsObject(sc))
            return lmd_fail(err, "%s: \"rope_scaling\" must be an object or null", path);
        const char *t = lmd_cfg_str(sc, "rope_type");
        if (!t) t = lmd_cfg_str(sc, "type");
        if (!t)
            return lmd_fail(err, "%s: \"rope_scaling\" has no \"rope_type\" (or \"type\")", path);
        type = t;
    }
    int half = rot_dim / 2;
    r->rot_dim = rot_dim;
    r->inv_freq = malloc((size_t)(half ? half : 1) * sizeof *r->inv_freq);
    if (!r->inv_freq) return lmd_fail(err, "out of memory");
    for (int i = 0; i < half; i++)
        r->inv_freq[i] = 1.0 / pow(theta, (double)(2 * i) / rot_dim);
    if (!strcmp(type, "default")) return 0;
    double factor = 1;
    if (!strcmp(type, "linear")) {
        if (rope_num(sc, "factor", &factor, path, err) < 0) return -1;
        if (!(factor > 0))
            return lmd_fail(err, "%s: rope_scaling factor %g must be positive", path, factor);
        for (int i = 0; i < half; i++)
            r->inv_freq[i] /= factor;
        return 0;
    }
    if (!strcmp(type, "llama3")) {
        double lo = 0, hi = 0, old = 0;
        if (rope_num(sc, "factor", &factor, path, err) < 0 ||
            rope_num(sc, "low_freq_factor", &lo, path, err) < 0 ||
            rope_num(sc, "high_freq_factor", &hi, path, err) < 0 ||
            rope_num(sc, "original_max_position_embeddings", &old, path, err) < 0)
            return -1;
        if (!(factor > 0) || !(lo > 0) || !(hi > lo) || !(old > 0))
            return lmd_fail(err,
                            "%s: rope_scaling llama3 needs factor > 0, 0 < low_freq_factor < "
                            "high_freq_factor and original_max_position_embeddings > 0",
                            path);
        double lo_wl = old / lo, hi_wl = old / hi;
        for (int i = 0; i < half; i++) {
            double f = r->inv_freq[i], wl = 2.0 * M_PI / f;
            if (wl < hi_wl) continue; /* high frequency: kept */
            if (wl > lo_wl)
                r->inv_freq[i] = f / factor; /* low frequency: scaled */
            else {                           /* in between: blended */
                double s = (old / wl - lo) / (hi - lo);
                r->inv_freq[i] = (1.0 - s) * f / factor + s * f;
            }
        }
        return 0;
    }
    return lmd_fail(err, "%s: rope_scaling type \"%s\" is not supported (linear and llama3 are)",
                    path, type);
}

void lmd_rope_free(lmd_rope *r) {
    free(r->inv_freq);
    r->inv_freq = NULL;
}

int lmd_rope_apply(const lmd_rope *r, const lmd_seq *seqs, int n_seqs, float *x, size_t ld,
                   int n_heads, size_t head_stride) {
    const int half = r->rot_dim / 2;
    if (half == 0) return 0;
    int Lmax = 0;
    for (int s = 0; s < n_seqs; s++)
        if (seqs[s].len > Lmax) Lmax = seqs[s].len;
    /* cos/sin of every position's angles, computed in double */
    float *cs = malloc((size_t)Lmax * (size_t)half * 2 * sizeof *cs);
    size_t *off = malloc((size_t)(n_seqs + 1) * sizeof *off);
    if (!cs || !off) {
        free(cs), free(off);
        return -1;
    }
#pragma omp parallel for schedule(static)
    for (int p = 0; p < Lmax; p++)
        for (int i = 0; i < half; i++) {
            double a = (double)p * r->inv_freq[i];
            cs[((size_t)p * half + i) * 2] = (float)cos(a);
            cs[((size_t)p * half + i) * 2 + 1] = (float)sin(a);
        }
    off[0] = 0;
    for (int s = 0; s < n_seqs; s++)
        off[s + 1] = off[s] + (size_t)seqs[s].len;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n_seqs; s++)
        for (int p = 0; p < seqs[s].len; p++) {
            float *row = x + (off[s] + (size_t)p) * ld;
            const float *c = cs + (size_t)p * half * 2;
            for (int j = 0; j < n_heads; j++) {
                float *h = row + (size_t)j * head_stride;
                for (int i = 0; i < half; i++) {
                    float a = h[i], b = h[i + half];
                    h[i] = a * c[2 * i] - b * c[2 * i + 1];
                    h[i + half] = b * c[2 * i] + a * c[2 * i + 1];
                }
            }
        }
    free(cs), free(off);
    return 0;
}

void lmd_rmsnorm_rows(const float *x, float *y, size_t rows, int d, const float *w, float eps) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++)
        lmd_rmsnorm_row(x + r * (size_t)d, y + r * (size_t)d, d, w, eps);
}

int lmd_attention(const lmd_seq *seqs, int n_seqs, int H, int KV, int D, float scale,
                  const float *q, size_t qs, const float *k, size_t ks, const float *v, size_t vs,
                  size_t ld, float *out, size_t ldo) {
    /* tasks: (sequence, block of QBLOCK query rows) x head */
    int Lmax = 0;
    size_t nblk = 0;
    for (int s = 0; s < n_seqs; s++) {
        if (seqs[s].len > Lmax) Lmax = seqs[s].len;
        nblk += ((size_t)seqs[s].len + QBLOCK - 1) / QBLOCK;
    }
    if (nblk == 0) return 0;
    const int nth = omp_get_max_threads();
    size_t *bs = malloc(nblk * sizeof *bs), *bi = malloc(nblk * sizeof *bi),
           *boff = malloc(nblk * sizeof *boff);
    float *scratch = malloc((size_t)nth * QBLOCK * (size_t)Lmax * sizeof *scratch);
    if (!bs || !bi || !boff || !scratch) {
        free(bs), free(bi), free(boff), free(scratch);
        return -1;
    }
    size_t b = 0, o = 0;
    for (int s = 0; s < n_seqs; s++) {
        for (int i0 = 0; i0 < seqs[s].len; i0 += QBLOCK, b++) {
            bs[b] = (size_t)s;
            bi[b] = (size_t)i0;
            boff[b] = o;
        }
        o += (size_t)seqs[s].len;
    }
    const int group = H / KV;
    const size_t ntask = nblk * (size_t)H;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t t = 0; t < ntask; t++) {
        size_t blk = t / (size_t)H;
        int j = (int)(t % (size_t)H), g = j / group;
        int L = seqs[bs[blk]].len, i0 = (int)bi[blk];
        int i1 = i0 + QBLOCK < L ? i0 + QBLOCK : L, rows = i1 - i0;
        size_t r0 = boff[blk]; /* the sequence's first row */
        float *S = scratch + (size_t)omp_get_thread_num() * QBLOCK * (size_t)Lmax;
        const float *Q = q + (r0 + (size_t)i0) * ld + (size_t)j * qs;
        const float *K = k + r0 * ld + (size_t)g * ks;
        const float *V = v + r0 * ld + (size_t)g * vs;
        /* scores of rows i0..i1-1 against keys 0..i1-1 (row stride i1) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, i1, D, scale, Q, (int)ld, K,
                    (int)ld, 0.0f, S, i1);
        for (int r = 0; r < rows; r++) {
            float *row = S + (size_t)r * i1;
            int n = i0 + r + 1;
            lmd_softmax_row(row, n);
            memset(row + n, 0, (size_t)(i1 - n) * sizeof *row);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, D, i1, 1.0f, S, i1, V, (int)ld,
                    0.0f, out + (r0 + (size_t)i0) * ldo + (size_t)j * D, (int)ldo);
    }
    free(bs), free(bi), free(boff), free(scratch);
    return 0;
}
