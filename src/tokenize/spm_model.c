/* spm_model.c - reading a SentencePiece tokenizer.model (a protobuf
 * ModelProto) and building the tokenizer Hugging Face's LlamaConverter makes
 * of it (docs/tokenizer.md, "tokenizer.model"):
 *
 *   normalizer  Prepend("▁") when add_dummy_prefix, Replace(" " -> "▁") when
 *               escape_whitespaces
 *   model       BPE over characters, vocabulary = the pieces in order,
 *               byte_fallback from the trainer spec, fuse_unk, unk = the
 *               UNKNOWN piece; merges = every split of a piece into two
 *               pieces, ordered by the piece's score (then the longer left
 *               half, the longer right half, piece order, ids of the halves)
 *   decoder     Replace("▁" -> " "), ByteFallback, Fuse, Strip(1 leading
 *               space) when add_dummy_prefix
 *   added       UNKNOWN and CONTROL pieces (special), USER_DEFINED pieces
 *
 * The wire format is parsed by hand, defensively: every length is checked
 * against what is left, and only the fields below are read:
 *   ModelProto      1 pieces (repeated), 2 trainer_spec, 3 normalizer_spec
 *   SentencePiece   1 piece (string), 2 score (float), 3 type (enum)
 *   TrainerSpec     3 model_type, 24 treat_whitespace_as_suffix,
 *                   35 byte_fallback, 41 bos_id, 42 eos_id
 *   NormalizerSpec  1 name, 2 precompiled_charsmap, 3 add_dummy_prefix,
 *                   4 remove_extra_whitespaces, 5 escape_whitespaces
 * Unigram (and word/char) models and normalisations we cannot reproduce are
 * refused with a message naming the file. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tokenize/tok_internal.h"

enum { SPM_NORMAL = 1, SPM_UNKNOWN, SPM_CONTROL, SPM_USER_DEFINED, SPM_UNUSED, SPM_BYTE };
enum { SPM_UNIGRAM = 1, SPM_BPE, SPM_WORD, SPM_CHAR };

#define SPIECE "\xE2\x96\x81" /* ▁ U+2581 */

/* One field of a message. */
typedef struct spm_field {
    uint32_t num;
    int wire;
    uint64_t v;             /* varint, fixed32, fixed64 */
    const unsigned char *p; /* length-delimited */
    size_t n;
} spm_field;

typedef struct spm_reader {
    const unsigned char *p;
    size_t n, pos;
} spm_reader;

static int spm_varint(spm_reader *r, uint64_t *out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->pos >= r->n) return -1;
        unsigned char b = r->p[r->pos++];
        v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1; /* more than 10 bytes */
}

