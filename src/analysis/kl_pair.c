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
 * there is whole.  The pass writes it batch by batch into parts first, so
 * that an interrupted pass resumes (below). */
#include <dirent.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ---- parts: what makes the pass resumable.  Each batch is written as a
 * whole file <path>.parts/<first text, 20 digits> (tmp, fsync, rename):
 * the pair file's 256-byte header with the magic LMDKLPRT, then u64 batch
 * budget, first text, texts nt, u64 [nt] token counts, and the batch's f32
 * values as in the pair file.  A rerun continues after the last run of
 * parts that chain from text 0; the batches, cut from there by the same
 * budget, are the ones an uninterrupted run makes, so the file is the same
 * byte for byte.  The last step copies the parts into the pair file. */

#define PART_MAGIC "LMDKLPRT"
#define PART_HEAD (HEAD + 24)

static char *part_path(const char *dir, uint64_t first) {
    lmd_buf p = {0};
    if (lmd_buf_printf(&p, "%s/%020" PRIu64, dir, first) < 0) {
        lmd_buf_free(&p);
        return NULL;
    }
    return p.data;
}

static int part_write(const char *dir, const uint8_t *head, size_t budget, uint64_t first,
                      pair_batch *b, lmd_error *err) {
    char *p = part_path(dir, first);
    if (!p) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    lmd_atomic a;
    memset(&a, 0, sizeof a);
    int rc = -1;
    if (lmd_atomic_open(&a, p, err) == 0) {
        const uint64_t h[3] = {budget, first, b->nt};
        fwrite(PART_MAGIC, 1, 8, a.f);
        fwrite(head + 8, 1, HEAD - 8, a.f);
        fwrite(h, 8, 3, a.f);
        for (size_t i = 0; i < b->nt; i++) {
            const uint64_t n = b->n[i];
            fwrite(&n, 8, 1, a.f);
        }
        if (batch_write(b, a.f, err) == 0 && lmd_atomic_commit(&a, err) == 0) rc = 0;
    }
    lmd_atomic_abort(&a);
    free(p);
    return rc;
}

/* Maps the part that starts at text first into m when it is whole and was
 * made for this header and budget; *nt: its texts, their token counts into
 * offs.  0, or 1 when there is no such part. */
static int part_open(const char *dir, const uint8_t *head, size_t budget, uint64_t first,
                     uint64_t n_texts, uint64_t *offs, uint64_t *nt, lmd_map *m) {
    char *p = part_path(dir, first);
    lmd_error e;
    const int mapped = p && lmd_map_file(p, m, &e) == 0;
    free(p);
    if (!mapped) return 1;
    const uint8_t *d = m->data;
    uint64_t h[3], tokens = 0;
    int ok = m->len >= PART_HEAD && !memcmp(d, PART_MAGIC, 8) && !memcmp(d + 8, head + 8, HEAD - 8);
    if (ok) memcpy(h, d + HEAD, sizeof h);
    ok = ok && h[0] == budget && h[1] == first && h[2] > 0 && h[2] <= n_texts - first &&
         h[2] <= (m->len - PART_HEAD) / 8;
    for (uint64_t k = 0; ok && k < h[2]; k++) {
        uint64_t n;
        memcpy(&n, d + PART_HEAD + 8 * k, 8);
        tokens += n;
        ok = n <= m->len && tokens <= m->len;
        offs[first + k + 1] = offs[first + k] + n;
    }
    if (!ok || m->len != PART_HEAD + 8 * h[2] + 8 * tokens) {
        lmd_unmap(m);
        return 1;
    }
    *nt = h[2];
    return 0;
}

