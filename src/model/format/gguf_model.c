/* gguf_model.c - a GGUF file as a model: the Hugging Face config.json its
 * metadata stands for (hyper-parameters from the <arch>.* keys), and its
 * tensors as an lmd_st_set under Hugging Face names and shapes, so that the
 * architectures' loaders read it like a folder.  The data stay in the
 * file's mapping; llama.cpp's q/k row permutation (convert_hf_to_gguf.py
 * LlamaModel.permute) is undone row by row when the rows are read. */
#include "model/format/gguf_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/format/gguf_write.h"
#include "model/kernel/quant.h"

/* Tensor names: GGUF (after "blk.N." for layers) -> Hugging Face (with %u
 * for the layer). */
typedef struct name_map {
    const char *gguf, *hf;
} name_map;

static const name_map llama_names[] = {
    {"token_embd.weight", "model.embed_tokens.weight"},
    {"output_norm.weight", "model.norm.weight"},
    {"output.weight", "lm_head.weight"},
    {"attn_norm.weight", "model.layers.%u.input_layernorm.weight"},
    {"attn_q.weight", "model.layers.%u.self_attn.q_proj.weight"},
    {"attn_q.bias", "model.layers.%u.self_attn.q_proj.bias"},
    {"attn_k.weight", "model.layers.%u.self_attn.k_proj.weight"},
    {"attn_k.bias", "model.layers.%u.self_attn.k_proj.bias"},
    {"attn_v.weight", "model.layers.%u.self_attn.v_proj.weight"},
    {"attn_v.bias", "model.layers.%u.self_attn.v_proj.bias"},
    {"attn_output.weight", "model.layers.%u.self_attn.o_proj.weight"},
    {"attn_output.bias", "model.layers.%u.self_attn.o_proj.bias"},
    {"ffn_norm.weight", "model.layers.%u.post_attention_layernorm.weight"},
    {"ffn_gate.weight", "model.layers.%u.mlp.gate_proj.weight"},
    {"ffn_gate.bias", "model.layers.%u.mlp.gate_proj.bias"},
    {"ffn_up.weight", "model.layers.%u.mlp.up_proj.weight"},
    {"ffn_up.bias", "model.layers.%u.mlp.up_proj.bias"},
    {"ffn_down.weight", "model.layers.%u.mlp.down_proj.weight"},
    {"ffn_down.bias", "model.layers.%u.mlp.down_proj.bias"},
    {NULL, NULL},
};
static const name_map gpt2_names[] = {
    {"token_embd.weight", "transformer.wte.weight"},
    {"position_embd.weight", "transformer.wpe.weight"},
    {"output_norm.weight", "transformer.ln_f.weight"},
    {"output_norm.bias", "transformer.ln_f.bias"},
    {"output.weight", "lm_head.weight"},
    {"attn_norm.weight", "transformer.h.%u.ln_1.weight"},
    {"attn_norm.bias", "transformer.h.%u.ln_1.bias"},
    {"attn_qkv.weight", "transformer.h.%u.attn.c_attn.weight"},
    {"attn_qkv.bias", "transformer.h.%u.attn.c_attn.bias"},
    {"attn_output.weight", "transformer.h.%u.attn.c_proj.weight"},
    {"attn_output.bias", "transformer.h.%u.attn.c_proj.bias"},
    {"ffn_norm.weight", "transformer.h.%u.ln_2.weight"},
    {"ffn_norm.bias", "transformer.h.%u.ln_2.bias"},
    {"ffn_up.weight", "transformer.h.%u.mlp.c_fc.weight"},
    {"ffn_up.bias", "transformer.h.%u.mlp.c_fc.bias"},
    {"ffn_down.weight", "transformer.h.%u.mlp.c_proj.weight"},
    {"ffn_down.bias", "transformer.h.%u.mlp.c_proj.bias"},
    {NULL, NULL},
};
static const name_map neox_names[] = {
    {"token_embd.weight", "gpt_neox.embed_in.weight"},
    {"output_norm.weight", "gpt_neox.final_layer_norm.weight"},
    {"output_norm.bias", "gpt_neox.final_layer_norm.bias"},
    {"output.weight", "embed_out.weight"},
    {"attn_norm.weight", "gpt_neox.layers.%u.input_layernorm.weight"},
    {"attn_norm.bias", "gpt_neox.layers.%u.input_layernorm.bias"},
    {"attn_qkv.weight", "gpt_neox.layers.%u.attention.query_key_value.weight"},
    {"attn_qkv.bias", "gpt_neox.layers.%u.attention.query_key_value.bias"},
    {"attn_output.weight", "gpt_neox.layers.%u.attention.dense.weight"},
    {"attn_output.bias", "gpt_neox.layers.%u.attention.dense.bias"},
    {"ffn_norm.weight", "gpt_neox.layers.%u.post_attention_layernorm.weight"},
    {"ffn_norm.bias", "gpt_neox.layers.%u.post_attention_layernorm.bias"},
    {"ffn_up.weight", "gpt_neox.layers.%u.mlp.dense_h_to_4h.weight"},
    {"ffn_up.bias", "gpt_neox.layers.%u.mlp.dense_h_to_4h.bias"},
    {"ffn_down.weight", "gpt_neox.layers.%u.mlp.dense_4h_to_h.weight"},
    {"ffn_down.bias", "gpt_neox.layers.%u.mlp.dense_4h_to_h.bias"},
    {NULL, NULL},
};

