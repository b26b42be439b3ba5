/* gemma.c - Gemma2ForCausalLM and Gemma3ForCausalLM (Gemma 3's text model):
 * their tensor tables and config readers; the forward is decoder.c's.
 *
 * Embeddings scaled by sqrt(hidden_size) (rounded to the weights' dtype,
 * as HF casts it); every RMSNorm multiplies by (1 + w); GeGLU MLP
 * (hidden_activation, gelu_pytorch_tanh); norms before and after both
 * attention and MLP; attention scaled by query_pre_attn_scalar^-1/2;
 * Gemma 2: attention and final-logit soft-capping; Gemma 3: per-head q/k
 * RMSNorm.  Local layers (layer_types, else Gemma 2's every other layer
 * from the first, Gemma 3's all but every sliding_window_pattern-th) attend
 * within sliding_window inside attention; Gemma 3's local layers use RoPE
 * base rope_local_base_freq without scaling, its global ones rope_theta with
 * rope_scaling. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch/decoder.h"

typedef lmd_dec_layer dec_layer;
typedef lmd_decoder decoder;

#define G(f) offsetof(decoder, f)
#define L(f) offsetof(dec_layer, f)
static const lmd_wspec gemma_tensors[] = {
    {"embed_tokens.weight", W_MAT, {DIM_V, DIM_D}, 0, 0, G(embed)},
    {"norm.weight", W_F32_1P, {DIM_D}, 0, 0, G(norm)},
    {"^lm_head.weight", W_MAT, {DIM_V, DIM_D}, IF_UNTIED, 0, G(head)},
    {"layers.%d.self_attn.q_proj.weight", W_MAT, {DIM_QD, DIM_D}, 0, 0, L(wq)},
    {"layers.%d.self_attn.k_proj.weight", W_MAT, {DIM_KVD, DIM_D}, 0, 0, L(wk)},
    {"layers.%d.self_attn.v_proj.weight", W_MAT, {DIM_KVD, DIM_D}, 0, 0, L(wv)},
    {"layers.%d.self_attn.o_proj.weight", W_MAT, {DIM_D, DIM_QD}, 0, 0, L(wo)},
    {"layers.%d.self_attn.q_proj.bias", W_F32, {DIM_QD}, IF_QKV_BIAS, 0, L(bq)},
    {"layers.%d.self_attn.k_proj.bias", W_F32, {DIM_KVD}, IF_QKV_BIAS, 0, L(bk)},
    {"layers.%d.self_attn.v_proj.bias", W_F32, {DIM_KVD}, IF_QKV_BIAS, 0, L(bv)},
    {"layers.%d.self_attn.o_proj.bias", W_F32, {DIM_D}, IF_O_BIAS, 0, L(bo)},
    {"layers.%d.mlp.gate_proj.weight", W_MAT, {DIM_I, DIM_D}, 0, 0, L(wgate)},
    {"layers.%d.mlp.up_proj.weight", W_MAT, {DIM_I, DIM_D}, 0, 0, L(wup)},
    {"layers.%d.mlp.down_proj.weight", W_MAT, {DIM_D, DIM_I}, 0, 0, L(wdown)},
    {"layers.%d.input_layernorm.weight", W_F32_1P, {DIM_D}, 0, 0, L(ln_attn_in)},
    {"layers.%d.post_attention_layernorm.weight", W_F32_1P, {DIM_D}, 0, 0, L(ln_attn_out)},
    {"layers.%d.pre_feedforward_layernorm.weight", W_F32_1P, {DIM_D}, 0, 0, L(ln_mlp_in)},
    {"layers.%d.post_feedforward_layernorm.weight", W_F32_1P, {DIM_D}, 0, 0, L(ln_mlp_out)},
    {"layers.%d.self_attn.q_norm.weight", W_F32_1P, {DIM_HD}, IF_QK_NORM, 0, L(q_norm)},
    {"layers.%d.self_attn.k_norm.weight", W_F32_1P, {DIM_HD}, IF_QK_NORM, 0, L(k_norm)},
};

/* Which layers are local (sliding window): config.json's layer_types, else
 * the family's pattern. */
