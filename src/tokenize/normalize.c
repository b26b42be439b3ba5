/* normalize.c - the normalizers (Prepend, Replace, Unicode normal forms) and
 * the decoders of text vocabularies (Replace, ByteFallback, Fuse, Strip,
 * Metaspace) of a tokenizer.json, and applying the normalizer to a text.
 * What we cannot reproduce exactly is refused with the file's name. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenize/tok_internal.h"

static const char *lmd_type_of(const cJSON *obj) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "type");
    return cJSON_IsString(t) ? t->valuestring : NULL;
}

/* A Replace's pattern: {"String": "x"} only (a Regex pattern is refused). */
static const char *lmd_replace_pattern(const cJSON *x, const char *what, const char *name,
                                       lmd_error *err) {
    const cJSON *pat = cJSON_GetObjectItemCaseSensitive(x, "pattern");
    const cJSON *str = cJSON_GetObjectItemCaseSensitive(pat, "String");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(x, "content");
    if (cJSON_GetObjectItemCaseSensitive(pat, "Regex")) {
        lmd_fail(err, "%s: %s Replace with a Regex pattern is not supported (only String)", name,
                 what);
        return NULL;
    }
    if (!cJSON_IsString(str) || !cJSON_IsString(content)) {
        lmd_fail(err, "%s: %s Replace needs a String pattern and a content string", name, what);
        return NULL;
    }
    if (!str->valuestring[0]) {
        lmd_fail(err, "%s: %s Replace with an empty pattern is not supported", name, what);
        return NULL;
    }
    return str->valuestring;
}

static int lmd_norm_one(lmd_tokenizer *t, const cJSON *x, int depth, const char *name,
                        lmd_error *err) {
    const char *ty = lmd_type_of(x);
    if (!ty) return lmd_fail(err, "%s: a normalizer has no type", name);
    if (strcmp(ty, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(x, "normalizers");
        if (!cJSON_IsArray(list))
            return lmd_fail(err, "%s: normalizer Sequence without a normalizers list", name);
        if (depth > 8) return lmd_fail(err, "%s: normalizer Sequences nested too deep", name);
        for (const cJSON *y = list->child; y; y = y->next)
            if (lmd_norm_one(t, y, depth + 1, name, err) < 0) return -1;
        return 0;
    }
    if (strcmp(ty, "Prepend") == 0) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(x, "prepend");
        if (!cJSON_IsString(p))
            return lmd_fail(err, "%s: normalizer Prepend without a prepend string", name);
        if (!p->valuestring[0]) return 0; /* prepending nothing changes nothing */
        return lmd_tok_add_norm(t, LMD_NORM_PREPEND, p->valuestring, strlen(p->valuestring), NULL,
                                0, name, err);
    }
    if (strcmp(ty, "Replace") == 0) {
        const char *pat = lmd_replace_pattern(x, "normalizer", name, err);
        if (!pat) return -1;
        const char *c = cJSON_GetObjectItemCaseSensitive(x, "content")->valuestring;
        return lmd_tok_add_norm(t, LMD_NORM_REPLACE, pat, strlen(pat), c, strlen(c), name, err);
    }
    static const struct {
        const char *type;
        int kind;
    } forms[] = {{"NFC", LMD_NORM_NFC},
                 {"NFD", LMD_NORM_NFD},
                 {"NFKC", LMD_NORM_NFKC},
                 {"NFKD", LMD_NORM_NFKD}};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++)
        if (strcmp(ty, forms[i].type) == 0)
            return lmd_tok_add_norm(t, forms[i].kind, NULL, 0, NULL, 0, name, err);
    return lmd_fail(err,
                    "%s: normalizer %s is not supported (lmdiff supports Prepend, Replace, NFC, "
                    "NFD, NFKC, NFKD and Sequences of them)",
                    name, ty);
}

int lmd_tok_json_normalizer(lmd_tokenizer *t, const cJSON *norm, const char *name, lmd_error *err) {
    if (!norm || cJSON_IsNull(norm)) return 0;
    return lmd_norm_one(t, norm, 0, name, err);
}

/* Metaspace's prepend scheme: prepend_scheme, or the older add_prefix_space
 * (true = always). */
