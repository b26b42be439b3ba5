/* load_json.c - reading a Hugging Face tokenizer.json (model type BPE, byte
 * level or SentencePiece style).  Everything that would make Hugging Face tokenize
 * differently from what we implement is refused with an error that names the
 * file and the unsupported setting. */
#include <cjson/cJSON.h>
#include <string.h>

#include "tokenize/tok_internal.h"

/* Hugging Face rejects strings with a NUL in them nowhere, but cJSON would
 * cut such a string short; refuse the escape instead of misreading it. */
static int lmd_has_nul_escape(const char *s, size_t len) {
    for (size_t i = 0; i + 6 <= len; i++) {
        if (s[i] != '\\') continue;
        if (s[i + 1] == 'u' && memcmp(s + i + 2, "0000", 4) == 0) return 1;
        i++; /* skip the escaped character */
    }
    return 0;
}

static int lmd_is_null(const cJSON *x) { return !x || cJSON_IsNull(x); }

/* An optional boolean field; *val keeps def when absent or null. */
static int lmd_get_bool(const cJSON *obj, const char *key, int def, int *val, const char *name,
                        const char *where, lmd_error *err) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(obj, key);
    *val = def;
    if (lmd_is_null(x)) return 0;
    if (!cJSON_IsBool(x)) return lmd_fail(err, "%s: %s.%s is not a boolean", name, where, key);
    *val = cJSON_IsTrue(x) ? 1 : 0;
    return 0;
}

static const char *lmd_type_of(const cJSON *obj) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

static int lmd_json_bytelevel(lmd_tokenizer *t, const cJSON *pt, const char *name, lmd_error *err) {
    int aps, use_regex;
    if (lmd_get_bool(pt, "add_prefix_space", 1, &aps, name, "pre_tokenizer", err) < 0 ||
        lmd_get_bool(pt, "use_regex", 1, &use_regex, name, "pre_tokenizer", err) < 0)
        return -1;
    if (aps && lmd_tok_add_step(t, LMD_STEP_PREFIX_SPACE, NULL, 0, name, err) < 0) return -1;
    if (use_regex && lmd_tok_add_step(t, LMD_STEP_SPLIT_REGEX, LMD_GPT2_PATTERN,
                                      sizeof LMD_GPT2_PATTERN - 1, name, err) < 0)
        return -1;
    return 0;
}

static int lmd_json_split(lmd_tokenizer *t, const cJSON *pt, const char *name, lmd_error *err) {
    static const char *const behaviors[] = {"Isolated", "Removed", "MergedWithPrevious",
                                            "MergedWithNext", "Contiguous"};
    const cJSON *beh = cJSON_GetObjectItemCaseSensitive(pt, "behavior");
    int b = -1;
    for (int i = 0; i < 5 && cJSON_IsString(beh); i++)
        if (strcmp(beh->valuestring, behaviors[i]) == 0) b = i;
    if (b < 0)
        return lmd_fail(err, "%s: Split pre-tokenizer with behavior %s is not supported (Isolated, "
                        "Removed, MergedWithPrevious, MergedWithNext and Contiguous are)",
                        name, cJSON_IsString(beh) ? beh->valuestring : "(missing)");
    int invert, rc;
    if (lmd_get_bool(pt, "invert", 0, &invert, name, "Split", err) < 0) return -1;
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(pt, "pattern");
    const cJSON *re = cJSON_GetObjectItemCaseSensitive(pat, "Regex");
    const cJSON *lit = cJSON_GetObjectItemCaseSensitive(pat, "String");
    if (cJSON_IsString(re))
        rc = lmd_tok_add_step(t, LMD_STEP_SPLIT_REGEX, re->valuestring, strlen(re->valuestring), name, err);
    else if (cJSON_IsString(lit))
        rc = lmd_tok_add_step(t, LMD_STEP_SPLIT_LITERAL, lit->valuestring, strlen(lit->valuestring), name, err);
    else
        return lmd_fail(err, "%s: Split pre-tokenizer without a Regex or String pattern", name);
    if (rc < 0) return -1;
    t->steps[t->n_steps - 1].behavior = (uint8_t)b;
    t->steps[t->n_steps - 1].invert = (uint8_t)invert;
    return 0;
}

