/* gpt2.c - GPT2LMHeadModel (GPT-2, DistilGPT-2 and their fine-tunes):
 * config, weights, and the forward pass over a batch of sequences.
 *
 * Layout of HF's Conv1D weights: [in, out], so y = x W + b is a plain
 * row-major sgemm.  All positions of all sequences share the dense layers
 * (one sgemm each); attention runs per sequence and head. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernels.h"
#include "model/model.h"

typedef struct gpt2_layer {
    const float *ln1_w, *ln1_b, *attn_b, *aproj_b;
    const float *ln2_w, *ln2_b, *fc_b, *mproj_b;
    lmd_mat attn_w, aproj_w, fc_w, mproj_w; /* Conv1D [in, out], stored dtype */
} gpt2_layer;

typedef struct gpt2 {
    int d, n_layer, n_head, head_dim, inner, vocab, n_pos;
    float eps;
    lmd_activation act;
    int scale_attn, scale_by_layer;
    const float *wpe, *lnf_w, *lnf_b;
    lmd_mat wte; /* [vocab x n_embd], stored dtype */
    gpt2_layer *layers;
} gpt2;

static int parse_activation(const char *s, lmd_activation *act) {
    static const struct {
        const char *name;
        lmd_activation act;
    } table[] = {
        {"gelu_new", LMD_ACT_GELU_TANH}, {"gelu_pytorch_tanh", LMD_ACT_GELU_TANH},
        {"gelu_fast", LMD_ACT_GELU_TANH}, {"gelu", LMD_ACT_GELU_ERF},
        {"relu", LMD_ACT_RELU},           {"silu", LMD_ACT_SILU},
        {"swish", LMD_ACT_SILU},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(s, table[i].name)) {
            *act = table[i].act;
            return 0;
        }
    return -1;
}

static void gpt2_free(void *p) {
    gpt2 *g = p;
    if (!g) return;
    free(g->layers);
    free(g);
}

