/* encode.c - lmd_tokenize: text -> ids, in Hugging Face's order:
 *   1. split out the added tokens (non-normalized ones first, then the
 *      normalized ones in what is left), leftmost-longest, with their
 *      single_word / lstrip / rstrip rules;
 *   2. run every other piece through the pre-tokenizer steps (regex splits
 *      with every Split behavior; ByteLevel's prefix space);
 *   3. byte-level BPE on each final piece (bpe.c).
 * lmd_tokenize_spans also carries each byte's origin in the text through
 * the steps that make new strings (spans.c). */
#include <stdlib.h>
#include <string.h>

#include "tokenize/tok_internal.h"

typedef struct lmd_enc {
    const lmd_tokenizer *t;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    lmd_idvec out;
    lmd_bpe_scratch sc;
    lmd_buf wp; /* WordPiece's work space */
    lmd_error *err;
    void (*piece_cb)(void *ctx, const char *s, size_t n); /* instead of BPE */
    void *piece_ctx;
    /* lmd_tokenize_spans only (spans != NULL): one span per id in out; the
     * string that pieces now point into (base) and its alignment (al; NULL
     * while that is the text itself) */
    lmd_span *spans;
    size_t spans_cap;
    const char *base;
    const lmd_span *al;
    size_t *lens;
    size_t lens_cap;
} lmd_enc;

/* The span of original bytes that the byte at p stands for. */
static lmd_span lmd_enc_at(const lmd_enc *c, const char *p) {
    size_t i = (size_t)(p - c->base);
    return c->al ? c->al[i] : (lmd_span){(uint32_t)i, (uint32_t)i + 1};
}

/* Sets the span of the last id in out: the bytes s[a..b). */
static int lmd_enc_push_span(lmd_enc *c, const char *s, size_t a, size_t b) {
    if (c->out.n > c->spans_cap) {
        size_t cap = c->out.cap;
        lmd_span *p = realloc(c->spans, cap * sizeof *p);
        if (!p) return lmd_fail(c->err, "out of memory");
        c->spans = p;
        c->spans_cap = cap;
    }
    lmd_span sp = lmd_enc_at(c, s + a);
    if (b > a)
        sp.end = lmd_enc_at(c, s + b - 1).end;
    else
        sp.end = sp.start;
    c->spans[c->out.n - 1] = sp;
    return 0;
}

/* The spans of the ids the model made of piece s[0..n) (out[mark..]); when
 * they cannot be told apart, each gets the whole piece. */
static int lmd_enc_piece_spans(lmd_enc *c, const char *s, size_t n, size_t mark) {
    size_t k = c->out.n - mark;
    if (k > c->lens_cap) {
        size_t *p = realloc(c->lens, k * sizeof *p);
        if (!p) return lmd_fail(c->err, "out of memory");
        c->lens = p;
        c->lens_cap = k;
    }
    int exact = lmd_tok_piece_lengths(c->t, s, n, c->out.v + mark, k, c->lens) == 0;
    size_t all = c->out.n, pos = 0;
    for (size_t i = 0; i < k; i++) {
        c->out.n = mark + i + 1;
        size_t l = exact ? c->lens[i] : n;
        if (lmd_enc_push_span(c, s, exact ? pos : 0, exact ? pos + l : n) < 0) return -1;
        if (exact) pos += l;
    }
    c->out.n = all;
    return 0;
}

/* lmd_enc_enter makes p (a new string) the one pieces point into, with
 * alignment al (taken over); lmd_enc_leave frees al and restores the
 * previous one. */
typedef struct lmd_enc_saved {
    const char *base;
    const lmd_span *al;
} lmd_enc_saved;

static void lmd_enc_enter(lmd_enc *c, const char *p, const lmd_span *al, lmd_enc_saved *sv) {
    sv->base = c->base;
    sv->al = c->al;
    c->base = p;
    c->al = al;
}

