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
 * Character classes and NFD come from utf8proc (its Unicode version). */
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

static int lmd_norm_one(const lmd_norm_step *st, const char *s, size_t n, lmd_buf *out) {
    switch (st->kind) {
    case LMD_NORM_BERT:
        return lmd_norm_bert(st, s, n, out);
    default:
        return -1;
    }
}

int lmd_tok_normalize(const lmd_tokenizer *t, const char *s, size_t n, lmd_buf *out) {
    if (t->n_norms == 0) return lmd_buf_put(out, s, n);
    if (t->n_norms == 1) return lmd_norm_one(&t->norms[0], s, n, out);
    lmd_buf cur = {0}, next = {0};
    int rc = lmd_buf_put(&cur, s, n);
    for (size_t k = 0; k < t->n_norms && rc == 0; k++) {
        next.len = 0;
        rc = lmd_norm_one(&t->norms[k], cur.data ? cur.data : "", cur.len, &next);
        lmd_buf tmp = cur;
        cur = next;
        next = tmp;
    }
    if (rc == 0) rc = lmd_buf_put(out, cur.data ? cur.data : "", cur.len);
    lmd_buf_free(&cur);
    lmd_buf_free(&next);
    return rc;
}