/* Removes dir and every file in it (the parts and a left temporary file). */
static void parts_remove(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *p = lmd_path_join(dir, e->d_name);
        if (p) unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

/* The pair file from parts 0..n-1: header, values, token offsets, n. */
static int parts_join(const char *dir, const uint8_t *head, size_t budget, uint64_t n,
                      uint64_t *offs, const char *path, lmd_error *err) {
    lmd_atomic a;
    memset(&a, 0, sizeof a);
    if (lmd_atomic_open(&a, path, err) < 0) return -1;
    fwrite(head, 1, HEAD, a.f);
    for (uint64_t i = 0, nt = 0; i < n; i += nt) {
        lmd_map m;
        if (part_open(dir, head, budget, i, n, offs, &nt, &m)) {
            lmd_atomic_abort(&a);
            return lmd_fail(err, "%s: the part of text %" PRIu64 " is missing or damaged", dir, i);
        }
        const size_t at = PART_HEAD + 8 * (size_t)nt;
        fwrite(m.data + at, 1, m.len - at, a.f);
        lmd_unmap(&m);
    }
    offs[n + 1] = n; /* the trailer */
    fwrite(offs, sizeof *offs, n + 2, a.f);
    const int rc = lmd_atomic_commit(&a, err);
    lmd_atomic_abort(&a);
    return rc;
}

static void make_head(uint8_t *head, const char *ids[3]) {
    const uint32_t version = VERSION, bom = BOM;
    memset(head, 0, HEAD);
    memcpy(head, MAGIC, 8);
    memcpy(head + 8, &version, 4);
    memcpy(head + 12, &bom, 4);
    for (int k = 0; k < 3; k++)
        if (ids[k]) strncpy((char *)head + 16 + k * FIELD, ids[k], FIELD - 1);
}

/* Texts from `from` on, batch by batch, each batch a part. */
static int run_parts(const lmd_model *m1, const lmd_model *m2, lmd_cache *c, const char *dir,
                     const uint8_t *head, size_t budget, uint64_t from, uint64_t *offs,
                     const lmd_kl_pair_opts *o, lmd_error *err) {
    const uint64_t n = lmd_cache_get_info(c)->n_texts;
    pair_batch *b = calloc(1, sizeof *b);
    int rc = -1;
    if (!b) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    for (uint64_t i = from; i < n; i += b->nt) {
        if (o && o->cancel && *o->cancel) {
            lmd_fail(err, "interrupted after %" PRIu64 " of %" PRIu64 " texts; a rerun resumes", i,
                     n);
            goto done;
        }
        batch_clear(b);
        if (batch_read(c, i, n, budget, b, err) < 0 ||
            lmd_kl_tokens_batch(m1, m2, b->ids, b->n, b->nt, budget, b->out, err) < 0 ||
            part_write(dir, head, budget, i, b, err) < 0)
            goto done;
        for (size_t k = 0; k < b->nt; k++)
            offs[i + k + 1] = offs[i + k] + b->n[k];
        if (o && o->progress) o->progress(o->progress_ctx, i + b->nt, n, offs[i + b->nt]);
    }
    rc = 0;
done:
    batch_clear(b);
    free(b->fb);
    free(b);
    return rc;
}

int lmd_kl_pair_write(const lmd_model *m1, const lmd_model *m2, const char *cache1,
                      const char *weights_hash2, const char *path, const lmd_kl_pair_opts *o,
                      lmd_error *err) {
    lmd_cache *c = NULL;
    uint64_t *offs = NULL, done = 0, nt;
    lmd_buf dir = {0};
    int rc = -1;
    const size_t budget = o && o->batch_tokens ? o->batch_tokens : LMD_KL_BATCH_TOKENS;
    if (o && o->resumed_from) *o->resumed_from = 0;
    if (lmd_cache_open(cache1, &c, err) < 0) goto done;
    const lmd_cache_info *in = lmd_cache_get_info(c);
    const uint64_t n = in->n_texts;
    const char *ids[3] = {in->dataset_checksum, in->weights_hash, weights_hash2};
    uint8_t head[HEAD];
    make_head(head, ids);
    if (!(offs = calloc(n + 2, sizeof *offs)) || lmd_buf_printf(&dir, "%s.parts", path) < 0) {
        lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    if (o && o->restart) parts_remove(dir.data);
    if (lmd_mkdirs(dir.data, err) < 0) goto done;
    for (lmd_map m; done < n && !part_open(dir.data, head, budget, done, n, offs, &nt, &m);
         done += nt)
        lmd_unmap(&m);
    if (o && o->resumed_from) *o->resumed_from = done;
    if (run_parts(m1, m2, c, dir.data, head, budget, done, offs, o, err) < 0 ||
        parts_join(dir.data, head, budget, n, offs, path, err) < 0)
        goto done;
    parts_remove(dir.data);
    rc = 0;
done:
    lmd_cache_close(c);
    free(offs);
    lmd_buf_free(&dir);
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
