/* bert.c - the masked language models: BertForMaskedLM (also BertLMHeadModel
 * and BertForPreTraining, whose cls.predictions head is the same),
 * DistilBertForMaskedLM and RobertaForMaskedLM.
 *
 * The encoder is post-LN: x = LN(x + attention(x)); x = LN(x + FFN(x)), with
 * bidirectional attention (each lmd_seq is one unpadded sequence, so there
 * is no mask).  Embeddings: word + position (+ token type 0, BERT and
 * RoBERTa) then LayerNorm; RoBERTa's positions start at pad_token_id + 1.
 * The arch forward returns the MLM head's transform (dense, activation,
 * LayerNorm); the decoder (tied to the word embeddings unless
 * tie_word_embeddings is false) and its bias are m->lm_head / m->lm_bias.
 *
 * HF linear layers store W as [out, in]: y = x W^T + b.  Matrices stay in
 * their stored dtype (lmd_mat); vectors are F32.
 *
 * lmd_bert_forward_sel computes the last layer only at one row per sequence (the
 * masked position of a pseudo-likelihood copy): keys and values of the last
 * layer still need every row, but its queries, attention output, FFN and
 * the head transform run on one row per sequence. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernels.h"
#include "model/model.h"

enum { BERT, DISTILBERT, ROBERTA };

typedef struct bert_layer {
    lmd_mat q_w, k_w, v_w, o_w, i_w, out_w; /* nn.Linear: [out x in] */
    const float *q_b, *k_b, *v_b, *o_b, *ln1_w, *ln1_b, *i_b, *out_b, *ln2_w, *ln2_b;
} bert_layer;

typedef struct bert {
    int kind;
    int d, n_layer, n_head, head_dim, inner, vocab, n_pos, pos_offset;
    float eps, head_eps;
    lmd_activation act, head_act;
    lmd_mat wte, wpe, tr_w; /* word and position embeddings, head transform */
    const float *wtt0, *eln_w, *eln_b;
    const float *tr_b, *tr_ln_w, *tr_ln_b;
    bert_layer *layers;
} bert;

static int parse_act(const char *s, lmd_activation *act) {
    static const struct {
        const char *name;
        lmd_activation act;
    } table[] = {
        {"gelu", LMD_ACT_GELU_ERF},
        {"gelu_new", LMD_ACT_GELU_TANH},
        {"gelu_pytorch_tanh", LMD_ACT_GELU_TANH},
        {"gelu_fast", LMD_ACT_GELU_TANH},
        {"relu", LMD_ACT_RELU},
        {"silu", LMD_ACT_SILU},
        {"swish", LMD_ACT_SILU},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(s, table[i].name)) {
            *act = table[i].act;
            return 0;
        }
    return -1;
}

static void bert_free(void *p) {
    bert *b = p;
    if (!b) return;
    free(b->layers);
    free(b);
}

/* A LayerNorm's weight and bias, under ".weight"/".bias" or the TF-era
 * ".gamma"/".beta" that some BERT checkpoints still carry. */
static int ln_weights(lmd_model *m, const char *prefix, const char *base, int64_t d,
                      const float **w, const float **b, lmd_error *err) {
    char n[256];
    int64_t s[] = {d};
    snprintf(n, sizeof n, "%s.weight", base);
    if (lmd_weight_opt(m, prefix, n, 1, s, w, err) < 0) return -1;
    if (!*w) {
        snprintf(n, sizeof n, "%s.gamma", base);
        if (lmd_weight_opt(m, prefix, n, 1, s, w, err) < 0) return -1;
    }
    snprintf(n, sizeof n, "%s.bias", base);
    if (lmd_weight_opt(m, prefix, n, 1, s, b, err) < 0) return -1;
    if (!*b) {
        snprintf(n, sizeof n, "%s.beta", base);
        if (lmd_weight_opt(m, prefix, n, 1, s, b, err) < 0) return -1;
    }
    if (!*w || !*b)
        return lmd_fail(err, "%s: LayerNorm %s%s (weight and bias) is missing from the weights",
                        m->dir, prefix, base);
    return 0;
}

