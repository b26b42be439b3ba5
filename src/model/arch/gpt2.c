/* gpt2.c - GPT2LMHeadModel (GPT-2, DistilGPT-2 and their fine-tunes): its
 * hyper-parameters, tensor table and forward pass.
 *
 * Pre-LN blocks with learned positions: x += c_proj(attn(LN1(x)));
 * x += mlp(LN2(x)).  HF's Conv1D weights are [in, out] (W_MAT_IN).  The
 * head is tied to wte unless tie_word_embeddings is false (as HF does: a
 * stored lm_head.weight is then overwritten by the tie). */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "model/arch/arch.h"
#include "model/kernel/attention.h"
#include "model/kernel/scratch.h"

typedef struct gpt2_layer {
    const float *ln1_w, *ln1_b, *attn_b, *aproj_b;
    const float *ln2_w, *ln2_b, *fc_b, *mproj_b;
    lmd_mat attn_w, aproj_w, fc_w, mproj_w;
} gpt2_layer;

typedef struct gpt2 {
    float eps;
    lmd_activation act;
    int scale_attn, scale_by_layer;
    const float *wpe, *lnf_w, *lnf_b;
    lmd_mat wte, head;
} gpt2;

#define G(f) offsetof(gpt2, f)
#define L(f) offsetof(gpt2_layer, f)
static const lmd_wspec gpt2_tensors[] = {
    {"wte.weight", W_MAT, {DIM_V, DIM_D}, 0, 0, G(wte)},
    {"wpe.weight", W_F32, {DIM_POS, DIM_D}, 0, 0, G(wpe)},
    {"ln_f.weight", W_F32, {DIM_D}, 0, 0, G(lnf_w)},
    {"ln_f.bias", W_F32, {DIM_D}, 0, 0, G(lnf_b)},
    {"h.%d.ln_1.weight", W_F32, {DIM_D}, 0, 0, L(ln1_w)},
    {"h.%d.ln_1.bias", W_F32, {DIM_D}, 0, 0, L(ln1_b)},
    {"h.%d.attn.c_attn.bias", W_F32, {DIM_3D}, 0, 0, L(attn_b)},
    {"h.%d.attn.c_proj.bias", W_F32, {DIM_D}, 0, 0, L(aproj_b)},
    {"h.%d.ln_2.weight", W_F32, {DIM_D}, 0, 0, L(ln2_w)},
    {"h.%d.ln_2.bias", W_F32, {DIM_D}, 0, 0, L(ln2_b)},
    {"h.%d.mlp.c_fc.bias", W_F32, {DIM_I}, 0, 0, L(fc_b)},
    {"h.%d.mlp.c_proj.bias", W_F32, {DIM_D}, 0, 0, L(mproj_b)},
    {"h.%d.attn.c_attn.weight", W_MAT_IN, {DIM_D, DIM_3D}, 0, 0, L(attn_w)},
    {"h.%d.attn.c_proj.weight", W_MAT_IN, {DIM_D, DIM_D}, 0, 0, L(aproj_w)},
    {"h.%d.mlp.c_fc.weight", W_MAT_IN, {DIM_D, DIM_I}, 0, 0, L(fc_w)},
    {"h.%d.mlp.c_proj.weight", W_MAT_IN, {DIM_I, DIM_D}, 0, 0, L(mproj_w)},
    /* untied: must be there; tied: a stored one is shape-checked, unused */
    {"^lm_head.weight", W_MAT, {DIM_V, DIM_D}, 0, IF_TIED, G(head)},
};

