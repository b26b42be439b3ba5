/* arch.h - what an architecture's file declares for the generic loader:
 * its tensors as a table {name pattern, shape from the hyper-parameters,
 * when it is read, when it may be missing, kind, destination}, read by
 * lmd_arch_load (arch/load.c), and the config.json helpers every family's
 * hyper-parameter reader shares. */
#ifndef LMD_ARCH_H
#define LMD_ARCH_H

#include <stddef.h>

#include "model/kernels.h"
#include "model/model.h"

/* A dimension of a tensor, from m->hp. */
typedef enum {
    DIM_NONE, /* (1-D tensors: the second dimension) */
    DIM_D,    /* hidden size */
    DIM_V,    /* vocabulary */
    DIM_I,    /* MLP inner size */
    DIM_2I,   /* fused gate and up */
    DIM_HD,   /* one head */
    DIM_QD,   /* H x head */
    DIM_KVD,  /* KV x head */
    DIM_QKV,  /* fused q, k, v: (H + 2 KV) x head */
    DIM_3D,   /* 3 x hidden */
    DIM_POS,  /* position table rows */
    DIM_TYPES,
    DIM_E,  /* experts */
    DIM_EI, /* one expert's inner size */
} lmd_dim;

/* Conditions (bits of m->hp.flags) set by the hyper-parameter readers. */
enum {
    IF_TIED = 1u << 0,
    IF_UNTIED = 1u << 1,
    IF_QKV_BIAS = 1u << 2,
    IF_O_BIAS = 1u << 3,
    IF_MLP_BIAS = 1u << 4,
    IF_TYPES = 1u << 5,
    IF_QK_NORM = 1u << 6,   /* q/k RMSNorm */
    IF_POST_NORM = 1u << 7, /* norms after attention and MLP */
    IF_PRE_NORM = 1u << 8,  /* norms before them */
    IF_DENSE_MLP = 1u << 9,
    IF_MOE = 1u << 10,
    IF_SHARED_EXPERT = 1u << 11,
    IF_ALWAYS = 1u << 31, /* as `opt`: the tensor may always be missing */
};

typedef enum {
    W_MAT,    /* lmd_mat [out x in] in its stored dtype (nn.Linear, embeddings) */
    W_MAT_IN, /* lmd_mat [in x out] (GPT-2's Conv1D) */
    W_F32,    /* const float *, converted to f32 when stored otherwise */
    W_F32_1P, /* like W_F32, but 1 + the stored values (Gemma's RMSNorm weights) */
    /* an lmd_mat [out x in] per expert: the name's second %d is the expert,
     * the destination an lmd_mat * set to an array of hp.n_experts */
    W_MAT_EXPERTS,
} lmd_wkind;

/* One tensor (per layer when the name holds "%d", the layer number; per
 * expert too with W_MAT_EXPERTS). */
typedef struct lmd_wspec {
    /* after the family's prefix (tried first, then the name alone), or
     * "^name": without it; "a|b": b when a is absent */
    const char *name;
    lmd_wkind kind;
    lmd_dim dims[2];
    unsigned when; /* read only when all these flags are set (0: always) */
    unsigned opt;  /* may be missing when any of these flags is set */
    size_t dst;    /* offsetof in the family's struct, or its layer struct */
} lmd_wspec;

#define N_SPECS(t) (sizeof(t) / sizeof((t)[0]))

/* Loads every tensor of the table into m->arch / m->layers (allocating
 * m->layers: m->hp.n_layer x layer_size) and sets m->info.n_params to the
 * values read. */
int lmd_arch_load(lmd_model *m, const lmd_arch *a, lmd_error *err);

/* An activation by its HF name (hidden_act, activation_function). */
int lmd_parse_act(const char *name, lmd_activation *act);

/* The sequences' total rows; an error when one exceeds the context n_ctx. */
int lmd_total_rows(const lmd_model *m, const lmd_seq *seqs, int n_seqs, int n_ctx, size_t *T,
                   lmd_error *err);

#endif