/* 1: a field was read; 0: the end; -1: malformed (*why says what). */
static int spm_next(spm_reader *r, spm_field *f, const char **why) {
    if (r->pos >= r->n) return 0;
    uint64_t key;
    if (spm_varint(r, &key) < 0) {
        *why = "a truncated or overlong varint";
        return -1;
    }
    if ((key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF) {
        *why = "a bad field number";
        return -1;
    }
    f->num = (uint32_t)(key >> 3);
    f->wire = (int)(key & 7);
    f->p = NULL;
    f->n = 0;
    f->v = 0;
    switch (f->wire) {
    case 0:
        if (spm_varint(r, &f->v) < 0) {
            *why = "a truncated or overlong varint";
            return -1;
        }
        return 1;
    case 1:
    case 5: {
        size_t w = f->wire == 1 ? 8 : 4;
        if (r->n - r->pos < w) {
            *why = "a truncated fixed-size field";
            return -1;
        }
        for (size_t i = 0; i < w; i++)
            f->v |= (uint64_t)r->p[r->pos + i] << (8 * i);
        r->pos += w;
        return 1;
    }
    case 2: {
        uint64_t len;
        if (spm_varint(r, &len) < 0) {
            *why = "a truncated or overlong length";
            return -1;
        }
        if (len > r->n - r->pos) {
            *why = "a field whose length runs past the end";
            return -1;
        }
        f->p = r->p + r->pos;
        f->n = (size_t)len;
        r->pos += (size_t)len;
        return 1;
    }
    default:
        *why = "a wire type that SentencePiece models do not use (groups)";
        return -1;
    }
}

typedef struct spm_piece {
    const char *s;
    size_t n;
    float score;
    int type;
} spm_piece;

typedef struct spm_model {
    spm_piece *pieces;
    size_t n_pieces, cap;
    int model_type, byte_fallback, ws_suffix;
    int64_t bos_id, eos_id;
    const unsigned char *norm_name;
    size_t norm_name_len, charsmap_len;
    int add_dummy_prefix, remove_extra_ws, escape_ws;
} spm_model;

static int spm_read_piece(spm_model *m, const spm_field *f, const char *name, lmd_error *err) {
    spm_reader r = {f->p, f->n, 0};
    spm_field g;
    const char *why = NULL;
    spm_piece pc = {.type = SPM_NORMAL};
    int rc, have = 0;
    while ((rc = spm_next(&r, &g, &why)) > 0) {
        if (g.num == 1 && g.wire == 2) {
            pc.s = (const char *)g.p;
            pc.n = g.n;
            have = 1;
        } else if (g.num == 2 && g.wire == 5) {
            uint32_t bits = (uint32_t)g.v;
            memcpy(&pc.score, &bits, sizeof pc.score);
        } else if (g.num == 3 && g.wire == 0) {
            if (g.v < SPM_NORMAL || g.v > SPM_BYTE)
                return lmd_fail(err, "%s: piece %zu has an unknown type %llu", name, m->n_pieces,
                                (unsigned long long)g.v);
            pc.type = (int)g.v;
        }
    }
    if (rc < 0) return lmd_fail(err, "%s: piece %zu is malformed (%s)", name, m->n_pieces, why);
    if (!have || pc.n == 0) return lmd_fail(err, "%s: piece %zu has no text", name, m->n_pieces);
    if (lmd_utf8_check(pc.s, pc.n) != pc.n)
        return lmd_fail(err, "%s: piece %zu is not valid UTF-8", name, m->n_pieces);
    if (!isfinite(pc.score))
        return lmd_fail(err, "%s: piece %zu has a score that is not a finite number", name,
                        m->n_pieces);
    if (m->n_pieces >= (size_t)LMD_TOK_MAX_ID)
        return lmd_fail(err, "%s: more than %d pieces", name, (int)LMD_TOK_MAX_ID);
    if (m->n_pieces == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 1024;
        spm_piece *p = realloc(m->pieces, cap * sizeof *p);
        if (!p) return lmd_fail(err, "%s: out of memory", name);
        m->pieces = p;
        m->cap = cap;
    }
    m->pieces[m->n_pieces++] = pc;
    return 0;
}

static int spm_read_trainer(spm_model *m, const spm_field *f, const char *name, lmd_error *err) {
    spm_reader r = {f->p, f->n, 0};
    spm_field g;
    const char *why = NULL;
    int rc;
    while ((rc = spm_next(&r, &g, &why)) > 0) {
        if (g.wire != 0) continue;
        if (g.num == 3)
            m->model_type = g.v > 100 ? 0 : (int)g.v;
        else if (g.num == 24)
            m->ws_suffix = g.v != 0;
        else if (g.num == 35)
            m->byte_fallback = g.v != 0;
        else if (g.num == 41)
            m->bos_id = (int64_t)(int32_t)(uint32_t)g.v; /* int32 */
    }
    if (rc < 0) return lmd_fail(err, "%s: trainer_spec is malformed (%s)", name, why);
    return 0;
}

static int spm_read_normalizer(spm_model *m, const spm_field *f, const char *name, lmd_error *err) {
    spm_reader r = {f->p, f->n, 0};
    spm_field g;
    const char *why = NULL;
    int rc;
    while ((rc = spm_next(&r, &g, &why)) > 0) {
        if (g.num == 1 && g.wire == 2) {
            m->norm_name = g.p;
            m->norm_name_len = g.n;
        } else if (g.num == 2 && g.wire == 2) {
            m->charsmap_len = g.n;
        } else if (g.wire == 0 && g.num == 3) {
            m->add_dummy_prefix = g.v != 0;
        } else if (g.wire == 0 && g.num == 4) {
            m->remove_extra_ws = g.v != 0;
        } else if (g.wire == 0 && g.num == 5) {
            m->escape_ws = g.v != 0;
        }
    }
    if (rc < 0) return lmd_fail(err, "%s: normalizer_spec is malformed (%s)", name, why);
    return 0;
}

static int spm_parse(spm_model *m, const unsigned char *data, size_t len, const char *name,
                     lmd_error *err) {
    /* the defaults of sentencepiece_model.proto */
    m->model_type = SPM_UNIGRAM;
    m->bos_id = 1;
    m->eos_id = 2;
    m->add_dummy_prefix = m->remove_extra_ws = m->escape_ws = 1;
    spm_reader r = {data, len, 0};
    spm_field f;
    const char *why = NULL;
    int rc;
    while ((rc = spm_next(&r, &f, &why)) > 0) {
        if (f.wire != 2) continue;
        if (f.num == 1 && spm_read_piece(m, &f, name, err) < 0) return -1;
        if (f.num == 2 && spm_read_trainer(m, &f, name, err) < 0) return -1;
        if (f.num == 3 && spm_read_normalizer(m, &f, name, err) < 0) return -1;
    }
    if (rc < 0) return lmd_fail(err, "%s: not a SentencePiece model (%s)", name, why);
    if (m->n_pieces == 0) return lmd_fail(err, "%s: not a SentencePiece model (no pieces)", name);
    return 0;
}

/* ---- merges, as transformers' generate_merges orders them */

typedef struct spm_merge {
    float score;
    uint32_t llen, rlen; /* in characters */
    int32_t piece, l, r;
    uint32_t lbytes;
} spm_merge;

static int spm_merge_cmp(const void *pa, const void *pb) {
    const spm_merge *a = pa, *b = pb;
    if (a->score != b->score) return a->score > b->score ? -1 : 1;
    if (a->llen != b->llen) return a->llen > b->llen ? -1 : 1;
    if (a->rlen != b->rlen) return a->rlen > b->rlen ? -1 : 1;
    if (a->piece != b->piece) return a->piece < b->piece ? -1 : 1;
    if (a->l != b->l) return a->l < b->l ? -1 : 1;
    return a->r < b->r ? -1 : a->r > b->r;
}

static size_t spm_chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

/* Deriving the merges looks up both halves of every split of every piece:
 * about the sum of the squared piece lengths in bytes hashed.  Real models
 * stay far below this bound (Llama-2: 2e6); a file above it is refused
 * rather than left to run for minutes. */
#define SPM_MERGE_WORK_MAX 200000000ull

static int spm_add_merges(lmd_tokenizer *t, const spm_model *m, const char *name, lmd_error *err) {
    spm_merge *list = NULL;
    size_t n = 0, cap = 0;
    uint64_t work = 0;
    for (size_t i = 0; i < m->n_pieces; i++)
        work += (uint64_t)m->pieces[i].n * m->pieces[i].n;
    if (work > SPM_MERGE_WORK_MAX)
        return lmd_fail(err,
                        "%s: the pieces are too long for lmdiff to derive their merges (the sum of "
                        "their squared lengths is %llu bytes^2, above %llu)",
                        name, (unsigned long long)work, SPM_MERGE_WORK_MAX);
    for (size_t i = 0; i < m->n_pieces; i++) {
        const spm_piece *p = &m->pieces[i];
        size_t total = spm_chars(p->s, p->n), lc = 0;
        for (size_t k = 1; k < p->n; k++) {
            if (((unsigned char)p->s[k] & 0xC0) == 0x80) continue; /* not a character start */
            lc++;
            const lmd_str_entry *l = lmd_strmap_get(&t->vocab, t->arena.data, p->s, k);
            if (!l) continue;
            const lmd_str_entry *r = lmd_strmap_get(&t->vocab, t->arena.data, p->s + k, p->n - k);
            if (!r) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 4096;
                spm_merge *q = realloc(list, cap * sizeof *q);
                if (!q) {
                    free(list);
                    return lmd_fail(err, "%s: out of memory", name);
                }
                list = q;
            }
            list[n++] =
                (spm_merge){p->score, (uint32_t)lc, (uint32_t)(total - lc), (int32_t)i, l->id,
                            r->id,    (uint32_t)k};
        }
    }
    if (n) qsort(list, n, sizeof *list, spm_merge_cmp);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const spm_piece *p = &m->pieces[list[i].piece];
        rc = lmd_tok_add_merge(t, p->s, list[i].lbytes, p->s + list[i].lbytes,
                               p->n - list[i].lbytes, name, err);
    }
    free(list);
    return rc;
}

