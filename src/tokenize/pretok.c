/* pretok.c - compiling the pre-tokenizer's split patterns with PCRE2.
 *
 * Hugging Face compiles these patterns with Oniguruma (Ruby syntax).  A few
 * escapes mean something else in PCRE2, so the pattern is rewritten first:
 *   \s \S  -> Unicode White_Space (PCRE2's \s also matches U+180E)
 *   \w \W  -> L, M, N, Pc (Oniguruma's Unicode word characters)
 *   \d \D  -> \p{Nd};  \h \H -> hex digits;  \v -> U+000B;  \uHHHH -> \x{HHHH}
 * and ^ $ match at line boundaries, as in Ruby.  Escapes whose meaning we
 * cannot reproduce exactly (\b, \K, \R, back-references, ...), nested classes
 * and the m/s/x flags are refused rather than approximated. */
#include <ctype.h>
#include <string.h>

#include "tokenize/tok_internal.h"

#define LMD_WS "\\t-\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"
#define LMD_WORD "\\p{L}\\p{M}\\p{N}\\p{Pc}"
#define LMD_HEX "0-9a-fA-F"

/* Rewrites src into out; returns 0, or -1 with err naming what is refused. */
static int lmd_regex_translate(const char *src, size_t len, lmd_buf *out, lmd_error *err) {
    int in_class = 0;
    size_t i = 0;
#define PUT(s) \
    do { \
        if (lmd_buf_puts(out, s) < 0) return lmd_fail(err, "out of memory"); \
    } while (0)
#define PUTN(s, n) \
    do { \
        if (lmd_buf_put(out, s, n) < 0) return lmd_fail(err, "out of memory"); \
    } while (0)
    while (i < len) {
        char c = src[i];
        if (c == '\\') {
            if (i + 1 >= len) return lmd_fail(err, "pattern ends with a backslash");
            char e = src[i + 1];
            const char *cls = NULL; /* a class to put in or around brackets */
            int neg = 0;
            switch (e) {
            case 's': cls = LMD_WS; break;
            case 'S': cls = LMD_WS; neg = 1; break;
            case 'w': cls = LMD_WORD; break;
            case 'W': cls = LMD_WORD; neg = 1; break;
            case 'h': cls = LMD_HEX; break;
            case 'H': cls = LMD_HEX; neg = 1; break;
            default: break;
            }
            if (cls) {
                if (in_class && neg)
                    return lmd_fail(err, "pattern uses \\%c inside a character class, which lmdiff does not translate", e);
                if (!in_class) PUT(neg ? "[^" : "[");
                PUT(cls);
                if (!in_class) PUT("]");
                i += 2;
                continue;
            }
            if (e == 'd' || e == 'D') {
                PUT(e == 'd' ? "\\p{Nd}" : "\\P{Nd}");
                i += 2;
                continue;
            }
            if (e == 'v') {
                PUT("\\x{0B}");
                i += 2;
                continue;
            }
            if (e == 'u') {
                size_t k = i + 2;
                while (k < len && k < i + 6 && isxdigit((unsigned char)src[k])) k++;
                if (k != i + 6) return lmd_fail(err, "pattern has a malformed \\u escape");
                PUT("\\x{");
                PUTN(src + i + 2, 4);
                PUT("}");
                i += 6;
                continue;
            }
            if (e == 'p' || e == 'P' || e == 'x') {
                /* \p{..} \P{..} \x{..} \xHH: copied as they are */
                size_t k = i + 2;
                if (k < len && src[k] == '{') {
                    while (k < len && src[k] != '}') k++;
                    if (k >= len) return lmd_fail(err, "pattern has an unterminated \\%c{", e);
                    k++;
                } else if (e == 'x') {
                    while (k < len && k < i + 4 && isxdigit((unsigned char)src[k])) k++;
                } else {
                    return lmd_fail(err, "pattern uses \\%c without braces", e);
                }
                PUTN(src + i, k - i);
                i = k;
                continue;
            }
            if (strchr("tnrfaeAzZ", e) && e) {
                if (in_class && strchr("AzZ", e))
                    return lmd_fail(err, "pattern uses \\%c inside a character class", e);
                PUTN(src + i, 2);
                i += 2;
                continue;
            }
            if (isalnum((unsigned char)e))
                return lmd_fail(err, "pattern uses \\%c, which lmdiff does not translate to PCRE2", e);
            PUTN(src + i, 2); /* an escaped punctuation character or a multi-byte char */
            i += 2;
            continue;
        }
        if (in_class) {
            if (c == '[') return lmd_fail(err, "pattern has a nested character class, which lmdiff does not translate");
            if (c == '&' && i + 1 < len && src[i + 1] == '&')
                return lmd_fail(err, "pattern has a class intersection (&&), which lmdiff does not translate");
            if (c == ']') in_class = 0;
            PUTN(&c, 1);
            i++;
            continue;
        }
        if (c == '[') {
            in_class = 1;
            PUT("[");
            i++;
            if (i < len && src[i] == '^') {
                PUT("^");
                i++;
            }
            if (i < len && src[i] == ']') { /* a leading ] is literal */
                PUT("\\]");
                i++;
            }
            continue;
        }
        if (c == '(' && i + 1 < len && src[i + 1] == '?') {
            size_t k = i + 2;
            /* inline flags: only i and - are the same in both engines */
            while (k < len && (isalpha((unsigned char)src[k]) || src[k] == '-')) {
                if (src[k] != 'i' && src[k] != '-')
                    return lmd_fail(err, "pattern uses the inline flag '%c', which lmdiff does not translate", src[k]);
                k++;
            }
        }
        PUTN(&c, 1);
        i++;
    }
    if (in_class) return lmd_fail(err, "pattern has an unterminated character class");
    return 0;
#undef PUT
#undef PUTN
}

pcre2_code *lmd_regex_compile(const char *src, size_t len, int literal, lmd_error *err) {
    lmd_buf pat = {0};
    uint32_t opts = PCRE2_UTF;
    if (literal) {
        opts |= PCRE2_LITERAL; /* which takes no PCRE2_UCP (nor needs it) */
        if (lmd_buf_put(&pat, src, len) < 0) {
            lmd_fail(err, "out of memory");
            return NULL;
        }
    } else {
        opts |= PCRE2_UCP | PCRE2_MULTILINE;
        if (lmd_regex_translate(src, len, &pat, err) < 0) {
            lmd_buf_free(&pat);
            return NULL;
        }
    }
    if (lmd_utf8_check(pat.data ? pat.data : "", pat.len) != pat.len) {
        lmd_buf_free(&pat);
        lmd_fail(err, "pattern is not valid UTF-8");
        return NULL;
    }
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (cc) pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)(pat.data ? pat.data : ""), pat.len, opts, &ec,
                                   &eo, cc);
    pcre2_compile_context_free(cc);
    lmd_buf_free(&pat);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        lmd_fail(err, "cannot compile pattern: %s (at offset %zu of the rewritten pattern)",
                 (const char *)msg, (size_t)eo);
        return NULL;
    }
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* the interpreter is used when JIT fails */
    return re;
}
