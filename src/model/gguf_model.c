/* gguf_model.c - a GGUF file as a model: the Hugging Face config.json its
 * metadata stands for (hyper-parameters from the <arch>.* keys), and its
 * tensors as an lmd_st_set under Hugging Face names and shapes, so that the
 * architectures' loaders read it like a folder.  The data stay in the
 * file's mapping; llama.cpp's q/k row permutation (convert_hf_to_gguf.py
 * LlamaModel.permute) is undone row by row when the rows are read. */
#include "model/gguf_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/quant.h"

/* general.architecture -> the Hugging Face class, and whether convert
 * permuted the q/k rows. */
static const struct {
    const char *gguf, *hf;
    int permuted;
} archs[] = {
    {"llama", "LlamaForCausalLM", 1},
    {"qwen2", "Qwen2ForCausalLM", 0},
};

/* GGUF tensor name (after "blk.N.") -> Hugging Face name (after
 * "model.layers.N."), and the global ones. */
static const char *const layer_names[][2] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_output.bias", "self_attn.o_proj.bias"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};
static const char *const global_names[][2] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
};

static int find_arch(const lmd_gguf *g, int *which, lmd_error *err) {
    const char *a;
    size_t n;
    if (lmd_gguf_str(g, "general.architecture", &a, &n, err) < 0) return -1;
    if (!a) return lmd_fail(err, "%s: no general.architecture in the metadata", g->path);
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
        if (strlen(archs[i].gguf) == n && !memcmp(a, archs[i].gguf, n)) {
            *which = (int)i;
            return 0;
        }
    return lmd_fail(err, "%s: general.architecture \"%.*s\" is not supported (llama, qwen2 are)",
                    g->path, (int)(n > 64 ? 64 : n), a);
}

/* Copies an integer/float <arch>.suffix key into cfg[name] when present. */
static int put_num(const lmd_gguf *g, const char *arch, const char *suffix, cJSON *cfg,
                   const char *name, int is_int, lmd_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    if (!lmd_gguf_find(g, key)) return 0;
    double v;
    int64_t iv;
    if (is_int) {
        if (lmd_gguf_int(g, key, 0, &iv, err) < 0) return -1;
        v = (double)iv;
    } else if (lmd_gguf_float(g, key, 0, &v, err) < 0) {
        return -1;
    }
    if (!cJSON_AddNumberToObject(cfg, name, v)) return lmd_fail(err, "out of memory");
    return 0;
}

static int rope_config(const lmd_gguf *g, const char *arch, cJSON *cfg, lmd_error *err) {
    char key[128];
    const char *type;
    size_t n;
    if (lmd_gguf_find_tensor(g, "rope_freqs.weight"))
        return lmd_fail(err,
                        "%s: rope_freqs.weight (per-dimension RoPE factors, as llama.cpp "
                        "stores Llama 3.1 rope scaling) is not supported",
                        g->path);
    snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
    if (lmd_gguf_str(g, key, &type, &n, err) < 0) return -1;
    if (!type || (n == 4 && !memcmp(type, "none", 4))) return 0;
    if (n != 6 || memcmp(type, "linear", 6))
        return lmd_fail(err, "%s: %s \"%.*s\" is not supported (none and linear are)", g->path, key,
                        (int)(n > 32 ? 32 : n), type);
    double f;
    snprintf(key, sizeof key, "%s.rope.scaling.factor", arch);
    if (lmd_gguf_float(g, key, 1.0, &f, err) < 0) return -1;
    cJSON *sc = cJSON_AddObjectToObject(cfg, "rope_scaling");
    if (!sc || !cJSON_AddStringToObject(sc, "rope_type", "linear") ||
        !cJSON_AddNumberToObject(sc, "factor", f))
        return lmd_fail(err, "out of memory");
    return 0;
}

int lmd_gguf_model_config(const lmd_gguf *g, cJSON **out, lmd_error *err) {
    *out = NULL;
    int w;
    if (find_arch(g, &w, err) < 0) return -1;
    const char *a = archs[w].gguf;
    const lmd_gguf_tensor *emb = lmd_gguf_find_tensor(g, "token_embd.weight");
    if (!emb || emb->ndim != 2)
        return lmd_fail(err, "%s: no 2-D tensor token_embd.weight", g->path);
    cJSON *cfg = cJSON_CreateObject();
    cJSON *al = cJSON_AddArrayToObject(cfg, "architectures");
    if (!cfg || !al) goto oom;
    cJSON_AddItemToArray(al, cJSON_CreateString(archs[w].hf));
    if (put_num(g, a, "embedding_length", cfg, "hidden_size", 1, err) < 0 ||
        put_num(g, a, "block_count", cfg, "num_hidden_layers", 1, err) < 0 ||
        put_num(g, a, "attention.head_count", cfg, "num_attention_heads", 1, err) < 0 ||
        put_num(g, a, "attention.head_count_kv", cfg, "num_key_value_heads", 1, err) < 0 ||
        put_num(g, a, "feed_forward_length", cfg, "intermediate_size", 1, err) < 0 ||
        put_num(g, a, "context_length", cfg, "max_position_embeddings", 1, err) < 0 ||
        put_num(g, a, "attention.layer_norm_rms_epsilon", cfg, "rms_norm_eps", 0, err) < 0 ||
        put_num(g, a, "rope.freq_base", cfg, "rope_theta", 0, err) < 0 ||
        put_num(g, a, "attention.key_length", cfg, "head_dim", 1, err) < 0 ||
        rope_config(g, a, cfg, err) < 0)
        goto fail;
    int64_t bos;
    if (lmd_gguf_int(g, "tokenizer.ggml.bos_token_id", -1, &bos, err) < 0) goto fail;
    if (bos >= 0 && !cJSON_AddNumberToObject(cfg, "bos_token_id", (double)bos)) goto oom;
    if (!cJSON_AddNumberToObject(cfg, "vocab_size", (double)emb->ne[1]) ||
        !cJSON_AddBoolToObject(cfg, "tie_word_embeddings",
                               !lmd_gguf_find_tensor(g, "output.weight")) ||
        !cJSON_AddBoolToObject(cfg, "attention_bias",
                               !strcmp(a, "llama") &&
                                   lmd_gguf_find_tensor(g, "blk.0.attn_output.bias")))
        goto oom;
    *out = cfg;
    return 0;
oom:
    lmd_fail(err, "out of memory");
fail:
    cJSON_Delete(cfg);
    return -1;
}

