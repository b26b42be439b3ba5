/* llama.c - the RMSNorm / SwiGLU / RoPE decoders: LlamaForCausalLM,
 * MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, Olmo2ForCausalLM
 * and Phi3ForCausalLM.  One forward; the families differ in their tensor
 * tables and config keys.
 *
 * Per layer, Llama: h = x + o_proj(attn(rope(q_proj(n)), rope(k_proj(n)),
 * v_proj(n))) with n = RMSNorm(x); x' = h + down(silu(gate(m)) * up(m)) with
 * m = RMSNorm(h).  Grouped-query attention, RoPE in HF's rotate-half layout,
 * optional biases (Llama attention_bias / mlp_bias, Qwen2's q/k/v biases),
 * tied or separate head.  Qwen3 adds an RMSNorm over each head of q and k
 * (before RoPE).  OLMo-2 has no norms before attention / MLP but after them
 * (x' = x + RMSNorm(attn(x)), x'' = x' + RMSNorm(mlp(x'))), and its q/k
 * RMSNorms span the whole projection.  Phi-3 fuses q/k/v (qkv_proj: q rows,
 * then k, then v) and gate/up (gate_up_proj: gate rows, then up), which bind
 * splits into row views; it rotates the first partial_rotary_factor of each
 * head, may use LongRoPE (short factors for forwards up to
 * original_max_position_embeddings positions, the long ones beyond, as HF
 * switches), and applies its sliding_window inside attention as HF does.
 *
 * Sliding windows (Mistral's sliding_window, Qwen2's use_sliding_window):
 * the context the scorer uses is capped at the window, so every forward
 * fits in it and the full causal attention computed here is what the model
 * computes; longer texts are scored with the scorer's own sliding windows
 * (docs/scoring.md). */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch/decoder.h"

typedef lmd_dec_layer dec_layer;
typedef lmd_decoder decoder;

#define G(f) offsetof(decoder, f)
#define L(f) offsetof(dec_layer, f)
/* clang-format off */
#define ATTN_PROJ \
    {"layers.%d.self_attn.q_proj.weight", W_MAT, {DIM_QD, DIM_D}, 0, 0, L(wq)}, \
    {"layers.%d.self_attn.k_proj.weight", W_MAT, {DIM_KVD, DIM_D}, 0, 0, L(wk)}, \
    {"layers.%d.self_attn.v_proj.weight", W_MAT, {DIM_KVD, DIM_D}, 0, 0, L(wv)}, \
    {"layers.%d.self_attn.o_proj.weight", W_MAT, {DIM_D, DIM_QD}, 0, 0, L(wo)}, \
    {"layers.%d.self_attn.q_proj.bias", W_F32, {DIM_QD}, IF_QKV_BIAS, 0, L(bq)}, \
    {"layers.%d.self_attn.k_proj.bias", W_F32, {DIM_KVD}, IF_QKV_BIAS, 0, L(bk)}, \
    {"layers.%d.self_attn.v_proj.bias", W_F32, {DIM_KVD}, IF_QKV_BIAS, 0, L(bv)}, \
    {"layers.%d.self_attn.o_proj.bias", W_F32, {DIM_D}, IF_O_BIAS, 0, L(bo)}, \
    {"embed_tokens.weight", W_MAT, {DIM_V, DIM_D}, 0, 0, G(embed)}, \
    {"norm.weight", W_F32, {DIM_D}, 0, 0, G(norm)}, \
    /* tied: HF ignores a stored lm_head.weight */ \
    {"^lm_head.weight", W_MAT, {DIM_V, DIM_D}, IF_UNTIED, 0, G(head)}
#define DENSE_MLP \
    {"layers.%d.mlp.gate_proj.weight", W_MAT, {DIM_I, DIM_D}, 0, 0, L(wgate)}, \
    {"layers.%d.mlp.up_proj.weight", W_MAT, {DIM_I, DIM_D}, 0, 0, L(wup)}, \
    {"layers.%d.mlp.down_proj.weight", W_MAT, {DIM_D, DIM_I}, 0, 0, L(wdown)}, \
    {"layers.%d.mlp.gate_proj.bias", W_F32, {DIM_I}, IF_MLP_BIAS, 0, L(bgate)}, \
    {"layers.%d.mlp.up_proj.bias", W_F32, {DIM_I}, IF_MLP_BIAS, 0, L(bup)}, \
    {"layers.%d.mlp.down_proj.bias", W_F32, {DIM_D}, IF_MLP_BIAS, 0, L(bdown)}
