/* build.c - assembling a tokenizer from its parts (vocabulary, merges, added
 * tokens, pre-tokenizer steps), the consistency checks that make us refuse
 * what we would tokenize differently from Hugging Face, and freeing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenize/tok_internal.h"

lmd_tokenizer *lmd_tok_new(void) {
    lmd_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->unk_id = -1;
    t->bos = -1;
    t->mask_id = -1;
    /* Offset 0 of the arena is an empty string, so that 0 means "". */
    if (lmd_buf_put(&t->arena, "", 1) < 0) {
        free(t);
        return NULL;
    }
    return t;
}

void lmd_tokenizer_free(lmd_tokenizer *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n_steps; i++) pcre2_code_free(t->steps[i].re);
    free(t->steps);
    free(t->norms);
    free(t->dec_repl);
    pcre2_code_free(t->word_re);
    lmd_strmap_free(&t->vocab);
    lmd_strmap_free(&t->whole);
    lmd_mergemap_free(&t->merges);
    free(t->added);
    free(t->added_order);
    free(t->slots);
    free(t->frame_pre);
    free(t->frame_post);
    lmd_buf_free(&t->arena);
    free(t);
}

/* Copies s into the arena with a NUL after it; returns the offset or
 * (size_t)-1 when out of memory. */
static size_t lmd_arena_add(lmd_tokenizer *t, const char *s, size_t len) {
    size_t off = t->arena.len;
    if (lmd_buf_put(&t->arena, s, len) < 0 || lmd_buf_put(&t->arena, "", 1) < 0)
        return (size_t)-1;
    return off;
}

/* A short, printable, valid UTF-8 rendering of a token for error messages. */
static const char *lmd_quote(const char *s, size_t len, char *out, size_t cap) {
    size_t o = 0, i = 0;
    out[o++] = '"';
    while (i < len && o + 8 < cap) {
        unsigned char c = (unsigned char)s[i];
        int n = lmd_utf8_seq_len((const unsigned char *)s + i, len - i);
        if (n > 1) {
            if (o + (size_t)n + 5 >= cap) break;
            memcpy(out + o, s + i, (size_t)n);
            o += (size_t)n;
            i += (size_t)n;
        } else if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            out[o++] = (char)c;
            i++;
        } else {
            static const char hex[] = "0123456789abcdef";
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
            i++;
        }
    }
    if (i < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o++] = '"';
    out[o] = 0;
    return out;
}

int lmd_tok_add_vocab(lmd_tokenizer *t, const char *raw, size_t len, double id, const char *name,
                      lmd_error *err) {
    char q[160];
    if (!(id >= 0 && id < LMD_TOK_MAX_ID) || id != floor(id))
        return lmd_fail(err, "%s: vocabulary token %s has id %g; lmdiff supports integer ids in [0, %d)",
                        name, lmd_quote(raw, len, q, sizeof q), id, (int)LMD_TOK_MAX_ID);
    if (len > UINT32_MAX / 2) return lmd_fail(err, "%s: vocabulary token too long", name);
    size_t off = lmd_arena_add(t, raw, len);
    if (off == (size_t)-1) return lmd_fail(err, "%s: out of memory", name);
    int rc = lmd_strmap_put(&t->vocab, t->arena.data, off, (uint32_t)len, (int32_t)id);
    if (rc < 0) return lmd_fail(err, "%s: out of memory", name);
    if (rc > 0)
        return lmd_fail(err, "%s: vocabulary token %s appears twice", name,
                        lmd_quote(raw, len, q, sizeof q));
    return 0;
}

static int32_t lmd_vocab_id(const lmd_tokenizer *t, const char *s, size_t len) {
    const lmd_str_entry *e = lmd_strmap_get(&t->vocab, t->arena.data, s, len);
    return e ? e->id : -1;
}