/* Whether the weights hold a tensor prefix+name or name. */
static int has_tensor(const lmd_model *m, const char *prefix, const char *name) {
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    return lmd_st_find(&m->st, full) || lmd_st_find(&m->st, name);
}

int lmd_bert_is_family(const char *arch, const char *model_type) {
    static const char *types[] = {"bert", "distilbert", "roberta"};
    static const char *prefixes[] = {"Bert", "DistilBert", "Roberta"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(prefixes[i]);
        if (arch && !strncmp(arch, prefixes[i], l) &&
            (arch[l] == 'F' || arch[l] == 'L' || arch[l] == 'M' || arch[l] == 0))
            return 1;
        if (!arch && model_type && !strcmp(model_type, types[i])) return 1;
    }
    return 0;
}

int lmd_bert_load(lmd_model *m, const cJSON *cfg, const char *path, const char *arch,
                  lmd_error *err) {
    const char *mt = lmd_cfg_str(cfg, "model_type");
    int kind;
    const char *P;
    if (arch && !strcmp(arch, "BertForMaskedLM"))
        kind = BERT;
    else if (arch && (!strcmp(arch, "BertLMHeadModel") || !strcmp(arch, "BertForPreTraining")))
        kind = BERT;
    else if (arch && !strcmp(arch, "DistilBertForMaskedLM"))
        kind = DISTILBERT;
    else if (arch && !strcmp(arch, "RobertaForMaskedLM"))
        kind = ROBERTA;
    else
        return lmd_fail(err,
                        "%s: architecture %s (model_type %s) has no masked-LM head: it is a "
                        "base encoder or a fine-tune for another task, whose predictions over "
                        "the vocabulary would be noise; lmdiff scores BertForMaskedLM, "
                        "DistilBertForMaskedLM, RobertaForMaskedLM (and BertLMHeadModel / "
                        "BertForPreTraining, which carry the same head)",
                        path, arch ? arch : "(none)", mt ? mt : "(none)");
    P = kind == BERT ? "bert." : kind == DISTILBERT ? "distilbert." : "roberta.";

    long d, nl, nh, inner, np, V, ntype = 0, pad = 0;
    double eps = 1e-12;
    int is_dec = 0, cross = 0, tie;
    const char *act_name, *pet = NULL;
    if (kind == DISTILBERT) {
        if (lmd_cfg_int(cfg, "dim", 768, &d, path, err) < 0 ||
            lmd_cfg_int(cfg, "n_layers", 6, &nl, path, err) < 0 ||
            lmd_cfg_int(cfg, "n_heads", 12, &nh, path, err) < 0 ||
            lmd_cfg_int(cfg, "hidden_dim", 3072, &inner, path, err) < 0 ||
            lmd_cfg_int(cfg, "max_position_embeddings", 512, &np, path, err) < 0 ||
            lmd_cfg_int(cfg, "vocab_size", 30522, &V, path, err) < 0)
            return -1;
        act_name = lmd_cfg_str(cfg, "activation");
        if (!act_name) act_name = "gelu";
        /* DistilBERT's LayerNorms use a fixed eps of 1e-12 */
    } else {
        if (lmd_cfg_int(cfg, "hidden_size", 768, &d, path, err) < 0 ||
            lmd_cfg_int(cfg, "num_hidden_layers", 12, &nl, path, err) < 0 ||
            lmd_cfg_int(cfg, "num_attention_heads", 12, &nh, path, err) < 0 ||
            lmd_cfg_int(cfg, "intermediate_size", 3072, &inner, path, err) < 0 ||
            lmd_cfg_int(cfg, "max_position_embeddings", 512, &np, path, err) < 0 ||
            lmd_cfg_int(cfg, "vocab_size", kind == ROBERTA ? 50265 : 30522, &V, path, err) < 0 ||
            lmd_cfg_int(cfg, "type_vocab_size", 2, &ntype, path, err) < 0 ||
            lmd_cfg_int(cfg, "pad_token_id", kind == ROBERTA ? 1 : 0, &pad, path, err) < 0 ||
            lmd_cfg_float(cfg, "layer_norm_eps", 1e-12, &eps, path, err) < 0 ||
            lmd_cfg_bool(cfg, "is_decoder", 0, &is_dec, path, err) < 0 ||
            lmd_cfg_bool(cfg, "add_cross_attention", 0, &cross, path, err) < 0)
            return -1;
        act_name = lmd_cfg_str(cfg, "hidden_act");
        if (!act_name) act_name = "gelu";
        pet = lmd_cfg_str(cfg, "position_embedding_type");
    }
    if (lmd_cfg_bool(cfg, "tie_word_embeddings", 1, &tie, path, err) < 0) return -1;
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
    if (is_dec)
        return lmd_fail(err,
                        "%s: is_decoder is true: a causal BERT decoder is not supported "
                        "(lmdiff scores BERT-family models as masked LMs)",
                        path);
    if (cross) return lmd_fail(err, "%s: add_cross_attention is not supported", path);
    if (pet && strcmp(pet, "absolute"))
        return lmd_fail(err, "%s: position_embedding_type \"%s\" is not supported (absolute is)",
                        path, pet);
    long pos_offset = 0;
    if (kind == ROBERTA) {
        if (pad < 0 || pad + 2 >= np)
            return lmd_fail(err, "%s: pad_token_id %ld leaves no positions of the %ld", path, pad,
                            np);
        pos_offset = pad + 1;
    }

    bert *b = calloc(1, sizeof *b);
    if (!b) return lmd_fail(err, "out of memory");
    m->arch = b;
    b->kind = kind;
    if (parse_act(act_name, &b->act) < 0)
        return lmd_fail(err,
                        "%s: activation \"%s\" is not supported (gelu, gelu_new, "
                        "gelu_pytorch_tanh, gelu_fast, relu, silu, swish are)",
                        path, act_name);
    /* the head's activation: BERT's transform uses hidden_act, DistilBERT's
     * vocab_transform its activation, RoBERTa's lm_head always the erf GELU */
    b->head_act = kind == ROBERTA ? LMD_ACT_GELU_ERF : b->act;
    b->d = (int)d;
    b->n_layer = (int)nl;
    b->n_head = (int)nh;
    b->head_dim = (int)(d / nh);
    b->inner = (int)inner;
    b->vocab = (int)V;
    b->pos_offset = (int)pos_offset;
    b->n_pos = (int)(np - pos_offset);
    b->eps = b->head_eps = (float)eps;
    b->layers = calloc((size_t)nl, sizeof *b->layers);
    if (!b->layers) return lmd_fail(err, "out of memory");

    /* the MLM head must be there: a checkpoint saved from a base model or a
     * classifier under a masked-LM name is refused rather than run with a
     * random head */
    const char *head_probe = kind == BERT         ? "cls.predictions.transform.dense.weight"
                             : kind == DISTILBERT ? "vocab_transform.weight"
                                                  : "lm_head.dense.weight";
    if (!has_tensor(m, "", head_probe))
        return lmd_fail(err,
                        "%s: config.json says %s but the weights have no masked-LM head (%s "
                        "is missing); a checkpoint without its MLM head cannot be scored",
                        m->dir, arch, head_probe);

    int64_t s_wte[] = {V, d}, s_wpe[] = {np, d}, s_tt[] = {ntype, d};
    int64_t s_dd[] = {d, d}, s_d[] = {d}, s_id[] = {inner, d}, s_in[] = {inner},
            s_di[] = {d, inner};
    const char *E = "embeddings.";
    char n[256];
    snprintf(n, sizeof n, "%sword_embeddings.weight", E);
    if (lmd_weight_mat(m, P, n, s_wte, 0, 0, &b->wte, err) < 0) return -1;
    snprintf(n, sizeof n, "%sposition_embeddings.weight", E);
    if (lmd_weight_mat(m, P, n, s_wpe, 0, 0, &b->wpe, err) < 0) return -1;
    if (kind != DISTILBERT && ntype > 0) {
        snprintf(n, sizeof n, "%stoken_type_embeddings.weight", E);
        if (lmd_weight(m, P, n, 2, s_tt, &b->wtt0, err) < 0) return -1;
    }
    if (ln_weights(m, P, "embeddings.LayerNorm", d, &b->eln_w, &b->eln_b, err) < 0) return -1;

    for (int l = 0; l < nl; l++) {
        bert_layer *L = &b->layers[l];
        struct {
            const char *bert, *distil;
            const int64_t *dims;
            lmd_mat *mat;
            const float **bias;
            const int64_t *bdims;
        } w[] = {
            {"attention.self.query", "attention.q_lin", s_dd, &L->q_w, &L->q_b, s_d},
            {"attention.self.key", "attention.k_lin", s_dd, &L->k_w, &L->k_b, s_d},
            {"attention.self.value", "attention.v_lin", s_dd, &L->v_w, &L->v_b, s_d},
            {"attention.output.dense", "attention.out_lin", s_dd, &L->o_w, &L->o_b, s_d},
            {"intermediate.dense", "ffn.lin1", s_id, &L->i_w, &L->i_b, s_in},
            {"output.dense", "ffn.lin2", s_di, &L->out_w, &L->out_b, s_d},
        };
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
            char nb[300];
            if (kind == DISTILBERT)
                snprintf(n, sizeof n, "transformer.layer.%d.%s", l, w[i].distil);
            else
                snprintf(n, sizeof n, "encoder.layer.%d.%s", l, w[i].bert);
            snprintf(nb, sizeof nb, "%s.weight", n);
            if (lmd_weight_mat(m, P, nb, w[i].dims, 0, 0, w[i].mat, err) < 0) return -1;
            snprintf(nb, sizeof nb, "%s.bias", n);
            if (lmd_weight(m, P, nb, 1, w[i].bdims, w[i].bias, err) < 0) return -1;
        }
        char n2[256];
        if (kind == DISTILBERT) {
            snprintf(n, sizeof n, "transformer.layer.%d.sa_layer_norm", l);
            snprintf(n2, sizeof n2, "transformer.layer.%d.output_layer_norm", l);
        } else {
            snprintf(n, sizeof n, "encoder.layer.%d.attention.output.LayerNorm", l);
            snprintf(n2, sizeof n2, "encoder.layer.%d.output.LayerNorm", l);
        }
        if (ln_weights(m, P, n, d, &L->ln1_w, &L->ln1_b, err) < 0 ||
            ln_weights(m, P, n2, d, &L->ln2_w, &L->ln2_b, err) < 0)
            return -1;
    }

    /* the head */
    const char *tr, *tr_ln, *dec_w, *bias1, *bias2;
    if (kind == BERT) {
        tr = "cls.predictions.transform.dense";
        tr_ln = "cls.predictions.transform.LayerNorm";
        dec_w = "cls.predictions.decoder.weight";
        bias1 = "cls.predictions.bias";
        bias2 = "cls.predictions.decoder.bias";
    } else if (kind == DISTILBERT) {
        tr = "vocab_transform";
        tr_ln = "vocab_layer_norm";
        dec_w = "vocab_projector.weight";
        bias1 = "vocab_projector.bias";
        bias2 = bias1;
    } else {
        tr = "lm_head.dense";
        tr_ln = "lm_head.layer_norm";
        dec_w = "lm_head.decoder.weight";
        bias1 = "lm_head.bias";
        bias2 = "lm_head.decoder.bias";
    }
    snprintf(n, sizeof n, "%s.weight", tr);
    if (lmd_weight_mat(m, "", n, s_dd, 0, 0, &b->tr_w, err) < 0) return -1;
    snprintf(n, sizeof n, "%s.bias", tr);
    if (lmd_weight(m, "", n, 1, s_d, &b->tr_b, err) < 0) return -1;
    if (ln_weights(m, "", tr_ln, d, &b->tr_ln_w, &b->tr_ln_b, err) < 0) return -1;
    const float *bias = NULL;
    int64_t s_V[] = {V};
    lmd_mat head;
    /* untied: the decoder must be there; tied: a stored one is ignored (HF
     * ties it) but must have the right shape */
    if (lmd_weight_mat(m, "", dec_w, s_wte, 0, tie, &head, err) < 0) return -1;
    int own_head = !tie && head.data;
    if (lmd_weight_opt(m, "", bias1, 1, s_V, &bias, err) < 0) return -1;
    if (!bias && lmd_weight_opt(m, "", bias2, 1, s_V, &bias, err) < 0) return -1;
    if (!bias)
        return lmd_fail(err, "%s: the masked-LM head's bias %s is missing from the weights", m->dir,
                        bias1);
    m->lm_head = own_head ? head : b->wte;
    m->lm_bias = bias;

    lmd_model_info *info = &m->info;
    info->arch = kind == BERT
                     ? (arch && !strcmp(arch, "BertLMHeadModel")      ? "BertLMHeadModel"
                        : arch && !strcmp(arch, "BertForPreTraining") ? "BertForPreTraining"
                                                                      : "BertForMaskedLM")
                 : kind == DISTILBERT ? "DistilBertForMaskedLM"
                                      : "RobertaForMaskedLM";
    info->masked_lm = 1;
    info->vocab_size = (int32_t)V;
    info->n_ctx = (int32_t)b->n_pos;
    info->n_layer = (int32_t)nl;
    info->n_embd = (int32_t)d;
    info->n_head = (int32_t)nh;
    info->n_inner = (int32_t)inner;
    int64_t per_layer = 4 * d * d + 2 * d * inner;
    info->n_params = nl * (per_layer + 4 * d + inner + 5 * d) + V * d + np * d +
                     (kind != DISTILBERT ? ntype * d : 0) + 2 * d + d * d + 3 * d + V +
                     (own_head ? V * d : 0);
    /* per scored token of a pseudo-likelihood copy: the full encoder plus
     * the head at one row; the copy's other rows are counted by the scorer */
    info->flops_per_token =
        2.0 * ((double)nl * (double)per_layer + (double)d * (double)d + (double)V * (double)d);
    return 0;
}

