/* llama.c - LlamaForCausalLM, MistralForCausalLM and Qwen2ForCausalLM: one
 * forward, as they differ only in config keys and biases.
 *
 * Per layer: h = x + o_proj(attn(rope(q_proj(n)), rope(k_proj(n)),
 * v_proj(n))) with n = RMSNorm(x); x' = h + down(silu(gate(m)) * up(m)) with
 * m = RMSNorm(h).  Grouped-query attention (num_key_value_heads), RoPE in
 * HF's rotate-half layout, optional biases (Llama attention_bias / mlp_bias,
 * Qwen2's q/k/v biases), tied or separate head.
 *
 * Sliding windows (Mistral's sliding_window, Qwen2's use_sliding_window):
 * the context the scorer uses is capped at the window, so every forward
 * fits in it and the full causal attention computed here is what the model
 * computes; longer texts are scored with the scorer's own sliding windows
 * (docs/scoring.md). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/attention.h"
#include "model/kernels.h"
#include "model/model.h"

#define MLP_ROWS 1024 /* rows of the MLP per pass: bounds its buffers */

typedef struct llama_layer {
    const float *ln1, *ln2;
    const float *bq, *bk, *bv, *bo, *bgate, *bup, *bdown; /* NULL when absent */
    lmd_mat wq, wk, wv, wo, wgate, wup, wdown;
} llama_layer;

typedef struct llama {
    int d, n_layer, H, KV, D, inner, vocab, n_pos;
    float eps;
    lmd_activation act;
    lmd_rope rope;
    lmd_mat embed;
    const float *norm;
    llama_layer *layers;
} llama;

static void llama_free(void *p) {
    llama *g = p;
    if (!g) return;
    lmd_rope_free(&g->rope);
    free(g->layers);
    free(g);
}

/* Keys whose non-default values change the maths in a way not implemented. */
static int refuse_unsupported(const cJSON *cfg, const char *path, const char *arch,
                              lmd_error *err) {
    double prf;
    if (lmd_cfg_float(cfg, "partial_rotary_factor", 1.0, &prf, path, err) < 0) return -1;
    if (prf != 1.0)
        return lmd_fail(err, "%s: \"partial_rotary_factor\" %g is not supported for %s (1 is)",
                        path, prf, arch);
    static const char *must_be_null[] = {"quantization_config", "attn_logit_softcapping",
                                         "final_logit_softcapping"};
    for (size_t i = 0; i < sizeof must_be_null / sizeof *must_be_null; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, must_be_null[i]);
        if (v && !cJSON_IsNull(v))
            return lmd_fail(err, "%s: \"%s\" is not supported", path, must_be_null[i]);
    }
    return 0;
}