int lmd_tok_add_merge(lmd_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                      const char *name, lmd_error *err) {
    char q[160], small[256];
    uint32_t rank = t->n_merge_list;
    if (rank == UINT32_MAX) return lmd_fail(err, "%s: too many merges", name);
    int32_t ia = lmd_vocab_id(t, a, alen), ib = lmd_vocab_id(t, b, blen);
    if (ia < 0 || ib < 0) {
        const char *m = ia < 0 ? a : b;
        size_t ml = ia < 0 ? alen : blen;
        return lmd_fail(err, "%s: merge %u uses %s, which is not in the vocabulary", name,
                        rank + 1, lmd_quote(m, ml, q, sizeof q));
    }
    char *ab = alen + blen <= sizeof small ? small : malloc(alen + blen);
    if (!ab) return lmd_fail(err, "%s: out of memory", name);
    memcpy(ab, a, alen);
    memcpy(ab + alen, b, blen);
    int32_t iab = lmd_vocab_id(t, ab, alen + blen);
    if (iab < 0) lmd_fail(err, "%s: merge %u makes %s, which is not in the vocabulary", name,
                          rank + 1, lmd_quote(ab, alen + blen, q, sizeof q));
    if (ab != small) free(ab);
    if (iab < 0) return -1;
    if (lmd_mergemap_put(&t->merges, ia, ib, rank, iab) < 0)
        return lmd_fail(err, "%s: out of memory", name);
    t->n_merge_list++;
    return 0;
}

int lmd_tok_add_added(lmd_tokenizer *t, const lmd_added_tok *tmpl, const char *content,
                      size_t len, const char *name, lmd_error *err) {
    char q[160];
    if (tmpl->id < 0 || tmpl->id >= LMD_TOK_MAX_ID)
        return lmd_fail(err, "%s: added token %s has id %d; lmdiff supports ids in [0, %d)", name,
                        lmd_quote(content, len, q, sizeof q), (int)tmpl->id, (int)LMD_TOK_MAX_ID);
    if (len == 0) return lmd_fail(err, "%s: an added token has empty content", name);
    if (len > UINT32_MAX / 2) return lmd_fail(err, "%s: added token too long", name);
    if (lmd_utf8_check(content, len) != len)
        return lmd_fail(err, "%s: added token %s is not valid UTF-8", name,
                        lmd_quote(content, len, q, sizeof q));
    for (size_t i = 0; i < t->n_added; i++) {
        const lmd_added_tok *a = &t->added[i];
        int same = a->len == len && memcmp(lmd_tok_str(t, a->off), content, len) == 0;
        if (same && a->id == tmpl->id) return 0; /* a repeat */
        if (same)
            return lmd_fail(err, "%s: added token %s is given two ids, %d and %d", name,
                            lmd_quote(content, len, q, sizeof q), (int)a->id, (int)tmpl->id);
        if (a->id == tmpl->id)
            return lmd_fail(err, "%s: id %d is given to two added tokens", name, (int)a->id);
    }
    if (t->n_added == t->cap_added) {
        size_t cap = t->cap_added ? t->cap_added * 2 : 16;
        lmd_added_tok *p = realloc(t->added, cap * sizeof *p);
        if (!p) return lmd_fail(err, "%s: out of memory", name);
        t->added = p;
        t->cap_added = cap;
    }
    size_t off = lmd_arena_add(t, content, len);
    if (off == (size_t)-1) return lmd_fail(err, "%s: out of memory", name);
    lmd_added_tok *a = &t->added[t->n_added++];
    *a = *tmpl;
    a->off = off;
    a->len = (uint32_t)len;
    return 0;
}

int lmd_tok_add_step(lmd_tokenizer *t, int kind, const char *src, size_t len, const char *name,
                     lmd_error *err) {
    lmd_pretok_step st = {.kind = kind};
    if (kind != LMD_STEP_PREFIX_SPACE) {
        if (len > UINT32_MAX / 2) return lmd_fail(err, "%s: pattern too long", name);
        st.src_off = lmd_arena_add(t, src, len);
        if (st.src_off == (size_t)-1) return lmd_fail(err, "%s: out of memory", name);
        st.src_len = (uint32_t)len;
        /* an empty pattern matches the empty string everywhere, which cuts
         * the piece into characters, as Hugging Face's Split does */
        st.re = lmd_regex_compile(src, len, kind == LMD_STEP_SPLIT_LITERAL, err);
        if (!st.re) {
            lmd_err_prefix(err, "%s", name);
            return -1;
        }
    }
    lmd_pretok_step *p = realloc(t->steps, (t->n_steps + 1) * sizeof *p);
    if (!p) {
        pcre2_code_free(st.re);
        return lmd_fail(err, "%s: out of memory", name);
    }
    t->steps = p;
    t->steps[t->n_steps++] = st;
    return 0;
}