static int lmd_json_metaspace(lmd_tokenizer *t, const cJSON *pt, const char *name, lmd_error *err) {
    int scheme, split;
    const char *rep = lmd_tok_metaspace_replacement(pt, name, err);
    if (!rep || lmd_tok_metaspace_scheme(pt, &scheme, name, err) < 0 ||
        lmd_get_bool(pt, "split", 1, &split, name, "Metaspace", err) < 0)
        return -1;
    return lmd_tok_add_metaspace(t, rep, strlen(rep), scheme, split, name, err);
}

/* pre_tokenizer: ByteLevel, or a Sequence of Split steps ending in ByteLevel
 * (a byte-level vocabulary); or null, Metaspace, Split steps and Metaspace
 * in a Sequence (a text vocabulary, SentencePiece style); BertPreTokenizer
 * for WordPiece. */
static int lmd_json_pretok(lmd_tokenizer *t, const cJSON *pt, const char *name, lmd_error *err) {
    const char *type = lmd_type_of(pt);
    if (t->model == LMD_MODEL_WORDPIECE) {
        if (!type || strcmp(type, "BertPreTokenizer") != 0)
            return lmd_fail(err, "%s: pre_tokenizer %s with a WordPiece model is not supported "
                            "(lmdiff supports BertPreTokenizer)", name, type ? type : "(none)");
        return lmd_tok_add_step(t, LMD_STEP_BERT, NULL, 0, name, err);
    }
    t->text_vocab = 1;
    if (lmd_is_null(pt)) return 0;
    if (!type) return lmd_fail(err, "%s: pre_tokenizer has no type", name);
    if (strcmp(type, "BertPreTokenizer") == 0)
        return lmd_fail(err, "%s: pre_tokenizer BertPreTokenizer is supported with a WordPiece "
                        "model only", name);
    if (strcmp(type, "ByteLevel") == 0) {
        t->text_vocab = 0;
        return lmd_json_bytelevel(t, pt, name, err);
    }
    if (strcmp(type, "Metaspace") == 0) return lmd_json_metaspace(t, pt, name, err);
    if (strcmp(type, "Split") == 0) return lmd_json_split(t, pt, name, err);
    if (strcmp(type, "Sequence") != 0)
        return lmd_fail(err, "%s: pre_tokenizer %s is not supported (lmdiff supports ByteLevel, "
                        "Metaspace and Split, alone or in a Sequence)", name, type);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(pt, "pretokenizers");
    if (!cJSON_IsArray(list)) return lmd_fail(err, "%s: pre_tokenizer Sequence without a pretokenizers list", name);
    int n = cJSON_GetArraySize(list), i = 0, seen_metaspace = 0;
    for (const cJSON *x = list->child; x; x = x->next, i++) {
        const char *ty = lmd_type_of(x);
        if (!ty) return lmd_fail(err, "%s: pre_tokenizer %d of the Sequence has no type", name, i);
        if (strcmp(ty, "ByteLevel") == 0) {
            if (i != n - 1)
                return lmd_fail(err, "%s: ByteLevel that is not the last pre_tokenizer of the Sequence is not supported", name);
            if (seen_metaspace)
                return lmd_fail(err, "%s: pre_tokenizer Sequence with both Metaspace and ByteLevel is not supported", name);
            if (lmd_json_bytelevel(t, x, name, err) < 0) return -1;
            t->text_vocab = 0;
        } else if (strcmp(ty, "Split") == 0) {
            if (lmd_json_split(t, x, name, err) < 0) return -1;
        } else if (strcmp(ty, "Metaspace") == 0) {
            if (lmd_json_metaspace(t, x, name, err) < 0) return -1;
            seen_metaspace = 1;
        } else {
            return lmd_fail(err, "%s: pre_tokenizer %s (in a Sequence) is not supported", name, ty);
        }
    }
    return 0;
}

/* model.type WordPiece: vocab, unk_token, continuing_subword_prefix,
 * max_input_chars_per_word (Hugging Face's defaults when absent). */
