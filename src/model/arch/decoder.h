/* decoder.h - the one forward of the RMSNorm / gated-MLP / RoPE decoders
 * (decoder.c), shared by the rows of llama.c (Llama, Mistral, Qwen2,
 * Qwen3, OLMo-2, Phi-3) and gemma.c (Gemma 2, Gemma 3).  A family's
 * hyper-parameter reader fills a lmd_decoder; its tensor table fills the
 * weights; what a layer lacks (a NULL norm, a missing bias) it skips. */
#ifndef LMD_DECODER_H
#define LMD_DECODER_H

#include "model/arch/arch.h"
#include "model/kernel/attention.h"

typedef struct lmd_dec_layer {
    /* RMSNorms: before / after attention, before / after the MLP (NULL: none) */
    const float *ln_attn_in, *ln_attn_out, *ln_mlp_in, *ln_mlp_out;
    const float *q_norm, *k_norm;
    const float *bq, *bk, *bv, *bo, *bgate, *bup, *bdown; /* NULL when absent */
    lmd_mat wq, wk, wv, wo, wgate, wup, wdown;
    lmd_mat wqkv, wgate_up; /* fused projections (Phi-3), split into the above by bind */
    /* a sparse MoE MLP instead (router.data set): [n_experts x d] and per expert */
    lmd_mat router, *egate, *eup, *edown;
} lmd_dec_layer;

typedef enum { QK_NONE, QK_PER_HEAD, QK_WHOLE } lmd_qk_norm;

typedef struct lmd_decoder {
    float eps;
    lmd_qk_norm qk;       /* q/k RMSNorm over each head or the whole projection */
    lmd_activation act;   /* of the gate (SiLU: SwiGLU; GELU: GeGLU) */
    float attn_scale;     /* of q k^T */
    float emb_scale;      /* 0: none; else the embeddings are multiplied by it */
    float softcap;        /* > 0: attention scores soft-capped */
    int window;           /* > 0: the sliding window of the local layers */
    unsigned char *local; /* [n_layer]: 1 = local (windowed) layer; NULL: none */
    lmd_rope rope;        /* global layers' */
    lmd_rope rope_local;  /* local layers' when has_local_rope */
    int has_local_rope;
    int top_k, norm_topk; /* MoE: experts per token; their weights renormalised to sum 1 */
    lmd_mat embed, head;
    const float *norm;
} lmd_decoder;

/* bind: fused projections split, the head, FLOPs. */
int lmd_dec_bind(lmd_model *m, void *arch, lmd_error *err);
int lmd_dec_forward(const lmd_model *m, const lmd_seq *seqs, int n_seqs, float *hidden,
                    lmd_error *err);
void lmd_dec_free(void *arch);

/* The table row lmd_arch_VAR of a decoder family: its id, model_type, HF
 * names, hyper-parameter reader VAR_hp, tensor table and bind step (most
 * use lmd_dec_bind; Gemma wraps it). */
#define LMD_DECODER_ARCH(var, id_, mt, names_, tensors_, bind_)                                    \
    const lmd_arch lmd_arch_##var = {.id = id_,                                                    \
                                     .names = names_,                                              \
                                     .model_type = mt,                                             \
                                     .prefix = "model.",                                           \
                                     .size = sizeof(lmd_decoder),                                  \
                                     .layer_size = sizeof(lmd_dec_layer),                          \
                                     .read_hp = var##_hp,                                          \
                                     .tensors = tensors_,                                          \
                                     .n_tensors = N_SPECS(tensors_),                               \
                                     .bind = bind_,                                                \
                                     .forward = lmd_dec_forward,                                   \
                                     .free_arch = lmd_dec_free}

#endif