int lmd_tok_add_metaspace(lmd_tokenizer *t, const char *rep, size_t len, int prepend, int split,
                          const char *name, lmd_error *err) {
    lmd_pretok_step st = {.kind = LMD_STEP_METASPACE, .prepend = (uint8_t)prepend,
                          .split = (uint8_t)(split != 0)};
    if (len == 0 || len > 4) return lmd_fail(err, "%s: bad Metaspace replacement", name);
    st.src_off = lmd_arena_add(t, rep, len);
    if (st.src_off == (size_t)-1) return lmd_fail(err, "%s: out of memory", name);
    st.src_len = (uint32_t)len;
    lmd_pretok_step *p = realloc(t->steps, (t->n_steps + 1) * sizeof *p);
    if (!p) return lmd_fail(err, "%s: out of memory", name);
    t->steps = p;
    t->steps[t->n_steps++] = st;
    return 0;
}

static int lmd_add_op(lmd_tokenizer *t, lmd_norm_step **list, size_t *n, int kind, const char *a,
                      size_t alen, const char *b, size_t blen, const char *name, lmd_error *err) {
    if (alen > UINT32_MAX / 2 || blen > UINT32_MAX / 2)
        return lmd_fail(err, "%s: normalizer string too long", name);
    lmd_norm_step op = {.kind = kind, .a_len = (uint32_t)alen, .b_len = (uint32_t)blen};
    if (alen) op.a_off = lmd_arena_add(t, a, alen);
    if (blen) op.b_off = lmd_arena_add(t, b, blen);
    if (op.a_off == (size_t)-1 || op.b_off == (size_t)-1)
        return lmd_fail(err, "%s: out of memory", name);
    if (lmd_utf8_check(lmd_tok_str(t, op.a_off), alen) != alen ||
        lmd_utf8_check(lmd_tok_str(t, op.b_off), blen) != blen)
        return lmd_fail(err, "%s: a normalizer or decoder string is not valid UTF-8", name);
    if (list == &t->norms) return lmd_tok_add_norm(t, &op, name, err);
    lmd_norm_step *p = realloc(*list, (*n + 1) * sizeof *p);
    if (!p) return lmd_fail(err, "%s: out of memory", name);
    *list = p;
    p[(*n)++] = op;
    return 0;
}

int lmd_tok_add_norm_str(lmd_tokenizer *t, int kind, const char *a, size_t alen, const char *b,
                         size_t blen, const char *name, lmd_error *err) {
    return lmd_add_op(t, &t->norms, &t->n_norms, kind, a, alen, b, blen, name, err);
}

int lmd_tok_add_dec_replace(lmd_tokenizer *t, const char *a, size_t alen, const char *b,
                            size_t blen, const char *name, lmd_error *err) {
    if (alen == 0) return lmd_fail(err, "%s: decoder Replace with an empty pattern", name);
    return lmd_add_op(t, &t->dec_repl, &t->n_dec_repl, LMD_NORM_REPLACE, a, alen, b, blen, name,
                      err);
}

int lmd_tok_set_unk(lmd_tokenizer *t, const char *s, size_t len) {
    size_t off = lmd_arena_add(t, s, len);
    if (off == (size_t)-1) return -1;
    t->has_unk = 1;
    t->unk_off = off;
    t->unk_len = (uint32_t)len;
    return 0;
}

/* ---- finalize */

/* Hugging Face first splits on the added tokens with normalized=false, then
 * normalizes the rest and splits it on those with normalized=true.  Without
 * a normalizer and when every token has the same flag there is a single pass
 * (0); otherwise the normalized ones form pass 1. */
static int lmd_added_two_pass(const lmd_tokenizer *t) {
    if (t->n_norms) return 1; /* normalized tokens are matched in normalized text */
    for (size_t i = 1; i < t->n_added; i++)
        if (t->added[i].normalized != t->added[0].normalized) return 1;
    return 0;
}

