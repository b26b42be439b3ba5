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

typedef int (*lmd_forward_fn)(const lmd_model *m, const lmd_seq *seqs, int n_seqs, float *hidden,
                              lmd_error *err);
typedef int (*lmd_forward_sel_fn)(const lmd_model *m, const lmd_seq *seqs, int n_seqs,
                                  const int *sel, float *hidden, lmd_error *err);
struct lmd_wspec;

/* The hyper-parameters the generic tensor loop needs: tensor shapes are
 * products of these, conditions are bits of `flags` (arch/arch.h). */
typedef struct lmd_hp {
    long d, n_layer, H, KV, D, inner, vocab;
    long n_pos;   /* rows of a position table */
    long n_types; /* rows of a token-type table */
    long n_experts, expert_inner;
    unsigned flags;
} lmd_hp;

/* One row of the architecture table (arch/registry.c): everything the
 * loader and the scorer know of a family.  Loading = read_hp (config.json
 * into m->hp and the family's struct m->arch), the generic loop over
 * `tensors` into m->arch and m->layers (arch/load.c), then bind (the head,
 * the rest of m->info). */
typedef struct lmd_arch {
    const char *id;
    const char *const *names; /* HF "architectures" values, NULL-terminated */
    const char *model_type;   /* config.json's model_type, when it has no architectures */
    const char *prefix;       /* tried before each tensor name (then the name alone) */
    size_t size, layer_size;  /* the family's struct and per-layer struct */
    int (*read_hp)(lmd_model *m, const cJSON *cfg, const char *path, void *arch, lmd_error *err);
    const struct lmd_wspec *tensors;
    size_t n_tensors;
    int (*bind)(lmd_model *m, void *arch, lmd_error *err);
    /* Runs the sequences through the network; writes the final hidden states
     * (after the last norm, or a masked LM's head transform) of every
     * position, the sequences' rows one after the other, into hidden
     * [sum(len) x n_embd]. */
    lmd_forward_fn forward;
    /* Masked LMs (else NULL): like forward, but only row sel[s] of sequence
     * s is wanted; writes n_seqs rows into hidden [n_seqs x n_embd]. */
    lmd_forward_sel_fn forward_sel;
    void (*free_arch)(void *arch); /* what read_hp / bind allocated inside m->arch */
    /* set: every name beginning with one of `names` (then For / LM / Model,
     * or nothing) is refused with this reason */
    const char *refuse;
} lmd_arch;

struct lmd_model {
    char *dir;
    char *name;
    lmd_model_info info;
    lmd_tokenizer *tok;
    lmd_st_set st;
    const lmd_arch *ops; /* its row of the architecture table */
    void *arch;          /* the architecture's struct: hyper-parameters, weights */
    void *layers;        /* its per-layer structs */
    lmd_hp hp;
    lmd_mat lm_head;      /* [vocab_size x n_embd], in its stored dtype */
    const float *lm_bias; /* [vocab_size] or NULL */
    float logit_softcap;  /* > 0: logits = cap * tanh(logits / cap) (Gemma 2) */
    float **owned;        /* buffers converted from F16/BF16 or realigned */
    size_t n_owned;
    lmd_precision precision; /* as asked (auto, f32, bf16) */
    int n_bf16_mats;         /* matrices whose products run in BF16 */
    int pack_weights;        /* lmd_model_opts.pack_weights */
    int n_packed;            /* matrices packed at load (decoder.c) */
    char matmul_impl[96];    /* info.matmul_impl */
    pthread_mutex_t hash_lock;
    char weights_hash[65];       /* empty until first asked */
    struct lmd_backend *backend; /* a device's (kernel/backend.h); NULL: the CPU */
};

struct lmd_backend;
/* The backend the model's forward runs on: its device's, or the CPU's. */
struct lmd_backend *lmd_model_backend(const lmd_model *m);

/* Hands p (malloc'd) to the model, freed with it; -1 when out of memory. */
int lmd_model_own(lmd_model *m, float *p);

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
 * ldl) = h lm_head^T + lm_bias, soft-capped when logit_softcap > 0. */
int lmd_model_logits(const lmd_model *m, const float *h, size_t T, float *logits, size_t ldl);
/* The same on a backend (h and logits on its device): the scorer's output
 * layer on a GPU.  -1 with be->msg saying why. */
int lmd_model_logits_on(const lmd_model *m, struct lmd_backend *be, const float *h, size_t T,
                        float *logits, size_t ldl);

/* The architecture table (arch/registry.c), ending with NULL. */
extern const lmd_arch *const lmd_archs[];

/* Like m->ops->forward for a masked LM, but only row sel[s] of sequence s is
 * wanted (see lmd_arch.forward_sel); an error for causal models. */
int lmd_model_forward_sel(const lmd_model *m, const lmd_seq *seqs, int n_seqs, const int *sel,
                          float *hidden, lmd_error *err);
/* its first name, kept for the tests and benchmarks that use it */
#define lmd_bert_forward_sel lmd_model_forward_sel

#endif
