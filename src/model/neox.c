/* neox.c - GPTNeoXForCausalLM (the Pythia suite, GPT-NeoX-20B).
 *
 * Per layer, with a = attn(LN1(x)) and f = mlp(LN2(.)):
 *   use_parallel_residual: x' = x + a + mlp(LN2(x))
 *   else:                  h = x + a; x' = h + mlp(LN2(h))
 * The fused query_key_value projection's output is laid out per head:
 * [heads x (q, k, v) x head_size].  RoPE covers the first
 * rotary_pct x head_size dimensions of each head (rotate-half layout), base
 * rotary_emb_base.  The head (embed_out) is separate unless
 * tie_word_embeddings. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/attention.h"
#include "model/kernels.h"
#include "model/model.h"

#define MLP_ROWS 1024

typedef struct neox_layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b, *qkv_b, *dense_b, *up_b, *down_b;
    lmd_mat qkv, dense, up, down;
} neox_layer;

typedef struct neox {
    int d, n_layer, H, D, inner, vocab, n_pos, parallel;
    float eps;
    lmd_activation act;
    lmd_rope rope;
    lmd_mat embed;
    const float *lnf_w, *lnf_b;
    neox_layer *layers;
} neox;

static void neox_free(void *p) {
    neox *g = p;
    if (!g) return;
    lmd_rope_free(&g->rope);
    free(g->layers);
    free(g);
}

int lmd_neox_load(lmd_model *m, const cJSON *cfg, const char *path, lmd_error *err) {
    long d, nl, H, I, V, np;
    double eps, pct, base;
    int parallel, tie, bias;
    if (lmd_cfg_int(cfg, "hidden_size", 6144, &d, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_hidden_layers", 44, &nl, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_attention_heads", 64, &H, path, err) < 0 ||
        lmd_cfg_int(cfg, "intermediate_size", 24576, &I, path, err) < 0 ||
        lmd_cfg_int(cfg, "vocab_size", 50432, &V, path, err) < 0 ||
        lmd_cfg_int(cfg, "max_position_embeddings", 2048, &np, path, err) < 0 ||
        lmd_cfg_float(cfg, "layer_norm_eps", 1e-5, &eps, path, err) < 0 ||
        lmd_cfg_float(cfg, "rotary_pct", 0.25, &pct, path, err) < 0 ||
        lmd_cfg_float(cfg, "rotary_emb_base", 10000.0, &base, path, err) < 0 ||
        lmd_cfg_bool(cfg, "use_parallel_residual", 1, &parallel, path, err) < 0 ||
        lmd_cfg_bool(cfg, "tie_word_embeddings", 0, &tie, path, err) < 0 ||
        lmd_cfg_bool(cfg, "attention_bias", 1, &bias, path, err) < 0)
        return -1;
    /* newer configs may name them partial_rotary_factor and rope_theta */
    if (!cJSON_GetObjectItemCaseSensitive(cfg, "rotary_pct") &&
        lmd_cfg_float(cfg, "partial_rotary_factor", 0.25, &pct, path, err) < 0)
        return -1;
    if (!cJSON_GetObjectItemCaseSensitive(cfg, "rotary_emb_base") &&
        lmd_cfg_float(cfg, "rope_theta", 10000.0, &base, path, err) < 0)
        return -1;
    if (d <= 0 || nl <= 0 || H <= 0 || I <= 0 || V <= 0 || np <= 1 || d % H != 0 || d > 65536 ||
        nl > 1024 || I > (1 << 20) || V > (1 << 24) || np > (1 << 24))
        return lmd_fail(err,
                        "%s: implausible sizes (hidden_size %ld, num_hidden_layers %ld, "
                        "num_attention_heads %ld, intermediate_size %ld, vocab_size %ld, "
                        "max_position_embeddings %ld; hidden_size must be a multiple of "
                        "num_attention_heads)",
                        path, d, nl, H, I, V, np);
    if (!(eps > 0 && eps < 1))
        return lmd_fail(err, "%s: layer_norm_eps %g is not in (0, 1)", path, eps);
    if (!(pct >= 0 && pct <= 1))
        return lmd_fail(err, "%s: rotary_pct %g is not in [0, 1]", path, pct);
    const char *act_name = lmd_cfg_str(cfg, "hidden_act");
    if (!act_name) act_name = "gelu";
    lmd_activation act;
    if (!strcmp(act_name, "gelu"))
        act = LMD_ACT_GELU_ERF;
    else if (!strcmp(act_name, "gelu_new") || !strcmp(act_name, "gelu_pytorch_tanh"))
        act = LMD_ACT_GELU_TANH;
    else if (!strcmp(act_name, "relu"))
        act = LMD_ACT_RELU;
    else if (!strcmp(act_name, "silu") || !strcmp(act_name, "swish"))
        act = LMD_ACT_SILU;
    else
        return lmd_fail(err,
                        "%s: \"hidden_act\" \"%s\" is not supported (gelu, gelu_new, "
                        "gelu_pytorch_tanh, relu, silu are)",
                        path, act_name);
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(cfg, "sliding_window");
    if (sw && !cJSON_IsNull(sw))
        return lmd_fail(err, "%s: \"sliding_window\" is not supported for GPT-NeoX", path);

    neox *g = calloc(1, sizeof *g);
    if (!g) return lmd_fail(err, "out of memory");
    m->arch = g;
    g->d = (int)d, g->n_layer = (int)nl, g->H = (int)H, g->D = (int)(d / H);
    g->inner = (int)I, g->vocab = (int)V, g->n_pos = (int)np, g->parallel = parallel;
    g->eps = (float)eps, g->act = act;
    /* HF: rotary_ndims = int(head_size * rotary_pct) */
    int rot = (int)((double)g->D * pct);
    if (lmd_rope_init(&g->rope, cfg, path, g->D, rot, base, err) < 0) return -1;
    g->layers = calloc((size_t)nl, sizeof *g->layers);
    if (!g->layers) return lmd_fail(err, "out of memory");

    const char *P = "gpt_neox.";
    int64_t s_emb[] = {V, d}, s_d[] = {d};
    if (lmd_weight_mat(m, P, "embed_in.weight", s_emb, 0, 0, &g->embed, err) < 0 ||
        lmd_weight(m, P, "final_layer_norm.weight", 1, s_d, &g->lnf_w, err) < 0 ||
        lmd_weight(m, P, "final_layer_norm.bias", 1, s_d, &g->lnf_b, err) < 0)
        return -1;
    for (int l = 0; l < nl; l++) {
        neox_layer *L = &g->layers[l];
        char n[128];
        int64_t s_qkv[] = {3 * d, d}, s_dd[] = {d, d}, s_up[] = {I, d}, s_down[] = {d, I};
        struct {
            const char *suffix;
            const int64_t *dims;
            lmd_mat *dst;
        } mw[] = {
            {"attention.query_key_value.weight", s_qkv, &L->qkv},
            {"attention.dense.weight", s_dd, &L->dense},
            {"mlp.dense_h_to_4h.weight", s_up, &L->up},
            {"mlp.dense_4h_to_h.weight", s_down, &L->down},
        };
        for (size_t i = 0; i < sizeof mw / sizeof mw[0]; i++) {
            snprintf(n, sizeof n, "layers.%d.%s", l, mw[i].suffix);
            if (lmd_weight_mat(m, P, n, mw[i].dims, 0, 0, mw[i].dst, err) < 0) return -1;
        }
        int64_t s_3d[] = {3 * d}, s_I[] = {I};
        struct {
            const char *suffix;
            const int64_t *dims;
            int wanted;
            const float **dst;
        } vw[] = {
            {"input_layernorm.weight", s_d, 1, &L->ln1_w},
            {"input_layernorm.bias", s_d, 1, &L->ln1_b},
            {"post_attention_layernorm.weight", s_d, 1, &L->ln2_w},
            {"post_attention_layernorm.bias", s_d, 1, &L->ln2_b},
            {"attention.query_key_value.bias", s_3d, bias, &L->qkv_b},
            {"attention.dense.bias", s_d, bias, &L->dense_b},
            {"mlp.dense_h_to_4h.bias", s_I, 1, &L->up_b},
            {"mlp.dense_4h_to_h.bias", s_d, 1, &L->down_b},
        };
        for (size_t i = 0; i < sizeof vw / sizeof vw[0]; i++) {
            if (!vw[i].wanted) continue;
            snprintf(n, sizeof n, "layers.%d.%s", l, vw[i].suffix);
            if (lmd_weight(m, P, n, 1, vw[i].dims, vw[i].dst, err) < 0) return -1;
        }
    }
    lmd_mat head;
    if (!tie && lmd_weight_mat(m, "", "embed_out.weight", s_emb, 0, 0, &head, err) < 0) return -1;
    m->lm_head = tie ? g->embed : head;
    m->lm_bias = NULL;

    lmd_model_info *info = &m->info;
    info->arch = "GPTNeoXForCausalLM";
    info->vocab_size = (int32_t)V;
    info->n_ctx = (int32_t)np;
    info->n_layer = (int32_t)nl;
    info->n_embd = (int32_t)d;
    info->n_head = (int32_t)H;
    info->n_inner = (int32_t)I;
    int64_t per_layer = 4 * d * d + 2 * d * I;
    int64_t vec = 4 * d + (bias ? 4 * d : 0) + I + d;
    info->n_params = nl * (per_layer + vec) + V * d + 2 * d + (tie ? 0 : V * d);
    info->flops_per_token = 2.0 * ((double)nl * (double)per_layer + (double)V * (double)d);
    return 0;
}