/* Sort key of an added token for the matching buckets. */
typedef struct lmd_added_key {
    int pass;
    unsigned first;
    uint32_t len;
    int32_t id;
    uint32_t index;
} lmd_added_key;

static int lmd_added_cmp(const void *pa, const void *pb) {
    const lmd_added_key *a = pa, *b = pb;
    if (a->pass != b->pass) return a->pass - b->pass;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    if (a->len != b->len) return a->len > b->len ? -1 : 1; /* longest first */
    return a->id < b->id ? -1 : a->id > b->id;
}

/* What each added token matches: its content, or for a normalized token of
 * a tokenizer with a normalizer its normalized content, as Hugging Face. */
static int lmd_added_match(lmd_tokenizer *t, const char *name, lmd_error *err) {
    char q[160];
    lmd_buf b = {0};
    for (size_t i = 0; i < t->n_added; i++) {
        lmd_added_tok *a = &t->added[i];
        a->match_off = a->off;
        a->match_len = a->len;
        if (!lmd_tok_added_pass(t, a) || t->n_norms == 0) continue;
        b.len = 0;
        if (lmd_tok_normalize(t, lmd_tok_str(t, a->off), a->len, &b) < 0 || b.len > UINT32_MAX / 2) {
            lmd_buf_free(&b);
            return lmd_fail(err, "%s: out of memory", name);
        }
        if (b.len == 0) {
            lmd_buf_free(&b);
            return lmd_fail(err, "%s: added token %s is empty after normalization", name,
                            lmd_quote(lmd_tok_str(t, a->off), a->len, q, sizeof q));
        }
        size_t off = lmd_arena_add(t, b.data, b.len);
        if (off == (size_t)-1) {
            lmd_buf_free(&b);
            return lmd_fail(err, "%s: out of memory", name);
        }
        a->match_off = off;
        a->match_len = (uint32_t)b.len;
    }
    lmd_buf_free(&b);
    return 0;
}

static int lmd_index_added(lmd_tokenizer *t, const char *name, lmd_error *err) {
    size_t n = t->n_added;
    t->added_two_pass = lmd_added_two_pass(t);
    if (lmd_added_match(t, name, err) < 0) return -1;
    t->added_order = malloc((n + 1) * sizeof *t->added_order);
    lmd_added_key *keys = malloc((n + 1) * sizeof *keys);
    if (!t->added_order || !keys) {
        free(keys);
        return lmd_fail(err, "%s: out of memory", name);
    }
    for (size_t i = 0; i < n; i++) {
        const lmd_added_tok *a = &t->added[i];
        keys[i] = (lmd_added_key){lmd_tok_added_pass(t, a),
                                  (unsigned char)lmd_tok_str(t, a->match_off)[0], a->match_len,
                                  a->id, (uint32_t)i};
    }
    qsort(keys, n, sizeof *keys, lmd_added_cmp);
    /* bucket[p][c] = first index in added_order of pass p with first byte >= c;
     * bucket[p][256] = the end of pass p. */
    size_t k = 0;
    for (int p = 0; p < 2; p++) {
        for (unsigned c = 0; c <= 256; c++) {
            while (k < n && (keys[k].pass < p || (keys[k].pass == p && keys[k].first < c))) k++;
            t->bucket[p][c] = (uint32_t)k;
        }
    }
    for (size_t i = 0; i < n; i++) t->added_order[i] = keys[i].index;
    free(keys);
    return 0;
}