static void lmd_enc_leave(lmd_enc *c, const lmd_enc_saved *sv) {
    free((void *)c->al);
    c->base = sv->base;
    c->al = sv->al;
}

/* `first`: the piece starts where the text starts (Metaspace's "first"). */
static int lmd_enc_steps(lmd_enc *c, const char *s, size_t n, size_t k, int first);

/* The pieces of a Split step, built from its segments (matches and the
 * gaps between them, in order) by the step's behavior; `pend` is a piece
 * not yet handed on, `last` whether the previous segment was a match. */
typedef struct lmd_split_state {
    lmd_enc *c;
    const char *s;
    size_t k;
    int first, behavior;
    size_t ps, pe;
    int pending, pend_match, last;
} lmd_split_state;

static int lmd_split_flush(lmd_split_state *z) {
    if (!z->pending) return 0;
    z->pending = 0;
    return lmd_enc_steps(z->c, z->s + z->ps, z->pe - z->ps, z->k + 1, z->first && z->ps == 0);
}

/* One segment [a, b), a match or not (HF's SplitDelimiterBehavior). */
static int lmd_split_segment(lmd_split_state *z, size_t a, size_t b, int m) {
    int last = z->last, extend = 0;
    z->last = m;
    switch (z->behavior) {
    case LMD_SPLIT_REMOVED:
        if (m) return 0;
        return lmd_enc_steps(z->c, z->s + a, b - a, z->k + 1, z->first && a == 0);
    case LMD_SPLIT_ISOLATED:
        return lmd_enc_steps(z->c, z->s + a, b - a, z->k + 1, z->first && a == 0);
    case LMD_SPLIT_MERGED_PREV: /* a match extends the piece before it */
        extend = m && !last && z->pending;
        break;
    case LMD_SPLIT_MERGED_NEXT: /* a held match starts the next non-match */
        if (!m && z->pending && z->pend_match) {
            z->pe = b;
            return lmd_split_flush(z);
        }
        if (!m) {
            if (lmd_split_flush(z) < 0) return -1;
            return lmd_enc_steps(z->c, z->s + a, b - a, z->k + 1, z->first && a == 0);
        }
        break;
    case LMD_SPLIT_CONTIGUOUS: /* like segments run together */
        extend = z->pending && m == last;
        break;
    }
    if (extend) {
        z->pe = b;
        return 0;
    }
    if (lmd_split_flush(z) < 0) return -1;
    z->ps = a, z->pe = b, z->pending = 1, z->pend_match = m;
    return 0;
}

/* One regex step: the matches and the gaps between them, to the behavior. */
static int lmd_enc_split(lmd_enc *c, const lmd_pretok_step *st, const char *s, size_t n, size_t k,
                         int first) {
    const pcre2_code *re = st->re;
    lmd_split_state z = {.c = c, .s = s, .k = k, .first = first, .behavior = st->behavior};
    const int inv = st->invert;
    size_t pos = 0, prev = 0;
    uint32_t jit = 0;
    while (pos <= n) {
        int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK | jit, c->md, c->mctx);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !jit) {
            jit = PCRE2_NO_JIT; /* retry with the interpreter, which uses the heap */
            continue;
        }
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[200];
            pcre2_get_error_message(rc, msg, sizeof msg);
            return lmd_fail(c->err, "pre-tokenizer pattern failed: %s", (const char *)msg);
        }
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(c->md);
        size_t ms = ov[0], me = ov[1];
        if (ms < prev || me < ms || me > n)
            return lmd_fail(c->err, "pre-tokenizer pattern gave a bad match");
        if (ms > prev && lmd_split_segment(&z, prev, ms, inv) < 0) return -1;
        if (lmd_split_segment(&z, ms, me, !inv) < 0) return -1;
        prev = me;
        if (me == ms) {
            if (ms >= n) break;
            int l = lmd_utf8_seq_len((const unsigned char *)s + ms, n - ms);
            pos = ms + (size_t)(l > 0 ? l : 1);
        } else {
            pos = me;
        }
    }
    if (prev < n && lmd_split_segment(&z, prev, n, inv) < 0) return -1;
    return lmd_split_flush(&z);
}