lmd_spm_options lmd_spm_options_default(void) {
    return (lmd_spm_options){.legacy = 1, .add_prefix_space = -1, .add_bos = 1, .add_eos = 0};
}

static int spm_build(lmd_tokenizer *t, const spm_model *m, const lmd_spm_options *o,
                     const char *name, lmd_error *err) {
    if (m->model_type != SPM_BPE) {
        static const char *const types[] = {"?", "unigram", "bpe", "word", "char"};
        return lmd_fail(err,
                        "%s: model_type %s is not supported (lmdiff reads SentencePiece BPE models "
                        "only)",
                        name,
                        m->model_type >= 1 && m->model_type <= 4 ? types[m->model_type] : "?");
    }
    if (m->charsmap_len)
        return lmd_fail(
            err,
            "%s: normalizer_spec %.*s has a precompiled_charsmap, which lmdiff does not "
            "apply",
            name, (int)(m->norm_name_len < 40 ? m->norm_name_len : 40),
            m->norm_name ? (const char *)m->norm_name : "");
    if (m->remove_extra_ws)
        return lmd_fail(err, "%s: normalizer_spec.remove_extra_whitespaces is not supported", name);
    if (m->ws_suffix)
        return lmd_fail(err, "%s: trainer_spec.treat_whitespace_as_suffix is not supported", name);
    size_t n_unk = 0, unk = 0;
    for (size_t i = 0; i < m->n_pieces; i++) {
        const spm_piece *p = &m->pieces[i];
        if (lmd_tok_add_vocab(t, p->s, p->n, (double)i, name, err) < 0) return -1;
        if (p->type == SPM_UNKNOWN) n_unk++, unk = i;
    }
    if (n_unk != 1)
        return lmd_fail(err, "%s: the model has %zu unknown pieces (expected 1)", name, n_unk);
    if (lmd_tok_set_unk(t, m->pieces[unk].s, m->pieces[unk].n) < 0)
        return lmd_fail(err, "%s: out of memory", name);
    t->text_vocab = 1;
    t->fuse_unk = 1;
    t->byte_fallback = m->byte_fallback;
    if (spm_add_merges(t, m, name, err) < 0) return -1;
    int prefix = o->add_prefix_space >= 0 ? o->add_prefix_space : m->add_dummy_prefix;
    if (!m->escape_ws)
        return lmd_fail(err, "%s: normalizer_spec.escape_whitespaces false is not supported", name);
    if (o->legacy) {
        /* LlamaConverter, legacy: Sequence[Prepend("▁"), Replace(" ", "▁")] */
        if (prefix && lmd_tok_add_norm_str(t, LMD_NORM_PREPEND, SPIECE, 3, NULL, 0, name, err) < 0)
            return -1;
        if (lmd_tok_add_norm_str(t, LMD_NORM_REPLACE, " ", 1, SPIECE, 3, name, err) < 0) return -1;
    } else if (lmd_tok_add_metaspace(t, SPIECE, 3, prefix ? LMD_PREPEND_FIRST : LMD_PREPEND_NEVER,
                                     0, name, err) < 0) {
        /* non-legacy: Metaspace(prepend_scheme "first", split false) */
        return -1;
    }
    if (lmd_tok_add_dec_replace(t, SPIECE, 3, " ", 1, name, err) < 0) return -1;
    t->decoder = LMD_DEC_TEXT;
    t->dec_byte_fallback = 1;
    t->dec_strip = prefix ? 1 : 0;
    for (size_t i = 0; i < m->n_pieces; i++) {
        const spm_piece *p = &m->pieces[i];
        if (p->type != SPM_UNKNOWN && p->type != SPM_CONTROL && p->type != SPM_USER_DEFINED)
            continue;
        lmd_added_tok a = {.id = (int32_t)i, .special = p->type != SPM_USER_DEFINED};
        if (lmd_tok_add_added(t, &a, p->s, p->n, name, err) < 0) return -1;
    }
    return 0;
}