int lmd_gpt2_load(lmd_model *m, const cJSON *cfg, const char *path, lmd_error *err) {
    long d, nl, nh, np, V, inner;
    double eps;
    int scale, by_layer, upcast, cross;
    if (lmd_cfg_int(cfg, "n_embd", 768, &d, path, err) < 0 ||
        lmd_cfg_int(cfg, "n_layer", 12, &nl, path, err) < 0 ||
        lmd_cfg_int(cfg, "n_head", 12, &nh, path, err) < 0 ||
        lmd_cfg_int(cfg, "n_positions", 1024, &np, path, err) < 0 ||
        lmd_cfg_int(cfg, "vocab_size", 50257, &V, path, err) < 0 ||
        lmd_cfg_int(cfg, "n_inner", 0, &inner, path, err) < 0 ||
        lmd_cfg_float(cfg, "layer_norm_epsilon", 1e-5, &eps, path, err) < 0 ||
        lmd_cfg_bool(cfg, "scale_attn_weights", 1, &scale, path, err) < 0 ||
        lmd_cfg_bool(cfg, "scale_attn_by_inverse_layer_idx", 0, &by_layer, path, err) < 0 ||
        lmd_cfg_bool(cfg, "reorder_and_upcast_attn", 0, &upcast, path, err) < 0 ||
        lmd_cfg_bool(cfg, "add_cross_attention", 0, &cross, path, err) < 0)
        return -1;
    if (inner == 0) inner = 4 * d;
    if (d <= 0 || nl <= 0 || nh <= 0 || np <= 1 || V <= 0 || inner <= 0 || d % nh != 0 ||
        d > 65536 || nl > 1024 || np > (1 << 20) || V > (1 << 24) || inner > (1 << 20))
        return lmd_fail(err,
                        "%s: implausible sizes (n_embd %ld, n_layer %ld, n_head %ld, "
                        "n_positions %ld, vocab_size %ld, n_inner %ld; n_embd must be a multiple "
                        "of n_head)",
                        path, d, nl, nh, np, V, inner);
    if (!(eps > 0 && eps < 1)) return lmd_fail(err, "%s: layer_norm_epsilon %g is not in (0, 1)", path, eps);
    if (cross) return lmd_fail(err, "%s: add_cross_attention (an encoder-decoder GPT-2) is not supported", path);
    /* reorder_and_upcast_attn computes attention in fp32 in HF; ours always is. */
    (void)upcast;
    const char *act_name = lmd_cfg_str(cfg, "activation_function");
    gpt2 *g = calloc(1, sizeof *g);
    if (!g) return lmd_fail(err, "out of memory");
    m->arch = g;
    if (parse_activation(act_name ? act_name : "gelu_new", &g->act) < 0)
        return lmd_fail(err, "%s: activation_function \"%s\" is not supported (gelu_new, "
                             "gelu_pytorch_tanh, gelu_fast, gelu, relu, silu, swish are)",
                        path, act_name);
    g->d = (int)d;
    g->n_layer = (int)nl;
    g->n_head = (int)nh;
    g->head_dim = (int)(d / nh);
    g->inner = (int)inner;
    g->vocab = (int)V;
    g->n_pos = (int)np;
    g->eps = (float)eps;
    g->scale_attn = scale;
    g->scale_by_layer = by_layer;
    g->layers = calloc((size_t)nl, sizeof *g->layers);
    if (!g->layers) return lmd_fail(err, "out of memory");

    const char *P = "transformer.";
    int64_t s_wte[] = {V, d}, s_wpe[] = {np, d}, s_d[] = {d};
    if (lmd_weight_mat(m, P, "wte.weight", s_wte, 0, 0, &g->wte, err) < 0 ||
        lmd_weight(m, P, "wpe.weight", 2, s_wpe, &g->wpe, err) < 0 ||
        lmd_weight(m, P, "ln_f.weight", 1, s_d, &g->lnf_w, err) < 0 ||
        lmd_weight(m, P, "ln_f.bias", 1, s_d, &g->lnf_b, err) < 0)
        return -1;
    for (int l = 0; l < nl; l++) {
        gpt2_layer *L = &g->layers[l];
        char n[128];
        int64_t s_attn[] = {d, 3 * d}, s_3d[] = {3 * d}, s_dd[] = {d, d};
        int64_t s_fc[] = {d, inner}, s_in[] = {inner}, s_proj[] = {inner, d};
        struct {
            const char *suffix;
            const int64_t *dims;
            const float **dst;
        } w[] = {
            {"ln_1.weight", s_d, &L->ln1_w},       {"ln_1.bias", s_d, &L->ln1_b},
            {"attn.c_attn.bias", s_3d, &L->attn_b}, {"attn.c_proj.bias", s_d, &L->aproj_b},
            {"ln_2.weight", s_d, &L->ln2_w},       {"ln_2.bias", s_d, &L->ln2_b},
            {"mlp.c_fc.bias", s_in, &L->fc_b},     {"mlp.c_proj.bias", s_d, &L->mproj_b},
        };
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
            snprintf(n, sizeof n, "h.%d.%s", l, w[i].suffix);
            if (lmd_weight(m, P, n, 1, w[i].dims, w[i].dst, err) < 0) return -1;
        }
        struct {
            const char *suffix;
            const int64_t *dims;
            lmd_mat *dst;
        } mw[] = {
            {"attn.c_attn.weight", s_attn, &L->attn_w},
            {"attn.c_proj.weight", s_dd, &L->aproj_w},
            {"mlp.c_fc.weight", s_fc, &L->fc_w},
            {"mlp.c_proj.weight", s_proj, &L->mproj_w},
        };
        for (size_t i = 0; i < sizeof mw / sizeof mw[0]; i++) {
            snprintf(n, sizeof n, "h.%d.%s", l, mw[i].suffix);
            if (lmd_weight_mat(m, P, n, mw[i].dims, 1, 0, mw[i].dst, err) < 0) return -1;
        }
    }
    /* the head: tied to wte unless tie_word_embeddings is false (as HF does:
     * a stored lm_head.weight is then overwritten by the tie) */
    int tie;
    if (lmd_cfg_bool(cfg, "tie_word_embeddings", 1, &tie, path, err) < 0) return -1;
    lmd_mat head;
    if (lmd_weight_mat(m, "", "lm_head.weight", s_wte, 0, tie, &head, err) < 0)
        return -1; /* untied and missing, or present but misshapen */
    int own_head = !tie && head.data;
    m->lm_head = own_head ? head : g->wte;
    m->lm_bias = NULL;

    lmd_model_info *info = &m->info;
    info->arch = "GPT2LMHeadModel";
    info->vocab_size = (int32_t)V;
    info->n_ctx = (int32_t)np;
    info->n_layer = (int32_t)nl;
    info->n_embd = (int32_t)d;
    info->n_head = (int32_t)nh;
    info->n_inner = (int32_t)inner;
    int64_t per_layer = 4 * d * d + 2 * d * inner; /* c_attn, c_proj, c_fc, mlp.c_proj */
    info->n_params = nl * (per_layer + 9 * d + 2 * inner) + V * d + np * d + 2 * d +
                  (own_head ? V * d : 0);
    info->flops_per_token = 2.0 * ((double)nl * (double)per_layer + (double)V * (double)d);
    return 0;
}

static void layernorm_rows(const float *x, float *y, size_t rows, int d, const float *w,
                           const float *b, float eps) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++)
        lmd_layernorm_row(x + r * (size_t)d, y + r * (size_t)d, d, w, b, eps);
}

static void activate_rows(float *x, size_t rows, size_t cols, lmd_activation act) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++) lmd_activate(x + r * cols, cols, act);
}