#define LAYER_PROJ ATTN_PROJ, DENSE_MLP
#define PRE_NORMS \
    {"layers.%d.input_layernorm.weight", W_F32, {DIM_D}, 0, 0, L(ln_attn_in)}, \
    {"layers.%d.post_attention_layernorm.weight", W_F32, {DIM_D}, 0, 0, L(ln_mlp_in)}
/* clang-format on */

static const lmd_wspec llama_tensors[] = {
    LAYER_PROJ,
    PRE_NORMS,
    /* Qwen3: per head */
    {"layers.%d.self_attn.q_norm.weight", W_F32, {DIM_HD}, IF_QK_NORM, 0, L(q_norm)},
    {"layers.%d.self_attn.k_norm.weight", W_F32, {DIM_HD}, IF_QK_NORM, 0, L(k_norm)},
};

static const lmd_wspec olmo2_tensors[] = {
    LAYER_PROJ,
    {"layers.%d.post_attention_layernorm.weight", W_F32, {DIM_D}, 0, 0, L(ln_attn_out)},
    {"layers.%d.post_feedforward_layernorm.weight", W_F32, {DIM_D}, 0, 0, L(ln_mlp_out)},
    {"layers.%d.self_attn.q_norm.weight", W_F32, {DIM_QD}, 0, 0, L(q_norm)},
    {"layers.%d.self_attn.k_norm.weight", W_F32, {DIM_KVD}, 0, 0, L(k_norm)},
};

static const lmd_wspec phi3_tensors[] = {
    {"layers.%d.self_attn.qkv_proj.weight", W_MAT, {DIM_QKV, DIM_D}, 0, 0, L(wqkv)},
    {"layers.%d.self_attn.o_proj.weight", W_MAT, {DIM_D, DIM_QD}, 0, 0, L(wo)},
    {"layers.%d.mlp.gate_up_proj.weight", W_MAT, {DIM_2I, DIM_D}, 0, 0, L(wgate_up)},
    {"layers.%d.mlp.down_proj.weight", W_MAT, {DIM_D, DIM_I}, 0, 0, L(wdown)},
    {"layers.%d.input_layernorm.weight", W_F32, {DIM_D}, 0, 0, L(ln_attn_in)},
    {"layers.%d.post_attention_layernorm.weight", W_F32, {DIM_D}, 0, 0, L(ln_mlp_in)},
    {"embed_tokens.weight", W_MAT, {DIM_V, DIM_D}, 0, 0, G(embed)},
    {"norm.weight", W_F32, {DIM_D}, 0, 0, G(norm)},
    {"^lm_head.weight", W_MAT, {DIM_V, DIM_D}, IF_UNTIED, 0, G(head)},
};

/* Mixtral: a router and the experts' w1 (gate), w3 (up), w2 (down) */
static const lmd_wspec mixtral_tensors[] = {
    ATTN_PROJ,
    PRE_NORMS,
    {"layers.%d.block_sparse_moe.gate.weight", W_MAT, {DIM_E, DIM_D}, 0, 0, L(router)},
    {"layers.%d.block_sparse_moe.experts.%d.w1.weight",
     W_MAT_EXPERTS,
     {DIM_EI, DIM_D},
     0,
     0,
     L(egate)},
    {"layers.%d.block_sparse_moe.experts.%d.w3.weight",
     W_MAT_EXPERTS,
     {DIM_EI, DIM_D},
     0,
     0,
     L(eup)},
    {"layers.%d.block_sparse_moe.experts.%d.w2.weight",
     W_MAT_EXPERTS,
     {DIM_D, DIM_EI},
     0,
     0,
     L(edown)},
};