static int read_layer_types(const cJSON *cfg, const char *path, int gemma3, long nl,
                            unsigned char *local, lmd_error *err) {
    const cJSON *lt = cJSON_GetObjectItemCaseSensitive(cfg, "layer_types");
    long pattern = 2;
    if (gemma3 && lmd_cfg_int(cfg, "sliding_window_pattern", 6, &pattern, path, err) < 0) return -1;
    if (pattern < 1) return lmd_fail(err, "%s: \"sliding_window_pattern\" must be positive", path);
    if (lt && !cJSON_IsNull(lt) && (!cJSON_IsArray(lt) || cJSON_GetArraySize(lt) != nl))
        return lmd_fail(err, "%s: \"layer_types\" must list the %ld layers", path, nl);
    for (long l = 0; l < nl; l++) {
        const cJSON *t = cJSON_IsArray(lt) ? cJSON_GetArrayItem(lt, (int)l) : NULL;
        if (!t) {
            local[l] = gemma3 ? (l + 1) % pattern != 0 : l % 2 == 0;
            continue;
        }
        const char *s = cJSON_IsString(t) ? t->valuestring : "";
        if (strcmp(s, "sliding_attention") && strcmp(s, "full_attention"))
            return lmd_fail(err,
                            "%s: layer_types[%ld] \"%s\" is not supported (sliding_attention "
                            "and full_attention are)",
                            path, l, s);
        local[l] = !strcmp(s, "sliding_attention");
    }
    return 0;
}

/* The soft-caps, the attention scale and the activation. */
static int read_options(const cJSON *cfg, const char *path, decoder *g, lmd_model *m, long D,
                        lmd_error *err) {
    double qpas, cap_attn, cap_final;
    if (lmd_cfg_float(cfg, "query_pre_attn_scalar", (double)D, &qpas, path, err) < 0 ||
        lmd_cfg_float(cfg, "attn_logit_softcapping", 0, &cap_attn, path, err) < 0 ||
        lmd_cfg_float(cfg, "final_logit_softcapping", 0, &cap_final, path, err) < 0)
        return -1;
    if (!(qpas > 0) || cap_attn < 0 || cap_final < 0)
        return lmd_fail(err,
                        "%s: query_pre_attn_scalar must be positive and the soft-caps not "
                        "negative",
                        path);
    g->attn_scale = (float)(1.0 / sqrt(qpas));
    g->softcap = (float)cap_attn;
    m->logit_softcap = (float)cap_final;
    const char *act = lmd_cfg_str(cfg, "hidden_activation");
    if (!act) act = lmd_cfg_str(cfg, "hidden_act");
    if (lmd_parse_act(act ? act : "gelu_pytorch_tanh", &g->act) < 0)
        return lmd_fail(err, "%s: \"hidden_activation\" \"%s\" is not supported", path, act);
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(cfg, "quantization_config");
    if (q && !cJSON_IsNull(q))
        return lmd_fail(err, "%s: \"quantization_config\" is not supported", path);
    return 0;
}

/* Gemma 3's local RoPE: base rope_local_base_freq, no scaling. */
static int local_rope(decoder *g, const cJSON *cfg, const char *path, int D, lmd_error *err) {
    double base;
    if (lmd_cfg_float(cfg, "rope_local_base_freq", 10000.0, &base, path, err) < 0) return -1;
    cJSON *none = cJSON_CreateObject();
    if (!none) return lmd_fail(err, "out of memory");
    int rc = lmd_rope_init(&g->rope_local, none, path, D, D, base, 0, err);
    cJSON_Delete(none);
    g->has_local_rope = 1;
    return rc;
}