/* Builds the tokenizer of a parsed model, with its frame. */
static int spm_finish(const spm_model *mp, const lmd_spm_options *opts, const char *name,
                      lmd_tokenizer **out, lmd_error *err) {
    const spm_model m = *mp;
    const lmd_spm_options o = *opts;
    lmd_tokenizer *t = NULL;
    int rc = -1;
    t = lmd_tok_new();
    if (!t) {
        lmd_fail(err, "%s: out of memory", name);
        goto done;
    }
    if (spm_build(t, &m, &o, name, err) < 0) goto done;
    /* the post-processor: TemplateProcessing [<s>] $A [</s>] */
    int has_bos = m.bos_id >= 0 && (size_t)m.bos_id < m.n_pieces;
    int has_eos = m.eos_id >= 0 && (size_t)m.eos_id < m.n_pieces;
    int32_t bos = (int32_t)m.bos_id, eos = (int32_t)m.eos_id;
    if (lmd_tok_set_frame(t, &bos, o.add_bos && has_bos ? 1 : 0, &eos,
                          o.add_eos && has_eos ? 1 : 0) < 0) {
        lmd_fail(err, "%s: out of memory", name);
        goto done;
    }
    if (lmd_tok_finalize(t, name, err) < 0) goto done;
    if (has_bos) lmd_tokenizer_set_bos(t, bos);
    *out = t;
    t = NULL;
    rc = 0;
done:
    lmd_tokenizer_free(t);
    return rc;
}

