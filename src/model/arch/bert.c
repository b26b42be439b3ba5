/* bert.c - the masked language models: BertForMaskedLM (also BertLMHeadModel
 * and BertForPreTraining, whose cls.predictions head is the same),
 * DistilBertForMaskedLM and RobertaForMaskedLM: three tensor tables, one
 * forward.
 *
 * The encoder is post-LN: x = LN(x + attention(x)); x = LN(x + FFN(x)), with
 * bidirectional attention (each lmd_seq is one unpadded sequence, so there
 * is no mask).  Embeddings: word + position (+ token type 0, BERT and
 * RoBERTa) then LayerNorm; RoBERTa's positions start at pad_token_id + 1.
 * The forward returns the MLM head's transform (dense, activation,
 * LayerNorm); the decoder (tied to the word embeddings unless
 * tie_word_embeddings is false) and its bias are m->lm_head / m->lm_bias.
 * LayerNorms may be stored under the TF-era names gamma / beta.
 *
 * bert_forward_sel computes the last layer only at one row per sequence
 * (the masked position of a pseudo-likelihood copy): keys and values of the
 * last layer still need every row, but its queries, attention output, FFN
 * and the head transform run on one row per sequence. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch/arch.h"
#include "model/kernel/attention.h"
#include "model/kernel/scratch.h"

enum { BERT, DISTILBERT, ROBERTA };

typedef struct bert_layer {
    lmd_mat q_w, k_w, v_w, o_w, i_w, out_w; /* nn.Linear: [out x in] */
    const float *q_b, *k_b, *v_b, *o_b, *ln1_w, *ln1_b, *i_b, *out_b, *ln2_w, *ln2_b;
} bert_layer;

typedef struct bert {
    int kind, pos_offset;
    float eps;
    lmd_activation act, head_act;
    lmd_mat wte, wpe, tr_w, head; /* word and position embeddings, head transform, decoder */
    const float *wtt0, *eln_w, *eln_b;
    const float *tr_b, *tr_ln_w, *tr_ln_b, *bias;
} bert;

#define G(f) offsetof(bert, f)
#define L(f) offsetof(bert_layer, f)
#define LN(name, w, b)                                                                             \
    {name ".weight|" name ".gamma", W_F32, {DIM_D}, 0, 0, w}, {                                    \
        name ".bias|" name ".beta", W_F32, {DIM_D}, 0, 0, b                                        \
    }
#define LIN(name, W, B, o, i)                                                                      \
    {name ".weight", W_MAT, {o, i}, 0, 0, W}, {                                                    \
        name ".bias", W_F32, {o}, 0, 0, B                                                          \
    }
#define EMBEDDINGS                                                                                 \
    {"embeddings.word_embeddings.weight", W_MAT, {DIM_V, DIM_D}, 0, 0, G(wte)},                    \
        {"embeddings.position_embeddings.weight", W_MAT, {DIM_POS, DIM_D}, 0, 0, G(wpe)},          \
        LN("embeddings.LayerNorm", G(eln_w), G(eln_b))
#define ENCODER                                                                                    \
    {"embeddings.token_type_embeddings.weight", W_F32, {DIM_TYPES, DIM_D}, IF_TYPES, 0, G(wtt0)},  \
        LIN("encoder.layer.%d.attention.self.query", L(q_w), L(q_b), DIM_D, DIM_D),                \
        LIN("encoder.layer.%d.attention.self.key", L(k_w), L(k_b), DIM_D, DIM_D),                  \
        LIN("encoder.layer.%d.attention.self.value", L(v_w), L(v_b), DIM_D, DIM_D),                \
        LIN("encoder.layer.%d.attention.output.dense", L(o_w), L(o_b), DIM_D, DIM_D),              \
        LIN("encoder.layer.%d.intermediate.dense", L(i_w), L(i_b), DIM_I, DIM_D),                  \
        LIN("encoder.layer.%d.output.dense", L(out_w), L(out_b), DIM_D, DIM_I),                    \
        LN("encoder.layer.%d.attention.output.LayerNorm", L(ln1_w), L(ln1_b)),                     \
        LN("encoder.layer.%d.output.LayerNorm", L(ln2_w), L(ln2_b))
/* untied: the decoder must be there; tied: a stored one is shape-checked, unused */
#define HEAD(tr_, tr_ln_, dec_, bias_)                                                             \
    LIN("^" tr_, G(tr_w), G(tr_b), DIM_D, DIM_D), LN("^" tr_ln_, G(tr_ln_w), G(tr_ln_b)),          \
        {"^" dec_, W_MAT, {DIM_V, DIM_D}, 0, IF_TIED, G(head)}, {                                  \
        "^" bias_, W_F32, {DIM_V}, 0, 0, G(bias)                                                   \
    }