int lmd_llama_load(lmd_model *m, const cJSON *cfg, const char *path, const char *arch,
                   lmd_error *err) {
    const int is_qwen2 = !strcmp(arch, "Qwen2ForCausalLM");
    const int is_mistral = !strcmp(arch, "MistralForCausalLM");
    long d, nl, H, KV, D, I, V, np;
    double eps, theta;
    int attn_bias, mlp_bias, tie;
    if (lmd_cfg_int(cfg, "hidden_size", 4096, &d, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_hidden_layers", 32, &nl, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_attention_heads", 32, &H, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_key_value_heads", H, &KV, path, err) < 0 ||
        lmd_cfg_int(cfg, "intermediate_size", 11008, &I, path, err) < 0 ||
        lmd_cfg_int(cfg, "vocab_size", 32000, &V, path, err) < 0 ||
        lmd_cfg_int(cfg, "max_position_embeddings", 2048, &np, path, err) < 0 ||
        lmd_cfg_float(cfg, "rms_norm_eps", 1e-6, &eps, path, err) < 0 ||
        lmd_cfg_float(cfg, "rope_theta", 10000.0, &theta, path, err) < 0 ||
        lmd_cfg_bool(cfg, "attention_bias", 0, &attn_bias, path, err) < 0 ||
        lmd_cfg_bool(cfg, "mlp_bias", 0, &mlp_bias, path, err) < 0 ||
        lmd_cfg_bool(cfg, "tie_word_embeddings", 0, &tie, path, err) < 0 ||
        refuse_unsupported(cfg, path, arch, err) < 0)
        return -1;
    if (H <= 0 || d <= 0)
        return lmd_fail(err, "%s: hidden_size and num_attention_heads must be positive", path);
    if (lmd_cfg_int(cfg, "head_dim", d / H, &D, path, err) < 0) return -1;
    if (d <= 0 || nl <= 0 || H <= 0 || KV <= 0 || D <= 0 || I <= 0 || V <= 0 || np <= 1 ||
        H % KV != 0 || d > 65536 || nl > 1024 || H > 1024 || D > 4096 || I > (1 << 20) ||
        V > (1 << 24) || np > (1 << 24))
        return lmd_fail(err,
                        "%s: implausible sizes (hidden_size %ld, num_hidden_layers %ld, "
                        "num_attention_heads %ld, num_key_value_heads %ld, head_dim %ld, "
                        "intermediate_size %ld, vocab_size %ld, max_position_embeddings %ld; "
                        "num_attention_heads must be a multiple of num_key_value_heads)",
                        path, d, nl, H, KV, D, I, V, np);
    if (!(eps > 0 && eps < 1))
        return lmd_fail(err, "%s: rms_norm_eps %g is not in (0, 1)", path, eps);
    const char *act_name = lmd_cfg_str(cfg, "hidden_act");
    if (act_name && strcmp(act_name, "silu") && strcmp(act_name, "swish"))
        return lmd_fail(err, "%s: \"hidden_act\" \"%s\" is not supported for %s (silu is)", path,
                        act_name, arch);
    /* the context: capped at a sliding attention window, if any */
    long window = 0;
    if (is_mistral) {
        if (lmd_cfg_int(cfg, "sliding_window", 0, &window, path, err) < 0) return -1;
    } else if (is_qwen2) {
        int use_sw;
        if (lmd_cfg_bool(cfg, "use_sliding_window", 0, &use_sw, path, err) < 0) return -1;
        if (use_sw && lmd_cfg_int(cfg, "sliding_window", 0, &window, path, err) < 0) return -1;
    }
    if (window < 0) return lmd_fail(err, "%s: \"sliding_window\" %ld is negative", path, window);
    if (window > 0 && window < 2)
        return lmd_fail(err, "%s: \"sliding_window\" %ld is too small (2 or more)", path, window);
    long n_ctx = window > 0 && window < np ? window : np;

    llama *g = calloc(1, sizeof *g);
    if (!g) return lmd_fail(err, "out of memory");
    m->arch = g;
    g->d = (int)d, g->n_layer = (int)nl, g->H = (int)H, g->KV = (int)KV, g->D = (int)D;
    g->inner = (int)I, g->vocab = (int)V, g->n_pos = (int)n_ctx, g->eps = (float)eps;
    g->act = LMD_ACT_SILU;
    if (lmd_rope_init(&g->rope, cfg, path, (int)D, (int)D, theta, err) < 0) return -1;
    g->layers = calloc((size_t)nl, sizeof *g->layers);
    if (!g->layers) return lmd_fail(err, "out of memory");

    const char *P = "model.";
    int64_t s_emb[] = {V, d}, s_d[] = {d};
    if (lmd_weight_mat(m, P, "embed_tokens.weight", s_emb, 0, 0, &g->embed, err) < 0 ||
        lmd_weight(m, P, "norm.weight", 1, s_d, &g->norm, err) < 0)
        return -1;
    const long qd = H * D, kvd = KV * D;
    for (int l = 0; l < nl; l++) {
        llama_layer *L = &g->layers[l];
        char n[128];
        int64_t s_q[] = {qd, d}, s_kv[] = {kvd, d}, s_o[] = {d, qd}, s_up[] = {I, d},
                s_down[] = {d, I};
        struct {
            const char *suffix;
            const int64_t *dims;
            lmd_mat *dst;
        } mw[] = {
            {"self_attn.q_proj.weight", s_q, &L->wq},    {"self_attn.k_proj.weight", s_kv, &L->wk},
            {"self_attn.v_proj.weight", s_kv, &L->wv},   {"self_attn.o_proj.weight", s_o, &L->wo},
            {"mlp.gate_proj.weight", s_up, &L->wgate},   {"mlp.up_proj.weight", s_up, &L->wup},
            {"mlp.down_proj.weight", s_down, &L->wdown},
        };
        for (size_t i = 0; i < sizeof mw / sizeof mw[0]; i++) {
            snprintf(n, sizeof n, "layers.%d.%s", l, mw[i].suffix);
            if (lmd_weight_mat(m, P, n, mw[i].dims, 0, 0, mw[i].dst, err) < 0) return -1;
        }
        int64_t s_qd[] = {qd}, s_kvd[] = {kvd}, s_I[] = {I};
        int qkv_bias = attn_bias || is_qwen2;
        struct {
            const char *suffix;
            const int64_t *dims;
            int wanted;
            const float **dst;
        } vw[] = {
            {"input_layernorm.weight", s_d, 1, &L->ln1},
            {"post_attention_layernorm.weight", s_d, 1, &L->ln2},
            {"self_attn.q_proj.bias", s_qd, qkv_bias, &L->bq},
            {"self_attn.k_proj.bias", s_kvd, qkv_bias, &L->bk},
            {"self_attn.v_proj.bias", s_kvd, qkv_bias, &L->bv},
            {"self_attn.o_proj.bias", s_d, attn_bias, &L->bo},
            {"mlp.gate_proj.bias", s_I, mlp_bias, &L->bgate},
            {"mlp.up_proj.bias", s_I, mlp_bias, &L->bup},
            {"mlp.down_proj.bias", s_d, mlp_bias, &L->bdown},
        };
        for (size_t i = 0; i < sizeof vw / sizeof vw[0]; i++) {
            if (!vw[i].wanted) continue; /* HF ignores such tensors too */
            snprintf(n, sizeof n, "layers.%d.%s", l, vw[i].suffix);
            if (lmd_weight(m, P, n, 1, vw[i].dims, vw[i].dst, err) < 0) return -1;
        }
    }
    /* the head: tied to embed_tokens when tie_word_embeddings (HF then
     * ignores a stored lm_head.weight), else lm_head.weight */
    lmd_mat head;
    if (!tie && lmd_weight_mat(m, "", "lm_head.weight", s_emb, 0, 0, &head, err) < 0) return -1;
    m->lm_head = tie ? g->embed : head;
    m->lm_bias = NULL;

    lmd_model_info *info = &m->info;
    info->arch = is_qwen2     ? "Qwen2ForCausalLM"
                 : is_mistral ? "MistralForCausalLM"
                              : "LlamaForCausalLM";
    info->vocab_size = (int32_t)V;
    info->n_ctx = (int32_t)n_ctx;
    info->n_layer = (int32_t)nl;
    info->n_embd = (int32_t)d;
    info->n_head = (int32_t)H;
    info->n_inner = (int32_t)I;
    int64_t per_layer = d * qd + 2 * d * kvd + qd * d + 3 * d * I;
    int64_t biases = (attn_bias || is_qwen2 ? qd + 2 * kvd : 0) + (attn_bias ? d : 0) +
                     (mlp_bias ? 2 * I + d : 0);
    info->n_params = nl * (per_layer + 2 * d + biases) + V * d + d + (tie ? 0 : V * d);
    info->flops_per_token = 2.0 * ((double)nl * (double)per_layer + (double)V * (double)d);
    return 0;
}

/* rows x n block with row stride ld: each row += b (when b) */
static void bias_rows(float *x, size_t rows, size_t ld, int n, const float *b) {
    if (!b) return;
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++)
        lmd_add_bias(x + r * ld, 1, (size_t)n, b);
}

