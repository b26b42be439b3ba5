/* load_folder.c - lmd_tokenizer_load: finding the tokenizer files of a model
 * folder.  tokenizer.json is preferred; otherwise vocab.json + merges.txt
 * (GPT-2's original files) with the optional added_tokens.json,
 * special_tokens_map.json and tokenizer_config.json; otherwise a
 * SentencePiece tokenizer.model (with tokenizer_config.json's options).  tokenizer_config.json
 * also names the BOS token. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "model/format/modelref.h"
#include "tokenize/tok_internal.h"

/* The \u0000 and trailing-data checks of load_json.c matter less here: these
 * files are only read for ids and names, and a bad one fails loudly. */
static int lmd_parse_json(const char *data, size_t len, const char *name, cJSON **out,
                          lmd_error *err) {
    *out = NULL;
    size_t bad = lmd_utf8_check(data, len);
    if (bad < len) return lmd_fail(err, "%s: not valid UTF-8 at byte offset %zu", name, bad);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(data, len, &end, 0);
    if (!root) {
        size_t at = end && end >= data && end <= data + len ? (size_t)(end - data) : 0;
        return lmd_fail(err, "%s: invalid JSON near byte %zu", name, at);
    }
    *out = root;
    return 0;
}

/* Reads and parses dir/file; *out stays NULL when the file is absent. */
static int lmd_read_json_opt(const char *dir, const char *file, cJSON **out, lmd_error *err) {
    *out = NULL;
    char *path = lmd_path_join(dir, file);
    if (!path) return lmd_fail(err, "out of memory");
    int rc = 0;
    if (lmd_file_exists(path)) {
        char *data;
        size_t len;
        rc = lmd_read_file(path, &data, &len, err);
        if (rc == 0) {
            rc = lmd_parse_json(data, len, path, out, err);
            free(data);
        }
    }
    free(path);
    return rc;
}

static int lmd_read_vocab(lmd_tokenizer *t, const char *data, size_t len, const char *name,
                          lmd_error *err) {
    cJSON *root;
    if (lmd_parse_json(data, len, name, &root, err) < 0) return -1;
    int rc = 0;
    if (!cJSON_IsObject(root)) rc = lmd_fail(err, "%s: not a JSON object", name);
    for (const cJSON *e = root->child; rc == 0 && e; e = e->next) {
        if (!cJSON_IsNumber(e)) rc = lmd_fail(err, "%s: token %.60s has a non-numeric id", name, e->string);
        else rc = lmd_tok_add_vocab(t, e->string, strlen(e->string), e->valuedouble, name, err);
    }
    cJSON_Delete(root);
    return rc;
}