/* Qwen3-MoE: Qwen3's attention, every layer sparse */
static const lmd_wspec qwen3moe_tensors[] = {
    ATTN_PROJ,
    PRE_NORMS,
    {"layers.%d.self_attn.q_norm.weight", W_F32, {DIM_HD}, IF_QK_NORM, 0, L(q_norm)},
    {"layers.%d.self_attn.k_norm.weight", W_F32, {DIM_HD}, IF_QK_NORM, 0, L(k_norm)},
    {"layers.%d.mlp.gate.weight", W_MAT, {DIM_E, DIM_D}, 0, 0, L(router)},
    {"layers.%d.mlp.experts.%d.gate_proj.weight", W_MAT_EXPERTS, {DIM_EI, DIM_D}, 0, 0, L(egate)},
    {"layers.%d.mlp.experts.%d.up_proj.weight", W_MAT_EXPERTS, {DIM_EI, DIM_D}, 0, 0, L(eup)},
    {"layers.%d.mlp.experts.%d.down_proj.weight", W_MAT_EXPERTS, {DIM_D, DIM_EI}, 0, 0, L(edown)},
};

typedef enum { LLAMA, MISTRAL, QWEN2, QWEN3, OLMO2, PHI3, MIXTRAL, QWEN3MOE } variant;

/* The experts: how many, how many per token, their size, renormalised or
 * not (Mixtral always; Qwen3-MoE by norm_topk_prob); Qwen3-MoE's dense
 * layers (mlp_only_layers, decoder_sparse_step) are refused. */
static int read_moe(lmd_model *m, const cJSON *cfg, const char *path, decoder *g, variant v,
                    lmd_error *err) {
    long E, k, EI, step = 1;
    int norm = 1;
    if (lmd_cfg_int(cfg, v == MIXTRAL ? "num_local_experts" : "num_experts", 8, &E, path, err) <
            0 ||
        lmd_cfg_int(cfg, "num_experts_per_tok", 2, &k, path, err) < 0 ||
        lmd_cfg_int(cfg, v == MIXTRAL ? "intermediate_size" : "moe_intermediate_size", 768, &EI,
                    path, err) < 0 ||
        (v == QWEN3MOE && (lmd_cfg_bool(cfg, "norm_topk_prob", 0, &norm, path, err) < 0 ||
                           lmd_cfg_int(cfg, "decoder_sparse_step", 1, &step, path, err) < 0)))
        return -1;
    const cJSON *dense = cJSON_GetObjectItemCaseSensitive(cfg, "mlp_only_layers");
    if (step != 1 || (cJSON_IsArray(dense) && cJSON_GetArraySize(dense) > 0))
        return lmd_fail(err,
                        "%s: dense layers among the sparse ones (decoder_sparse_step, "
                        "mlp_only_layers) are not supported",
                        path);
    if (E < 1 || E > 4096 || k < 1 || k > E || EI < 1 || EI > (1 << 20))
        return lmd_fail(err, "%s: implausible experts (%ld experts, %ld per token, size %ld)", path,
                        E, k, EI);
    m->hp.n_experts = E, m->hp.expert_inner = EI;
    g->top_k = (int)k, g->norm_topk = norm;
    return 0;
}

/* Keys whose non-default values change the maths in a way not implemented. */
static int refuse_unsupported(const cJSON *cfg, const char *path, const char *arch, variant v,
                              double *prf, lmd_error *err) {
    if (lmd_cfg_float(cfg, "partial_rotary_factor", 1.0, prf, path, err) < 0) return -1;
    if (v == PHI3 ? !(*prf > 0 && *prf <= 1) : *prf != 1.0)
        return lmd_fail(err, "%s: \"partial_rotary_factor\" %g is not supported for %s (%s is)",
                        path, *prf, arch, v == PHI3 ? "(0, 1]" : "1");
    static const char *must_be_null[] = {"quantization_config", "attn_logit_softcapping",
                                         "final_logit_softcapping"};
    for (size_t i = 0; i < sizeof must_be_null / sizeof *must_be_null; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, must_be_null[i]);
        if (v && !cJSON_IsNull(v))
            return lmd_fail(err, "%s: \"%s\" is not supported", path, must_be_null[i]);
    }
    const char *act = lmd_cfg_str(cfg, "hidden_act");
    if (act && strcmp(act, "silu") && strcmp(act, "swish"))
        return lmd_fail(err, "%s: \"hidden_act\" \"%s\" is not supported for %s (silu is)", path,
                        act, arch);
    return 0;
}