static int lmd_fill_slots(lmd_tokenizer *t, const char *name, lmd_error *err) {
    char q[160], q2[160];
    int32_t max_id = -1;
    for (size_t i = 0; i < t->vocab.n; i++)
        if (t->vocab.e[i].id > max_id) max_id = t->vocab.e[i].id;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].id > max_id) max_id = t->added[i].id;
    t->n_ids = max_id + 1;
    t->slots = calloc((size_t)t->n_ids + 1, sizeof *t->slots);
    if (!t->slots) return lmd_fail(err, "%s: out of memory", name);
    for (size_t i = 0; i < t->vocab.n; i++) {
        const lmd_str_entry *e = &t->vocab.e[i];
        lmd_tok_slot *s = &t->slots[e->id];
        if (s->kind)
            return lmd_fail(err, "%s: id %d is given to two vocabulary tokens, %s and %s", name,
                            (int)e->id, lmd_quote(lmd_tok_str(t, s->raw_off), s->raw_len, q, sizeof q),
                            lmd_quote(lmd_tok_str(t, e->off), e->len, q2, sizeof q2));
        s->kind = LMD_SLOT_VOCAB;
        s->raw_off = e->off;
        s->raw_len = e->len;
    }
    for (size_t i = 0; i < t->n_added; i++) {
        const lmd_added_tok *a = &t->added[i];
        const char *content = lmd_tok_str(t, a->off);
        int32_t vid = lmd_vocab_id(t, content, a->len);
        if (vid >= 0 && vid != a->id)
            return lmd_fail(err, "%s: added token %s has id %d but the vocabulary gives it id %d",
                            name, lmd_quote(content, a->len, q, sizeof q), (int)a->id, (int)vid);
        lmd_tok_slot *s = &t->slots[a->id];
        if ((s->kind & LMD_SLOT_VOCAB) && vid != a->id)
            return lmd_fail(err, "%s: id %d is both vocabulary token %s and added token %s", name,
                            (int)a->id, lmd_quote(lmd_tok_str(t, s->raw_off), s->raw_len, q, sizeof q),
                            lmd_quote(content, a->len, q2, sizeof q2));
        if (!s->kind) {
            s->raw_off = a->off;
            s->raw_len = a->len;
        }
        s->kind |= LMD_SLOT_ADDED;
        s->bytes_off = a->off;
        s->bytes_len = a->len;
    }
    return 0;
}

/* The bytes of a vocabulary token: each character through the inverse byte
 * map; a token with a character outside the map keeps its raw bytes, as the
 * Hugging Face ByteLevel decoder does. */
/* The byte of a "<0xNN>" token (upper-case hex, as Hugging Face writes
 * them), or -1. */
static int lmd_fallback_byte(const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    const char *h = s[3] ? strchr(hex, s[3]) : NULL, *l = s[4] ? strchr(hex, s[4]) : NULL;
    if (!h || !l) return -1;
    return (int)((h - hex) * 16 + (l - hex));
}

/* The bytes of a token of a text vocabulary: the decoder's replacements in
 * order, or the byte of a <0xNN> token when the decoder has ByteFallback. */
static int lmd_text_bytes(lmd_tokenizer *t, lmd_tok_slot *s, lmd_buf *tmp) {
    const char *raw = lmd_tok_str(t, s->raw_off);
    int fb = t->dec_byte_fallback ? lmd_fallback_byte(raw, s->raw_len) : -1;
    if (fb >= 0) {
        char c = (char)fb;
        s->byte_tok = 1;
        return lmd_buf_put(tmp, &c, 1);
    }
    if (lmd_buf_put(tmp, raw, s->raw_len) < 0) return -1;
    lmd_buf next = {0};
    for (size_t k = 0; k < t->n_dec_repl; k++) {
        const lmd_norm_step *op = &t->dec_repl[k];
        const char *a = lmd_tok_str(t, op->a_off), *b = lmd_tok_str(t, op->b_off);
        next.len = 0;
        for (size_t i = 0; i < tmp->len;) {
            if (i + op->a_len <= tmp->len && memcmp(tmp->data + i, a, op->a_len) == 0) {
                if (lmd_buf_put(&next, b, op->b_len) < 0) goto oom;
                i += op->a_len;
            } else {
                if (lmd_buf_put(&next, tmp->data + i, 1) < 0) goto oom;
                i++;
            }
        }
        tmp->len = 0;
        if (lmd_buf_put(tmp, next.data ? next.data : "", next.len) < 0) goto oom;
    }
    lmd_buf_free(&next);
    return 0;
oom:
    lmd_buf_free(&next);
    return -1;
}