static int lmd_json_wordpiece(lmd_tokenizer *t, const cJSON *model, const char *name,
                              lmd_error *err) {
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix");
    const cJSON *mx = cJSON_GetObjectItemCaseSensitive(model, "max_input_chars_per_word");
    if (!lmd_is_null(unk) && !cJSON_IsString(unk))
        return lmd_fail(err, "%s: model.unk_token is not a string", name);
    if (!lmd_is_null(pre) && !cJSON_IsString(pre))
        return lmd_fail(err, "%s: model.continuing_subword_prefix is not a string", name);
    double maxc = 100;
    if (!lmd_is_null(mx)) {
        if (!cJSON_IsNumber(mx) || !(mx->valuedouble >= 0) || mx->valuedouble > 1e9 ||
            mx->valuedouble != (double)(long)mx->valuedouble)
            return lmd_fail(err, "%s: model.max_input_chars_per_word is not a count", name);
        maxc = mx->valuedouble;
    }
    const char *u = cJSON_IsString(unk) ? unk->valuestring : "[UNK]";
    const char *p = cJSON_IsString(pre) ? pre->valuestring : "##";
    if (lmd_tok_set_unk(t, u, strlen(u)) < 0) return lmd_fail(err, "%s: out of memory", name);
    if (lmd_tok_set_wordpiece(t, p, strlen(p), (size_t)maxc, name, err) < 0) return -1;
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return lmd_fail(err, "%s: model.vocab is not an object", name);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (!cJSON_IsNumber(e)) return lmd_fail(err, "%s: model.vocab has a non-numeric id", name);
        if (lmd_tok_add_vocab(t, e->string, strlen(e->string), e->valuedouble, name, err) < 0)
            return -1;
    }
    return 0;
}

static int lmd_json_model(lmd_tokenizer *t, const cJSON *model, const char *name, lmd_error *err) {
    if (!cJSON_IsObject(model)) return lmd_fail(err, "%s: no model object", name);
    const char *type = lmd_type_of(model);
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (!type && !merges) return lmd_fail(err, "%s: model has no type", name);
    if (type && strcmp(type, "WordPiece") == 0) return lmd_json_wordpiece(t, model, name, err);
    if (type && strcmp(type, "BPE") != 0)
        return lmd_fail(err, "%s: model type %s is not supported (lmdiff supports BPE and WordPiece)",
                        name, type);
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (!lmd_is_null(x) && !(cJSON_IsNumber(x) && x->valuedouble == 0))
        return lmd_fail(err, "%s: BPE dropout is not supported", name);
    if (lmd_get_bool(model, "byte_fallback", 0, &t->byte_fallback, name, "model", err) < 0) return -1;
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        x = cJSON_GetObjectItemCaseSensitive(model, affixes[i]);
        if (!lmd_is_null(x) && !(cJSON_IsString(x) && x->valuestring[0] == 0))
            return lmd_fail(err, "%s: BPE %s is not supported", name, affixes[i]);
    }
    if (lmd_get_bool(model, "fuse_unk", 0, &t->fuse_unk, name, "model", err) < 0 ||
        lmd_get_bool(model, "ignore_merges", 0, &t->ignore_merges, name, "model", err) < 0)
        return -1;
    x = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (!lmd_is_null(x)) {
        if (!cJSON_IsString(x)) return lmd_fail(err, "%s: model.unk_token is not a string", name);
        if (lmd_tok_set_unk(t, x->valuestring, strlen(x->valuestring)) < 0)
            return lmd_fail(err, "%s: out of memory", name);
    }

    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return lmd_fail(err, "%s: model.vocab is not an object", name);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (!cJSON_IsNumber(e)) return lmd_fail(err, "%s: model.vocab has a non-numeric id", name);
        if (lmd_tok_add_vocab(t, e->string, strlen(e->string), e->valuedouble, name, err) < 0) return -1;
    }
    if (lmd_is_null(merges)) return 0;
    if (!cJSON_IsArray(merges)) return lmd_fail(err, "%s: model.merges is not a list", name);
    size_t i = 0;
    for (const cJSON *m = merges->child; m; m = m->next, i++) {
        if (cJSON_IsString(m)) {
            const char *s = m->valuestring, *sp = strchr(s, ' ');
            if (!sp || sp == s || !sp[1] || strchr(sp + 1, ' '))
                return lmd_fail(err, "%s: merge %zu is not two tokens separated by one space", name, i + 1);
            if (lmd_tok_add_merge(t, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), name, err) < 0) return -1;
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
                   cJSON_IsString(m->child->next)) {
            const char *a = m->child->valuestring, *b = m->child->next->valuestring;
            if (lmd_tok_add_merge(t, a, strlen(a), b, strlen(b), name, err) < 0) return -1;
        } else {
            return lmd_fail(err, "%s: merge %zu is neither \"a b\" nor [\"a\", \"b\"]", name, i + 1);
        }
    }
    return 0;
}