/* out[T x n_out] (row stride ldo) (+)= in[T x n_in] W^T + b */
static int linear(const float *in, const lmd_mat *W, const float *b, float *out, size_t ldo,
                  size_t T, int accumulate) {
    if (T == 0) return 0;
    if (lmd_matmul(in, T, W, out, ldo, accumulate) < 0) return -1;
    if (ldo == (size_t)W->n_out) {
        lmd_add_bias(out, T, ldo, b);
    } else {
#pragma omp parallel for schedule(static)
        for (size_t r = 0; r < T; r++)
            lmd_add_bias(out + r * ldo, 1, (size_t)W->n_out, b);
    }
    return 0;
}

static void layernorm_rows(float *x, size_t rows, int d, const float *w, const float *b,
                           float eps) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++)
        lmd_layernorm_row(x + r * (size_t)d, x + r * (size_t)d, d, w, b, eps);
}

static void activate_rows(float *x, size_t rows, size_t cols, lmd_activation act) {
#pragma omp parallel for schedule(static)
    for (size_t r = 0; r < rows; r++)
        lmd_activate(x + r * cols, cols, act);
}

/* The encoder and head transform.  sel NULL: every row of every sequence
 * into hidden [sum(len) x d]; else row sel[s] of sequence s into hidden
 * [n_seqs x d]. */