static void bias_rows(float *x, size_t rows, size_t ld, int n, const float *b) {
    if (!b) return;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++)
        lmd_add_bias(x + r * ld, 1, (size_t)n, b);
}

static void layernorm_rows(const float *x, float *y, size_t rows, int d, const float *w,
                           const float *b, float eps) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++)
        lmd_layernorm_row(x + r * (size_t)d, y + r * (size_t)d, d, w, b, eps);
}

static int neox_forward(const lmd_model *m, const lmd_seq *seqs, int n_seqs, float *hidden,
                        lmd_error *err) {
    const neox *g = m->arch;
    const int d = g->d, H = g->H, D = g->D, I = g->inner;
    const size_t W = 3 * (size_t)d;
    size_t T = 0;
    for (int s = 0; s < n_seqs; s++) {
        if (seqs[s].len > g->n_pos)
            return lmd_fail(err, "%s: a sequence of %d tokens exceeds the context of %d", m->dir,
                            seqs[s].len, g->n_pos);
        T += (size_t)seqs[s].len;
    }
    if (T == 0) return 0;
    size_t mrows = T < MLP_ROWS ? T : MLP_ROWS;
    float *x = malloc(T * (size_t)d * sizeof *x);
    float *h = malloc(T * (size_t)d * sizeof *h);
    float *qkv = malloc(T * W * sizeof *qkv);
    float *att = malloc(T * (size_t)d * sizeof *att);
    float *f = malloc(mrows * (size_t)I * sizeof *f);
    if (!x || !h || !qkv || !att || !f) goto oom;
    {
        size_t o = 0;
        for (int s = 0; s < n_seqs; s++)
            for (int p = 0; p < seqs[s].len; p++, o++)
                lmd_mat_row(&g->embed, seqs[s].tokens[p], x + o * (size_t)d);
    }
    const float scale = 1.0f / sqrtf((float)D);
    for (int l = 0; l < g->n_layer; l++) {
        const neox_layer *L = &g->layers[l];
        layernorm_rows(x, h, T, d, L->ln1_w, L->ln1_b, g->eps);
        if (lmd_matmul(h, T, &L->qkv, qkv, W, 0) < 0) goto oom;
        bias_rows(qkv, T, W, (int)W, L->qkv_b);
        /* head j: q at j*3D, k at j*3D + D, v at j*3D + 2D */
        if (lmd_rope_apply(&g->rope, seqs, n_seqs, qkv, W, H, 3 * (size_t)D) < 0 ||
            lmd_rope_apply(&g->rope, seqs, n_seqs, qkv + D, W, H, 3 * (size_t)D) < 0 ||
            lmd_attention(seqs, n_seqs, H, H, D, scale, qkv, 3 * (size_t)D, qkv + D, 3 * (size_t)D,
                          qkv + 2 * D, 3 * (size_t)D, W, att, (size_t)d) < 0)
            goto oom;
        /* the MLP's input: LN2 of x (parallel) or of x + attention (sequential) */
        if (g->parallel) layernorm_rows(x, h, T, d, L->ln2_w, L->ln2_b, g->eps);
        if (lmd_matmul(att, T, &L->dense, x, (size_t)d, 1) < 0) goto oom;
        bias_rows(x, T, (size_t)d, d, L->dense_b);
        if (!g->parallel) layernorm_rows(x, h, T, d, L->ln2_w, L->ln2_b, g->eps);
        for (size_t r0 = 0; r0 < T; r0 += mrows) {
            size_t rows = T - r0 < mrows ? T - r0 : mrows;
            if (lmd_matmul(h + r0 * (size_t)d, rows, &L->up, f, (size_t)I, 0) < 0) goto oom;
            bias_rows(f, rows, (size_t)I, I, L->up_b);
#pragma omp parallel for schedule(static)
            for (size_t r = 0; r < rows; r++)
                lmd_activate(f + r * (size_t)I, (size_t)I, g->act);
            if (lmd_matmul(f, rows, &L->down, x + r0 * (size_t)d, (size_t)d, 1) < 0) goto oom;
            bias_rows(x + r0 * (size_t)d, rows, (size_t)d, d, L->down_b);
        }
    }
    layernorm_rows(x, hidden, T, d, g->lnf_w, g->lnf_b, g->eps);
    free(x), free(h), free(qkv), free(att), free(f);
    return 0;
oom:
    free(x), free(h), free(qkv), free(att), free(f);
    return lmd_fail(err, "out of memory for a batch of %zu tokens", T);
}

const lmd_arch_ops lmd_neox_ops = {"gpt_neox", neox_forward, neox_free};