static int lmd_json_added(lmd_tokenizer *t, const cJSON *list, const char *name, lmd_error *err) {
    if (lmd_is_null(list)) return 0;
    if (!cJSON_IsArray(list)) return lmd_fail(err, "%s: added_tokens is not a list", name);
    for (const cJSON *x = list->child; x; x = x->next) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(x, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(x, "content");
        if (!cJSON_IsNumber(id) || !cJSON_IsString(content))
            return lmd_fail(err, "%s: an entry of added_tokens lacks a numeric id or a content string", name);
        double d = id->valuedouble;
        if (!(d >= 0 && d < LMD_TOK_MAX_ID) || d != (double)(int32_t)d)
            return lmd_fail(err, "%s: added token id %g is not an integer in [0, %d)", name, d, (int)LMD_TOK_MAX_ID);
        lmd_added_tok a = {.id = (int32_t)d};
        int sp, ls, rs, sw, no;
        if (lmd_get_bool(x, "special", 0, &sp, name, "added_tokens[]", err) < 0 ||
            lmd_get_bool(x, "lstrip", 0, &ls, name, "added_tokens[]", err) < 0 ||
            lmd_get_bool(x, "rstrip", 0, &rs, name, "added_tokens[]", err) < 0 ||
            lmd_get_bool(x, "single_word", 0, &sw, name, "added_tokens[]", err) < 0 ||
            lmd_get_bool(x, "normalized", 1, &no, name, "added_tokens[]", err) < 0)
            return -1;
        a.special = (uint8_t)sp, a.lstrip = (uint8_t)ls, a.rstrip = (uint8_t)rs;
        a.single_word = (uint8_t)sw, a.normalized = (uint8_t)no;
        if (lmd_tok_add_added(t, &a, content->valuestring, strlen(content->valuestring), name, err) < 0)
            return -1;
    }
    return 0;
}

/* One normalizer (not a Sequence). */
static int lmd_json_norm_one(lmd_tokenizer *t, const cJSON *n, const char *name, lmd_error *err) {
    const char *ty = lmd_type_of(n);
    if (ty && strcmp(ty, "BertNormalizer") == 0) {
        int clean, chinese, lower, strip;
        if (lmd_get_bool(n, "clean_text", 1, &clean, name, "normalizer", err) < 0 ||
            lmd_get_bool(n, "handle_chinese_chars", 1, &chinese, name, "normalizer", err) < 0 ||
            lmd_get_bool(n, "lowercase", 1, &lower, name, "normalizer", err) < 0 ||
            lmd_get_bool(n, "strip_accents", lower, &strip, name, "normalizer", err) < 0)
            return -1;
        lmd_norm_step st = {.kind = LMD_NORM_BERT};
        st.clean_text = (uint8_t)clean, st.chinese = (uint8_t)chinese;
        st.strip_accents = (uint8_t)strip, st.lowercase = (uint8_t)lower;
        st.strip_given = cJSON_IsBool(cJSON_GetObjectItemCaseSensitive(n, "strip_accents"));
        return lmd_tok_add_norm(t, &st, name, err);
    }
    int rc = lmd_tok_json_text_norm(t, n, name, err);
    if (rc <= 0) return rc;
    return lmd_fail(err,
                    "%s: normalizer %s is not supported (lmdiff supports BertNormalizer, Prepend, "
                    "Replace, NFC, NFD, NFKC, NFKD and Sequences of them)",
                    name, ty ? ty : "(without a type)");
}

/* normalizer: null, one normalizer, or a Sequence of them. */
static int lmd_json_normalizer(lmd_tokenizer *t, const cJSON *norm, const char *name,
                               lmd_error *err) {
    if (lmd_is_null(norm)) return 0;
    const char *ty = lmd_type_of(norm);
    if (!ty || strcmp(ty, "Sequence") != 0) return lmd_json_norm_one(t, norm, name, err);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(norm, "normalizers");
    if (!cJSON_IsArray(list))
        return lmd_fail(err, "%s: normalizer Sequence without a normalizers list", name);
    for (const cJSON *x = list->child; x; x = x->next)
        if (lmd_json_norm_one(t, x, name, err) < 0) return -1;
    return 0;
}

/* decoder: ByteLevel (or null) for byte-level BPE; WordPiece (or null) for
 * WordPiece; for a text vocabulary see lmd_tok_json_text_decoder.  After the
 * pre-tokenizer, which tells the two kinds of BPE apart. */
