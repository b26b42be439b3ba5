/* normalize.c - the normalizers of tokenizer.json, applied to the text
 * between the non-normalized added tokens, before the pre-tokenizer.
 *
 * BertNormalizer, as Hugging Face's tokenizers applies it, in this order:
 *   clean_text            drop U+0000, U+FFFD and the "other" characters
 *                         (general category C*: Cc Cf Cn Co Cs) except
 *                         \t \n \r; then every white-space character left
 *                         (Unicode White_Space) becomes ' '
 *   handle_chinese_chars  ' ' before and after each CJK ideograph
 *   strip_accents         NFD, then drop the non-spacing marks (Mn)
 *   lowercase             Unicode lowercase, character by character (full
 *                         mapping: U+0130 becomes "i" + U+0307)
 * Character classes and NFD come from utf8proc (its Unicode version).
 *
 * The normalizers of SentencePiece-style and other tokenizers: Prepend (a
 * string before a non-empty text), Replace (a literal string, every
 * occurrence), NFC/NFD/NFKC/NFKD (utf8proc).  And the decoders of text
 * vocabularies (Replace, ByteFallback, Fuse, Strip, Metaspace), read here
 * and applied by build.c and decode.c.  What we cannot reproduce exactly is
 * refused with the file's name. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenize/tok_internal.h"

int lmd_tok_add_norm(lmd_tokenizer *t, const lmd_norm_step *st, const char *name, lmd_error *err) {
    lmd_norm_step *p = realloc(t->norms, (t->n_norms + 1) * sizeof *p);
    if (!p) return lmd_fail(err, "%s: out of memory", name);
    t->norms = p;
    t->norms[t->n_norms++] = *st;
    return 0;
}

static int lmd_put_cp(lmd_buf *b, uint32_t cp) {
    utf8proc_uint8_t u[4];
    utf8proc_ssize_t n = utf8proc_encode_char((utf8proc_int32_t)cp, u);
    return n > 0 ? lmd_buf_put(b, u, (size_t)n) : 0;
}

/* The CJK blocks of BERT's _is_chinese_char. */
static int lmd_is_cjk(uint32_t cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

static int lmd_is_other(uint32_t cp) {
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
        return 1;
    default:
        return 0;
    }
}

/* Lowercases one character into out. */
static int lmd_put_lower(lmd_buf *out, uint32_t cp) {
    if (cp == 0x130) /* the one unconditional multi-character lowercase */
        return lmd_buf_put(out, "i\xcc\x87", 3);
    return lmd_put_cp(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp));
}

/* The general case: any text (lmd_norm_bert uses it for the runs of
 * non-ASCII characters). */
int lmd_tok_norm_bert_general(const lmd_norm_step *st, const char *s, size_t n, lmd_buf *out) {
    lmd_buf a = {0};
    int rc = -1;
    /* clean_text and handle_chinese_chars: character by character */
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)lmd_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (st->clean_text) {
            /* first the filter (which drops U+000B, U+000C, U+0085: white
             * space, but Cc), then the white space that is left -> ' ' */
            int keep = cp == '\t' || cp == '\n' || cp == '\r';
            if (!keep && (cp == 0 || cp == 0xFFFD || lmd_is_other(cp))) continue;
            if (keep || lmd_is_white_space(cp)) cp = ' ';
        }
        if (st->chinese && lmd_is_cjk(cp)) {
            if (lmd_buf_put(&a, " ", 1) < 0 || lmd_put_cp(&a, cp) < 0 ||
                lmd_buf_put(&a, " ", 1) < 0)
                goto done;
        } else if (lmd_put_cp(&a, cp) < 0) {
            goto done;
        }
    }
    const char *src = a.data ? a.data : "";
    size_t len = a.len;
    if (st->strip_accents && len > 0) {
        /* NFD of the whole piece (canonical reordering included), then the
         * non-spacing marks dropped */
        utf8proc_int32_t *cps = NULL;
        utf8proc_ssize_t cap = (utf8proc_ssize_t)len + 16, got;
        for (;;) {
            utf8proc_int32_t *p = realloc(cps, (size_t)cap * sizeof *cps);
            if (!p) {
                free(cps);
                goto done;
            }
            cps = p;
            got = utf8proc_decompose((const utf8proc_uint8_t *)src, (utf8proc_ssize_t)len, cps, cap,
                                     UTF8PROC_DECOMPOSE);
            if (got < 0 || got <= cap) break;
            cap = got;
        }
        if (got < 0) { /* cannot happen for valid UTF-8 */
            free(cps);
            goto done;
        }
        for (utf8proc_ssize_t k = 0; k < got; k++) {
            uint32_t cp = (uint32_t)cps[k];
            if (utf8proc_category(cps[k]) == UTF8PROC_CATEGORY_MN) continue;
            if ((st->lowercase ? lmd_put_lower(out, cp) : lmd_put_cp(out, cp)) < 0) {
                free(cps);
                goto done;
            }
        }
        free(cps);
        rc = 0;
        goto done;
    }
    if (!st->lowercase) {
        rc = lmd_buf_put(out, src, len);
        goto done;
    }
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += (size_t)lmd_utf8_decode((const unsigned char *)src + i, len - i, &cp);
        if (lmd_put_lower(out, cp) < 0) goto done;
    }
    rc = 0;