/* Metadata <arch>.KEY -> config.json key (is_int: an integer). */
typedef struct key_map {
    const char *gguf, *hf;
    int is_int;
} key_map;

static const key_map llama_keys[] = {
    {"embedding_length", "hidden_size", 1},
    {"block_count", "num_hidden_layers", 1},
    {"attention.head_count", "num_attention_heads", 1},
    {"attention.head_count_kv", "num_key_value_heads", 1},
    {"feed_forward_length", "intermediate_size", 1},
    {"context_length", "max_position_embeddings", 1},
    {"attention.layer_norm_rms_epsilon", "rms_norm_eps", 0},
    {"rope.freq_base", "rope_theta", 0},
    {"attention.key_length", "head_dim", 1},
    {NULL, NULL, 0},
};
static const key_map gpt2_keys[] = {
    {"embedding_length", "n_embd", 1},
    {"block_count", "n_layer", 1},
    {"attention.head_count", "n_head", 1},
    {"feed_forward_length", "n_inner", 1},
    {"context_length", "n_positions", 1},
    {"attention.layer_norm_epsilon", "layer_norm_epsilon", 0},
    {NULL, NULL, 0},
};
static const key_map neox_keys[] = {
    {"embedding_length", "hidden_size", 1},
    {"block_count", "num_hidden_layers", 1},
    {"attention.head_count", "num_attention_heads", 1},
    {"feed_forward_length", "intermediate_size", 1},
    {"context_length", "max_position_embeddings", 1},
    {"attention.layer_norm_epsilon", "layer_norm_eps", 0},
    {"rope.freq_base", "rotary_emb_base", 0},
    {NULL, NULL, 0},
};

/* general.architecture -> the Hugging Face class, the tables, and how the
 * converter reordered q/k (llama: LlamaModel.permute) or qkv rows
 * (gptneox: [head, q/k/v] -> [q/k/v, head]), or transposed GPT-2's Conv1D
 * weights. */
enum { PERM_NONE, PERM_ROPE, PERM_QKV, TRANSPOSE_CONV1D };
static const struct {
    const char *gguf, *hf;
    const name_map *names;
    const key_map *keys;
    int reorder;
} archs[] = {
    {"llama", "LlamaForCausalLM", llama_names, llama_keys, PERM_ROPE},
    {"qwen2", "Qwen2ForCausalLM", llama_names, llama_keys, PERM_NONE},
    {"gpt2", "GPT2LMHeadModel", gpt2_names, gpt2_keys, TRANSPOSE_CONV1D},
    {"gptneox", "GPTNeoXForCausalLM", neox_names, neox_keys, PERM_QKV},
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
    return lmd_fail(err,
                    "%s: general.architecture \"%.*s\" is not supported (llama, qwen2, gpt2, "
                    "gptneox are)",
                    g->path, (int)(n > 64 ? 64 : n), a);
}