static const lmd_wspec bert_tensors[] = {
    EMBEDDINGS,
    ENCODER,
    HEAD("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm",
         "cls.predictions.decoder.weight", "cls.predictions.bias|cls.predictions.decoder.bias"),
};
static const lmd_wspec roberta_tensors[] = {
    EMBEDDINGS,
    ENCODER,
    HEAD("lm_head.dense", "lm_head.layer_norm", "lm_head.decoder.weight",
         "lm_head.bias|lm_head.decoder.bias"),
};
static const lmd_wspec distilbert_tensors[] = {
    EMBEDDINGS,
    LIN("transformer.layer.%d.attention.q_lin", L(q_w), L(q_b), DIM_D, DIM_D),
    LIN("transformer.layer.%d.attention.k_lin", L(k_w), L(k_b), DIM_D, DIM_D),
    LIN("transformer.layer.%d.attention.v_lin", L(v_w), L(v_b), DIM_D, DIM_D),
    LIN("transformer.layer.%d.attention.out_lin", L(o_w), L(o_b), DIM_D, DIM_D),
    LIN("transformer.layer.%d.ffn.lin1", L(i_w), L(i_b), DIM_I, DIM_D),
    LIN("transformer.layer.%d.ffn.lin2", L(out_w), L(out_b), DIM_D, DIM_I),
    LN("transformer.layer.%d.sa_layer_norm", L(ln1_w), L(ln1_b)),
    LN("transformer.layer.%d.output_layer_norm", L(ln2_w), L(ln2_b)),
    HEAD("vocab_transform", "vocab_layer_norm", "vocab_projector.weight", "vocab_projector.bias"),
};

/* The sizes, under DistilBERT's own key names or BERT's. */
static int read_sizes(const cJSON *cfg, const char *path, int kind, long *v, double *eps,
                      const char **act, lmd_error *err) {
    const int dl = kind == DISTILBERT;
    static const char *keys[2][4] = {
        {"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"},
        {"dim", "n_layers", "n_heads", "hidden_dim"}};
    static const long defs[2][4] = {{768, 12, 12, 3072}, {768, 6, 12, 3072}};
    for (int i = 0; i < 4; i++)
        if (lmd_cfg_int(cfg, keys[dl][i], defs[dl][i], &v[i], path, err) < 0) return -1;
    /* DistilBERT's LayerNorms use a fixed eps of 1e-12 */
    if (!dl && lmd_cfg_float(cfg, "layer_norm_eps", 1e-12, eps, path, err) < 0) return -1;
    *act = lmd_cfg_str(cfg, dl ? "activation" : "hidden_act");
    if (!*act) *act = "gelu";
    return 0;
}

/* BERT and RoBERTa options that change the maths: refused by name. */
static int refuse_options(const cJSON *cfg, const char *path, lmd_error *err) {
    int is_dec, cross;
    if (lmd_cfg_bool(cfg, "is_decoder", 0, &is_dec, path, err) < 0 ||
        lmd_cfg_bool(cfg, "add_cross_attention", 0, &cross, path, err) < 0)
        return -1;
    if (is_dec)
        return lmd_fail(err,
                        "%s: is_decoder is true: a causal BERT decoder is not supported "
                        "(lmdiff scores BERT-family models as masked LMs)",
                        path);
    if (cross) return lmd_fail(err, "%s: add_cross_attention is not supported", path);
    const char *pet = lmd_cfg_str(cfg, "position_embedding_type");
    if (pet && strcmp(pet, "absolute"))
        return lmd_fail(err, "%s: position_embedding_type \"%s\" is not supported (absolute is)",
                        path, pet);
    return 0;
}