/* The Hugging Face name of a GGUF tensor (malloc'ed), or a copy of its own
 * name when it has none; *qk set for q/k projections. */
static char *hf_name(const lmd_gguf_tensor *t, int *qk) {
    char name[300], rest[300];
    snprintf(name, sizeof name, "%.*s", (int)t->name_len, t->name);
    *qk = 0;
    for (size_t i = 0; i < sizeof global_names / sizeof *global_names; i++)
        if (!strcmp(name, global_names[i][0])) return strdup(global_names[i][1]);
    unsigned layer;
    int used = 0;
    if (sscanf(name, "blk.%u.%n", &layer, &used) == 1 && used > 0) {
        snprintf(rest, sizeof rest, "%s", name + used);
        for (size_t i = 0; i < sizeof layer_names / sizeof *layer_names; i++)
            if (!strcmp(rest, layer_names[i][0])) {
                char out[300];
                snprintf(out, sizeof out, "model.layers.%u.%s", layer, layer_names[i][1]);
                *qk = !strncmp(rest, "attn_q.", 7) || !strncmp(rest, "attn_k.", 7);
                return strdup(out);
            }
    }
    return strdup(name);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const lmd_tensor *)a)->name, ((const lmd_tensor *)b)->name);
}

int lmd_gguf_model_tensors(lmd_gguf *g, const cJSON *cfg, lmd_st_set *set, lmd_error *err) {
    memset(set, 0, sizeof *set);
    int w;
    if (find_arch(g, &w, err) < 0) return -1;
    const cJSON *hd = cJSON_GetObjectItemCaseSensitive(cfg, "head_dim");
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(cfg, "hidden_size");
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(cfg, "num_attention_heads");
    int head = cJSON_IsNumber(hd) ? hd->valueint
               : cJSON_IsNumber(d) && cJSON_IsNumber(h) && h->valueint > 0
                   ? d->valueint / h->valueint
                   : 0;
    if (archs[w].permuted && (head < 2 || head % 2))
        return lmd_fail(err, "%s: the head size %d is not a positive even number", g->path, head);
    set->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *set->tensors);
    set->maps = calloc(1, sizeof *set->maps);
    set->files = calloc(1, sizeof *set->files);
    if (!set->tensors || !set->maps || !set->files || !(set->files[0] = strdup(g->path))) {
        lmd_st_close(set);
        return lmd_fail(err, "out of memory");
    }
    set->n_files = 1;
    for (size_t i = 0; i < g->n_tensors; i++, set->n_tensors++) {
        const lmd_gguf_tensor *s = &g->tensors[i];
        lmd_tensor *t = &set->tensors[i];
        int qk;
        if (!(t->name = hf_name(s, &qk))) {
            lmd_st_close(set);
            return lmd_fail(err, "out of memory");
        }
        t->dtype = lmd_ggml_dtype(s->type);
        snprintf(t->dtype_name, sizeof t->dtype_name, "%s", lmd_ggml_type_name(s->type));
        t->ndim = s->ndim;
        t->numel = 1;
        for (int k = 0; k < s->ndim; k++) {
            t->shape[k] = (int64_t)s->ne[s->ndim - 1 - k];
            t->numel *= t->shape[k];
        }
        t->data = s->data;
        t->nbytes = s->nbytes;
        if (qk && archs[w].permuted) {
            if (t->shape[0] % head) {
                lmd_fail(err, "%s: tensor %.*s: %lld rows are not whole heads of %d", g->path,
                         (int)s->name_len, s->name, (long long)t->shape[0], head);
                lmd_st_close(set);
                return -1;
            }
            t->perm_head = head;
        }
    }
    qsort(set->tensors, set->n_tensors, sizeof *set->tensors, cmp_name);
    for (size_t i = 1; i < set->n_tensors; i++)
        if (!strcmp(set->tensors[i].name, set->tensors[i - 1].name)) {
            lmd_fail(err, "%s: two tensors are both %s", g->path, set->tensors[i].name);
            lmd_st_close(set);
            return -1;
        }
    set->maps[0] = g->map; /* the set owns the mapping from now on */
    memset(&g->map, 0, sizeof g->map);
    return 0;
}
