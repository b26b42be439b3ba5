/* spans.c - where each token of lmd_tokenize_spans comes from in the text:
 * byte offsets carried through the normalizers and the pre-tokenizer, the
 * way Hugging Face's offset mapping keeps them (docs/tokenizer.md, "Byte
 * spans").  Every byte of a transformed string has an alignment: the span of
 * original bytes it stands for.  A character a normalizer changes maps, byte
 * for byte of its result, to the whole original character (or run of
 * characters it was normalized with); an unchanged byte maps to itself, so a
 * byte-level token may end inside a UTF-8 character.  encode.c calls these
 * only when spans are asked for; the plain encode path never does. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenize/tok_internal.h"

lmd_span *lmd_span_identity(size_t off, size_t n) {
    lmd_span *al = malloc((n ? n : 1) * sizeof *al);
    if (!al) return NULL;
    for (size_t i = 0; i < n; i++)
        al[i] = (lmd_span){(uint32_t)(off + i), (uint32_t)(off + i + 1)};
    return al;
}

/* Appends the alignment of `count` new bytes that all stand for span sp. */
static int lmd_al_fill(lmd_span **al, size_t *n, size_t *cap, lmd_span sp, size_t count) {
    if (*n + count > *cap) {
        size_t c = *cap ? *cap : 64;
        while (c < *n + count)
            c *= 2;
        lmd_span *p = realloc(*al, c * sizeof *p);
        if (!p) return -1;
        *al = p;
        *cap = c;
    }
    for (size_t i = 0; i < count; i++)
        (*al)[(*n)++] = sp;
    return 0;
}

static lmd_span lmd_al_join(const lmd_span *al, size_t a, size_t b) {
    return (lmd_span){al[a].start, al[b - 1].end};
}

/* The starts of chunks that a normalization step may transform one by one:
 * before every character of canonical combining class 0 (coarse = 0), or
 * before every ASCII character (coarse = 1: no normalization form composes
 * a character with an ASCII character that follows it, nor reorders across
 * one). */
static int lmd_chunk_start(const char *s, size_t i, int coarse) {
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) return 1;
    if (coarse || (c & 0xC0) == 0x80) return 0;
    uint32_t cp;
    lmd_utf8_decode((const unsigned char *)s + i, 4, &cp);
    return utf8proc_get_property((utf8proc_int32_t)cp)->combining_class == 0;
}

/* One character-level step (BertNormalizer, NF*) chunk by chunk; *ok = 0
 * when the chunks' results joined differ from the whole text's result. */
static int lmd_norm_chunks(const lmd_tokenizer *t, const lmd_norm_step *st, const char *s, size_t n,
                           const lmd_span *al, int coarse, lmd_buf *out, lmd_span **oal, int *ok) {
    lmd_buf whole = {0}, part = {0};
    size_t on = 0, ocap = 0;
    int rc = lmd_tok_normalize_step(t, st, s, n, &whole);
    for (size_t i = 0; i < n && rc == 0;) {
        size_t j = i + 1;
        while (j < n && !lmd_chunk_start(s, j, coarse))
            j++;
        part.len = 0;
        rc = lmd_tok_normalize_step(t, st, s + i, j - i, &part);
        if (rc < 0) break;
        if (part.len == j - i && memcmp(part.data, s + i, j - i) == 0) {
            for (size_t k = i; k < j && rc == 0; k++)
                rc = lmd_al_fill(oal, &on, &ocap, al[k], 1);
        } else {
            rc = lmd_al_fill(oal, &on, &ocap, lmd_al_join(al, i, j), part.len);
        }
        if (rc == 0) rc = lmd_buf_put(out, part.data, part.len);
        i = j;
    }
    *ok = rc == 0 && out->len == whole.len && memcmp(out->data, whole.data, whole.len) == 0;
    if (rc == 0 && !*ok && coarse) { /* never seen: the whole text as one chunk */
        out->len = 0;
        on = 0;
        rc = lmd_buf_put(out, whole.data, whole.len);
        if (rc == 0 && n) rc = lmd_al_fill(oal, &on, &ocap, lmd_al_join(al, 0, n), whole.len);
        *ok = 1;
    }
    lmd_buf_free(&whole);
    lmd_buf_free(&part);
    return rc;
}