static int lmd_read_merges(lmd_tokenizer *t, const char *data, size_t len, const char *name,
                           lmd_error *err) {
    size_t bad = lmd_utf8_check(data, len);
    if (bad < len) return lmd_fail(err, "%s: not valid UTF-8 at byte offset %zu", name, bad);
    size_t pos = 0, line = 0;
    while (pos < len) {
        const char *s = data + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        if (n && s[n - 1] == '\r') n--;
        if (n == 0) continue;
        if (line == 1 && n >= 8 && memcmp(s, "#version", 8) == 0) continue;
        const char *sp = memchr(s, ' ', n);
        if (!sp || sp == s || sp == s + n - 1 || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
            return lmd_fail(err, "%s:%zu: expected two tokens separated by one space", name, line);
        if (lmd_tok_add_merge(t, s, (size_t)(sp - s), sp + 1, (size_t)(s + n - sp - 1), name, err) < 0)
            return -1;
    }
    return 0;
}

static int lmd_add_gpt2_steps(lmd_tokenizer *t, int prefix_space, const char *name, lmd_error *err) {
    if (prefix_space && lmd_tok_add_step(t, LMD_STEP_PREFIX_SPACE, NULL, 0, name, err) < 0) return -1;
    return lmd_tok_add_step(t, LMD_STEP_SPLIT_REGEX, LMD_GPT2_PATTERN, sizeof LMD_GPT2_PATTERN - 1,
                            name, err);
}

/* GPT2Tokenizer's default special token. */
static int lmd_add_default_eot(lmd_tokenizer *t, const char *name, lmd_error *err) {
    const lmd_str_entry *e = lmd_strmap_get(&t->vocab, t->arena.data, "<|endoftext|>", 13);
    if (!e) return 0;
    lmd_added_tok a = {.id = e->id, .special = 1};
    return lmd_tok_add_added(t, &a, "<|endoftext|>", 13, name, err);
}

int lmd_tokenizer_from_vocab_merges(const char *vocab_json, size_t vocab_len,
                                    const char *vocab_name, const char *merges_txt,
                                    size_t merges_len, const char *merges_name,
                                    lmd_tokenizer **out, lmd_error *err) {
    if (out) *out = NULL;
    if (!vocab_name) vocab_name = "vocab.json";
    if (!merges_name) merges_name = "merges.txt";
    if (!out || (!vocab_json && vocab_len) || (!merges_txt && merges_len))
        return lmd_fail(err, "%s: bad arguments", vocab_name);
    lmd_tokenizer *t = lmd_tok_new();
    if (!t) return lmd_fail(err, "%s: out of memory", vocab_name);
    if (lmd_read_vocab(t, vocab_json ? vocab_json : "", vocab_len, vocab_name, err) < 0 ||
        lmd_read_merges(t, merges_txt ? merges_txt : "", merges_len, merges_name, err) < 0 ||
        lmd_add_gpt2_steps(t, 0, vocab_name, err) < 0 || lmd_add_default_eot(t, vocab_name, err) < 0 ||
        lmd_tok_finalize(t, vocab_name, err) < 0) {
        lmd_tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

/* ---- the optional files of the vocab.json + merges.txt form */

/* A special token given as "text" or {"content": "text", "lstrip": ...}. */
static int lmd_add_special(lmd_tokenizer *t, const cJSON *x, const cJSON *added_json, const char *name,
                           lmd_error *err) {
    if (!x || cJSON_IsNull(x)) return 0;
    const cJSON *c = cJSON_IsObject(x) ? cJSON_GetObjectItemCaseSensitive(x, "content") : x;
    if (!cJSON_IsString(c)) return lmd_fail(err, "%s: a special token is neither a string nor {\"content\": ...}", name);
    const char *s = c->valuestring;
    size_t n = strlen(s);
    lmd_added_tok a = {.special = 1};
    if (cJSON_IsObject(x)) {
        a.lstrip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "lstrip"));
        a.rstrip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "rstrip"));
        a.single_word = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "single_word"));
        a.normalized = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "normalized"));
    }
    const lmd_str_entry *e = lmd_strmap_get(&t->vocab, t->arena.data, s, n);
    const cJSON *ej = cJSON_GetObjectItemCaseSensitive(added_json, s);
    if (e) a.id = e->id;
    else if (cJSON_IsNumber(ej) && ej->valuedouble >= 0 && ej->valuedouble < LMD_TOK_MAX_ID) a.id = (int32_t)ej->valuedouble;
    else return lmd_fail(err, "%s: special token \"%.60s\" is neither in vocab.json nor in added_tokens.json", name, s);
    return lmd_tok_add_added(t, &a, s, n, name, err);
}

static const char *const lmd_special_keys[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                               "pad_token", "cls_token", "mask_token"};

int lmd_tok_add_specials_of(lmd_tokenizer *t, const cJSON *root, const cJSON *added_json,
                            const char *name, lmd_error *err) {
    if (!cJSON_IsObject(root)) return 0;
    for (size_t i = 0; i < sizeof lmd_special_keys / sizeof *lmd_special_keys; i++)
        if (lmd_add_special(t, cJSON_GetObjectItemCaseSensitive(root, lmd_special_keys[i]), added_json, name, err) < 0)
            return -1;
    const cJSON *more = cJSON_GetObjectItemCaseSensitive(root, "additional_special_tokens");
    if (cJSON_IsArray(more))
        for (const cJSON *x = more->child; x; x = x->next)
            if (lmd_add_special(t, x, added_json, name, err) < 0) return -1;
    /* tokenizer_config.json: {"added_tokens_decoder": {"50256": {...}}} */
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "added_tokens_decoder");
    if (cJSON_IsObject(dec)) {
        for (const cJSON *x = dec->child; x; x = x->next) {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(x, "content");
            char *endp;
            long id = strtol(x->string, &endp, 10);
            if (!cJSON_IsString(c) || *endp || endp == x->string || id < 0 || id >= LMD_TOK_MAX_ID)
                return lmd_fail(err, "%s: bad entry \"%.40s\" in added_tokens_decoder", name, x->string);
            lmd_added_tok a = {.id = (int32_t)id};
            a.special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "special"));
            a.lstrip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "lstrip"));
            a.rstrip = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "rstrip"));
            a.single_word = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "single_word"));
            a.normalized = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(x, "normalized"));
            if (lmd_tok_add_added(t, &a, c->valuestring, strlen(c->valuestring), name, err) < 0) return -1;
        }
    }
    return 0;
}