done:
    lmd_buf_free(&a);
    return rc;
}

/* ASCII characters are handled here directly (no decomposition, no marks,
 * no CJK); each run of other characters goes through lmd_norm_bert_run.
 * Cutting at ASCII characters is exact: they are starters, so NFD never
 * reorders across them. */
static int lmd_norm_bert(const lmd_norm_step *st, const char *s, size_t n, lmd_buf *out) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            size_t j = i + 1;
            while (j < n && (unsigned char)s[j] >= 0x80)
                j++;
            if (lmd_tok_norm_bert_general(st, s + i, j - i, out) < 0) return -1;
            i = j;
            continue;
        }
        /* a stretch of ASCII */
        size_t j = i;
        while (j < n && (unsigned char)s[j] < 0x80)
            j++;
        size_t at = out->len;
        if (lmd_buf_put(out, s + i, j - i) < 0) return -1;
        char *o = out->data + at, *w = o;
        for (size_t k = 0; k < j - i; k++) {
            char ch = o[k];
            if (st->clean_text) {
                if (ch == '\t' || ch == '\n' || ch == '\r')
                    ch = ' ';
                else if ((unsigned char)ch < 0x20 || ch == 0x7F)
                    continue; /* Cc */
            }
            if (st->lowercase && ch >= 'A' && ch <= 'Z') ch = (char)(ch + 32);
            *w++ = ch;
        }
        out->len = at + (size_t)(w - o);
        i = j;
    }
    return 0;
}

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
        if (lmd_buf_put(out, s + i, upto - i) < 0) return -1;
        if (upto == n) break;
        if (lmd_buf_put(out, b, bl) < 0) return -1;
        i = upto + al;
    }
    return 0;
}

/* NFC, NFD, NFKC, NFKD with utf8proc. */
static int lmd_norm_form(int kind, const char *s, size_t n, lmd_buf *out) {
    if (n == 0) return 0;
    int opt = UTF8PROC_STABLE;
    opt |= kind == LMD_NORM_NFC || kind == LMD_NORM_NFKC ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE;
    if (kind == LMD_NORM_NFKC || kind == LMD_NORM_NFKD) opt |= UTF8PROC_COMPAT;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &dst,
                                      (utf8proc_option_t)opt);
    int rc = m < 0 ? -1 : lmd_buf_put(out, dst, (size_t)m); /* (valid UTF-8 cannot fail) */
    free(dst);
    return rc;
}

