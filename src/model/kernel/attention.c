/* attention.c - see attention.h. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif
#include "model/kernel/attention.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernel/scratch.h"
#include "model/kernels.h"

#define QBLOCK 64 /* query rows per attention task */
/* less work than this (multiply-adds) runs on one thread */
#define PAR_MIN_WORK 32768

static int rope_num(const cJSON *o, const char *key, double *out, const char *path,
                    lmd_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        return lmd_fail(err, "%s: \"rope_scaling\" needs a number \"%s\"", path, key);
    *out = v->valuedouble;
    return 0;
}

/* rope_scaling[key]: an array of n positive numbers into f. */
static int factors(const cJSON *sc, const char *key, int n, double *f, const char *path,
                   lmd_error *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(sc, key);
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != n)
        return lmd_fail(err, "%s: rope_scaling longrope needs \"%s\": %d numbers", path, key, n);
    for (int i = 0; i < n; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0))
            return lmd_fail(err, "%s: rope_scaling %s[%d] must be a positive number", path, key, i);
        if (f) f[i] = v->valuedouble;
    }
    return 0;
}

/* "rope_freqs" (lmdiff's name for a GGUF's rope_freqs.weight, llama.cpp's
 * form of Llama 3.1 scaling): inv_freq[i] /= rope_freqs[i], as ggml_rope_ext
 * divides by its freq_factors. */
static int freq_factors(lmd_rope *r, const cJSON *cfg, const char *path, lmd_error *err) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(cfg, "rope_freqs");
    const int half = r->rot_dim / 2;
    if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != half)
        return lmd_fail(err, "%s: \"rope_freqs\" must be %d numbers", path, half);
    for (int i = 0; i < half; i++) {
        const cJSON *v = cJSON_GetArrayItem(a, i);
        if (!cJSON_IsNumber(v) || !(v->valuedouble > 0) || !isfinite(v->valuedouble))
            return lmd_fail(err, "%s: rope_freqs[%d] must be a positive number", path, i);
        r->inv_freq[i] /= v->valuedouble;
    }
    return 0;
}

/* HF's _compute_longrope_parameters: inv_freq[i] = 1 / (f[i] theta^(2i/rot))
 * with the short factors f for forwards up to original_max_position
 * positions and the long ones beyond (Phi3LongRoPEScaledRotaryEmbedding /
 * longrope_frequency_update); cos/sin scaled by attention_factor (by default
 * sqrt(1 + ln(factor) / ln(original)), factor = max_position /
 * original_max_position when the config has the latter). */
static int longrope(lmd_rope *r, const cJSON *cfg, const cJSON *sc, const char *path, double theta,
                    lmd_error *err) {
    const int half = r->rot_dim / 2;
    double *f = malloc((size_t)(half ? half : 1) * sizeof *f);
    r->inv_freq_long = malloc((size_t)(half ? half : 1) * sizeof *r->inv_freq_long);
    long np, orig;
    double factor, af;
    int rc = -1;
    if (!f || !r->inv_freq_long) {
        free(f);
        return lmd_fail(err, "out of memory");
    }
    if (factors(sc, "short_factor", half, r->inv_freq, path, err) < 0 ||
        factors(sc, "long_factor", half, f, path, err) < 0 ||
        lmd_cfg_int(cfg, "max_position_embeddings", 4096, &np, path, err) < 0 ||
        lmd_cfg_int(cfg, "original_max_position_embeddings", 0, &orig, path, err) < 0 ||
        lmd_cfg_float(sc, "factor", 1.0, &factor, path, err) < 0 ||
        lmd_cfg_float(sc, "attention_factor", -1.0, &af, path, err) < 0)
        goto done;
    if (orig > 0)
        factor = (double)np / (double)orig;
    else
        orig = np;
    if (orig < 2 || !(factor > 0)) {
        lmd_fail(err,
                 "%s: rope_scaling longrope needs original_max_position_embeddings >= 2 "
                 "and a positive factor",
                 path);
        goto done;
    }
    if (af < 0) af = factor <= 1 ? 1.0 : sqrt(1 + log(factor) / log((double)orig));
    for (int i = 0; i < half; i++) {
        double base = pow(theta, (double)(2 * i) / r->rot_dim);
        r->inv_freq[i] = 1.0 / (r->inv_freq[i] * base); /* held the short factors */
        r->inv_freq_long[i] = 1.0 / (f[i] * base);
    }
    r->mscale = af;
    r->long_after = orig;
    rc = 0;
done:
    free(f);
    return rc;
}

