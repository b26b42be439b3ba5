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
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch/arch.h"
#include "model/kernel/attention.h"
#include "model/kernel/scratch.h"

#define MLP_ROWS 1024

typedef struct neox_layer {
    const float *ln1_w, *ln1_b, *ln2_w, *ln2_b, *qkv_b, *dense_b, *up_b, *down_b;
    lmd_mat qkv, dense, up, down;
} neox_layer;

typedef struct neox {
    int parallel;
    float eps;
    lmd_activation act;
    lmd_rope rope;
    lmd_mat embed, head;
    const float *lnf_w, *lnf_b;
} neox;

#define G(f) offsetof(neox, f)
#define L(f) offsetof(neox_layer, f)
static const lmd_wspec neox_tensors[] = {
    {"embed_in.weight", W_MAT, {DIM_V, DIM_D}, 0, 0, G(embed)},
    {"final_layer_norm.weight", W_F32, {DIM_D}, 0, 0, G(lnf_w)},
    {"final_layer_norm.bias", W_F32, {DIM_D}, 0, 0, G(lnf_b)},
    {"layers.%d.attention.query_key_value.weight", W_MAT, {DIM_3D, DIM_D}, 0, 0, L(qkv)},
    {"layers.%d.attention.dense.weight", W_MAT, {DIM_D, DIM_D}, 0, 0, L(dense)},
    {"layers.%d.mlp.dense_h_to_4h.weight", W_MAT, {DIM_I, DIM_D}, 0, 0, L(up)},
    {"layers.%d.mlp.dense_4h_to_h.weight", W_MAT, {DIM_D, DIM_I}, 0, 0, L(down)},
    {"layers.%d.input_layernorm.weight", W_F32, {DIM_D}, 0, 0, L(ln1_w)},
    {"layers.%d.input_layernorm.bias", W_F32, {DIM_D}, 0, 0, L(ln1_b)},
    {"layers.%d.post_attention_layernorm.weight", W_F32, {DIM_D}, 0, 0, L(ln2_w)},
    {"layers.%d.post_attention_layernorm.bias", W_F32, {DIM_D}, 0, 0, L(ln2_b)},
    {"layers.%d.attention.query_key_value.bias", W_F32, {DIM_3D}, IF_QKV_BIAS, 0, L(qkv_b)},
    {"layers.%d.attention.dense.bias", W_F32, {DIM_D}, IF_O_BIAS, 0, L(dense_b)},
    {"layers.%d.mlp.dense_h_to_4h.bias", W_F32, {DIM_I}, 0, 0, L(up_b)},
    {"layers.%d.mlp.dense_4h_to_h.bias", W_F32, {DIM_D}, 0, 0, L(down_b)},
    {"^embed_out.weight", W_MAT, {DIM_V, DIM_D}, IF_UNTIED, 0, G(head)},
};

static void neox_free(void *p) {
    lmd_rope_free(&((neox *)p)->rope);
}

static int neox_hp(lmd_model *m, const cJSON *cfg, const char *path, void *arch, lmd_error *err) {
    neox *g = arch;
    long d, nl, H, I, V, np;
    double eps, pct, base;
    int tie, bias;
    if (lmd_cfg_int(cfg, "hidden_size", 6144, &d, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_hidden_layers", 44, &nl, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_attention_heads", 64, &H, path, err) < 0 ||
        lmd_cfg_int(cfg, "intermediate_size", 24576, &I, path, err) < 0 ||
        lmd_cfg_int(cfg, "vocab_size", 50432, &V, path, err) < 0 ||
        lmd_cfg_int(cfg, "max_position_embeddings", 2048, &np, path, err) < 0 ||
        lmd_cfg_float(cfg, "layer_norm_eps", 1e-5, &eps, path, err) < 0 ||
        lmd_cfg_bool(cfg, "use_parallel_residual", 1, &g->parallel, path, err) < 0 ||
        lmd_cfg_bool(cfg, "tie_word_embeddings", 0, &tie, path, err) < 0 ||
        lmd_cfg_bool(cfg, "attention_bias", 1, &bias, path, err) < 0)
        return -1;
    /* newer configs name them partial_rotary_factor and rope_theta */
    const int old_pct = cJSON_GetObjectItemCaseSensitive(cfg, "rotary_pct") != NULL;
    const int old_base = cJSON_GetObjectItemCaseSensitive(cfg, "rotary_emb_base") != NULL;
    if (lmd_cfg_float(cfg, old_pct ? "rotary_pct" : "partial_rotary_factor", 0.25, &pct, path,
                      err) < 0 ||
        lmd_cfg_float(cfg, old_base ? "rotary_emb_base" : "rope_theta", 10000.0, &base, path, err) <
            0)
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
    const char *act = lmd_cfg_str(cfg, "hidden_act");
    if (lmd_parse_act(act ? act : "gelu", &g->act) < 0)
        return lmd_fail(err,
                        "%s: \"hidden_act\" \"%s\" is not supported (gelu, gelu_new, "
                        "gelu_pytorch_tanh, gelu_fast, relu, silu are)",
                        path, act);
    const cJSON *sw = cJSON_GetObjectItemCaseSensitive(cfg, "sliding_window");
    if (sw && !cJSON_IsNull(sw))
        return lmd_fail(err, "%s: \"sliding_window\" is not supported for GPT-NeoX", path);
    m->hp = (lmd_hp){.d = d,
                     .n_layer = nl,
                     .H = H,
                     .KV = H,
                     .D = d / H,
                     .inner = I,
                     .vocab = V,
                     .flags = (tie ? IF_TIED : IF_UNTIED) | (bias ? IF_QKV_BIAS | IF_O_BIAS : 0)};
    m->info.n_ctx = (int32_t)np;
    g->eps = (float)eps;
    /* HF: rotary_ndims = int(head_size * rotary_pct) */
    int rot = (int)((double)(d / H) * pct);
    return lmd_rope_init(&g->rope, cfg, path, (int)(d / H), rot, base, 0, err);
}