static int gpt2_hp(lmd_model *m, const cJSON *cfg, const char *path, void *arch, lmd_error *err) {
    gpt2 *g = arch;
    lmd_hp *hp = &m->hp;
    long d, nl, nh, np, V, inner;
    double eps;
    int upcast, cross, tie;
    if (lmd_cfg_int(cfg, "n_embd", 768, &d, path, err) < 0 ||
        lmd_cfg_int(cfg, "n_layer", 12, &nl, path, err) < 0 ||
        lmd_cfg_int(cfg, "n_head", 12, &nh, path, err) < 0 ||
        lmd_cfg_int(cfg, "n_positions", 1024, &np, path, err) < 0 ||
        lmd_cfg_int(cfg, "vocab_size", 50257, &V, path, err) < 0 ||
        lmd_cfg_int(cfg, "n_inner", 0, &inner, path, err) < 0 ||
        lmd_cfg_float(cfg, "layer_norm_epsilon", 1e-5, &eps, path, err) < 0 ||
        lmd_cfg_bool(cfg, "scale_attn_weights", 1, &g->scale_attn, path, err) < 0 ||
        lmd_cfg_bool(cfg, "scale_attn_by_inverse_layer_idx", 0, &g->scale_by_layer, path, err) <
            0 ||
        lmd_cfg_bool(cfg, "reorder_and_upcast_attn", 0, &upcast, path, err) < 0 ||
        lmd_cfg_bool(cfg, "add_cross_attention", 0, &cross, path, err) < 0 ||
        lmd_cfg_bool(cfg, "tie_word_embeddings", 1, &tie, path, err) < 0)
        return -1;
    if (inner == 0) inner = 4 * d;
    if (d <= 0 || nl <= 0 || nh <= 0 || np <= 1 || V <= 0 || inner <= 0 || d % nh != 0 ||
        d > 65536 || nl > 1024 || np > (1 << 20) || V > (1 << 24) || inner > (1 << 20))
        return lmd_fail(err,
                        "%s: implausible sizes (n_embd %ld, n_layer %ld, n_head %ld, "
                        "n_positions %ld, vocab_size %ld, n_inner %ld; n_embd must be a multiple "
                        "of n_head)",
                        path, d, nl, nh, np, V, inner);
    if (!(eps > 0 && eps < 1))
        return lmd_fail(err, "%s: layer_norm_epsilon %g is not in (0, 1)", path, eps);
    if (cross)
        return lmd_fail(err, "%s: add_cross_attention (an encoder-decoder GPT-2) is not supported",
                        path);
    /* reorder_and_upcast_attn computes attention in fp32 in HF; ours always is. */
    const char *act = lmd_cfg_str(cfg, "activation_function");
    if (lmd_parse_act(act ? act : "gelu_new", &g->act) < 0)
        return lmd_fail(err,
                        "%s: activation_function \"%s\" is not supported (gelu_new, "
                        "gelu_pytorch_tanh, gelu_fast, gelu, relu, silu, swish are)",
                        path, act);
    *hp = (lmd_hp){.d = d,
                   .n_layer = nl,
                   .H = nh,
                   .KV = nh,
                   .D = d / nh,
                   .inner = inner,
                   .vocab = V,
                   .n_pos = np,
                   .flags = tie ? IF_TIED : IF_UNTIED};
    g->eps = (float)eps;
    m->info.n_ctx = (int32_t)np;
    return 0;
}

static int gpt2_bind(lmd_model *m, void *arch, lmd_error *err) {
    (void)err;
    gpt2 *g = arch;
    const lmd_hp *hp = &m->hp;
    int own_head = (hp->flags & IF_UNTIED) && g->head.data;
    if (g->head.data && !own_head) m->info.n_params -= hp->vocab * hp->d; /* tied: unused */
    m->lm_head = own_head ? g->head : g->wte;
    double per_layer = 4.0 * hp->d * hp->d + 2.0 * hp->d * hp->inner;
    m->info.flops_per_token = 2.0 * (hp->n_layer * per_layer + (double)hp->vocab * hp->d);
    return 0;
}