/* Copies the <arch>.* keys of the table that are present into cfg. */
static int put_keys(const lmd_gguf *g, const char *arch, const key_map *keys, cJSON *cfg,
                    lmd_error *err) {
    for (const key_map *k = keys; k->gguf; k++) {
        char key[128];
        snprintf(key, sizeof key, "%s.%s", arch, k->gguf);
        if (!lmd_gguf_find(g, key)) continue;
        double v;
        int64_t iv;
        if (k->is_int) {
            if (lmd_gguf_int(g, key, 0, &iv, err) < 0) return -1;
            v = (double)iv;
        } else if (lmd_gguf_float(g, key, 0, &v, err) < 0) {
            return -1;
        }
        if (!cJSON_AddNumberToObject(cfg, k->hf, v)) return lmd_fail(err, "out of memory");
    }
    return 0;
}

static int cfg_int(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsNumber(v) ? v->valueint : 0;
}

/* The head size the config stands for (0 when unknown). */
static int head_size(const cJSON *cfg) {
    int h = cfg_int(cfg, "num_attention_heads"), d = cfg_int(cfg, "hidden_size");
    if (!h) h = cfg_int(cfg, "n_head"), d = cfg_int(cfg, "n_embd");
    return cfg_int(cfg, "head_dim") ? cfg_int(cfg, "head_dim") : h > 0 ? d / h : 0;
}

/* rope_freqs.weight (llama.cpp's form of Llama 3.1 rope scaling: one F32
 * divisor per rotated pair, ggml_rope_ext's freq_factors) as the config's
 * "rope_freqs" array, which lmd_rope_init applies. */
static int rope_freqs(const lmd_gguf *g, int64_t dims, cJSON *cfg, lmd_error *err) {
    const lmd_gguf_tensor *t = lmd_gguf_find_tensor(g, "rope_freqs.weight");
    if (!t) return 0;
    if (t->type != 0 || t->ndim != 1 || t->ne[0] != (uint64_t)dims / 2)
        return lmd_fail(err,
                        "%s: rope_freqs.weight must be F32 of %lld values (rope dimensions / 2)",
                        g->path, (long long)dims / 2);
    cJSON *a = cJSON_AddArrayToObject(cfg, "rope_freqs");
    if (!a) return lmd_fail(err, "out of memory");
    for (int64_t i = 0; i < dims / 2; i++) {
        float f;
        memcpy(&f, t->data + i * sizeof f, sizeof f);
        if (!(f > 0) || !isfinite(f))
            return lmd_fail(err, "%s: rope_freqs.weight[%lld] = %g is not a positive number",
                            g->path, (long long)i, f);
        if (!cJSON_AddItemToArray(a, cJSON_CreateNumber(f))) return lmd_fail(err, "out of memory");
    }
    return 0;
}

/* Llama/Qwen2: RoPE over the whole head, unscaled, linearly scaled or with
 * per-dimension factors (rope_freqs.weight). */
