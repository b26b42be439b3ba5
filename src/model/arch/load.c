/* load.c - the one loop that reads an architecture's tensor table from the
 * uniform tensor set (m->st, whatever format filled it), checking every
 * shape against config.json, and the helpers the families share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch/arch.h"

static long dim_value(const lmd_hp *hp, lmd_dim d) {
    switch (d) {
    case DIM_NONE:
        return 0;
    case DIM_D:
        return hp->d;
    case DIM_V:
        return hp->vocab;
    case DIM_I:
        return hp->inner;
    case DIM_2I:
        return 2 * hp->inner;
    case DIM_HD:
        return hp->D;
    case DIM_QD:
        return hp->H * hp->D;
    case DIM_KVD:
        return hp->KV * hp->D;
    case DIM_QKV:
        return (hp->H + 2 * hp->KV) * hp->D;
    case DIM_3D:
        return 3 * hp->d;
    case DIM_POS:
        return hp->n_pos;
    case DIM_TYPES:
        return hp->n_types;
    case DIM_E:
        return hp->n_experts;
    case DIM_EI:
        return hp->expert_inner;
    }
    return 0;
}

/* *w (n values) becomes an owned copy of 1 + w. */
static int plus_one_n(lmd_model *m, const float **w, size_t n) {
    float *p = malloc(n * sizeof *p);
    if (!p || lmd_model_own(m, p) < 0) {
        free(p);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        p[i] = 1.0f + (*w)[i];
    *w = p;
    return 0;
}

/* Reads one tensor (the first present of its '|' alternatives) into dst;
 * *found says whether it was there. */
static int load_one(lmd_model *m, const char *prefix, const lmd_wspec *w, const char *name,
                    int optional, void *dst, lmd_error *err) {
    int64_t dims[2] = {dim_value(&m->hp, w->dims[0]), dim_value(&m->hp, w->dims[1])};
    const int ndim = w->dims[1] == DIM_NONE ? 1 : 2;
    char alt[256];
    const char *p = name;
    int found = 0;
    while (!found && *p) {
        size_t n = strcspn(p, "|");
        snprintf(alt, sizeof alt, "%.*s", (int)n, p);
        p += n + (p[n] == '|');
        if (w->kind == W_F32 || w->kind == W_F32_1P) {
            const float **out = dst;
            if (lmd_weight_opt(m, prefix, alt, ndim, dims, out, err) < 0) return -1;
            found = *out != NULL;
            size_t n = (size_t)dims[0] * (size_t)(ndim == 2 ? dims[1] : 1);
            if (found && w->kind == W_F32_1P && plus_one_n(m, out, n) < 0)
                return lmd_fail(err, "%s: tensor %s: out of memory", m->dir, alt);
        } else {
            lmd_mat *out = dst; /* W_MAT, W_MAT_IN, one of W_MAT_EXPERTS */
            if (lmd_weight_mat(m, prefix, alt, dims, w->kind == W_MAT_IN, 1, out, err) < 0)
                return -1;
            found = out->data != NULL;
        }
    }
    if (!found && !optional) {
        snprintf(alt, sizeof alt, "%.*s", (int)strcspn(name, "|"), name);
        return lmd_fail(err, "%s: tensor %s%s (or %s) is missing from the weights", m->dir, prefix,
                        alt, alt);
    }
    if (found) m->info.n_params += dims[0] * (ndim == 2 ? dims[1] : 1);
    return 0;
}

/* pat with, in each '|' alternative, its first %d replaced by l and its
 * second by e. */
static void expand(const char *pat, long l, long e, char *name, size_t size) {
    size_t o = 0;
    int k = 0;
    for (const char *p = pat; *p && o + 24 < size; p++) {
        if (p[0] == '%' && p[1] == 'd') {
            o += (size_t)snprintf(name + o, size - o, "%ld", k++ ? e : l);
            p++;
        } else {
            k = *p == '|' ? 0 : k;
            name[o++] = *p;
        }
    }
    name[o] = 0;
}

/* One spec for layer l (or the global one): one tensor, or (W_MAT_EXPERTS)
 * an array of n_experts, allocated and owned by the model. */
static int load_spec(lmd_model *m, const lmd_arch *a, const lmd_wspec *w, long l, char *base,
                     lmd_error *err) {
    const int optional = (w->opt & (m->hp.flags | IF_ALWAYS)) != 0;
    const int bare = w->name[0] == '^';
    const char *prefix = bare ? "" : a->prefix;
    char name[512];
    if (w->kind != W_MAT_EXPERTS) {
        expand(w->name + bare, l, 0, name, sizeof name);
        return load_one(m, prefix, w, name, optional, base + w->dst, err);
    }
    lmd_mat *arr = calloc((size_t)m->hp.n_experts, sizeof *arr);
    if (!arr || lmd_model_own(m, (float *)(void *)arr) < 0) {
        free(arr);
        return lmd_fail(err, "out of memory");
    }
    memcpy(base + w->dst, &arr, sizeof arr);
    for (long e = 0; e < m->hp.n_experts; e++) {
        expand(w->name + bare, l, e, name, sizeof name);
        if (load_one(m, prefix, w, name, optional, &arr[e], err) < 0) return -1;
    }
    return 0;
}

int lmd_arch_load(lmd_model *m, const lmd_arch *a, lmd_error *err) {
    const lmd_hp *hp = &m->hp;
    m->layers = calloc((size_t)hp->n_layer, a->layer_size ? a->layer_size : 1);
    if (!m->layers) return lmd_fail(err, "out of memory");
    m->info.n_params = 0;
    for (size_t i = 0; i < a->n_tensors; i++) {
        const lmd_wspec *w = &a->tensors[i];
        if ((hp->flags & w->when) != w->when) continue;
        if (!strstr(w->name, "%d")) {
            if (load_spec(m, a, w, 0, m->arch, err) < 0) return -1;
            continue;
        }
        for (long l = 0; l < hp->n_layer; l++)
            if (load_spec(m, a, w, l, (char *)m->layers + (size_t)l * a->layer_size, err) < 0)
                return -1;
    }
    return 0;
}

int lmd_parse_act(const char *s, lmd_activation *act) {
    static const struct {
        const char *name;
        lmd_activation act;
    } table[] = {
        {"gelu_new", LMD_ACT_GELU_TANH},  {"gelu_pytorch_tanh", LMD_ACT_GELU_TANH},
        {"gelu_fast", LMD_ACT_GELU_TANH}, {"gelu", LMD_ACT_GELU_ERF},
        {"relu", LMD_ACT_RELU},           {"silu", LMD_ACT_SILU},
        {"swish", LMD_ACT_SILU},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(s, table[i].name)) {
            *act = table[i].act;
            return 0;
        }
    return -1;
}

int lmd_total_rows(const lmd_model *m, const lmd_seq *seqs, int n_seqs, int n_ctx, size_t *T,
                   lmd_error *err) {
    *T = 0;
    for (int s = 0; s < n_seqs; s++) {
        if (seqs[s].len > n_ctx)
            return lmd_fail(err, "%s: a sequence of %d tokens exceeds the context of %d", m->dir,
                            seqs[s].len, n_ctx);
        *T += (size_t)seqs[s].len;
    }
    return 0;
}