static int gpt2_forward(const lmd_model *m, const lmd_seq *seqs, int n_seqs, float *hidden,
                        lmd_error *err) {
    const gpt2 *g = m->arch;
    const gpt2_layer *layers = m->layers;
    const int d = (int)m->hp.d, hd = (int)m->hp.D;
    size_t T;
    if (lmd_total_rows(m, seqs, n_seqs, m->info.n_ctx, &T, err) < 0) return -1;
    if (T == 0) return 0;
    /* x, h, qkv, f: the thread's kept scratch (kernel/scratch.h) */
    const size_t sz[4] = {T * (size_t)d * 4, T * (size_t)d * 4, T * 3 * (size_t)d * 4,
                          T * (size_t)m->hp.inner * 4};
    void *buf[4];
    int rc = -1;
    if (lmd_scratch_parts(LMD_SCR_FORWARD, 4, sz, buf) < 0) goto done;
    float *x = buf[0], *h = buf[1], *qkv = buf[2], *f = buf[3];
    for (int s = 0, o = 0; s < n_seqs; s++)
        for (int p = 0; p < seqs[s].len; p++, o++) {
            float *row = x + (size_t)o * d;
            lmd_mat_row(&g->wte, seqs[s].tokens[p], row);
            for (int i = 0; i < d; i++)
                row[i] += g->wpe[(size_t)p * d + i];
        }
    lmd_attn a = {.H = (int)m->hp.H,
                  .KV = (int)m->hp.H,
                  .D = hd,
                  .causal = 1,
                  .q = qkv,
                  .k = qkv + d,
                  .v = qkv + 2 * d,
                  .q_ld = 3 * (size_t)d,
                  .q_hs = (size_t)hd,
                  .kv_ld = 3 * (size_t)d,
                  .k_hs = (size_t)hd,
                  .v_hs = (size_t)hd,
                  .out = h,
                  .out_ld = (size_t)d};
    for (int l = 0; l < m->hp.n_layer; l++) {
        const gpt2_layer *L = &layers[l];
        a.scale = g->scale_attn ? 1.0f / sqrtf((float)hd) : 1.0f;
        if (g->scale_by_layer) a.scale /= (float)(l + 1);
        lmd_layernorm_rows(x, h, T, d, L->ln1_w, L->ln1_b, g->eps);
        /* the attention output goes to h, free again after the projection */
        if (lmd_linear(h, T, &L->attn_w, L->attn_b, qkv, 3 * (size_t)d, 0) < 0 ||
            lmd_attention(seqs, n_seqs, &a) < 0 ||
            lmd_linear(h, T, &L->aproj_w, L->aproj_b, x, (size_t)d, 1) < 0)
            goto done;
        lmd_layernorm_rows(x, h, T, d, L->ln2_w, L->ln2_b, g->eps);
        if (lmd_linear(h, T, &L->fc_w, L->fc_b, f, (size_t)m->hp.inner, 0) < 0) goto done;
        lmd_activate_rows(f, T, (size_t)m->hp.inner, (int)m->hp.inner, g->act);
        if (lmd_linear(f, T, &L->mproj_w, L->mproj_b, x, (size_t)d, 1) < 0) goto done;
    }
    lmd_layernorm_rows(x, hidden, T, d, g->lnf_w, g->lnf_b, g->eps);
    rc = 0;
done:
    if (rc < 0) lmd_fail(err, "out of memory for a batch of %zu tokens", T);
    return rc;
}

static const char *const gpt2_names[] = {"GPT2LMHeadModel", NULL};
const lmd_arch lmd_arch_gpt2 = {
    .id = "gpt2",
    .names = gpt2_names,
    .model_type = "gpt2",
    .prefix = "transformer.",
    .size = sizeof(gpt2),
    .layer_size = sizeof(gpt2_layer),
    .read_hp = gpt2_hp,
    .tensors = gpt2_tensors,
    .n_tensors = N_SPECS(gpt2_tensors),
    .bind = gpt2_bind,
    .forward = gpt2_forward,
};