/* Metaspace: every space becomes the replacement, which is put before the
 * piece (prepend_scheme always, or first for the piece at the start of the
 * text) unless it starts with it; with split, the piece is cut before each
 * replacement (Hugging Face's MergedWithNext). */
static int lmd_enc_metaspace(lmd_enc *c, const lmd_pretok_step *st, const char *s, size_t n,
                             size_t k, int first) {
    const char *rep = lmd_tok_str(c->t, st->src_off);
    size_t rl = st->src_len, spaces = 0;
    for (size_t i = 0; i < n; i++)
        spaces += s[i] == ' ';
    char *p = malloc(n + (spaces + 1) * rl);
    if (!p) return lmd_fail(c->err, "out of memory");
    lmd_span *al = c->spans ? malloc((n + (spaces + 1) * rl) * sizeof *al) : NULL;
    if (c->spans && !al) {
        free(p);
        return lmd_fail(c->err, "out of memory");
    }
    size_t m = 0;
    int starts = n > 0 && (s[0] == ' ' || (n >= rl && memcmp(s, rep, rl) == 0));
    if (!starts &&
        (st->prepend == LMD_PREPEND_ALWAYS || (st->prepend == LMD_PREPEND_FIRST && first))) {
        memcpy(p, rep, rl);
        uint32_t at = al ? lmd_enc_at(c, s).start : 0; /* the replacement stands for nothing */
        for (; al && m < rl; m++)
            al[m] = (lmd_span){at, at};
        m = rl;
    }
    for (size_t i = 0; i < n; i++) {
        size_t w = s[i] == ' ' ? rl : 1;
        for (size_t j = 0; al && j < w; j++)
            al[m + j] = lmd_enc_at(c, s + i);
        if (s[i] == ' ') {
            memcpy(p + m, rep, rl);
            m += rl;
        } else {
            p[m++] = s[i];
        }
    }
    lmd_enc_saved sv = {0};
    if (al) lmd_enc_enter(c, p, al, &sv);
    int rc = 0;
    if (!st->split) {
        rc = lmd_enc_steps(c, p, m, k + 1, first);
    } else {
        size_t start = 0;
        for (size_t i = 0; i + rl <= m && rc == 0;) {
            if (memcmp(p + i, rep, rl) != 0) {
                i++;
                continue;
            }
            if (i > start) {
                rc = lmd_enc_steps(c, p + start, i - start, k + 1, first && start == 0);
                start = i;
            }
            i += rl;
        }
        if (rc == 0 && start < m)
            rc = lmd_enc_steps(c, p + start, m - start, k + 1, first && start == 0);
    }
    if (al) lmd_enc_leave(c, &sv);
    free(p);
    return rc;
}

/* BertPreTokenizer: white space separates pieces and is dropped; each
 * punctuation character is a piece of its own. */
static int lmd_enc_bert(lmd_enc *c, const char *s, size_t n, size_t k, int first) {
    size_t start = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int l = lmd_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        int ws = lmd_is_white_space(cp), punct = !ws && lmd_is_bert_punct(cp);
        if (ws || punct) {
            if (lmd_enc_steps(c, s + start, i - start, k + 1, first && start == 0) < 0) return -1;
            if (punct && lmd_enc_steps(c, s + i, (size_t)l, k + 1, 0) < 0) return -1;
            start = i + (size_t)l;
        }
        i += (size_t)l;
    }
    return lmd_enc_steps(c, s + start, n - start, k + 1, first && start == 0);
}