/* The sliding attention window, 0 when none: the scoring context is capped at it. */
static int read_window(const cJSON *cfg, const char *path, variant v, long *window,
                       lmd_error *err) {
    int use = v == MISTRAL || v == PHI3 || v == MIXTRAL;
    *window = 0;
    if ((v == QWEN2 || v == QWEN3 || v == QWEN3MOE) &&
        lmd_cfg_bool(cfg, "use_sliding_window", 0, &use, path, err) < 0)
        return -1;
    if (use && (v == QWEN3 || v == QWEN3MOE)) /* its windows cover only some layers */
        return lmd_fail(err, "%s: \"use_sliding_window\" true is not supported for Qwen3", path);
    if (use && lmd_cfg_int(cfg, "sliding_window", 0, window, path, err) < 0) return -1;
    if (*window < 0) return lmd_fail(err, "%s: \"sliding_window\" %ld is negative", path, *window);
    if (*window > 0 && *window < 2)
        return lmd_fail(err, "%s: \"sliding_window\" %ld is too small (2 or more)", path, *window);
    return 0;
}

static int dec_hp(lmd_model *m, const cJSON *cfg, const char *path, decoder *g, variant var,
                  lmd_error *err) {
    long d, nl, H, KV, D, I, V, np, window;
    double eps, theta, prf;
    int attn_bias, mlp_bias, tie;
    if (lmd_cfg_int(cfg, "hidden_size", 4096, &d, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_hidden_layers", 32, &nl, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_attention_heads", 32, &H, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_key_value_heads", H, &KV, path, err) < 0 ||
        lmd_cfg_int(cfg, "intermediate_size", 11008, &I, path, err) < 0 ||
        lmd_cfg_int(cfg, "vocab_size", 32000, &V, path, err) < 0 ||
        lmd_cfg_int(cfg, "max_position_embeddings", 2048, &np, path, err) < 0 ||
        lmd_cfg_float(cfg, "rms_norm_eps", var == OLMO2 ? 1e-5 : 1e-6, &eps, path, err) < 0 ||
        lmd_cfg_float(cfg, "rope_theta", 10000.0, &theta, path, err) < 0 ||
        lmd_cfg_bool(cfg, "attention_bias", 0, &attn_bias, path, err) < 0 ||
        lmd_cfg_bool(cfg, "mlp_bias", 0, &mlp_bias, path, err) < 0 ||
        lmd_cfg_bool(cfg, "tie_word_embeddings", 0, &tie, path, err) < 0 ||
        refuse_unsupported(cfg, path, m->info.arch, var, &prf, err) < 0 ||
        read_window(cfg, path, var, &window, err) < 0)
        return -1;
    if (H <= 0 || d <= 0)
        return lmd_fail(err, "%s: hidden_size and num_attention_heads must be positive", path);
    if (lmd_cfg_int(cfg, "head_dim", d / H, &D, path, err) < 0) return -1;
    if (nl <= 0 || KV <= 0 || D <= 0 || I <= 0 || V <= 0 || np <= 1 || H % KV != 0 || d > 65536 ||
        nl > 1024 || H > 1024 || D > 4096 || I > (1 << 20) || V > (1 << 24) || np > (1 << 24))
        return lmd_fail(err,
                        "%s: implausible sizes (hidden_size %ld, num_hidden_layers %ld, "
                        "num_attention_heads %ld, num_key_value_heads %ld, head_dim %ld, "
                        "intermediate_size %ld, vocab_size %ld, max_position_embeddings %ld; "
                        "num_attention_heads must be a multiple of num_key_value_heads)",
                        path, d, nl, H, KV, D, I, V, np);
    if (!(eps > 0 && eps < 1))
        return lmd_fail(err, "%s: rms_norm_eps %g is not in (0, 1)", path, eps);
    /* biases: Llama's attention_bias and mlp_bias (read for Mistral and
     * Qwen2 as before), Qwen2's q/k/v always, Qwen3's and OLMo-2's
     * attention_bias, none in Phi-3 */
    const int qwen3 = var == QWEN3 || var == QWEN3MOE;
    unsigned f = (tie ? IF_TIED : IF_UNTIED) | (qwen3 ? IF_QK_NORM : 0) |
                 (attn_bias && var != PHI3 ? IF_QKV_BIAS | IF_O_BIAS : 0) |
                 (mlp_bias && var <= QWEN2 ? IF_MLP_BIAS : 0) | (var == QWEN2 ? IF_QKV_BIAS : 0);
    m->hp = (lmd_hp){
        .d = d, .n_layer = nl, .H = H, .KV = KV, .D = D, .inner = I, .vocab = V, .flags = f};
    g->eps = (float)eps;
    g->qk = qwen3 ? QK_PER_HEAD : var == OLMO2 ? QK_WHOLE : QK_NONE;
    if ((var == MIXTRAL || var == QWEN3MOE) && read_moe(m, cfg, path, g, var, err) < 0) return -1;
    g->act = LMD_ACT_SILU;
    g->attn_scale = 1.0f / sqrtf((float)D);
    /* HF: rotary dims = int(head_dim * partial_rotary_factor), even */
    int rot = (int)((double)D * prf) & ~1;
    if (lmd_rope_init(&g->rope, cfg, path, (int)D, rot, theta, var == PHI3, err) < 0) return -1;
    long n_ctx = np;
    if (var == PHI3 && window > 0 && window < np) { /* inside attention, every layer */
        g->window = (int)window;
        g->local = malloc((size_t)nl);
        if (!g->local) return lmd_fail(err, "out of memory");
        memset(g->local, 1, (size_t)nl);
    } else if (var != PHI3 && window > 0 && window < n_ctx) {
        n_ctx = window; /* the context capped */
    }
    m->info.n_ctx = (int32_t)n_ctx;
    return 0;
}

#define VARIANT_HP(fn, v)                                                                          \
    static int fn(lmd_model *m, const cJSON *cfg, const char *path, void *g, lmd_error *err) {     \
        return dec_hp(m, cfg, path, g, v, err);                                                    \
    }
VARIANT_HP(llama_hp, LLAMA)
VARIANT_HP(mistral_hp, MISTRAL)
VARIANT_HP(qwen2_hp, QWEN2)
VARIANT_HP(qwen3_hp, QWEN3)
VARIANT_HP(olmo2_hp, OLMO2)
VARIANT_HP(phi3_hp, PHI3)
VARIANT_HP(mixtral_hp, MIXTRAL)
VARIANT_HP(qwen3moe_hp, QWEN3MOE)

#define DECODER(var, id_, mt, names_, tensors_)                                                    \
    LMD_DECODER_ARCH(var, id_, mt, names_, tensors_, lmd_dec_bind)
static const char *const llama_names[] = {"LlamaForCausalLM", NULL};
static const char *const mistral_names[] = {"MistralForCausalLM", NULL};
static const char *const qwen2_names[] = {"Qwen2ForCausalLM", NULL};
static const char *const qwen3_names[] = {"Qwen3ForCausalLM", NULL};
static const char *const olmo2_names[] = {"Olmo2ForCausalLM", NULL};
static const char *const phi3_names[] = {"Phi3ForCausalLM", NULL};
DECODER(llama, "llama", "llama", llama_names, llama_tensors);
DECODER(mistral, "mistral", "mistral", mistral_names, llama_tensors);
DECODER(qwen2, "qwen2", "qwen2", qwen2_names, llama_tensors);
DECODER(qwen3, "qwen3", "qwen3", qwen3_names, llama_tensors);
DECODER(olmo2, "olmo2", "olmo2", olmo2_names, olmo2_tensors);
DECODER(phi3, "phi3", "phi3", phi3_names, phi3_tensors);
static const char *const mixtral_names[] = {"MixtralForCausalLM", NULL};
static const char *const qwen3moe_names[] = {"Qwen3MoeForCausalLM", NULL};
DECODER(mixtral, "mixtral", "mixtral", mixtral_names, mixtral_tensors);
DECODER(qwen3moe, "qwen3_moe", "qwen3_moe", qwen3moe_names, qwen3moe_tensors);