int lmd_tok_metaspace_scheme(const cJSON *x, int *scheme, const char *name, lmd_error *err) {
    const cJSON *ps = cJSON_GetObjectItemCaseSensitive(x, "prepend_scheme");
    const cJSON *aps = cJSON_GetObjectItemCaseSensitive(x, "add_prefix_space");
    if (cJSON_IsString(ps)) {
        if (strcmp(ps->valuestring, "always") == 0)
            *scheme = LMD_PREPEND_ALWAYS;
        else if (strcmp(ps->valuestring, "first") == 0)
            *scheme = LMD_PREPEND_FIRST;
        else if (strcmp(ps->valuestring, "never") == 0)
            *scheme = LMD_PREPEND_NEVER;
        else
            return lmd_fail(err, "%s: Metaspace prepend_scheme \"%.40s\" is not supported", name,
                            ps->valuestring);
        return 0;
    }
    if (ps && !cJSON_IsNull(ps))
        return lmd_fail(err, "%s: Metaspace prepend_scheme is not a string", name);
    if (aps && !cJSON_IsNull(aps) && !cJSON_IsBool(aps))
        return lmd_fail(err, "%s: Metaspace add_prefix_space is not a boolean", name);
    *scheme = cJSON_IsFalse(aps) ? LMD_PREPEND_NEVER : LMD_PREPEND_ALWAYS;
    return 0;
}

/* Metaspace's replacement character (a string of one character). */
const char *lmd_tok_metaspace_replacement(const cJSON *x, const char *name, lmd_error *err) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(x, "replacement");
    if (!r || cJSON_IsNull(r)) return "\xE2\x96\x81"; /* ▁, the default */
    if (!cJSON_IsString(r) || !r->valuestring[0]) {
        lmd_fail(err, "%s: Metaspace replacement is not a one-character string", name);
        return NULL;
    }
    size_t n = strlen(r->valuestring);
    if (lmd_utf8_seq_len((const unsigned char *)r->valuestring, n) != (int)n) {
        lmd_fail(err, "%s: Metaspace replacement is not a one-character string", name);
        return NULL;
    }
    return r->valuestring;
}

/* One decoder of a text vocabulary; *fused says whether a Fuse came before. */
static int lmd_dec_one(lmd_tokenizer *t, const cJSON *x, int *fused, int *n_steps, const char *name,
                       lmd_error *err) {
    const char *ty = lmd_type_of(x);
    if (!ty) return lmd_fail(err, "%s: a decoder has no type", name);
    (*n_steps)++;
    if (strcmp(ty, "Replace") == 0) {
        if (*fused || t->dec_strip)
            return lmd_fail(err, "%s: decoder Replace after Fuse or Strip is not supported", name);
        const char *pat = lmd_replace_pattern(x, "decoder", name, err);
        if (!pat) return -1;
        const char *c = cJSON_GetObjectItemCaseSensitive(x, "content")->valuestring;
        return lmd_tok_add_dec_replace(t, pat, strlen(pat), c, strlen(c), name, err);
    }
    if (strcmp(ty, "ByteFallback") == 0) {
        if (*fused || t->dec_strip)
            return lmd_fail(err, "%s: decoder ByteFallback after Fuse or Strip is not supported",
                            name);
        t->dec_byte_fallback = 1;
        return 0;
    }
    if (strcmp(ty, "Fuse") == 0) {
        *fused = 1;
        return 0;
    }
    if (strcmp(ty, "Strip") == 0) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(x, "content");
        const cJSON *start = cJSON_GetObjectItemCaseSensitive(x, "start");
        const cJSON *stop = cJSON_GetObjectItemCaseSensitive(x, "stop");
        if (!cJSON_IsString(c) || strcmp(c->valuestring, " ") != 0 || !cJSON_IsNumber(start) ||
            !cJSON_IsNumber(stop) || stop->valuedouble != 0 || start->valuedouble < 0 ||
            start->valuedouble > 64 || start->valuedouble != (double)(int)start->valuedouble)
            return lmd_fail(err,
                            "%s: decoder Strip is supported only for content \" \", stop 0 and a "
                            "small start",
                            name);
        if (!*fused)
            return lmd_fail(err, "%s: decoder Strip before Fuse (per token) is not supported",
                            name);
        if (t->dec_strip)
            return lmd_fail(err, "%s: more than one decoder Strip is not supported", name);
        t->dec_strip = (uint32_t)start->valuedouble;
        return 0;
    }
    if (strcmp(ty, "Metaspace") == 0) {
        if (*fused || t->dec_strip)
            return lmd_fail(err, "%s: decoder Metaspace after Fuse or Strip is not supported",
                            name);
        int scheme;
        const char *rep = lmd_tok_metaspace_replacement(x, name, err);
        if (!rep || lmd_tok_metaspace_scheme(x, &scheme, name, err) < 0) return -1;
        if (lmd_tok_add_dec_replace(t, rep, strlen(rep), " ", 1, name, err) < 0) return -1;
        /* Metaspace drops the space that starts the first token */
        if (scheme != LMD_PREPEND_NEVER) t->dec_strip = 1;
        return 0;
    }
    return lmd_fail(err,
                    "%s: decoder %s is not supported for a vocabulary without ByteLevel (lmdiff "
                    "supports Replace, ByteFallback, Fuse, Strip, Metaspace)",
                    name, ty);
}