/* out[T x n] (+)= in[T x k] W[k x n] + b */
static int linear(const float *in, const lmd_mat *W, const float *b, float *out, size_t T,
                  int accumulate) {
    if (lmd_matmul(in, T, W, out, (size_t)W->n_out, accumulate) < 0) return -1;
    lmd_add_bias(out, T, (size_t)W->n_out, b);
    return 0;
}

static int gpt2_forward(const lmd_model *m, const lmd_seq *seqs, int n_seqs, float *hidden,
                        lmd_error *err) {
    const gpt2 *g = m->arch;
    const int d = g->d, H = g->n_head, hd = g->head_dim;
    size_t T = 0;
    int Lmax = 0;
    for (int s = 0; s < n_seqs; s++) {
        if (seqs[s].len > g->n_pos)
            return lmd_fail(err, "%s: a sequence of %d tokens exceeds the context of %d", m->dir,
                            seqs[s].len, g->n_pos);
        T += (size_t)seqs[s].len;
        if (seqs[s].len > Lmax) Lmax = seqs[s].len;
    }
    if (T == 0) return 0;
    size_t *off = malloc((size_t)n_seqs * sizeof *off);
    float *x = malloc(T * (size_t)d * sizeof *x);
    float *h = malloc(T * (size_t)d * sizeof *h);
    float *qkv = malloc(T * 3 * (size_t)d * sizeof *qkv);
    float *f = malloc(T * (size_t)g->inner * sizeof *f);
    int nthreads = omp_get_max_threads();
    float *scores = malloc((size_t)nthreads * (size_t)Lmax * (size_t)Lmax * sizeof *scores);
    if (!off || !x || !h || !qkv || !f || !scores) {
        free(off), free(x), free(h), free(qkv), free(f), free(scores);
        return lmd_fail(err, "out of memory for a batch of %zu tokens", T);
    }
    size_t o = 0;
    for (int s = 0; s < n_seqs; s++) {
        off[s] = o;
        for (int p = 0; p < seqs[s].len; p++, o++) {
            const float *pe = g->wpe + (size_t)p * d;
            float *row = x + o * d;
            lmd_mat_row(&g->wte, seqs[s].tokens[p], row);
            for (int i = 0; i < d; i++) row[i] += pe[i];
        }
    }
    for (int l = 0; l < g->n_layer; l++) {
        const gpt2_layer *L = &g->layers[l];
        layernorm_rows(x, h, T, d, L->ln1_w, L->ln1_b, g->eps);
        if (linear(h, &L->attn_w, L->attn_b, qkv, T, 0) < 0) goto oom;
        float scale = g->scale_attn ? 1.0f / sqrtf((float)hd) : 1.0f;
        if (g->scale_by_layer) scale /= (float)(l + 1);
        /* attention output goes to h (free again after the qkv projection) */
#pragma omp parallel for schedule(dynamic) collapse(2)
        for (int s = 0; s < n_seqs; s++)
            for (int j = 0; j < H; j++) {
                int Ls = seqs[s].len;
                if (Ls == 0) continue;
                float *S = scores + (size_t)omp_get_thread_num() * Lmax * Lmax;
                const float *Q = qkv + off[s] * 3 * d + (size_t)j * hd;
                const float *K = Q + d, *V = Q + 2 * d;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Ls, Ls, hd, scale, Q, 3 * d,
                            K, 3 * d, 0.0f, S, Ls);
                for (int i = 0; i < Ls; i++) {
                    float *row = S + (size_t)i * Ls;
                    lmd_softmax_row(row, i + 1);
                    memset(row + i + 1, 0, (size_t)(Ls - i - 1) * sizeof *row);
                }
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Ls, hd, Ls, 1.0f, S, Ls, V,
                            3 * d, 0.0f, h + off[s] * d + (size_t)j * hd, d);
            }
        if (linear(h, &L->aproj_w, L->aproj_b, x, T, 1) < 0) goto oom;
        layernorm_rows(x, h, T, d, L->ln2_w, L->ln2_b, g->eps);
        if (linear(h, &L->fc_w, L->fc_b, f, T, 0) < 0) goto oom;
        activate_rows(f, T, (size_t)g->inner, g->act);
        if (linear(f, &L->mproj_w, L->mproj_b, x, T, 1) < 0) goto oom;
    }
    layernorm_rows(x, hidden, T, d, g->lnf_w, g->lnf_b, g->eps);
    free(off), free(x), free(h), free(qkv), free(f), free(scores);
    return 0;
oom:
    free(off), free(x), free(h), free(qkv), free(f), free(scores);
    return lmd_fail(err, "out of memory for a batch of %zu tokens", T);
}

const lmd_arch_ops lmd_gpt2_ops = {"gpt2", gpt2_forward, gpt2_free};