static int gemma_hp(lmd_model *m, const cJSON *cfg, const char *path, decoder *g, int gemma3,
                    lmd_error *err) {
    long d, nl, H, KV, D, I, V, np, window;
    double eps, theta;
    int bias, tie;
    if (lmd_cfg_int(cfg, "hidden_size", 2304, &d, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_hidden_layers", 26, &nl, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_attention_heads", 8, &H, path, err) < 0 ||
        lmd_cfg_int(cfg, "num_key_value_heads", 4, &KV, path, err) < 0 ||
        lmd_cfg_int(cfg, "head_dim", 256, &D, path, err) < 0 ||
        lmd_cfg_int(cfg, "intermediate_size", 9216, &I, path, err) < 0 ||
        lmd_cfg_int(cfg, "vocab_size", gemma3 ? 262208 : 256000, &V, path, err) < 0 ||
        lmd_cfg_int(cfg, "max_position_embeddings", gemma3 ? 131072 : 8192, &np, path, err) < 0 ||
        lmd_cfg_int(cfg, "sliding_window", 4096, &window, path, err) < 0 ||
        lmd_cfg_float(cfg, "rms_norm_eps", 1e-6, &eps, path, err) < 0 ||
        lmd_cfg_float(cfg, "rope_theta", gemma3 ? 1000000.0 : 10000.0, &theta, path, err) < 0 ||
        lmd_cfg_bool(cfg, "attention_bias", 0, &bias, path, err) < 0 ||
        lmd_cfg_bool(cfg, "tie_word_embeddings", 1, &tie, path, err) < 0 ||
        read_options(cfg, path, g, m, D, err) < 0)
        return -1;
    if (d <= 0 || nl <= 0 || H <= 0 || KV <= 0 || D <= 0 || I <= 0 || V <= 0 || np <= 1 ||
        H % KV != 0 || d > 65536 || nl > 1024 || H > 1024 || D > 4096 || I > (1 << 20) ||
        V > (1 << 24) || np > (1 << 24) || window < 1)
        return lmd_fail(err,
                        "%s: implausible sizes (hidden_size %ld, num_hidden_layers %ld, "
                        "num_attention_heads %ld, num_key_value_heads %ld, head_dim %ld, "
                        "intermediate_size %ld, vocab_size %ld, max_position_embeddings %ld, "
                        "sliding_window %ld; num_attention_heads must be a multiple of "
                        "num_key_value_heads)",
                        path, d, nl, H, KV, D, I, V, np, window);
    if (!(eps > 0 && eps < 1))
        return lmd_fail(err, "%s: rms_norm_eps %g is not in (0, 1)", path, eps);
    m->hp = (lmd_hp){.d = d,
                     .n_layer = nl,
                     .H = H,
                     .KV = KV,
                     .D = D,
                     .inner = I,
                     .vocab = V,
                     .flags = (tie ? IF_TIED : IF_UNTIED) | (bias ? IF_QKV_BIAS | IF_O_BIAS : 0) |
                              (gemma3 ? IF_QK_NORM : 0)};
    m->info.n_ctx = (int32_t)np;
    g->eps = (float)eps;
    g->qk = gemma3 ? QK_PER_HEAD : QK_NONE;
    g->window = (int)(window < np ? window : np);
    g->local = malloc((size_t)nl);
    if (!g->local) return lmd_fail(err, "out of memory");
    if (read_layer_types(cfg, path, gemma3, nl, g->local, err) < 0 ||
        lmd_rope_init(&g->rope, cfg, path, (int)D, (int)D, theta, 0, err) < 0 ||
        (gemma3 && local_rope(g, cfg, path, (int)D, err) < 0))
        return -1;
    return 0;
}

static int gemma2_hp(lmd_model *m, const cJSON *cfg, const char *path, void *g, lmd_error *err) {
    return gemma_hp(m, cfg, path, g, 0, err);
}
static int gemma3_hp(lmd_model *m, const cJSON *cfg, const char *path, void *g, lmd_error *err) {
    return gemma_hp(m, cfg, path, g, 1, err);
}

/* x (positive, normal in both formats) rounded to nearest even keeping
 * `keep` of the 23 mantissa bits: 7 for BF16, 10 for F16. */
static float round_mantissa(float x, int keep) {
    union {
        float f;
        uint32_t u;
    } b = {x};
    const int drop = 23 - keep;
    const uint32_t half = (1u << (drop - 1)) - 1;
    b.u = (b.u + half + ((b.u >> drop) & 1)) & ~((1u << drop) - 1);
    return b.f;
}

/* The embedding scale sqrt(hidden_size), in the embeddings' dtype as HF
 * casts it, then the decoder's bind. */
static int gemma_bind(lmd_model *m, void *arch, lmd_error *err) {
    decoder *g = arch;
    float s = sqrtf((float)m->hp.d);
    if (g->embed.dtype == LMD_BF16) s = round_mantissa(s, 7);
    if (g->embed.dtype == LMD_F16) s = round_mantissa(s, 10);
    g->emb_scale = s;
    return lmd_dec_bind(m, arch, err);
}

#define GEMMA(var, id_, mt, names_)                                                                \
    LMD_DECODER_ARCH(var, id_, mt, names_, gemma_tensors, gemma_bind)
static const char *const gemma2_names[] = {"Gemma2ForCausalLM", NULL};
static const char *const gemma3_names[] = {"Gemma3ForCausalLM", NULL};
GEMMA(gemma2, "gemma2", "gemma2", gemma2_names);
GEMMA(gemma3, "gemma3", "gemma3_text", gemma3_names);