static int lmd_fill_bytes(lmd_tokenizer *t, const char *name, lmd_error *err) {
    lmd_buf tmp = {0};
    if (t->decoder == LMD_DEC_WORDPIECE || t->decoder == LMD_DEC_NONE) {
        /* the WordPiece decoder (or none): every token, added ones too, as it
         * decodes when it is not the first */
        for (int32_t id = 0; id < t->n_ids; id++) {
            lmd_tok_slot *s = &t->slots[id];
            if (!s->kind) continue;
            tmp.len = 0;
            if (lmd_wp_token_bytes(t, lmd_tok_str(t, s->raw_off), s->raw_len, &tmp) < 0 ||
                tmp.len > UINT32_MAX / 2)
                goto oom;
            size_t off = lmd_arena_add(t, tmp.data ? tmp.data : "", tmp.len);
            if (off == (size_t)-1) goto oom;
            s->bytes_off = off;
            s->bytes_len = (uint32_t)tmp.len;
        }
        lmd_buf_free(&tmp);
        return 0;
    }
    for (int32_t id = 0; id < t->n_ids; id++) {
        lmd_tok_slot *s = &t->slots[id];
        if (s->kind != LMD_SLOT_VOCAB) continue;
        tmp.len = 0;
        if (t->text_vocab) {
            if (lmd_text_bytes(t, s, &tmp) < 0) goto oom;
            size_t off = lmd_arena_add(t, tmp.data ? tmp.data : "", tmp.len);
            if (off == (size_t)-1) goto oom;
            s->bytes_off = off;
            s->bytes_len = (uint32_t)tmp.len;
            continue;
        }
        int ok = 1;
        for (uint32_t i = 0; i < s->raw_len && ok;) {
            uint32_t cp;
            const unsigned char *r = (const unsigned char *)lmd_tok_str(t, s->raw_off);
            i += (uint32_t)lmd_utf8_decode(r + i, s->raw_len - i, &cp);
            int b = lmd_cp_to_byte(cp);
            char c = (char)b;
            if (b < 0) ok = 0;
            else if (lmd_buf_put(&tmp, &c, 1) < 0) goto oom;
        }
        if (!ok) {
            s->bytes_off = s->raw_off;
            s->bytes_len = s->raw_len;
            continue;
        }
        size_t off = lmd_arena_add(t, tmp.data ? tmp.data : "", tmp.len);
        if (off == (size_t)-1) goto oom;
        s->bytes_off = off;
        s->bytes_len = (uint32_t)tmp.len;
    }
    lmd_buf_free(&tmp);
    return 0;
oom:
    lmd_buf_free(&tmp);
    return lmd_fail(err, "%s: out of memory", name);
}

int32_t lmd_tokenizer_token_id(const lmd_tokenizer *t, const char *raw, size_t len) {
    if (!t || !raw) return -1;
    int32_t id = lmd_vocab_id(t, raw, len);
    if (id >= 0) return id;
    for (size_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && memcmp(lmd_tok_str(t, t->added[i].off), raw, len) == 0)
            return t->added[i].id;
    return -1;
}

/* Fills t->whole: the vocabulary tokens whose bytes BPE encodes as exactly
 * that token.  Most words of a text are such tokens, and one lookup then
 * replaces the merge loop. */
static int lmd_fill_whole(lmd_tokenizer *t, const char *name, lmd_error *err) {
    lmd_bpe_scratch sc = {0};
    lmd_idvec v = {0};
    lmd_error ignored;
    int rc = 0;
    for (int32_t id = 0; id < t->n_ids && rc == 0; id++) {
        const lmd_tok_slot *s = &t->slots[id];
        /* BPE starts from bytes, or from the text for a text vocabulary */
        size_t off = t->text_vocab ? s->raw_off : s->bytes_off;
        uint32_t len = t->text_vocab ? s->raw_len : s->bytes_len;
        if (s->kind != LMD_SLOT_VOCAB || len == 0) continue;
        v.n = 0;
        if (lmd_bpe_word(t, (const unsigned char *)lmd_tok_str(t, off), len, &sc, &v, &ignored) <
            0)
            continue;
        if (v.n == 1 && v.v[0] == id && lmd_strmap_put(&t->whole, t->arena.data, off, len, id) < 0)
            rc = lmd_fail(err, "%s: out of memory", name);
    }
    lmd_bpe_scratch_free(&sc);
    free(v.v);
    return rc;
}