static int lmd_json_decoder(lmd_tokenizer *t, const cJSON *dec, const char *name, lmd_error *err) {
    if (t->model == LMD_MODEL_BPE && t->text_vocab)
        return lmd_tok_json_text_decoder(t, dec, name, err);
    if (lmd_is_null(dec)) return 0;
    const char *ty = lmd_type_of(dec);
    if (t->model == LMD_MODEL_WORDPIECE && ty && strcmp(ty, "WordPiece") == 0) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(dec, "prefix");
        if (!lmd_is_null(p) && !cJSON_IsString(p))
            return lmd_fail(err, "%s: decoder.prefix is not a string", name);
        int cleanup;
        if (lmd_get_bool(dec, "cleanup", 1, &cleanup, name, "decoder", err) < 0) return -1;
        const char *ps = cJSON_IsString(p) ? p->valuestring : "##";
        return lmd_tok_set_wp_decoder(t, ps, strlen(ps), cleanup, name, err);
    }
    if (t->model == LMD_MODEL_BPE && ty && strcmp(ty, "ByteLevel") == 0) return 0;
    return lmd_fail(err, "%s: decoder %s is not supported with a %s model (lmdiff supports %s)",
                    name, ty ? ty : "(without a type)",
                    t->model == LMD_MODEL_WORDPIECE ? "WordPiece" : "ByteLevel BPE",
                    t->model == LMD_MODEL_WORDPIECE ? "WordPiece" : "ByteLevel");
}

static int lmd_json_checks(lmd_tokenizer *t, const cJSON *root, const char *name, lmd_error *err) {
    return lmd_json_normalizer(t, cJSON_GetObjectItemCaseSensitive(root, "normalizer"), name, err);
}

/* After the JSON value only white space may follow (as serde_json wants). */
static int lmd_only_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r') return 0;
    return 1;
}

int lmd_tokenizer_from_json(const char *json, size_t len, const char *name,
                            lmd_tokenizer **out, lmd_error *err) {
    return lmd_tok_from_json_cfg(json, len, name, NULL, NULL, out, err);
}

int lmd_tok_from_json_cfg(const char *json, size_t len, const char *name, const cJSON *config,
                          const char *config_name, lmd_tokenizer **out, lmd_error *err) {
    if (out) *out = NULL;
    if (!name) name = "tokenizer.json";
    if (!out || (!json && len)) return lmd_fail(err, "%s: bad arguments", name);
    if (!json) json = "";
    size_t bad = lmd_utf8_check(json, len);
    if (bad < len) return lmd_fail(err, "%s: not valid UTF-8 at byte offset %zu", name, bad);
    if (lmd_has_nul_escape(json, len))
        return lmd_fail(err, "%s: a string contains \\u0000, which lmdiff does not support", name);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root || !end || end < json || !lmd_only_space(end, len - (size_t)(end - json))) {
        size_t at = end && end >= json && end <= json + len ? (size_t)(end - json) : 0;
        cJSON_Delete(root);
        return lmd_fail(err, "%s: invalid JSON near byte %zu", name, at);
    }
    lmd_tokenizer *t = NULL;
    if (!cJSON_IsObject(root)) {
        lmd_fail(err, "%s: not a JSON object", name);
        goto fail;
    }
    t = lmd_tok_new();
    if (!t) {
        lmd_fail(err, "%s: out of memory", name);
        goto fail;
    }
    if (lmd_json_model(t, cJSON_GetObjectItemCaseSensitive(root, "model"), name, err) < 0 ||
        lmd_json_checks(t, root, name, err) < 0 ||
        (config && lmd_tok_bert_config(t, config, config_name, err) < 0) ||
        lmd_json_pretok(t, cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer"), name, err) < 0 ||
        lmd_json_decoder(t, cJSON_GetObjectItemCaseSensitive(root, "decoder"), name, err) < 0 ||
        lmd_json_added(t, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), name, err) < 0 ||
        lmd_tok_json_post_processor(t, cJSON_GetObjectItemCaseSensitive(root, "post_processor"),
                                    name, err) < 0 ||
        lmd_tok_finalize(t, name, err) < 0)
        goto fail;
    cJSON_Delete(root);
    *out = t;
    return 0;
fail:
    cJSON_Delete(root);
    lmd_tokenizer_free(t);
    return -1;
}