static int bert_hp(lmd_model *m, const cJSON *cfg, const char *path, bert *b, int kind,
                   lmd_error *err) {
    long v[4], np, V, ntype = 0, pad = 0;
    double eps = 1e-12;
    int tie;
    const char *act;
    if (read_sizes(cfg, path, kind, v, &eps, &act, err) < 0 ||
        lmd_cfg_int(cfg, "max_position_embeddings", 512, &np, path, err) < 0 ||
        lmd_cfg_int(cfg, "vocab_size", kind == ROBERTA ? 50265 : 30522, &V, path, err) < 0 ||
        lmd_cfg_bool(cfg, "tie_word_embeddings", 1, &tie, path, err) < 0 ||
        (kind != DISTILBERT &&
         (lmd_cfg_int(cfg, "type_vocab_size", 2, &ntype, path, err) < 0 ||
          lmd_cfg_int(cfg, "pad_token_id", kind == ROBERTA ? 1 : 0, &pad, path, err) < 0 ||
          refuse_options(cfg, path, err) < 0)))
        return -1;
    const long d = v[0], nl = v[1], nh = v[2], inner = v[3];
    if (d <= 0 || nl <= 0 || nh <= 0 || np <= 1 || V <= 0 || inner <= 0 || d % nh != 0 ||
        d > 65536 || nl > 1024 || np > (1 << 20) || V > (1 << 24) || inner > (1 << 20) ||
        ntype < 0 || ntype > (1 << 16))
        return lmd_fail(err,
                        "%s: implausible sizes (hidden %ld, layers %ld, heads %ld, positions %ld, "
                        "vocab_size %ld, intermediate %ld, type_vocab_size %ld; the hidden size "
                        "must be a multiple of the heads)",
                        path, d, nl, nh, np, V, inner, ntype);
    if (!(eps > 0 && eps < 1))
        return lmd_fail(err, "%s: layer_norm_eps %g is not in (0, 1)", path, eps);
    if (kind == ROBERTA && (pad < 0 || pad + 2 >= np))
        return lmd_fail(err, "%s: pad_token_id %ld leaves no positions of the %ld", path, pad, np);
    if (lmd_parse_act(act, &b->act) < 0)
        return lmd_fail(err,
                        "%s: activation \"%s\" is not supported (gelu, gelu_new, "
                        "gelu_pytorch_tanh, gelu_fast, relu, silu, swish are)",
                        path, act);
    /* the head's activation: BERT's transform uses hidden_act, DistilBERT's
     * vocab_transform its activation, RoBERTa's lm_head always the erf GELU */
    b->head_act = kind == ROBERTA ? LMD_ACT_GELU_ERF : b->act;
    b->kind = kind;
    b->pos_offset = kind == ROBERTA ? (int)pad + 1 : 0;
    b->eps = (float)eps;
    m->hp = (lmd_hp){.d = d,
                     .n_layer = nl,
                     .H = nh,
                     .KV = nh,
                     .D = d / nh,
                     .inner = inner,
                     .vocab = V,
                     .n_pos = np,
                     .n_types = ntype,
                     .flags = (tie ? IF_TIED : IF_UNTIED) | (ntype > 0 ? IF_TYPES : 0)};
    m->info.n_ctx = (int32_t)(np - b->pos_offset);
    m->info.masked_lm = 1;
    /* the MLM head must be there: a checkpoint saved from a base model or a
     * classifier under a masked-LM name is refused rather than run with a
     * random head */
    const char *probe = kind == BERT         ? "cls.predictions.transform.dense.weight"
                        : kind == DISTILBERT ? "vocab_transform.weight"
                                             : "lm_head.dense.weight";
    if (!lmd_st_find(&m->st, probe))
        return lmd_fail(err,
                        "%s: config.json says %s but the weights have no masked-LM head (%s "
                        "is missing); a checkpoint without its MLM head cannot be scored",
                        m->dir, m->info.arch, probe);
    return 0;
}

#define KIND_HP(fn, k)                                                                             \
    static int fn(lmd_model *m, const cJSON *cfg, const char *path, void *b, lmd_error *err) {     \
        return bert_hp(m, cfg, path, b, k, err);                                                   \
    }
KIND_HP(bert_kind_hp, BERT)
KIND_HP(distilbert_kind_hp, DISTILBERT)
KIND_HP(roberta_kind_hp, ROBERTA)

static int bert_bind(lmd_model *m, void *arch, lmd_error *err) {
    (void)err;
    bert *b = arch;
    const lmd_hp *hp = &m->hp;
    int own_head = (hp->flags & IF_UNTIED) && b->head.data;
    if (b->head.data && !own_head) m->info.n_params -= hp->vocab * hp->d; /* tied: unused */
    m->lm_head = own_head ? b->head : b->wte;
    m->lm_bias = b->bias;
    /* per scored token of a pseudo-likelihood copy: the full encoder plus
     * the head at one row; the copy's other rows are counted by the scorer */
    double per_layer = 4.0 * hp->d * hp->d + 2.0 * hp->d * hp->inner;
    m->info.flops_per_token =
        2.0 * (hp->n_layer * per_layer + (double)hp->d * hp->d + (double)hp->vocab * hp->d);
    return 0;
}