static int rope_config(const lmd_gguf *g, const char *arch, cJSON *cfg, lmd_error *err) {
    char key[128];
    const char *type;
    size_t n;
    int64_t dims;
    snprintf(key, sizeof key, "%s.rope.dimension_count", arch);
    if (lmd_gguf_int(g, key, head_size(cfg), &dims, err) < 0) return -1;
    if (dims != head_size(cfg))
        return lmd_fail(err, "%s: %s %lld differs from the head size %d (not supported)", g->path,
                        key, (long long)dims, head_size(cfg));
    if (rope_freqs(g, dims, cfg, err) < 0) return -1;
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

/* GPT-NeoX: the rotary fraction and the residual layout. */
static int neox_config(const lmd_gguf *g, cJSON *cfg, lmd_error *err) {
    int64_t dims;
    int parallel;
    const int head = head_size(cfg);
    if (head <= 0) return lmd_fail(err, "%s: no gptneox.attention.head_count", g->path);
    if (lmd_gguf_int(g, "gptneox.rope.dimension_count", head / 4, &dims, err) < 0 ||
        lmd_gguf_bool(g, "gptneox.use_parallel_residual", 1, &parallel, err) < 0)
        return -1;
    if (!cJSON_AddNumberToObject(cfg, "rotary_pct", (double)dims / head) ||
        !cJSON_AddBoolToObject(cfg, "use_parallel_residual", parallel))
        return lmd_fail(err, "out of memory");
    return 0;
}

/* GPT-2's converter writes the tied head as a copy of token_embd. */
static int head_tied(const lmd_gguf *g, int same_copy_ties) {
    const lmd_gguf_tensor *o = lmd_gguf_find_tensor(g, "output.weight");
    const lmd_gguf_tensor *e = lmd_gguf_find_tensor(g, "token_embd.weight");
    if (!o) return 1;
    return same_copy_ties && o->type == e->type && o->nbytes == e->nbytes &&
           !memcmp(o->data, e->data, o->nbytes);
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
    if (put_keys(g, a, archs[w].keys, cfg, err) < 0) goto fail;
    const int reorder = archs[w].reorder;
    if (reorder == PERM_QKV           ? neox_config(g, cfg, err) < 0
        : reorder == TRANSPOSE_CONV1D ? 0
                                      : rope_config(g, a, cfg, err) < 0)
        goto fail;
    int64_t bos;
    if (lmd_gguf_int(g, "tokenizer.ggml.bos_token_id", -1, &bos, err) < 0) goto fail;
    if (bos >= 0 && !cJSON_AddNumberToObject(cfg, "bos_token_id", (double)bos)) goto oom;
    if (!cJSON_AddNumberToObject(cfg, "vocab_size", (double)emb->ne[1]) ||
        !cJSON_AddBoolToObject(cfg, "tie_word_embeddings",
                               head_tied(g, reorder == TRANSPOSE_CONV1D)))
        goto oom;
    if (!strcmp(a, "llama") &&
        !cJSON_AddBoolToObject(cfg, "attention_bias",
                               lmd_gguf_find_tensor(g, "blk.0.attn_output.bias") != NULL))
        goto oom;
    if (!strcmp(a, "llama") &&
        !cJSON_AddBoolToObject(cfg, "mlp_bias",
                               lmd_gguf_find_tensor(g, "blk.0.ffn_down.bias") != NULL))
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
 * name when the table has none; *suffix: the part after "blk.N." (or the
 * whole name). */
static char *hf_name(const lmd_gguf_tensor *t, const name_map *names, const char **suffix) {
    static __thread char name[300];
    snprintf(name, sizeof name, "%.*s", (int)t->name_len, t->name);
    unsigned layer = 0;
    int used = 0;
    *suffix = name;
    if (sscanf(name, "blk.%u.%n", &layer, &used) == 1 && used > 0) *suffix = name + used;
    for (const name_map *n = names; n->gguf; n++) {
        if (strcmp(*suffix, n->gguf) || (*suffix == name) != !strstr(n->hf, "%u")) continue;
        char out[300];
        snprintf(out, sizeof out, n->hf, layer);
        return strdup(out);
    }
    return strdup(name);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const lmd_tensor *)a)->name, ((const lmd_tensor *)b)->name);
}

/* How the converter reordered this tensor (by its GGUF suffix): sets
 * perm_head / transposed.  -1 when its rows are not whole heads. */
static int reorder_of(int reorder, const char *suffix, int head, lmd_tensor *t) {
    const int is_qk = !strncmp(suffix, "attn_q.", 7) || !strncmp(suffix, "attn_k.", 7);
    const int is_qkv = !strncmp(suffix, "attn_qkv.", 9);
    const int is_w = strstr(suffix, ".weight") && t->ndim == 2;
    if (reorder == TRANSPOSE_CONV1D && is_w &&
        (is_qkv || !strcmp(suffix, "attn_output.weight") || !strcmp(suffix, "ffn_up.weight") ||
         !strcmp(suffix, "ffn_down.weight"))) {
        int64_t x = t->shape[0]; /* HF's Conv1D shape is [n_in, n_out] = ne */
        t->shape[0] = t->shape[1];
        t->shape[1] = x;
        t->transposed = 1;
    } else if ((reorder == PERM_ROPE && is_qk) || (reorder == PERM_QKV && is_qkv)) {
        if (head < 2 || t->shape[0] % (reorder == PERM_QKV ? 3 * head : head) ||
            (reorder == PERM_ROPE && head % 2))
            return -1;
        t->perm_head = reorder == PERM_QKV ? -head : head;
    }
    return 0;
}