int lmd_rope_init(lmd_rope *r, const cJSON *cfg, const char *path, int head_dim, int rot_dim,
                  double theta, int longrope_ok, lmd_error *err) {
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
    r->mscale = 1.0;
    r->inv_freq = malloc((size_t)(half ? half : 1) * sizeof *r->inv_freq);
    if (!r->inv_freq) return lmd_fail(err, "out of memory");
    for (int i = 0; i < half; i++)
        r->inv_freq[i] = 1.0 / pow(theta, (double)(2 * i) / rot_dim);
    if (cJSON_GetObjectItemCaseSensitive(cfg, "rope_freqs")) {
        if (strcmp(type, "default") && strcmp(type, "linear"))
            return lmd_fail(err, "%s: \"rope_freqs\" and rope_scaling %s together", path, type);
        if (freq_factors(r, cfg, path, err) < 0) return -1;
    }
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
    if (longrope_ok && !strcmp(type, "longrope")) return longrope(r, cfg, sc, path, theta, err);
    return lmd_fail(err, "%s: rope_scaling type \"%s\" is not supported (linear and llama3 are%s)",
                    path, type, longrope_ok ? ", and longrope" : "");
}

void lmd_rope_free(lmd_rope *r) {
    free(r->inv_freq);
    free(r->inv_freq_long);
    r->inv_freq = r->inv_freq_long = NULL;
}

int lmd_rope_use_long(const lmd_rope *r, int len) {
    return r->inv_freq_long && len > r->long_after;
}

void lmd_rope_cos_sin(const lmd_rope *r, const double *inv, int L, float *cs) {
    const int half = r->rot_dim / 2;
#pragma omp parallel for schedule(static)
    for (int p = 0; p < L; p++)
        for (int i = 0; i < half; i++) {
            double a = (double)p * inv[i];
            cs[((size_t)p * half + i) * 2] = (float)(cos(a) * r->mscale);
            cs[((size_t)p * half + i) * 2 + 1] = (float)(sin(a) * r->mscale);
        }
}