static int lmd_load_vocab_merges(const char *dir, const char *vpath, const char *mpath,
                                 const cJSON *config, lmd_tokenizer **out, lmd_error *err) {
    char *vdata = NULL, *mdata = NULL, *cfg_path = lmd_path_join(dir, "tokenizer_config.json");
    char *stm_path = lmd_path_join(dir, "special_tokens_map.json");
    char *at_path = lmd_path_join(dir, "added_tokens.json");
    cJSON *stm = NULL, *atj = NULL;
    size_t vlen, mlen;
    lmd_tokenizer *t = lmd_tok_new();
    int rc = -1;
    if (!t || !cfg_path || !stm_path || !at_path) {
        lmd_fail(err, "%s: out of memory", dir);
        goto done;
    }
    if (lmd_read_file(vpath, &vdata, &vlen, err) < 0 || lmd_read_file(mpath, &mdata, &mlen, err) < 0 ||
        lmd_read_vocab(t, vdata, vlen, vpath, err) < 0 || lmd_read_merges(t, mdata, mlen, mpath, err) < 0 ||
        lmd_read_json_opt(dir, "special_tokens_map.json", &stm, err) < 0 ||
        lmd_read_json_opt(dir, "added_tokens.json", &atj, err) < 0)
        goto done;
    const cJSON *aps = cJSON_GetObjectItemCaseSensitive(config, "add_prefix_space");
    if (lmd_add_gpt2_steps(t, cJSON_IsTrue(aps), vpath, err) < 0 ||
        lmd_tok_add_specials_of(t, config, atj, cfg_path, err) < 0 ||
        lmd_tok_add_specials_of(t, stm, atj, stm_path, err) < 0)
        goto done;
    if (atj && !cJSON_IsObject(atj)) {
        lmd_fail(err, "%s: not a JSON object", at_path);
        goto done;
    }
    for (const cJSON *x = atj ? atj->child : NULL; x; x = x->next) {
        if (!cJSON_IsNumber(x) || x->valuedouble < 0 || x->valuedouble >= LMD_TOK_MAX_ID) {
            lmd_fail(err, "%s: token \"%.60s\" has a bad id", at_path, x->string);
            goto done;
        }
        lmd_added_tok a = {.id = (int32_t)x->valuedouble, .normalized = 1};
        if (lmd_tok_add_added(t, &a, x->string, strlen(x->string), at_path, err) < 0) goto done;
    }
    if (lmd_tok_roberta_specials(t, config, stm, cfg_path, err) < 0 ||
        lmd_add_default_eot(t, vpath, err) < 0 || lmd_tok_finalize(t, vpath, err) < 0)
        goto done;
    *out = t;
    t = NULL;
    rc = 0;
done:
    lmd_tokenizer_free(t);
    cJSON_Delete(stm);
    cJSON_Delete(atj);
    free(vdata);
    free(mdata);
    free(cfg_path);
    free(stm_path);
    free(at_path);
    return rc;
}

/* A WordPiece folder: vocab.txt with tokenizer_config.json and
 * special_tokens_map.json (both optional). */
static int lmd_load_vocab_txt(const char *dir, const char *vpath, const cJSON *config,
                              lmd_tokenizer **out, lmd_error *err) {
    char *data = NULL, *cfg_path = lmd_path_join(dir, "tokenizer_config.json");
    char *stm_path = lmd_path_join(dir, "special_tokens_map.json");
    cJSON *stm = NULL;
    size_t len;
    int rc = -1;
    if (!cfg_path || !stm_path) lmd_fail(err, "%s: out of memory", dir);
    else if (lmd_read_json_opt(dir, "special_tokens_map.json", &stm, err) == 0 &&
             lmd_read_file(vpath, &data, &len, err) == 0)
        rc = lmd_tok_from_vocab_txt(data, len, vpath, config, cfg_path, stm, stm_path, out, err);
    cJSON_Delete(stm);
    free(data);
    free(cfg_path);
    free(stm_path);
    return rc;
}