int lmd_tokenizer_from_spm(const char *data, size_t len, const char *name,
                           const lmd_spm_options *opts, lmd_tokenizer **out, lmd_error *err) {
    lmd_spm_options o = opts ? *opts : lmd_spm_options_default();
    if (out) *out = NULL;
    if (!name) name = "tokenizer.model";
    if (!out || (!data && len)) return lmd_fail(err, "%s: bad arguments", name);
    spm_model m = {0};
    int rc = spm_parse(&m, (const unsigned char *)(data ? data : ""), len, name, err);
    if (rc == 0) rc = spm_finish(&m, &o, name, out, err);
    free(m.pieces);
    return rc;
}

int lmd_tokenizer_from_spm_src(const lmd_spm_src *src, const char *name,
                               const lmd_spm_options *opts, lmd_tokenizer **out, lmd_error *err) {
    lmd_spm_options o = opts ? *opts : lmd_spm_options_default();
    *out = NULL;
    spm_model m = {.model_type = SPM_BPE, .byte_fallback = src->byte_fallback,
                   .bos_id = src->bos_id, .eos_id = src->eos_id,
                   .add_dummy_prefix = src->add_dummy_prefix, .escape_ws = 1};
    m.pieces = calloc(src->n ? src->n : 1, sizeof *m.pieces);
    if (!m.pieces) return lmd_fail(err, "%s: out of memory", name);
    m.n_pieces = m.cap = src->n;
    for (size_t i = 0; i < src->n; i++)
        m.pieces[i] = (spm_piece){src->s[i], (size_t)src->len[i], src->score[i], src->type[i]};
    int rc = spm_finish(&m, &o, name, out, err);
    free(m.pieces);
    return rc;
}