static int bert_run(const lmd_model *m, const lmd_seq *seqs, int n_seqs, const int *sel,
                    float *hidden, lmd_error *err) {
    const bert *b = m->arch;
    const int d = b->d, H = b->n_head, hd = b->head_dim, d3 = 3 * d;
    size_t T = 0;
    int Lmax = 0;
    for (int s = 0; s < n_seqs; s++) {
        if (seqs[s].len > b->n_pos)
            return lmd_fail(err, "%s: a sequence of %d tokens exceeds the %d positions", m->dir,
                            seqs[s].len, b->n_pos);
        if (sel && (sel[s] < 0 || sel[s] >= seqs[s].len))
            return lmd_fail(err, "%s: selected row %d outside a sequence of %d", m->dir, sel[s],
                            seqs[s].len);
        for (int p = 0; p < seqs[s].len; p++)
            if (seqs[s].tokens[p] < 0 || seqs[s].tokens[p] >= b->vocab)
                return lmd_fail(err, "%s: token id %d is outside the vocabulary of %d", m->dir,
                                seqs[s].tokens[p], b->vocab);
        T += (size_t)seqs[s].len;
        if (seqs[s].len > Lmax) Lmax = seqs[s].len;
    }
    if (T == 0) return 0;
    const size_t R = sel ? (size_t)n_seqs : T; /* rows of the last layer */
    size_t *off = malloc((size_t)n_seqs * sizeof *off);
    float *x = malloc(T * (size_t)d * sizeof *x);
    float *qkv = malloc(T * (size_t)d3 * sizeof *qkv);
    float *ctx = malloc(T * (size_t)d * sizeof *ctx);
    float *f = malloc(T * (size_t)b->inner * sizeof *f);
    float *xs = sel ? malloc(R * (size_t)d * sizeof *xs) : NULL;
    float *qs = sel ? malloc(R * (size_t)d * sizeof *qs) : NULL;
    int nthreads = omp_get_max_threads();
    float *scores = malloc((size_t)nthreads * (size_t)Lmax * (size_t)Lmax * sizeof *scores);
    float *pe = malloc((size_t)nthreads * (size_t)d * sizeof *pe);
    int rc = -1;
    if (!off || !x || !qkv || !ctx || !f || !scores || !pe || (sel && (!xs || !qs))) goto oom;
    size_t o = 0;
    for (int s = 0; s < n_seqs; s++) {
        off[s] = o;
        o += (size_t)seqs[s].len;
    }
#pragma omp parallel for schedule(static)
    for (int s = 0; s < n_seqs; s++)
        for (int p = 0; p < seqs[s].len; p++) {
            float *row = x + (off[s] + (size_t)p) * d;
            float *prow = pe + (size_t)omp_get_thread_num() * d;
            lmd_mat_row(&b->wte, seqs[s].tokens[p], row);
            lmd_mat_row(&b->wpe, p + b->pos_offset, prow);
            for (int i = 0; i < d; i++)
                row[i] += prow[i];
            if (b->wtt0)
                for (int i = 0; i < d; i++)
                    row[i] += b->wtt0[i];
            lmd_layernorm_row(row, row, d, b->eln_w, b->eln_b, b->eps);
        }
    const float scale = 1.0f / sqrtf((float)hd);
    for (int l = 0; l < b->n_layer; l++) {
        const bert_layer *L = &b->layers[l];
        const int last = sel && l == b->n_layer - 1;
        /* keys and values of every row; queries of every row or of the
         * selected ones */
        if (linear(x, &L->k_w, L->k_b, qkv + d, d3, T, 0) < 0) goto oom;
        if (linear(x, &L->v_w, L->v_b, qkv + 2 * d, d3, T, 0) < 0) goto oom;
        if (!last) {
            if (linear(x, &L->q_w, L->q_b, qkv, d3, T, 0) < 0) goto oom;
#pragma omp parallel for schedule(dynamic) collapse(2)
            for (int s = 0; s < n_seqs; s++)
                for (int j = 0; j < H; j++) {
                    int Ls = seqs[s].len;
                    if (Ls == 0) continue;
                    float *S = scores + (size_t)omp_get_thread_num() * Lmax * Lmax;
                    const float *Q = qkv + off[s] * d3 + (size_t)j * hd;
                    const float *K = Q + d, *V = Q + 2 * d;
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Ls, Ls, hd, scale, Q, d3,
                                K, d3, 0.0f, S, Ls);
                    for (int i = 0; i < Ls; i++)
                        lmd_softmax_row(S + (size_t)i * Ls, Ls);
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Ls, hd, Ls, 1.0f, S, Ls,
                                V, d3, 0.0f, ctx + off[s] * d + (size_t)j * hd, d);
                }
            /* x = LN(x + attn); x = LN(x + FFN(x)) */
            if (linear(ctx, &L->o_w, L->o_b, x, d, T, 1) < 0) goto oom;
            layernorm_rows(x, T, d, L->ln1_w, L->ln1_b, b->eps);
            if (linear(x, &L->i_w, L->i_b, f, b->inner, T, 0) < 0) goto oom;
            activate_rows(f, T, (size_t)b->inner, b->act);
            if (linear(f, &L->out_w, L->out_b, x, d, T, 1) < 0) goto oom;
            layernorm_rows(x, T, d, L->ln2_w, L->ln2_b, b->eps);
        } else {
            for (int s = 0; s < n_seqs; s++)
                memcpy(xs + (size_t)s * d, x + (off[s] + (size_t)sel[s]) * d,
                       (size_t)d * sizeof *xs);
            if (linear(xs, &L->q_w, L->q_b, qs, d, R, 0) < 0) goto oom;
#pragma omp parallel for schedule(dynamic) collapse(2)
            for (int s = 0; s < n_seqs; s++)
                for (int j = 0; j < H; j++) {
                    int Ls = seqs[s].len;
                    float *S = scores + (size_t)omp_get_thread_num() * Lmax * Lmax;
                    const float *q = qs + (size_t)s * d + (size_t)j * hd;
                    const float *K = qkv + off[s] * d3 + d + (size_t)j * hd, *V = K + d;
                    cblas_sgemv(CblasRowMajor, CblasNoTrans, Ls, hd, scale, K, d3, q, 1, 0.0f, S,
                                1);
                    lmd_softmax_row(S, Ls);
                    cblas_sgemv(CblasRowMajor, CblasTrans, Ls, hd, 1.0f, V, d3, S, 1, 0.0f,
                                ctx + (size_t)s * d + (size_t)j * hd, 1);
                }
            if (linear(ctx, &L->o_w, L->o_b, xs, d, R, 1) < 0) goto oom;
            layernorm_rows(xs, R, d, L->ln1_w, L->ln1_b, b->eps);
            if (linear(xs, &L->i_w, L->i_b, f, b->inner, R, 0) < 0) goto oom;
            activate_rows(f, R, (size_t)b->inner, b->act);
            if (linear(f, &L->out_w, L->out_b, xs, d, R, 1) < 0) goto oom;
            layernorm_rows(xs, R, d, L->ln2_w, L->ln2_b, b->eps);
        }
    }
    /* the head's transform: dense, activation, LayerNorm */
    const float *fin = sel ? xs : x;
    if (linear(fin, &b->tr_w, b->tr_b, hidden, d, R, 0) < 0) goto oom;
    activate_rows(hidden, R, (size_t)d, b->head_act);
    layernorm_rows(hidden, R, d, b->tr_ln_w, b->tr_ln_b, b->head_eps);
    rc = 0;
oom:
    free(off), free(x), free(qkv), free(ctx), free(f), free(scores), free(xs), free(qs), free(pe);
    if (rc < 0) lmd_fail(err, "out of memory for a batch of %zu tokens", T);
    return rc;
}

static int bert_forward(const lmd_model *m, const lmd_seq *seqs, int n_seqs, float *hidden,
                        lmd_error *err) {
    return bert_run(m, seqs, n_seqs, NULL, hidden, err);
}

int lmd_bert_forward_sel(const lmd_model *m, const lmd_seq *seqs, int n_seqs, const int *sel,
                         float *hidden, lmd_error *err) {
    if (m->ops != &lmd_bert_ops) return lmd_fail(err, "%s: not a masked LM", m->name);
    return bert_run(m, seqs, n_seqs, sel, hidden, err);
}

const lmd_arch_ops lmd_bert_ops = {"bert", bert_forward, bert_free};