static int lmd_norm_one(const lmd_tokenizer *t, const lmd_norm_step *st, const char *s, size_t n,
                        lmd_buf *out) {
    switch (st->kind) {
    case LMD_NORM_BERT:
        return lmd_norm_bert(st, s, n, out);
    case LMD_NORM_PREPEND:
        if (n && lmd_buf_put(out, lmd_tok_str(t, st->a_off), st->a_len) < 0) return -1;
        return lmd_buf_put(out, s, n);
    case LMD_NORM_REPLACE:
        return lmd_norm_replace(out, s, n, lmd_tok_str(t, st->a_off), st->a_len,
                                lmd_tok_str(t, st->b_off), st->b_len);
    case LMD_NORM_NFC:
    case LMD_NORM_NFD:
    case LMD_NORM_NFKC:
    case LMD_NORM_NFKD:
        return lmd_norm_form(st->kind, s, n, out);
    default:
        return -1;
    }
}

int lmd_tok_normalize_step(const lmd_tokenizer *t, const lmd_norm_step *st, const char *s,
                           size_t n, lmd_buf *out) {
    return lmd_norm_one(t, st, s, n, out);
}

int lmd_tok_normalize(const lmd_tokenizer *t, const char *s, size_t n, lmd_buf *out) {
    if (t->n_norms == 0) return lmd_buf_put(out, s, n);
    if (t->n_norms == 1) return lmd_norm_one(t, &t->norms[0], s, n, out);
    lmd_buf cur = {0}, next = {0};
    int rc = lmd_buf_put(&cur, s, n);
    for (size_t k = 0; k < t->n_norms && rc == 0; k++) {
        next.len = 0;
        rc = lmd_norm_one(t, &t->norms[k], cur.data ? cur.data : "", cur.len, &next);
        lmd_buf tmp = cur;
        cur = next;
        next = tmp;
    }
    if (rc == 0) rc = lmd_buf_put(out, cur.data ? cur.data : "", cur.len);
    lmd_buf_free(&cur);
    lmd_buf_free(&next);
    return rc;
}

/* ---- tokenizer.json: the other normalizers, the text decoders */

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

int lmd_tok_json_text_norm(lmd_tokenizer *t, const cJSON *x, const char *name, lmd_error *err) {
    const char *ty = lmd_type_of(x);
    if (!ty) return 1;
    if (strcmp(ty, "Prepend") == 0) {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(x, "prepend");
        if (!cJSON_IsString(p))
            return lmd_fail(err, "%s: normalizer Prepend without a prepend string", name);
        if (!p->valuestring[0]) return 0; /* prepending nothing changes nothing */
        return lmd_tok_add_norm_str(t, LMD_NORM_PREPEND, p->valuestring, strlen(p->valuestring),
                                    NULL, 0, name, err);
    }
    if (strcmp(ty, "Replace") == 0) {
        const char *pat = lmd_replace_pattern(x, "normalizer", name, err);
        if (!pat) return -1;
        const char *c = cJSON_GetObjectItemCaseSensitive(x, "content")->valuestring;
        return lmd_tok_add_norm_str(t, LMD_NORM_REPLACE, pat, strlen(pat), c, strlen(c), name, err);
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
            return lmd_tok_add_norm_str(t, forms[i].kind, NULL, 0, NULL, 0, name, err);
    return 1;
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

int lmd_tok_json_text_decoder(lmd_tokenizer *t, const cJSON *dec, const char *name,
                              lmd_error *err) {
    t->decoder = LMD_DEC_TEXT;
    if (!dec || cJSON_IsNull(dec)) return 0;
    const char *ty = lmd_type_of(dec);
    if (!ty) return lmd_fail(err, "%s: decoder has no type", name);
    int fused = 0, n = 0;
    if (strcmp(ty, "Sequence") != 0) return lmd_dec_one(t, dec, &fused, &n, name, err);
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(dec, "decoders");
    if (!cJSON_IsArray(list))
        return lmd_fail(err, "%s: decoder Sequence without a decoders list", name);
    for (const cJSON *x = list->child; x; x = x->next)
        if (lmd_dec_one(t, x, &fused, &n, name, err) < 0) return -1;
    return 0;
}