/* BOS: tokenizer_config.json's bos_token when the tokenizer knows it,
 * otherwise what finalize chose (<|endoftext|> or -1). */
static void lmd_apply_bos(lmd_tokenizer *t, const cJSON *config) {
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(config, "bos_token");
    if (cJSON_IsObject(b)) b = cJSON_GetObjectItemCaseSensitive(b, "content");
    if (!cJSON_IsString(b)) return;
    int32_t id = lmd_tokenizer_token_id(t, b->valuestring, strlen(b->valuestring));
    if (id >= 0) t->bos = id;
}

/* The mask token: tokenizer_config.json's mask_token when the tokenizer knows
 * it, otherwise what finalize chose ("[MASK]" or "<mask>", or -1). */
static void lmd_apply_mask(lmd_tokenizer *t, const cJSON *config) {
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(config, "mask_token");
    if (cJSON_IsObject(m)) m = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!cJSON_IsString(m)) return;
    int32_t id = lmd_tokenizer_token_id(t, m->valuestring, strlen(m->valuestring));
    if (id >= 0) t->mask_id = id;
}

/* tokenizer_config.json's options of a SentencePiece model (LlamaTokenizer:
 * legacy, add_prefix_space, add_bos_token, add_eos_token). */
static int lmd_spm_config(const cJSON *config, lmd_spm_options *o, const char *name,
                          lmd_error *err) {
    *o = lmd_spm_options_default();
    static const char *const keys[] = {"legacy", "add_prefix_space", "add_bos_token",
                                       "add_eos_token"};
    int *vals[] = {&o->legacy, &o->add_prefix_space, &o->add_bos, &o->add_eos};
    for (size_t i = 0; i < 4; i++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(config, keys[i]);
        if (!x || cJSON_IsNull(x)) continue;
        if (!cJSON_IsBool(x)) return lmd_fail(err, "%s: %s is not a boolean", name, keys[i]);
        *vals[i] = cJSON_IsTrue(x);
    }
    return 0;
}

static int lmd_load_spm(const char *dir, const char *path, const cJSON *config,
                        lmd_tokenizer **out, lmd_error *err) {
    char *cfg = lmd_path_join(dir, "tokenizer_config.json"), *data = NULL;
    size_t len;
    lmd_spm_options o;
    int rc = -1;
    if (!cfg) return lmd_fail(err, "%s: out of memory", dir);
    if (lmd_spm_config(config, &o, cfg, err) == 0 && lmd_read_file(path, &data, &len, err) == 0)
        rc = lmd_tokenizer_from_spm(data, len, path, &o, out, err);
    free(data);
    free(cfg);
    return rc;
}

/* The id of tokenizer_config.json's key (a string or {"content": ...}), or
 * of def when the key is absent; -1 when the tokenizer does not know it. */
static int32_t lmd_config_token(const lmd_tokenizer *t, const cJSON *config, const char *key,
                                const char *def) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(config, key);
    if (cJSON_IsObject(x)) x = cJSON_GetObjectItemCaseSensitive(x, "content");
    const char *s = cJSON_IsString(x) ? x->valuestring : x ? NULL : def;
    return s ? lmd_tokenizer_token_id(t, s, strlen(s)) : -1;
}

/* transformers' LlamaTokenizerFast rebuilds the post-processor from
 * tokenizer_config.json: [bos_token if add_bos_token (default true)] $A
 * [eos_token if add_eos_token (default false)], whatever tokenizer.json
 * says.  Other tokenizer classes keep tokenizer.json's post_processor. */
static int lmd_apply_llama_frame(lmd_tokenizer *t, const cJSON *config, const char *dir,
                                 lmd_error *err) {
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(config, "tokenizer_class");
    static const char *const llama[] = {"LlamaTokenizer", "LlamaTokenizerFast",
                                        "CodeLlamaTokenizer", "CodeLlamaTokenizerFast"};
    int is_llama = 0;
    for (size_t i = 0; i < 4 && cJSON_IsString(cls); i++)
        is_llama |= strcmp(cls->valuestring, llama[i]) == 0;
    if (!is_llama) return 0;
    lmd_spm_options o;
    char *cfg = lmd_path_join(dir, "tokenizer_config.json");
    if (!cfg) return lmd_fail(err, "%s: out of memory", dir);
    int rc = lmd_spm_config(config, &o, cfg, err);
    int32_t bos = lmd_config_token(t, config, "bos_token", "<s>");
    int32_t eos = lmd_config_token(t, config, "eos_token", "</s>");
    if (rc == 0 && ((o.add_bos && bos < 0) || (o.add_eos && eos < 0)))
        rc = lmd_fail(err, "%s: add_%s_token is set but the tokenizer does not know %s_token", cfg,
                      o.add_bos && bos < 0 ? "bos" : "eos", o.add_bos && bos < 0 ? "bos" : "eos");
    if (rc == 0 && lmd_tok_set_frame(t, &bos, o.add_bos ? 1 : 0, &eos, o.add_eos ? 1 : 0) < 0)
        rc = lmd_fail(err, "%s: out of memory", cfg);
    free(cfg);
    return rc;
}