static int lmd_enc_steps(lmd_enc *c, const char *s, size_t n, size_t k, int first) {
    const lmd_tokenizer *t = c->t;
    if (n == 0) return 0; /* empty pieces are dropped */
    if (k == t->n_steps) {
        if (c->piece_cb) {
            c->piece_cb(c->piece_ctx, s, n);
            return 0;
        }
        size_t mark = c->out.n;
        int rc = t->model == LMD_MODEL_WORDPIECE
                     ? lmd_wp_word(t, s, n, &c->wp, &c->out, c->err)
                     : lmd_bpe_word(t, (const unsigned char *)s, n, &c->sc, &c->out, c->err);
        return rc == 0 && c->spans ? lmd_enc_piece_spans(c, s, n, mark) : rc;
    }
    const lmd_pretok_step *st = &t->steps[k];
    if (st->kind == LMD_STEP_BERT) return lmd_enc_bert(c, s, n, k, first);
    if (st->kind == LMD_STEP_METASPACE) return lmd_enc_metaspace(c, st, s, n, k, first);
    if (st->kind == LMD_STEP_PREFIX_SPACE) {
        if (s[0] == ' ') return lmd_enc_steps(c, s, n, k + 1, first);
        char *p = malloc(n + 1);
        if (!p) return lmd_fail(c->err, "out of memory");
        p[0] = ' ';
        memcpy(p + 1, s, n);
        lmd_span *al = c->spans ? malloc((n + 1) * sizeof *al) : NULL;
        if (c->spans && !al) {
            free(p);
            return lmd_fail(c->err, "out of memory");
        }
        lmd_enc_saved sv = {0};
        if (al) {
            al[0] = (lmd_span){lmd_enc_at(c, s).start, lmd_enc_at(c, s).start};
            for (size_t i = 0; i < n; i++)
                al[i + 1] = lmd_enc_at(c, s + i);
            lmd_enc_enter(c, p, al, &sv);
        }
        int rc = lmd_enc_steps(c, p, n + 1, k + 1, first);
        if (al) lmd_enc_leave(c, &sv);
        free(p);
        return rc;
    }
    if (!st->re) return lmd_enc_steps(c, s, n, k + 1, first);
    return lmd_enc_split(c, st, s, n, k, first);
}

/* Rust regex's \w on the character at s (a valid UTF-8 sequence). */
static int lmd_is_word_char(lmd_enc *c, const char *s, size_t avail) {
    int l = lmd_utf8_seq_len((const unsigned char *)s, avail);
    if (l <= 0) return 0;
    int rc = pcre2_match(c->t->word_re, (PCRE2_SPTR)s, (size_t)l, 0,
                         PCRE2_NO_UTF_CHECK | PCRE2_ANCHORED, c->md, c->mctx);
    return rc >= 0;
}

