/* wordpiece.c - the WordPiece model of BERT-style tokenizers, its
 * pre-tokenizer (BertPreTokenizer) and its decoder, as Hugging Face's
 * tokenizers defines them:
 *   BertPreTokenizer  split on white space (removed), then every punctuation
 *                     character is a piece of its own
 *   WordPiece         a piece of more than max_input_chars_per_word
 *                     characters is the unk token; otherwise greedy longest
 *                     match from the left, every piece after the first
 *                     looked up with continuing_subword_prefix ("##") in
 *                     front; a piece that cannot be covered is unk as a whole
 *   decoder           a token after the first loses the prefix when it has
 *                     it and gets a space in front otherwise; then cleanup
 *                     (" ." -> "." and the like) */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenize/tok_internal.h"

static size_t lmd_arena_str(lmd_tokenizer *t, const char *s, size_t len) {
    size_t off = t->arena.len;
    if (lmd_buf_put(&t->arena, s, len) < 0 || lmd_buf_put(&t->arena, "", 1) < 0) return (size_t)-1;
    return off;
}

int lmd_tok_set_wordpiece(lmd_tokenizer *t, const char *prefix, size_t prefix_len, size_t max_chars,
                          const char *name, lmd_error *err) {
    if (prefix_len > 1024) return lmd_fail(err, "%s: continuing_subword_prefix too long", name);
    size_t off = lmd_arena_str(t, prefix, prefix_len);
    if (off == (size_t)-1) return lmd_fail(err, "%s: out of memory", name);
    t->model = LMD_MODEL_WORDPIECE;
    t->wp_prefix_off = off;
    t->wp_prefix_len = (uint32_t)prefix_len;
    t->wp_max_chars = max_chars;
    if (t->decoder == LMD_DEC_BYTELEVEL) t->decoder = LMD_DEC_NONE;
    return 0;
}

int lmd_tok_set_wp_decoder(lmd_tokenizer *t, const char *prefix, size_t prefix_len, int cleanup,
                           const char *name, lmd_error *err) {
    if (prefix_len > 1024) return lmd_fail(err, "%s: decoder prefix too long", name);
    size_t off = lmd_arena_str(t, prefix, prefix_len);
    if (off == (size_t)-1) return lmd_fail(err, "%s: out of memory", name);
    t->decoder = LMD_DEC_WORDPIECE;
    t->dec_prefix_off = off;
    t->dec_prefix_len = (uint32_t)prefix_len;
    t->dec_cleanup = cleanup ? 1 : 0;
    return 0;
}

int lmd_is_bert_punct(uint32_t cp) {
    if (cp < 0x80)
        return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) ||
               (cp >= 0x5B && cp <= 0x60) || (cp >= 0x7B && cp <= 0x7E);
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

/* Replaces every from (left to right, not overlapping) in in[0..n) by to. */
static int lmd_replace_all(const char *in, size_t n, const char *from, const char *to,
                           lmd_buf *out) {
    size_t fl = strlen(from), tl = strlen(to);
    for (size_t i = 0; i < n;) {
        if (i + fl <= n && memcmp(in + i, from, fl) == 0) {
            if (lmd_buf_put(out, to, tl) < 0) return -1;
            i += fl;
        } else {
            if (lmd_buf_put(out, in + i, 1) < 0) return -1;
            i++;
        }
    }
    return 0;
}

int lmd_wp_cleanup(const char *s, size_t n, lmd_buf *out) {
    static const char *const rules[][2] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},     {" ,", ","},
        {" ' ", "'"},  {" n't", "n't"}, {" 'm", "'m"},   {" do not", " don't"},
        {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
    };
    lmd_buf a = {0}, b = {0};
    int rc = lmd_buf_put(&a, s, n);
    for (size_t r = 0; r < sizeof rules / sizeof *rules && rc == 0; r++) {
        b.len = 0;
        rc = lmd_replace_all(a.data ? a.data : "", a.len, rules[r][0], rules[r][1], &b);
        lmd_buf tmp = a;
        a = b;
        b = tmp;
    }
    if (rc == 0) rc = lmd_buf_put(out, a.data ? a.data : "", a.len);
    lmd_buf_free(&a);
    lmd_buf_free(&b);
    return rc;
}

int lmd_wp_token_bytes(const lmd_tokenizer *t, const char *raw, size_t n, lmd_buf *out) {
    lmd_buf tmp = {0};
    int rc;
    if (t->decoder == LMD_DEC_WORDPIECE && n >= t->dec_prefix_len &&
        memcmp(raw, lmd_tok_str(t, t->dec_prefix_off), t->dec_prefix_len) == 0)
        rc = lmd_buf_put(&tmp, raw + t->dec_prefix_len, n - t->dec_prefix_len);
    else
        rc = lmd_buf_put(&tmp, " ", 1) < 0 ? -1 : lmd_buf_put(&tmp, raw, n);
    if (rc == 0) {
        if (t->decoder == LMD_DEC_WORDPIECE && t->dec_cleanup)
            rc = lmd_wp_cleanup(tmp.data, tmp.len, out);
        else
            rc = lmd_buf_put(out, tmp.data, tmp.len);
    }
    lmd_buf_free(&tmp);
    return rc;
}

static int lmd_wp_push_unk(const lmd_tokenizer *t, lmd_idvec *out, lmd_error *err) {
    if (t->unk_id < 0) return lmd_fail(err, "WordPiece: the unk token is not in the vocabulary");
    if (lmd_idvec_push(out, t->unk_id) < 0) return lmd_fail(err, "out of memory");
    return 0;
}

int lmd_wp_word(const lmd_tokenizer *t, const char *s, size_t n, lmd_buf *scratch, lmd_idvec *out,
                lmd_error *err) {
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    if (chars > t->wp_max_chars) return lmd_wp_push_unk(t, out, err);
    const char *prefix = lmd_tok_str(t, t->wp_prefix_off);
    size_t pl = t->wp_prefix_len, maxlen = t->wp_max_token_len, mark = out->n;
    scratch->len = 0;
    if (lmd_buf_put(scratch, prefix, pl) < 0) return lmd_fail(err, "out of memory");
    for (size_t start = 0; start < n;) {
        /* the longest candidate: no vocabulary string is longer than maxlen */
        size_t room = start > 0 ? (maxlen > pl ? maxlen - pl : 0) : maxlen;
        size_t end = n - start > room ? start + room : n;
        while (end > start && end < n && ((unsigned char)s[end] & 0xC0) == 0x80)
            end--;
        int32_t id = -1;
        while (end > start) {
            const lmd_str_entry *e;
            if (start > 0) {
                scratch->len = pl;
                if (lmd_buf_put(scratch, s + start, end - start) < 0)
                    return lmd_fail(err, "out of memory");
                e = lmd_strmap_get(&t->vocab, t->arena.data, scratch->data, scratch->len);
            } else {
                e = lmd_strmap_get(&t->vocab, t->arena.data, s, end);
            }
            if (e) {
                id = e->id;
                break;
            }
            do
                end--;
            while (end > start && ((unsigned char)s[end] & 0xC0) == 0x80);
        }
        if (id < 0) {
            out->n = mark; /* the whole piece becomes unk */
            return lmd_wp_push_unk(t, out, err);
        }
        if (lmd_idvec_push(out, id) < 0) return lmd_fail(err, "out of memory");
        start = end;
    }
    return 0;
}