int lmd_tokenizer_load(const char *dir, lmd_tokenizer **out, lmd_error *err) {
    if (out) *out = NULL;
    if (!dir || !out) return lmd_fail(err, "lmd_tokenizer_load: bad arguments");
    {   /* a GGUF file, or a model reference (ollama:NAME) */
        char *path;
        int is_gguf;
        if (lmd_model_ref_resolve(dir, &path, &is_gguf, err) < 0) return -1;
        int rc = is_gguf ? lmd_tokenizer_load_gguf(path, out, err) : 0;
        if (is_gguf || !strncmp(dir, "hf:", 3)) { /* a reference: load what it names */
            if (!is_gguf) rc = lmd_tokenizer_load(path, out, err);
            free(path);
            return rc;
        }
        free(path);
    }
    char *tj = lmd_path_join(dir, "tokenizer.json");
    char *vj = lmd_path_join(dir, "vocab.json");
    char *mt = lmd_path_join(dir, "merges.txt");
    char *sp = lmd_path_join(dir, "tokenizer.model");
    char *vt = lmd_path_join(dir, "vocab.txt");
    cJSON *config = NULL;
    lmd_tokenizer *t = NULL;
    int rc = -1;
    char key[65];
    int cached = lmd_tokcache_key(dir, key) == 0;
    if (cached && lmd_tokcache_load(key, out) == 1) {
        rc = 0;
        goto done;
    }
    if (!tj || !vj || !mt || !sp || !vt) {
        lmd_fail(err, "%s: out of memory", dir);
        goto done;
    }
    if (lmd_read_json_opt(dir, "tokenizer_config.json", &config, err) < 0) goto done;
    if (lmd_file_exists(tj)) {
        char *data;
        size_t len;
        if (lmd_read_file(tj, &data, &len, err) < 0) goto done;
        char *cfg_path = lmd_path_join(dir, "tokenizer_config.json");
        rc = lmd_tok_from_json_cfg(data, len, tj, config, cfg_path ? cfg_path : "tokenizer_config.json", &t, err);
        free(cfg_path);
        free(data);
        if (rc < 0) goto done;
        rc = lmd_apply_llama_frame(t, config, dir, err);
        if (rc < 0) {
            lmd_tokenizer_free(t);
            goto done;
        }
    } else if (lmd_file_exists(vt) && !lmd_file_exists(vj)) {
        if (lmd_load_vocab_txt(dir, vt, config, &t, err) < 0) goto done;
    } else {
        int hv = lmd_file_exists(vj), hm = lmd_file_exists(mt);
        if ((!hv || !hm) && lmd_file_exists(sp)) {
            if (lmd_load_spm(dir, sp, config, &t, err) < 0) goto done;
            goto loaded;
        }
        if (!hv || !hm) {
            if (hv || hm)
                lmd_fail(err, "%s: has %s but no %s (and no tokenizer.json)", dir,
                         hv ? "vocab.json" : "merges.txt", hv ? "merges.txt" : "vocab.json");
            else
                lmd_fail(err, "%s: no tokenizer found (looked for tokenizer.json, vocab.json + merges.txt, vocab.txt, and tokenizer.model)", dir);
            goto done;
        }
        rc = lmd_load_vocab_merges(dir, vj, mt, config, &t, err);
        if (rc < 0) goto done;
    }
loaded:
    lmd_apply_bos(t, config);
    lmd_apply_mask(t, config);
    if (cached) lmd_tokcache_store(key, t);
    *out = t;
    rc = 0;
done:
    cJSON_Delete(config);
    free(tj);
    free(vj);
    free(mt);
    free(sp);
    free(vt);
    return rc;
}