/* Checks the batch: rows in the context, tokens in the vocabulary, selected
 * rows inside their sequences; *T = the total rows. */
static int check_batch(const lmd_model *m, const lmd_seq *seqs, int n_seqs, const int *sel,
                       size_t *T, lmd_error *err) {
    *T = 0;
    for (int s = 0; s < n_seqs; s++) {
        if (seqs[s].len > m->info.n_ctx)
            return lmd_fail(err, "%s: a sequence of %d tokens exceeds the %d positions", m->dir,
                            seqs[s].len, m->info.n_ctx);
        if (sel && (sel[s] < 0 || sel[s] >= seqs[s].len))
            return lmd_fail(err, "%s: selected row %d outside a sequence of %d", m->dir, sel[s],
                            seqs[s].len);
        for (int p = 0; p < seqs[s].len; p++)
            if (seqs[s].tokens[p] < 0 || seqs[s].tokens[p] >= m->hp.vocab)
                return lmd_fail(err, "%s: token id %d is outside the vocabulary of %d", m->dir,
                                seqs[s].tokens[p], (int)m->hp.vocab);
        *T += (size_t)seqs[s].len;
    }
    return 0;
}

/* word + position (+ token type 0) embeddings into x; pe: d floats of scratch */
static void embed(const bert *b, const lmd_seq *seqs, int n_seqs, int d, float *x, float *pe) {
    for (int s = 0, o = 0; s < n_seqs; s++)
        for (int p = 0; p < seqs[s].len; p++, o++) {
            float *row = x + (size_t)o * d;
            lmd_mat_row(&b->wte, seqs[s].tokens[p], row);
            lmd_mat_row(&b->wpe, p + b->pos_offset, pe);
            lmd_add_bias(row, 1, (size_t)d, pe);
            if (b->wtt0) lmd_add_bias(row, 1, (size_t)d, b->wtt0);
        }
}

/* After attention into ctx: x = LN(x + o(ctx)); x = LN(x + FFN(x)) over R rows. */
static int block_rest(const bert *b, const bert_layer *L, const float *ctx, float *x, float *f,
                      size_t R, int d, int inner) {
    if (lmd_linear(ctx, R, &L->o_w, L->o_b, x, (size_t)d, 1) < 0) return -1;
    lmd_layernorm_rows(x, x, R, d, L->ln1_w, L->ln1_b, b->eps);
    if (lmd_linear(x, R, &L->i_w, L->i_b, f, (size_t)inner, 0) < 0) return -1;
    lmd_activate_rows(f, R, (size_t)inner, inner, b->act);
    if (lmd_linear(f, R, &L->out_w, L->out_b, x, (size_t)d, 1) < 0) return -1;
    lmd_layernorm_rows(x, x, R, d, L->ln2_w, L->ln2_b, b->eps);
    return 0;
}

/* The encoder and head transform.  sel NULL: every row of every sequence
 * into hidden [sum(len) x d]; else row sel[s] of sequence s into hidden
 * [n_seqs x d]. */
