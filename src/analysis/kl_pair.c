/* kl_pair.c - the KL pair file of a corpus (kl.h, docs/corpus.md): KL(P1||P2)
 * and KL(P2||P1) of every token of every text, written by one pass of both
 * models over the token ids of model 1's cache, and read in place (mmap) by
 * compare and the server.  Layout (little-endian):
 *
 *   0    "LMDKLPRS"        magic
 *   8    u32 version = 1
 *   12   u32 0x01020304    byte-order check
 *   16   char[80] x 3      dataset checksum, weights hash 1, weights hash 2
 *                          (NUL-padded)
 *   256  per text i:       f32 KL(P1||P2) [n_i], then f32 KL(P2||P1) [n_i]
 *   ..   u64 [n_texts + 1] token offsets (offs[0] = 0, offs[n_texts] = all tokens)
 *   ..   u64 n_texts       the last 8 bytes
 *
 * It is written under a temporary name and renamed (lmd_atomic): a file
 * there is whole. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/corpus.h"
#include "analysis/kl.h"

#define MAGIC "LMDKLPRS"
#define VERSION 1
#define BOM 0x01020304u
#define FIELD 80
#define HEAD (16 + 3 * FIELD)

struct lmd_kl_pair {
    lmd_map map;
    char ids[3][FIELD + 1]; /* dataset checksum, weights hashes */
    uint64_t n;
    const float *kl;
    const uint64_t *offs;
};

static int put_field(FILE *f, const char *s) {
    char b[FIELD] = {0};
    if (s) strncpy(b, s, FIELD - 1);
    return fwrite(b, 1, FIELD, f) == FIELD ? 0 : -1;
}

#define MAX_BATCH_TEXTS 256

/* Texts i0..i0+nt-1 of the cache, read and run through both models at
 * once, each text's KL of both directions appended to f as f32. */
typedef struct pair_batch {
    lmd_cache_text t[MAX_BATCH_TEXTS];
    const int32_t *ids[MAX_BATCH_TEXTS];
    size_t n[MAX_BATCH_TEXTS];
    lmd_kl_token *out[MAX_BATCH_TEXTS];
    float *fb;
    size_t nt, fcap;
} pair_batch;

static void batch_clear(pair_batch *b) {
    for (size_t i = 0; i < b->nt; i++) {
        lmd_cache_text_free(&b->t[i]);
        free(b->out[i]);
        b->out[i] = NULL;
    }
    b->nt = 0;
}

/* Reads texts from i0 on until the batch holds `budget` tokens (at least
 * one text); returns how many, or -1. */
static int batch_read(lmd_cache *c, uint64_t i0, uint64_t n_texts, size_t budget, pair_batch *b,
                      lmd_error *err) {
    size_t tokens = 0;
    while (b->nt < MAX_BATCH_TEXTS && i0 + b->nt < n_texts && (b->nt == 0 || tokens < budget)) {
        lmd_cache_text *t = &b->t[b->nt];
        if (lmd_cache_read_text(c, i0 + b->nt, LMD_CACHE_NO_TOPK_PROBS, t, err) < 0) return -1;
        b->ids[b->nt] = t->s.ids;
        b->n[b->nt] = t->s.n;
        b->out[b->nt] = malloc((t->s.n ? t->s.n : 1) * sizeof **b->out);
        b->nt++;
        if (!b->out[b->nt - 1]) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
        tokens += t->s.n;
    }
    return (int)b->nt;
}

static int batch_write(pair_batch *b, FILE *f, lmd_error *err) {
    for (size_t i = 0; i < b->nt; i++) {
        const size_t n = b->n[i];
        if (n > b->fcap) {
            float *g = realloc(b->fb, n * sizeof *g);
            if (!g) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
            b->fb = g, b->fcap = n;
        }
        for (int d = 0; d < 2; d++) {
            for (size_t t = 0; t < n; t++)
                b->fb[t] = (float)(d ? b->out[i][t].kl_rev : b->out[i][t].kl);
            fwrite(b->fb, sizeof *b->fb, n, f);
        }
    }
    return 0;
}