int lmd_gguf_model_tensors(lmd_gguf *g, const cJSON *cfg, lmd_st_set *set, lmd_error *err) {
    memset(set, 0, sizeof *set);
    int w;
    if (find_arch(g, &w, err) < 0) return -1;
    const int head = head_size(cfg);
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
        const char *suffix;
        if (!(t->name = hf_name(s, archs[w].names, &suffix))) {
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
        if (reorder_of(archs[w].reorder, suffix, head, t) < 0) {
            lmd_fail(err, "%s: tensor %.*s: %lld rows are not whole heads of %d", g->path,
                     (int)s->name_len, s->name, (long long)t->shape[0], head);
            lmd_st_close(set);
            return -1;
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

/* ---- the other way: Hugging Face -> GGUF names and keys */

static int arch_index(const char *gguf_arch) {
    for (size_t i = 0; i < sizeof archs / sizeof *archs; i++)
        if (!strcmp(archs[i].gguf, gguf_arch)) return (int)i;
    return -1;
}

const char *lmd_gguf_arch_of(const char *hf_class) {
    /* llama.cpp writes Mistral as llama (its sliding window has no key) */
    if (hf_class && !strcmp(hf_class, "MistralForCausalLM")) return "llama";
    for (size_t i = 0; hf_class && i < sizeof archs / sizeof *archs; i++)
        if (!strcmp(archs[i].hf, hf_class)) return archs[i].gguf;
    return NULL;
}

/* Matches name against an HF pattern with at most one %u. */
static int match_hf(const char *pattern, const char *name, unsigned *layer) {
    const char *pct = strstr(pattern, "%u");
    if (!pct) return !strcmp(pattern, name);
    const size_t pre = (size_t)(pct - pattern);
    if (strncmp(pattern, name, pre)) return 0;
    const char *p = name + pre, *q = p;
    while (*q >= '0' && *q <= '9')
        q++;
    if (q == p || q - p > 6 || strcmp(q, pct + 2)) return 0;
    *layer = (unsigned)strtoul(p, NULL, 10);
    return 1;
}

int lmd_gguf_name_of(const char *gguf_arch, const char *hf_name, int head, char *out, size_t cap,
                     lmd_gguf_reorder *how) {
    const int w = arch_index(gguf_arch);
    memset(how, 0, sizeof *how);
    if (w < 0) return 0;
    static const char *const prefixes[] = {"", "model.", "transformer.", "gpt_neox."};
    for (size_t k = 0; k < sizeof prefixes / sizeof *prefixes; k++) {
        char full[300];
        snprintf(full, sizeof full, "%s%s", prefixes[k], hf_name);
        for (const name_map *n = archs[w].names; n->gguf; n++) {
            unsigned layer = 0;
            if (!match_hf(n->hf, full, &layer)) continue;
            if (strstr(n->hf, "%u"))
                snprintf(out, cap, "blk.%u.%s", layer, n->gguf);
            else
                snprintf(out, cap, "%s", n->gguf);
            lmd_tensor t = {.ndim = strstr(n->gguf, ".weight") ? 2 : 1, .shape = {3 * 2 * head, 1}};
            reorder_of(archs[w].reorder, n->gguf, head, &t);
            how->perm_head = t.perm_head;
            how->transposed = t.transposed;
            return 1;
        }
    }
    return 0;
}

int lmd_gguf_write_keys(const char *gguf_arch, const cJSON *cfg, struct lmd_gguf_w *w,
                        lmd_error *err) {
    const int a = arch_index(gguf_arch);
    if (a < 0) return lmd_fail(err, "architecture %s has no GGUF form", gguf_arch);
    for (const key_map *k = archs[a].keys; k->gguf; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, k->hf);
        if (!cJSON_IsNumber(v)) continue;
        char key[128];
        snprintf(key, sizeof key, "%s.%s", gguf_arch, k->gguf);
        if (k->is_int)
            lmd_gguf_w_u32(w, key, (uint32_t)v->valueint);
        else
            lmd_gguf_w_f32(w, key, (float)v->valuedouble);
    }
    return 0;
}