static int bert_run(const lmd_model *m, const lmd_seq *seqs, int n_seqs, const int *sel,
                    float *hidden, lmd_error *err) {
    const bert *b = m->arch;
    const bert_layer *layers = m->layers;
    const int d = (int)m->hp.d, inner = (int)m->hp.inner, d3 = 3 * d;
    size_t T;
    if (check_batch(m, seqs, n_seqs, sel, &T, err) < 0) return -1;
    if (T == 0) return 0;
    const size_t R = sel ? (size_t)n_seqs : T; /* rows of the last layer */
    /* x, qkv, ctx, f, xs, qs: the thread's kept scratch (kernel/scratch.h) */
    const size_t sz[6] = {T * (size_t)d * 4,     T * (size_t)d3 * 4, T * (size_t)d * 4,
                          T * (size_t)inner * 4, R * (size_t)d * 4,  R * (size_t)d * 4};
    void *buf[6];
    int rc = -1;
    if (lmd_scratch_parts(LMD_SCR_FORWARD, 6, sz, buf) < 0) goto done;
    float *x = buf[0], *qkv = buf[1], *ctx = buf[2], *f = buf[3], *xs = buf[4], *qs = buf[5];
    embed(b, seqs, n_seqs, d, x, f);
    lmd_layernorm_rows(x, x, T, d, b->eln_w, b->eln_b, b->eps);
    lmd_attn a = {.H = (int)m->hp.H,
                  .KV = (int)m->hp.H,
                  .D = (int)m->hp.D,
                  .scale = 1.0f / sqrtf((float)m->hp.D),
                  .q_hs = (size_t)m->hp.D,
                  .k = qkv + d,
                  .v = qkv + 2 * d,
                  .kv_ld = (size_t)d3,
                  .k_hs = (size_t)m->hp.D,
                  .v_hs = (size_t)m->hp.D,
                  .out = ctx,
                  .out_ld = (size_t)d};
    for (int l = 0; l < m->hp.n_layer; l++) {
        const bert_layer *L = &layers[l];
        const int last = sel && l == m->hp.n_layer - 1;
        /* keys and values of every row; queries of every row (into qkv) or
         * of the selected ones (gathered into xs, queries into qs) */
        if (last)
            for (int s = 0, o = 0; s < n_seqs; o += seqs[s].len, s++)
                memcpy(xs + (size_t)s * d, x + ((size_t)o + (size_t)sel[s]) * d,
                       (size_t)d * sizeof *xs);
        float *xq = last ? xs : x, *q = last ? qs : qkv;
        const size_t rows = last ? R : T;
        a.sel = last ? sel : NULL;
        a.q = q;
        a.q_ld = last ? (size_t)d : (size_t)d3;
        if (lmd_linear(x, T, &L->k_w, L->k_b, qkv + d, (size_t)d3, 0) < 0 ||
            lmd_linear(x, T, &L->v_w, L->v_b, qkv + 2 * d, (size_t)d3, 0) < 0 ||
            lmd_linear(xq, rows, &L->q_w, L->q_b, q, a.q_ld, 0) < 0 ||
            lmd_attention(seqs, n_seqs, &a) < 0 || block_rest(b, L, ctx, xq, f, rows, d, inner) < 0)
            goto done;
    }
    /* the head's transform: dense, activation, LayerNorm */
    if (lmd_linear(sel ? xs : x, R, &b->tr_w, b->tr_b, hidden, (size_t)d, 0) < 0) goto done;
    lmd_activate_rows(hidden, R, (size_t)d, d, b->head_act);
    lmd_layernorm_rows(hidden, hidden, R, d, b->tr_ln_w, b->tr_ln_b, b->eps);
    rc = 0;
done:
    if (rc < 0) lmd_fail(err, "out of memory for a batch of %zu tokens", T);
    return rc;
}

static int bert_forward(const lmd_model *m, const lmd_seq *seqs, int n_seqs, float *hidden,
                        lmd_error *err) {
    return bert_run(m, seqs, n_seqs, NULL, hidden, err);
}

#define MLM(var, id_, mt, prefix_, names_, tensors_)                                               \
    const lmd_arch lmd_arch_##var = {.id = id_,                                                    \
                                     .names = names_,                                              \
                                     .model_type = mt,                                             \
                                     .prefix = prefix_,                                            \
                                     .size = sizeof(bert),                                         \
                                     .layer_size = sizeof(bert_layer),                             \
                                     .read_hp = var##_kind_hp,                                     \
                                     .tensors = tensors_,                                          \
                                     .n_tensors = N_SPECS(tensors_),                               \
                                     .bind = bert_bind,                                            \
                                     .forward = bert_forward,                                      \
                                     .forward_sel = bert_run}
static const char *const bert_names[] = {"BertForMaskedLM", "BertLMHeadModel", "BertForPreTraining",
                                         NULL};
static const char *const distilbert_names[] = {"DistilBertForMaskedLM", NULL};
static const char *const roberta_names[] = {"RobertaForMaskedLM", NULL};
MLM(bert, "bert", "bert", "bert.", bert_names, bert_tensors);
MLM(distilbert, "distilbert", "distilbert", "distilbert.", distilbert_names, distilbert_tensors);
MLM(roberta, "roberta", "roberta", "roberta.", roberta_names, roberta_tensors);

/* Every other class of these families (BertModel, ...ForSequenceClassification): refused. */
static const char *const encoder_prefixes[] = {"Bert", "DistilBert", "Roberta", NULL};
const lmd_arch lmd_arch_encoder_refused = {
    .id = "bert-family",
    .names = encoder_prefixes,
    .refuse = "has no masked-LM head: it is a base encoder or a fine-tune for another task, "
              "whose predictions over the vocabulary would be noise; lmdiff scores "
              "BertForMaskedLM, DistilBertForMaskedLM, RobertaForMaskedLM (and "
              "BertLMHeadModel / BertForPreTraining, which carry the same head)",
};