/* Start of the last character of s[0..n). */
static size_t lmd_last_char(const char *s, size_t n) {
    size_t i = n - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

static int lmd_enc_added_pass(lmd_enc *c, const char *s, size_t n, int pass, int first);

/* Pass 1 of lmd_enc_added with spans: the normalized text and its
 * alignment become what the pieces point into. */
static int lmd_enc_added_norm_spans(lmd_enc *c, const char *s, size_t n, int first) {
    lmd_buf b = {0};
    lmd_span *in = malloc((n ? n : 1) * sizeof *in), *al = NULL;
    int rc = -1;
    if (in) {
        for (size_t i = 0; i < n; i++)
            in[i] = lmd_enc_at(c, s + i);
        rc = lmd_tok_normalize_al(c->t, s, n, in, &b, &al);
    }
    free(in);
    if (rc < 0) return lmd_fail(c->err, "out of memory");
    lmd_enc_saved sv = {0};
    lmd_enc_enter(c, b.data, al, &sv);
    rc = b.len ? lmd_enc_added_pass(c, b.data, b.len, 1, first) : 0;
    lmd_enc_leave(c, &sv);
    lmd_buf_free(&b);
    return rc;
}

/* Splits s on the added tokens of one pass; the text between the tokens of
 * pass 0 (normalized=false) is normalized before pass 1 looks at it. */
static int lmd_enc_added(lmd_enc *c, const char *s, size_t n, int pass, int first) {
    if (n == 0) return 0;
    if (pass != 1 || c->t->n_norms == 0) return lmd_enc_added_pass(c, s, n, pass, first);
    if (c->spans) return lmd_enc_added_norm_spans(c, s, n, first);
    lmd_buf b = {0};
    int rc = lmd_tok_normalize(c->t, s, n, &b) < 0 ? lmd_fail(c->err, "out of memory")
                                                   : lmd_enc_added_pass(c, b.data, b.len, 1, first);
    lmd_buf_free(&b);
    return rc;
}

/* Splits s on the added tokens of one pass (Hugging Face's find_matches on
 * one piece); gaps go on to the next pass, then to the pre-tokenizer. */
static int lmd_enc_added_pass(lmd_enc *c, const char *s, size_t n, int pass, int first) {
    const lmd_tokenizer *t = c->t;
    if (n == 0) return 0;
    if (pass == 2) return lmd_enc_steps(c, s, n, 0, first);
    if (t->bucket[pass][0] == t->bucket[pass][256]) return lmd_enc_added(c, s, n, pass + 1, first);
    size_t i = 0, start_offset = 0;
    while (i < n) {
        unsigned b = (unsigned char)s[i];
        uint32_t lo = t->bucket[pass][b], hi = t->bucket[pass][b + 1];
        const lmd_added_tok *hit = NULL;
        for (uint32_t k = lo; k < hi; k++) { /* longest first */
            const lmd_added_tok *a = &t->added[t->added_order[k]];
            if (a->match_len <= n - i &&
                memcmp(s + i, lmd_tok_str(t, a->match_off), a->match_len) == 0) {
                hit = a;
                break;
            }
        }
        if (!hit) {
            i++;
            continue;
        }
        size_t start = i, stop = i + hit->match_len;
        i = stop; /* the automaton goes on after the match, taken or not */
        if (hit->single_word) {
            if (start > 0 &&
                lmd_is_word_char(c, s + lmd_last_char(s, start), start - lmd_last_char(s, start)))
                continue;
            if (stop < n && lmd_is_word_char(c, s + stop, n - stop)) continue;
        }
        if (hit->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                size_t p = lmd_last_char(s, ns);
                uint32_t cp;
                lmd_utf8_decode((const unsigned char *)s + p, ns - p, &cp);
                if (!lmd_is_white_space(cp)) break;
                ns = p;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (hit->rstrip) {
            while (stop < n) {
                uint32_t cp;
                int l = lmd_utf8_decode((const unsigned char *)s + stop, n - stop, &cp);
                if (!lmd_is_white_space(cp)) break;
                stop += (size_t)l;
            }
        }
        if (start > start_offset && lmd_enc_added(c, s + start_offset, start - start_offset,
                                                  pass + 1, first && start_offset == 0) < 0)
            return -1;
        if (!c->piece_cb && lmd_idvec_push(&c->out, hit->id) < 0)
            return lmd_fail(c->err, "out of memory");
        if (c->spans && lmd_enc_push_span(c, s, start, stop) < 0) return -1;
        start_offset = stop;
    }
    if (start_offset < n)
        return lmd_enc_added(c, s + start_offset, n - start_offset, pass + 1,
                             first && start_offset == 0);
    return 0;
}

/* lmd_tokenize, and lmd_tokenize_spans when spans is not NULL. */
static int lmd_encode(const lmd_tokenizer *tok, const char *text, size_t len, int32_t **ids,
                      lmd_span **spans, size_t *n_ids, lmd_error *err) {
    if (ids) *ids = NULL;
    if (n_ids) *n_ids = 0;
    if (!tok || !ids || !n_ids || (!text && len))
        return lmd_fail(err, "lmd_tokenize: bad arguments");
    size_t bad = lmd_utf8_check(text, len);
    if (bad < len)
        return lmd_fail_code(err, LMD_ERR_BAD_INPUT, "text is not valid UTF-8 at byte offset %zu",
                             bad);
    lmd_enc c = {.t = tok, .err = err, .base = text};
    if (spans) {
        *spans = NULL;
        if (len >= UINT32_MAX)
            return lmd_fail_code(err, LMD_ERR_BAD_INPUT, "text too long for byte spans (%zu bytes)",
                                 len);
        c.spans = malloc(64 * sizeof *c.spans);
        if (!c.spans) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
        c.spans_cap = 64;
    }
    c.md = pcre2_match_data_create(1, NULL);
    c.mctx = pcre2_match_context_create(NULL);
    int rc = -1;
    if (!c.md || !c.mctx) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    pcre2_set_match_limit(c.mctx, 10000000); /* Oniguruma's default retry limit */
    if (lmd_enc_added(&c, text, len, 0, 1) < 0) goto done;
    if (lmd_idvec_push(&c.out, 0) < 0) { /* never empty: *ids is not NULL on success */
        lmd_fail(err, "out of memory");
        goto done;
    }
    *ids = c.out.v;
    *n_ids = c.out.n - 1;
    c.out.v = NULL;
    if (spans) {
        for (size_t i = 1; i < *n_ids; i++) /* a prefix stands for the next byte */
            if (c.spans[i].start < c.spans[i - 1].start) c.spans[i].start = c.spans[i - 1].start;
        for (size_t i = 0; i < *n_ids; i++)
            if (c.spans[i].end < c.spans[i].start) c.spans[i].end = c.spans[i].start;
        *spans = c.spans;
        c.spans = NULL;
    }
    rc = 0;
done:
    free(c.out.v);
    free(c.spans);
    free(c.lens);
    lmd_bpe_scratch_free(&c.sc);
    lmd_buf_free(&c.wp);
    pcre2_match_context_free(c.mctx);
    pcre2_match_data_free(c.md);
    return rc;
}

int lmd_tokenize(const lmd_tokenizer *tok, const char *text, size_t len, int32_t **ids,
                 size_t *n_ids, lmd_error *err) {
    return lmd_encode(tok, text, len, ids, NULL, n_ids, err);
}

int lmd_tokenize_spans(const lmd_tokenizer *tok, const char *text, size_t len, int32_t **ids,
                       lmd_span **spans, size_t *n_ids, lmd_error *err) {
    if (spans) *spans = NULL;
    if (!spans) return lmd_fail(err, "lmd_tokenize_spans: bad arguments");
    return lmd_encode(tok, text, len, ids, spans, n_ids, err);
}

int lmd_tokenizer_pretokenize(const lmd_tokenizer *tok, const char *text, size_t len,
                              void (*piece)(void *ctx, const char *s, size_t n), void *ctx,
                              lmd_error *err) {
    if (!tok || !piece || (!text && len))
        return lmd_fail(err, "lmd_tokenizer_pretokenize: bad arguments");
    size_t bad = lmd_utf8_check(text, len);
    if (bad < len) return lmd_fail(err, "text is not valid UTF-8 at byte offset %zu", bad);
    lmd_enc c = {.t = tok, .err = err, .piece_cb = piece, .piece_ctx = ctx};
    c.md = pcre2_match_data_create(1, NULL);
    c.mctx = pcre2_match_context_create(NULL);
    int rc = -1;
    if (!c.md || !c.mctx) {
        lmd_fail(err, "out of memory");
    } else {
        pcre2_set_match_limit(c.mctx, 10000000);
        lmd_buf norm = {0};
        if (lmd_tok_normalize(tok, text ? text : "", len, &norm) < 0)
            rc = lmd_fail(err, "out of memory");
        else
            rc = lmd_enc_steps(&c, norm.data ? norm.data : "", norm.len, 0, 1);
        lmd_buf_free(&norm);
    }
    lmd_buf_free(&c.wp);
    pcre2_match_context_free(c.mctx);
    pcre2_match_data_free(c.md);
    return rc;
}