/* Replace: every a becomes b, whose bytes stand for the bytes of a. */
static int lmd_norm_replace_al(const char *s, size_t n, const lmd_span *al, const char *a,
                               size_t alen, const char *b, size_t blen, lmd_buf *out,
                               lmd_span **oal) {
    size_t on = 0, ocap = 0;
    for (size_t i = 0; i < n;) {
        if (i + alen <= n && memcmp(s + i, a, alen) == 0) {
            if (lmd_buf_put(out, b, blen) < 0 ||
                lmd_al_fill(oal, &on, &ocap, lmd_al_join(al, i, i + alen), blen) < 0)
                return -1;
            i += alen;
        } else {
            if (lmd_buf_put(out, s + i, 1) < 0 || lmd_al_fill(oal, &on, &ocap, al[i], 1) < 0)
                return -1;
            i++;
        }
    }
    return 0;
}

/* One step with alignments; out and *oal start empty. */
static int lmd_norm_step_al(const lmd_tokenizer *t, const lmd_norm_step *st, const char *s,
                            size_t n, const lmd_span *al, lmd_buf *out, lmd_span **oal) {
    size_t on = 0, ocap = 0;
    if (st->kind == LMD_NORM_PREPEND) {
        if (n == 0) return 0;
        lmd_span at = {al[0].start, al[0].start}; /* the prefix stands for no byte */
        if (lmd_buf_put(out, lmd_tok_str(t, st->a_off), st->a_len) < 0 ||
            lmd_al_fill(oal, &on, &ocap, at, st->a_len) < 0 || lmd_buf_put(out, s, n) < 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            if (lmd_al_fill(oal, &on, &ocap, al[i], 1) < 0) return -1;
        return 0;
    }
    if (st->kind == LMD_NORM_REPLACE)
        return lmd_norm_replace_al(s, n, al, lmd_tok_str(t, st->a_off), st->a_len,
                                   lmd_tok_str(t, st->b_off), st->b_len, out, oal);
    int ok = 0;
    if (lmd_norm_chunks(t, st, s, n, al, 0, out, oal, &ok) < 0) return -1;
    if (ok) return 0;
    out->len = 0;
    return lmd_norm_chunks(t, st, s, n, al, 1, out, oal, &ok);
}

int lmd_tok_normalize_al(const lmd_tokenizer *t, const char *s, size_t n, const lmd_span *al,
                         lmd_buf *out, lmd_span **out_al) {
    *out_al = NULL;
    lmd_buf cur = {0};
    lmd_span *cal = NULL;
    int rc = lmd_buf_put(&cur, s, n);
    if (rc == 0 && !(cal = malloc((n ? n : 1) * sizeof *cal))) rc = -1;
    if (rc == 0) memcpy(cal, al, n * sizeof *cal);
    for (size_t k = 0; k < t->n_norms && rc == 0; k++) {
        lmd_buf next = {0};
        lmd_span *nal = NULL;
        rc = lmd_norm_step_al(t, &t->norms[k], cur.data ? cur.data : "", cur.len, cal, &next, &nal);
        lmd_buf_free(&cur);
        free(cal);
        cur = next;
        cal = nal;
    }
    if (rc == 0) rc = lmd_buf_put(out, cur.data ? cur.data : "", cur.len);
    lmd_buf_free(&cur);
    if (rc < 0) {
        free(cal);
        return -1;
    }
    *out_al = cal;
    return 0;
}

/* The bytes of the piece that unk stands for at s[0..n): one character, or
 * with fuse_unk every character up to one the vocabulary (or byte_fallback)
 * knows. */
static size_t lmd_unk_len(const lmd_tokenizer *t, const char *s, size_t n) {
    size_t i = 0;
    do {
        int l = lmd_utf8_seq_len((const unsigned char *)s + i, n - i);
        size_t step = l > 0 ? (size_t)l : 1;
        if (i > 0) {
            int known = t->text_vocab
                            ? lmd_strmap_get(&t->vocab, t->arena.data, s + i, step) != NULL
                            : t->byte_id[(unsigned char)s[i]] >= 0;
            if (known || t->byte_fallback) break;
        }
        i += step;
    } while (t->fuse_unk && i < n);
    return i;
}

int lmd_tok_piece_lengths(const lmd_tokenizer *t, const char *s, size_t n, const int32_t *ids,
                          size_t k, size_t *len) {
    if (k == 1) {
        len[0] = n;
        return 0;
    }
    size_t pos = 0;
    for (size_t i = 0; i < k; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_ids) return -1;
        const lmd_tok_slot *sl = &t->slots[id];
        size_t l;
        if (t->model == LMD_MODEL_WORDPIECE)
            l = sl->raw_len - (i > 0 ? t->wp_prefix_len : 0);
        else if (id == t->unk_id)
            l = lmd_unk_len(t, s + pos, n - pos);
        else if (sl->byte_tok)
            l = 1;
        else
            l = t->text_vocab ? sl->raw_len : sl->bytes_len;
        if (l > n - pos) return -1;
        len[i] = l;
        pos += l;
    }
    return pos == n ? 0 : -1;
}