/* Whether some vocabulary token has ▁ right after another character. */
static int lmd_any_inner_spiece(const lmd_tokenizer *t) {
    for (size_t i = 0; i < t->vocab.n; i++) {
        const char *s = lmd_tok_str(t, t->vocab.e[i].off);
        uint32_t n = t->vocab.e[i].len;
        for (uint32_t k = 1; k + 3 <= n; k++)
            if (memcmp(s + k, LMD_SPIECE, 3) == 0 && (k < 3 || memcmp(s + k - 3, LMD_SPIECE, 3) != 0))
                return 1;
    }
    return 0;
}

pcre2_code *lmd_tok_word_re(void) {
    /* Rust regex's Unicode \w: Alphabetic, marks, decimal digits, connector
     * punctuation, join controls. */
    static const char w[] = "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]";
    int ec;
    PCRE2_SIZE eo;
    return pcre2_compile((PCRE2_SPTR)w, sizeof w - 1, PCRE2_UTF | PCRE2_UCP, &ec, &eo, NULL);
}

int lmd_tok_finalize(lmd_tokenizer *t, const char *name, lmd_error *err) {
    if (lmd_fill_slots(t, name, err) < 0 || lmd_fill_bytes(t, name, err) < 0) return -1;
    for (int b = 0; b < 256; b++) {
        char u[2], fb[8];
        int n = lmd_byte_to_utf8((uint8_t)b, u);
        t->byte_id[b] = t->text_vocab ? -1 : lmd_vocab_id(t, u, (size_t)n);
        snprintf(fb, sizeof fb, "<0x%02X>", (unsigned)b);
        t->fallback_id[b] = t->byte_fallback ? lmd_vocab_id(t, fb, 6) : -1;
    }
    if (t->has_unk) {
        int32_t id = lmd_vocab_id(t, lmd_tok_str(t, t->unk_off), t->unk_len);
        t->unk_id = id >= 0 ? id : -2;
    }
    if (t->model == LMD_MODEL_WORDPIECE) {
        char q[160];
        if (t->unk_id < 0)
            return lmd_fail(err, "%s: the WordPiece unk_token %s is not in the vocabulary", name,
                            t->has_unk ? lmd_quote(lmd_tok_str(t, t->unk_off), t->unk_len, q, sizeof q)
                                       : "(none)");
        for (size_t i = 0; i < t->vocab.n; i++)
            if (t->vocab.e[i].len > t->wp_max_token_len) t->wp_max_token_len = t->vocab.e[i].len;
    }
    if (lmd_index_added(t, name, err) < 0) return -1;
    /* (▁ must be a token itself, or unk fusing could cross the cut) */
    t->split_spiece = t->model == LMD_MODEL_BPE && t->text_vocab &&
                      lmd_vocab_id(t, LMD_SPIECE, 3) >= 0 && !lmd_any_inner_spiece(t);
    if (t->model == LMD_MODEL_BPE && lmd_fill_whole(t, name, err) < 0) return -1;
    for (size_t i = 0; i < t->n_added; i++) t->any_single_word |= t->added[i].single_word;
    if (t->any_single_word && !(t->word_re = lmd_tok_word_re()))
        return lmd_fail(err, "%s: cannot compile the word-character class", name);
    t->bos = lmd_tokenizer_token_id(t, "<|endoftext|>", 13);
    if (lmd_tok_check_frame(t, name, err) < 0) return -1;
    /* Without <|endoftext|>, a causal LM's BOS is the one special token its
     * post-processor puts before the text (Llama's <s>, Llama-3's
     * <|begin_of_text|>); not for masked LMs, whose frame is [CLS]-like. */
    if (t->bos < 0 && t->n_frame_pre == 1 && t->mask_id < 0) t->bos = t->frame_pre[0];
    lmd_buf canon = {0};
    if (lmd_tok_canonical(t, &canon) < 0) {
        lmd_buf_free(&canon);
        return lmd_fail(err, "%s: out of memory", name);
    }
    lmd_sha256_hex(canon.data, canon.len, t->hash);
    lmd_buf_free(&canon);
    if (!t->hash[0]) return lmd_fail(err, "%s: SHA-256 failed", name);
    return 0;
}
