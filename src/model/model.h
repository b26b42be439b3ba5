/* model.h - what every architecture provides to the scorer, and the loading
 * helpers they share (config.json values, tensors checked against the
 * config, dtype conversion). */
#ifndef LMD_MODEL_H
#define LMD_MODEL_H

#include <cjson/cJSON.h>
#include <pthread.h>

#include "base/base.h"
#include "model/matmul.h"
#include "model/safetensors.h"

/* One sequence of a forward batch: tokens with position ids 0..len-1. */
typedef struct lmd_seq {
    const int32_t *tokens;
    int len;
} lmd_seq;

typedef struct lmd_arch_ops {
    const char *name;
    /* Runs the sequences through the network; writes the final hidden states
     * (after the last norm) of every position, the sequences' rows one after
     * the other, into hidden [sum(len) x n_embd]. */
    int (*forward)(const lmd_model *m, const lmd_seq *seqs, int n_seqs, float *hidden,
                   lmd_error *err);
    void (*free_arch)(void *arch);
} lmd_arch_ops;

struct lmd_model {
    char *dir;
    char *name;
    lmd_model_info info;
    lmd_tokenizer *tok;
    lmd_st_set st;
    const lmd_arch_ops *ops;
    void *arch;            /* the architecture's weights */
    lmd_mat lm_head;       /* [vocab_size x n_embd], in its stored dtype */
    const float *lm_bias;  /* [vocab_size] or NULL */
    float **owned;         /* buffers converted from F16/BF16 or realigned */
    size_t n_owned;
    lmd_precision precision; /* as asked (auto, f32, bf16) */
    int n_bf16_mats;         /* matrices whose products run in BF16 */
    char matmul_impl[96];    /* info.matmul_impl */
    pthread_mutex_t hash_lock;
    char weights_hash[65]; /* empty until first asked */
};

/* config.json accessors: integer / float / string values with a default when
 * the key is absent or null; a present value of the wrong type is an error. */
int lmd_cfg_int(const cJSON *cfg, const char *key, long def, long *out, const char *path,
                lmd_error *err);
int lmd_cfg_float(const cJSON *cfg, const char *key, double def, double *out, const char *path,
                  lmd_error *err);
int lmd_cfg_bool(const cJSON *cfg, const char *key, int def, int *out, const char *path,
                 lmd_error *err);
const char *lmd_cfg_str(const cJSON *cfg, const char *key);

/* Looks up a weight (trying `prefix` + name, then name alone), checks its
 * shape against the expected dims, and returns f32 data: the mapping itself
 * for aligned F32, else a converted copy owned by the model.  Missing or
 * misshapen tensors are errors that name the file and the tensor. */
int lmd_weight(lmd_model *m, const char *prefix, const char *name, int ndim, const int64_t *dims,
               const float **out, lmd_error *err);
/* Like lmd_weight, but a missing tensor sets *out = NULL and returns 0. */
int lmd_weight_opt(lmd_model *m, const char *prefix, const char *name, int ndim,
                   const int64_t *dims, const float **out, lmd_error *err);

/* A 2-D weight matrix left in its stored dtype (F32, F16 or BF16; copied
 * only when its data is misaligned, or rounded once to BF16 when the model's
 * precision wants BF16 products of F32/F16 weights): stored shape
 * [dims[0] x dims[1]];
 * in_major says which of them is the input (see lmd_mat).  out->data is
 * NULL when the tensor is missing and `optional`; else missing is an error. */
int lmd_weight_mat(lmd_model *m, const char *prefix, const char *name, const int64_t dims[2],
                   int in_major, int optional, lmd_mat *out, lmd_error *err);

/* The output layer for rows h[T x n_embd]: logits[T x vocab] (row stride
 * ldl) = h lm_head^T + lm_bias. */
int lmd_model_logits(const lmd_model *m, const float *h, size_t T, float *logits, size_t ldl);

/* Architectures besides GPT-2 (llama.c: Llama, Mistral, Qwen2; neox.c). */
int lmd_llama_load(lmd_model *m, const cJSON *cfg, const char *cfg_path, const char *arch,
                   lmd_error *err);
extern const lmd_arch_ops lmd_llama_ops, lmd_neox_ops;
int lmd_neox_load(lmd_model *m, const cJSON *cfg, const char *cfg_path, lmd_error *err);

extern const lmd_arch_ops lmd_gpt2_ops;
int lmd_gpt2_load(lmd_model *m, const cJSON *cfg, const char *cfg_path, lmd_error *err);

/* BERT, DistilBERT, RoBERTa masked LMs (bert.c). is_family: the
 * architecture name (or, without one, model_type) is of these families, so
 * lmd_bert_load is the loader that explains what it accepts. */
extern const lmd_arch_ops lmd_bert_ops;
int lmd_bert_is_family(const char *arch, const char *model_type);
int lmd_bert_load(lmd_model *m, const cJSON *cfg, const char *cfg_path, const char *arch,
                  lmd_error *err);
/* Like ops->forward of a masked LM, but only row sel[s] of sequence s is
 * wanted: writes n_seqs rows into hidden [n_seqs x n_embd] (the last layer
 * runs on those rows only). */
int lmd_bert_forward_sel(const lmd_model *m, const lmd_seq *seqs, int n_seqs, const int *sel,
                         float *hidden, lmd_error *err);

#endif