int lmd_tok_json_decoder(lmd_tokenizer *t, const cJSON *dec, const char *name, lmd_error *err) {
    if (!dec || cJSON_IsNull(dec)) return 0;
    const char *ty = lmd_type_of(dec);
    if (!ty) return lmd_fail(err, "%s: decoder has no type", name);
    if (!t->text_vocab) {
        if (strcmp(ty, "ByteLevel") != 0)
            return lmd_fail(err,
                            "%s: decoder %s is not supported with a ByteLevel vocabulary "
                            "(lmdiff supports ByteLevel)",
                            name, ty);
        return 0;
    }
    int fused = 0, n = 0;
    if (strcmp(ty, "Sequence") != 0) return lmd_dec_one(t, dec, &fused, &n, name, err);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(dec, "decoders");
    if (!cJSON_IsArray(list))
        return lmd_fail(err, "%s: decoder Sequence without a decoders list", name);
    for (const cJSON *x = list->child; x; x = x->next)
        if (lmd_dec_one(t, x, &fused, &n, name, err) < 0) return -1;
    return 0;
}

/* ---- applying the normalizer */

/* The first a[0..al) in s[i..n), or n. */
static size_t lmd_find(const char *s, size_t i, size_t n, const char *a, size_t al) {
    while (i + al <= n) {
        const char *p = memchr(s + i, a[0], n - al + 1 - i);
        if (!p) return n;
        i = (size_t)(p - s);
        if (memcmp(p, a, al) == 0) return i;
        i++;
    }
    return n;
}

static int lmd_norm_replace(lmd_buf *out, const char *s, size_t n, const char *a, size_t al,
                            const char *b, size_t bl) {
    size_t i = 0;
    while (i < n) {
        size_t upto = lmd_find(s, i, n, a, al);
        int hit = upto < n;
        if (lmd_buf_put(out, s + i, upto - i) < 0) return -1;
        if (!hit) break;
        if (lmd_buf_put(out, b, bl) < 0) return -1;
        i = upto + al;
    }
    return 0;
}

int lmd_tok_normalize(const lmd_tokenizer *t, const char *s, size_t n, char **out, size_t *out_len,
                      lmd_error *err) {
    lmd_buf cur = {0}, next = {0};
    *out = NULL;
    *out_len = 0;
    if (lmd_buf_put(&cur, s, n) < 0) goto oom;
    for (size_t k = 0; k < t->n_norms; k++) {
        const lmd_norm_op *op = &t->norms[k];
        const char *a = lmd_tok_str(t, op->a_off), *b = lmd_tok_str(t, op->b_off);
        const char *c = cur.data ? cur.data : "";
        next.len = 0;
        switch (op->kind) {
        case LMD_NORM_PREPEND:
            if (cur.len == 0) continue; /* Prepend leaves an empty text alone */
            if (lmd_buf_put(&next, a, op->a_len) < 0 || lmd_buf_put(&next, c, cur.len) < 0)
                goto oom;
            break;
        case LMD_NORM_REPLACE:
            if (lmd_norm_replace(&next, c, cur.len, a, op->a_len, b, op->b_len) < 0) goto oom;
            break;
        default: {
            if (cur.len == 0) continue;
            int opt = UTF8PROC_STABLE;
            if (op->kind == LMD_NORM_NFC || op->kind == LMD_NORM_NFKC)
                opt |= UTF8PROC_COMPOSE;
            else
                opt |= UTF8PROC_DECOMPOSE;
            if (op->kind == LMD_NORM_NFKC || op->kind == LMD_NORM_NFKD) opt |= UTF8PROC_COMPAT;
            utf8proc_uint8_t *dst = NULL;
            utf8proc_ssize_t m =
                utf8proc_map((const utf8proc_uint8_t *)c, (utf8proc_ssize_t)cur.len, &dst,
                             (utf8proc_option_t)opt);
            if (m < 0) {
                free(dst);
                lmd_buf_free(&cur);
                lmd_buf_free(&next);
                return lmd_fail(err, "Unicode normalization failed: %s", utf8proc_errmsg(m));
            }
            int rc = lmd_buf_put(&next, (const char *)dst, (size_t)m);
            free(dst);
            if (rc < 0) goto oom;
            break;
        }
        }
        lmd_buf tmp = cur;
        cur = next;
        next = tmp;
    }
    lmd_buf_free(&next);
    if (lmd_buf_put(&cur, "", 1) < 0) goto oom;
    *out = cur.data;
    *out_len = cur.len - 1;
    return 0;
oom:
    lmd_buf_free(&cur);
    lmd_buf_free(&next);
    return lmd_fail(err, "out of memory");
}