static int llama_forward(const lmd_model *m, const lmd_seq *seqs, int n_seqs, float *hidden,
                         lmd_error *err) {
    const llama *g = m->arch;
    const int d = g->d, H = g->H, KV = g->KV, D = g->D, I = g->inner;
    const size_t qd = (size_t)H * D, kvd = (size_t)KV * D, W = qd + 2 * kvd;
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
    float *att = malloc(T * qd * sizeof *att);
    float *gb = malloc(mrows * (size_t)I * sizeof *gb);
    float *ub = malloc(mrows * (size_t)I * sizeof *ub);
    if (!x || !h || !qkv || !att || !gb || !ub) goto oom;
    {
        size_t o = 0;
        for (int s = 0; s < n_seqs; s++)
            for (int p = 0; p < seqs[s].len; p++, o++)
                lmd_mat_row(&g->embed, seqs[s].tokens[p], x + o * (size_t)d);
    }
    const float scale = 1.0f / sqrtf((float)D);
    for (int l = 0; l < g->n_layer; l++) {
        const llama_layer *L = &g->layers[l];
        lmd_rmsnorm_rows(x, h, T, d, L->ln1, g->eps);
        if (lmd_matmul(h, T, &L->wq, qkv, W, 0) < 0 ||
            lmd_matmul(h, T, &L->wk, qkv + qd, W, 0) < 0 ||
            lmd_matmul(h, T, &L->wv, qkv + qd + kvd, W, 0) < 0)
            goto oom;
        bias_rows(qkv, T, W, (int)qd, L->bq);
        bias_rows(qkv + qd, T, W, (int)kvd, L->bk);
        bias_rows(qkv + qd + kvd, T, W, (int)kvd, L->bv);
        if (lmd_rope_apply(&g->rope, seqs, n_seqs, qkv, W, H, (size_t)D) < 0 ||
            lmd_rope_apply(&g->rope, seqs, n_seqs, qkv + qd, W, KV, (size_t)D) < 0 ||
            lmd_attention(seqs, n_seqs, H, KV, D, scale, qkv, (size_t)D, qkv + qd, (size_t)D,
                          qkv + qd + kvd, (size_t)D, W, att, qd) < 0 ||
            lmd_matmul(att, T, &L->wo, x, (size_t)d, 1) < 0)
            goto oom;
        bias_rows(x, T, (size_t)d, d, L->bo);
        lmd_rmsnorm_rows(x, h, T, d, L->ln2, g->eps);
        for (size_t r0 = 0; r0 < T; r0 += mrows) {
            size_t rows = T - r0 < mrows ? T - r0 : mrows;
            const float *in = h + r0 * (size_t)d;
            if (lmd_matmul(in, rows, &L->wgate, gb, (size_t)I, 0) < 0 ||
                lmd_matmul(in, rows, &L->wup, ub, (size_t)I, 0) < 0)
                goto oom;
            bias_rows(gb, rows, (size_t)I, I, L->bgate);
            bias_rows(ub, rows, (size_t)I, I, L->bup);
#pragma omp parallel for schedule(static)
            for (size_t r = 0; r < rows; r++) {
                lmd_activate(gb + r * (size_t)I, (size_t)I, g->act);
                lmd_vmul(gb + r * (size_t)I, ub + r * (size_t)I, (size_t)I);
            }
            if (lmd_matmul(gb, rows, &L->wdown, x + r0 * (size_t)d, (size_t)d, 1) < 0) goto oom;
            bias_rows(x + r0 * (size_t)d, rows, (size_t)d, d, L->bdown);
        }
    }
    lmd_rmsnorm_rows(x, hidden, T, d, g->norm, g->eps);
    free(x), free(h), free(qkv), free(att), free(gb), free(ub);
    return 0;
oom:
    free(x), free(h), free(qkv), free(att), free(gb), free(ub);
    return lmd_fail(err, "out of memory for a batch of %zu tokens", T);
}

const lmd_arch_ops lmd_llama_ops = {"llama", llama_forward, llama_free};