int lmd_kl_pair_write(const lmd_model *m1, const lmd_model *m2, const char *cache1,
                      const char *weights_hash2, const char *path, const lmd_kl_pair_opts *o,
                      lmd_error *err) {
    lmd_cache *c = NULL;
    lmd_atomic a;
    memset(&a, 0, sizeof a);
    pair_batch *b = calloc(1, sizeof *b);
    uint64_t *offs = NULL;
    int rc = -1;
    const size_t budget = o && o->batch_tokens ? o->batch_tokens : LMD_KL_BATCH_TOKENS;
    if (!b) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    if (lmd_cache_open(cache1, &c, err) < 0) goto done;
    const lmd_cache_info *in = lmd_cache_get_info(c);
    const uint64_t n = in->n_texts;
    if (!(offs = calloc(n + 2, sizeof *offs))) {
        lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    if (lmd_atomic_open(&a, path, err) < 0) goto done;
    uint32_t version = VERSION, bom = BOM;
    fwrite(MAGIC, 1, 8, a.f);
    fwrite(&version, 4, 1, a.f);
    fwrite(&bom, 4, 1, a.f);
    put_field(a.f, in->dataset_checksum);
    put_field(a.f, in->weights_hash);
    put_field(a.f, weights_hash2);
    for (uint64_t i = 0; i < n; i += b->nt) {
        if (o && o->cancel && *o->cancel) {
            lmd_fail(err, "interrupted; %s was not written", path);
            goto done;
        }
        batch_clear(b);
        if (batch_read(c, i, n, budget, b, err) < 0 ||
            lmd_kl_tokens_batch(m1, m2, b->ids, b->n, b->nt, budget, b->out, err) < 0 ||
            batch_write(b, a.f, err) < 0)
            goto done;
        for (size_t k = 0; k < b->nt; k++)
            offs[i + k + 1] = offs[i + k] + b->n[k];
        if (o && o->progress) o->progress(o->progress_ctx, i + b->nt, n, offs[i + b->nt]);
    }
    offs[n + 1] = n; /* the trailer */
    fwrite(offs, sizeof *offs, n + 2, a.f);
    if (lmd_atomic_commit(&a, err) == 0) rc = 0;
done:
    lmd_atomic_abort(&a);
    lmd_cache_close(c);
    batch_clear(b);
    free(b->fb);
    free(b);
    free(offs);
    return rc;
}

static int field_ok(const uint8_t *p, char *out) {
    memcpy(out, p, FIELD);
    out[FIELD] = 0;
    return memchr(p, 0, FIELD) != NULL;
}

static const char *check(lmd_kl_pair *p) {
    const uint8_t *d = p->map.data;
    const size_t len = p->map.len;
    uint32_t version, bom;
    if (len < HEAD + 16 || memcmp(d, MAGIC, 8)) return "not a KL pair file (no LMDKLPRS signature)";
    memcpy(&version, d + 8, 4);
    memcpy(&bom, d + 12, 4);
    if (bom != BOM) return "written on a machine of the other byte order";
    if (version != VERSION) return "written by another lmdiff version";
    for (int k = 0; k < 3; k++)
        if (!field_ok(d + 16 + (size_t)k * FIELD, p->ids[k])) return "damaged (header)";
    memcpy(&p->n, d + len - 8, 8);
    const size_t body = len - HEAD - 8;
    if (p->n > body / 8 - 1) return "truncated or damaged (sizes do not fit the file)";
    const size_t offs_len = ((size_t)p->n + 1) * 8, kl_len = body - offs_len;
    if (kl_len % 8) return "truncated or damaged (sizes do not fit the file)";
    p->kl = (const float *)(d + HEAD);
    p->offs = (const uint64_t *)(d + HEAD + kl_len);
    if (p->offs[0] != 0 || p->offs[p->n] != kl_len / 8)
        return "truncated or damaged (token offsets)";
    for (uint64_t i = 0; i < p->n; i++)
        if (p->offs[i + 1] < p->offs[i]) return "damaged (token offsets out of order)";
    return NULL;
}

int lmd_kl_pair_open(const char *path, lmd_kl_pair **out, lmd_error *err) {
    *out = NULL;
    lmd_kl_pair *p = calloc(1, sizeof *p);
    if (!p) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    if (lmd_map_file(path, &p->map, err) < 0) {
        free(p);
        return -1;
    }
    const char *why = check(p);
    if (why) {
        lmd_kl_pair_close(p);
        return lmd_fail_code(err, LMD_ERR_BAD_INPUT, "%s: %s", path, why);
    }
    *out = p;
    return 0;
}

void lmd_kl_pair_close(lmd_kl_pair *p) {
    if (!p) return;
    lmd_unmap(&p->map);
    free(p);
}

uint64_t lmd_kl_pair_n_texts(const lmd_kl_pair *p) {
    return p->n;
}

int lmd_kl_pair_matches(const lmd_kl_pair *p, const char *dataset_checksum,
                        const char *weights_hash1, const char *weights_hash2) {
    const char *want[3] = {dataset_checksum, weights_hash1, weights_hash2};
    for (int k = 0; k < 3; k++)
        if (!want[k] || strcmp(want[k], p->ids[k])) return 0;
    return 1;
}

const float *lmd_kl_pair_text(const lmd_kl_pair *p, uint64_t i, int reverse, size_t *n) {
    *n = 0;
    if (i >= p->n) return NULL;
    const uint64_t a = p->offs[i], m = p->offs[i + 1] - a;
    *n = (size_t)m;
    return p->kl + 2 * a + (reverse ? m : 0);
}

int lmd_kl_pair_of_table(const lmd_table *t, lmd_kl_pair **out, int *reverse, lmd_error *err) {
    *out = NULL;
    const lmd_table_meta *m = lmd_table_get_meta(t);
    *reverse = m->kl_reverse;
    if (!m->kl) return 0;
    const char *tp = lmd_table_path(t), *slash = strrchr(tp, '/');
    lmd_buf p = {0};
    if (lmd_buf_printf(&p, "%.*s%s", slash ? (int)(slash - tp + 1) : 0, tp, m->kl) < 0) {
        lmd_buf_free(&p);
        return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    }
    int rc = lmd_kl_pair_open(p.data, out, err);
    /* the file's model 1 is this table's model 2 when the direction is reversed */
    const char *w1 = *reverse ? m->weights_hash2 : m->weights_hash1;
    const char *w2 = *reverse ? m->weights_hash1 : m->weights_hash2;
    if (rc == 0 && (!lmd_kl_pair_matches(*out, m->dataset_checksum, w1, w2) ||
                    lmd_kl_pair_n_texts(*out) != m->n_texts)) {
        rc = lmd_fail(err, "%s was made from another dataset or other models than %s", p.data, tp);
        lmd_kl_pair_close(*out);
        *out = NULL;
    }
    lmd_buf_free(&p);
    return rc;
}