static int neox_bind(lmd_model *m, void *arch, lmd_error *err) {
    (void)err;
    neox *g = arch;
    const lmd_hp *hp = &m->hp;
    m->lm_head = (hp->flags & IF_TIED) ? g->embed : g->head;
    double per_layer = 4.0 * hp->d * hp->d + 2.0 * hp->d * hp->inner;
    m->info.flops_per_token = 2.0 * (hp->n_layer * per_layer + (double)hp->vocab * hp->d);
    return 0;
}

static int neox_forward(const lmd_model *m, const lmd_seq *seqs, int n_seqs, float *hidden,
                        lmd_error *err) {
    const neox *g = m->arch;
    const neox_layer *layers = m->layers;
    const int d = (int)m->hp.d, H = (int)m->hp.H, D = (int)m->hp.D, I = (int)m->hp.inner;
    const size_t W = 3 * (size_t)d;
    size_t T;
    if (lmd_total_rows(m, seqs, n_seqs, m->info.n_ctx, &T, err) < 0) return -1;
    if (T == 0) return 0;
    size_t mrows = T < MLP_ROWS ? T : MLP_ROWS;
    /* x, h, qkv, att, f: the thread's kept scratch (kernel/scratch.h) */
    const size_t sz[5] = {T * (size_t)d * 4, T * (size_t)d * 4, T * W * 4, T * (size_t)d * 4,
                          mrows * (size_t)I * 4};
    void *buf[5];
    int rc = -1;
    if (lmd_scratch_parts(LMD_SCR_FORWARD, 5, sz, buf) < 0) goto done;
    float *x = buf[0], *h = buf[1], *qkv = buf[2], *att = buf[3], *f = buf[4];
    for (int s = 0, o = 0; s < n_seqs; s++)
        for (int p = 0; p < seqs[s].len; p++, o++)
            lmd_mat_row(&g->embed, seqs[s].tokens[p], x + (size_t)o * d);
    /* head j: q at j*3D, k at j*3D + D, v at j*3D + 2D */
    lmd_attn a = {.H = H,
                  .KV = H,
                  .D = D,
                  .scale = 1.0f / sqrtf((float)D),
                  .causal = 1,
                  .q = qkv,
                  .k = qkv + D,
                  .v = qkv + 2 * D,
                  .q_ld = W,
                  .q_hs = 3 * (size_t)D,
                  .kv_ld = W,
                  .k_hs = 3 * (size_t)D,
                  .v_hs = 3 * (size_t)D,
                  .out = att,
                  .out_ld = (size_t)d};
    for (int l = 0; l < m->hp.n_layer; l++) {
        const neox_layer *L = &layers[l];
        lmd_layernorm_rows(x, h, T, d, L->ln1_w, L->ln1_b, g->eps);
        if (lmd_linear(h, T, &L->qkv, L->qkv_b, qkv, W, 0) < 0 ||
            lmd_rope_apply(&g->rope, seqs, n_seqs, qkv, W, H, 3 * (size_t)D) < 0 ||
            lmd_rope_apply(&g->rope, seqs, n_seqs, qkv + D, W, H, 3 * (size_t)D) < 0 ||
            lmd_attention(seqs, n_seqs, &a) < 0)
            goto done;
        /* the MLP's input: LN2 of x (parallel) or of x + attention (sequential) */
        if (g->parallel) lmd_layernorm_rows(x, h, T, d, L->ln2_w, L->ln2_b, g->eps);
        if (lmd_linear(att, T, &L->dense, L->dense_b, x, (size_t)d, 1) < 0) goto done;
        if (!g->parallel) lmd_layernorm_rows(x, h, T, d, L->ln2_w, L->ln2_b, g->eps);
        for (size_t r0 = 0; r0 < T; r0 += mrows) {
            size_t rows = T - r0 < mrows ? T - r0 : mrows;
            if (lmd_linear(h + r0 * (size_t)d, rows, &L->up, L->up_b, f, (size_t)I, 0) < 0)
                goto done;
            lmd_activate_rows(f, rows, (size_t)I, I, g->act);
            if (lmd_linear(f, rows, &L->down, L->down_b, x + r0 * (size_t)d, (size_t)d, 1) < 0)
                goto done;
        }
    }
    lmd_layernorm_rows(x, hidden, T, d, g->lnf_w, g->lnf_b, g->eps);
    rc = 0;
done:
    if (rc < 0) lmd_fail(err, "out of memory for a batch of %zu tokens", T);
    return rc;
}

static const char *const neox_names[] = {"GPTNeoXForCausalLM", NULL};
const lmd_arch lmd_arch_neox = {
    .id = "gpt_neox",
    .names = neox_names,
    .model_type = "gpt_neox",
    .prefix = "gpt_neox.",
    .size = sizeof(neox),
    .layer_size = sizeof(neox_layer),
    .read_hp = neox_hp,
    .tensors = neox_tensors,
    .n_tensors = N_SPECS(neox_tensors),
    .bind = neox_bind,
    .forward = neox_forward,
    .free_arch = neox_free,
};