int lmd_rope_apply(const lmd_rope *r, const lmd_seq *seqs, int n_seqs, float *x, size_t ld,
                   int n_heads, size_t head_stride) {
    const int half = r->rot_dim / 2;
    if (half == 0) return 0;
    int Lmax[2] = {0, 0}; /* the longest sequence rotated with the short / long frequencies */
    for (int s = 0; s < n_seqs; s++) {
        int l = lmd_rope_use_long(r, seqs[s].len);
        if (seqs[s].len > Lmax[l]) Lmax[l] = seqs[s].len;
    }
    size_t n0 = (size_t)Lmax[0] * (size_t)half * 2;
    float *cs = malloc((n0 + (size_t)Lmax[1] * (size_t)half * 2 + 1) * sizeof *cs);
    size_t *off = malloc((size_t)(n_seqs + 1) * sizeof *off);
    if (!cs || !off) {
        free(cs), free(off);
        return -1;
    }
    lmd_rope_cos_sin(r, r->inv_freq, Lmax[0], cs);
    if (Lmax[1]) lmd_rope_cos_sin(r, r->inv_freq_long, Lmax[1], cs + n0);
    off[0] = 0;
    for (int s = 0; s < n_seqs; s++)
        off[s + 1] = off[s] + (size_t)seqs[s].len;
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n_seqs; s++)
        for (int p = 0; p < seqs[s].len; p++) {
            float *row = x + (off[s] + (size_t)p) * ld;
            const float *c =
                cs + (lmd_rope_use_long(r, seqs[s].len) ? n0 : 0) + (size_t)p * half * 2;
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

/* The query blocks: sequence, first and end query position, first q/out
 * row, first key row of the sequence. */
typedef struct qblock {
    int s, i0, i1;
    size_t qrow, krow;
} qblock;

static qblock *make_blocks(const lmd_seq *seqs, int n_seqs, const int *sel, size_t *n) {
    size_t nb = 0;
    for (int s = 0; s < n_seqs; s++)
        nb += sel ? 1 : ((size_t)seqs[s].len + QBLOCK - 1) / QBLOCK;
    *n = nb;
    qblock *b = malloc((nb ? nb : 1) * sizeof *b);
    if (!b) return NULL;
    size_t i = 0, o = 0;
    for (int s = 0; s < n_seqs; s++) {
        if (sel) {
            b[i++] = (qblock){s, sel[s], sel[s] + 1, (size_t)s, o};
        } else {
            for (int i0 = 0; i0 < seqs[s].len; i0 += QBLOCK) {
                int i1 = i0 + QBLOCK < seqs[s].len ? i0 + QBLOCK : seqs[s].len;
                b[i++] = (qblock){s, i0, i1, o + (size_t)i0, o};
            }
        }
        o += (size_t)seqs[s].len;
    }
    return b;
}

/* One block and head: scores of the block's queries against keys k0..k1-1
 * in S (row stride k1 - k0), masked, soft-maxed, times V. */
static void attend(const lmd_attn *a, const qblock *b, int L, int j, float *S) {
    const int g = j / (a->H / a->KV), rows = b->i1 - b->i0;
    int k1 = a->causal ? b->i1 : L;
    int k0 = a->causal && a->window > 0 && b->i0 - a->window + 1 > 0 ? b->i0 - a->window + 1 : 0;
    const int n = k1 - k0;
    const float *Q = a->q + b->qrow * a->q_ld + (size_t)j * a->q_hs;
    const float *K = a->k + (b->krow + (size_t)k0) * a->kv_ld + (size_t)g * a->k_hs;
    const float *V = a->v + (b->krow + (size_t)k0) * a->kv_ld + (size_t)g * a->v_hs;
    float *O = a->out + b->qrow * a->out_ld + (size_t)j * a->D;
    if (rows == 1) /* one query (a masked LM's selected row): products with vectors */
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, a->D, a->scale, K, (int)a->kv_ld, Q, 1, 0.0f, S,
                    1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, a->D, a->scale, Q,
                    (int)a->q_ld, K, (int)a->kv_ld, 0.0f, S, n);
    for (int r = 0; r < rows; r++) {
        float *row = S + (size_t)r * n;
        int i = b->i0 + r;
        int lo = a->causal && a->window > 0 && i - a->window + 1 > k0 ? i - a->window + 1 - k0 : 0;
        int hi = a->causal ? i + 1 - k0 : n; /* visible: lo..hi-1 */
        if (a->softcap > 0) lmd_softcap(row + lo, (size_t)(hi - lo), a->softcap);
        memset(row, 0, (size_t)lo * sizeof *row);
        lmd_softmax_row(row + lo, hi - lo);
        memset(row + hi, 0, (size_t)(n - hi) * sizeof *row);
    }
    if (rows == 1)
        cblas_sgemv(CblasRowMajor, CblasTrans, n, a->D, 1.0f, V, (int)a->kv_ld, S, 1, 0.0f, O, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, a->D, n, 1.0f, S, n, V,
                    (int)a->kv_ld, 0.0f, O, (int)a->out_ld);
}

int lmd_attention(const lmd_seq *seqs, int n_seqs, const lmd_attn *a) {
    int Lmax = 0;
    size_t work = 0;
    for (int s = 0; s < n_seqs; s++) {
        if (seqs[s].len > Lmax) Lmax = seqs[s].len;
        work += (size_t)seqs[s].len * (size_t)(a->sel ? 1 : seqs[s].len);
    }
    size_t nblk;
    qblock *blk = make_blocks(seqs, n_seqs, a->sel, &nblk);
    const int nth = omp_get_max_threads();
    float *scratch = lmd_scratch(LMD_SCR_ATTN, (size_t)nth * QBLOCK * (size_t)(Lmax ? Lmax : 1) *
                                                   sizeof *scratch);
    if (!blk || !scratch) {
        free(blk);
        return -1;
    }
    const size_t ntask = nblk * (size_t)a->H;
    work *= (size_t)a->H * (size_t)a->D;
#pragma omp parallel for schedule(dynamic, 1) if (work >= PAR_MIN_WORK)
    for (size_t t = 0; t < ntask; t++) {
        const qblock *b = &blk[t / (size_t)a->H];
        float *S = scratch + (size_t)omp_get_thread_num() * QBLOCK * (size_t)Lmax;
        attend(a, b, seqs[b->s].len, (int)(t % (size_t)a->H), S);
    }
    free(blk);
    return 0;
}
