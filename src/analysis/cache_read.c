/* cache_read.c - reads analysis caches: this tool's and the original
 * LMdiff's.  A text's numbers come back as lmd_scores with 1-based ranks.
 * Caches written by lmdiff carry a read index (cache_h5.h): then a text is
 * read straight from a mapping of the file, with no HDF5 call, which is what
 * makes `compare` fast; otherwise (the original's caches, or an index that
 * no longer matches the file) through HDF5, one group at a time.  HDF5
 * opens a file only after its digest is checked (cache_digest.c); the
 * original's caches come in through lmd_cache_import. */
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "analysis/cache_h5.h"

struct lmd_cache {
    hid_t file;
    char *path;
    lmd_cache_info info;
    char **vocab; /* loaded on first use */
    char *vocab_blob;
    int vocab_failed;
    uint64_t *ix;  /* the read index, [n_texts][LMD_IX_FIELDS]; NULL: none */
    char *phrases; /* every text's phrase, as the index says */
    size_t phrases_len;
    lmd_map map; /* the file, for reads through the index */
};

/* ------------------------------------------------------------ the index */

static void drop_index(lmd_cache *c) {
    free(c->ix);
    free(c->phrases);
    lmd_unmap(&c->map);
    c->ix = NULL;
    c->phrases = NULL;
}

/* Element sizes of the seven datasets, in lmd_h5_fields order, and whether
 * they have k columns. */
static const size_t field_size[LMD_H5_N_FIELDS] = {8, 4, 4, 8, 4, 4, 8};
static const int field_k[LMD_H5_N_FIELDS] = {0, 0, 0, 1, 1, 0, 0};

/* Does entry e describe text i as HDF5 sees it? */
static int entry_matches(lmd_cache *c, uint64_t i, const uint64_t *e) {
    char name[LMD_H5_GROUP_NAME_LEN];
    lmd_h5_group_name(name, i);
    hid_t g = H5Gopen2(c->file, name, H5P_DEFAULT);
    if (g < 0) return 0;
    int ok = 1;
    for (int f = 0; f < LMD_H5_N_FIELDS && ok; f++) {
        hid_t d = H5Dopen2(g, lmd_h5_fields[f], H5P_DEFAULT);
        if (d < 0) {
            ok = 0;
            break;
        }
        hid_t sp = H5Dget_space(d);
        hsize_t dims[2] = {0, 0};
        int rank = H5Sget_simple_extent_ndims(sp);
        H5Sget_simple_extent_dims(sp, dims, NULL);
        haddr_t off = H5Dget_offset(d);
        hid_t ft = H5Dget_type(d);
        hid_t want = f == 0 || f == 3 ? H5T_STD_I64LE
                     : f == 1         ? H5T_STD_U32LE
                     : f == 6         ? H5T_IEEE_F64LE
                                      : H5T_IEEE_F32LE;
        ok = rank == 1 + field_k[f] && dims[0] == e[LMD_IX_N] &&
             (!field_k[f] || dims[1] == (hsize_t)c->info.top_k) && H5Tequal(ft, want) > 0 &&
             (e[LMD_IX_N] == 0 || off == e[LMD_IX_IDS + f]);
        H5Tclose(ft);
        H5Sclose(sp);
        H5Dclose(d);
    }
    H5Gclose(g);
    return ok;
}

/* Loads the index of a cache written by lmdiff, checks it against the file
 * and maps the file; leaves c->ix NULL (read through HDF5) otherwise. */
static void load_index(lmd_cache *c) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const char *off = getenv("LMD_CACHE_NO_INDEX");
    int64_t chunk;
    int present;
    uint64_t n = c->info.n_texts;
    if ((off && *off && strcmp(off, "0")) || c->info.top_k <= 0 ||
        lmd_h5_get_int_attr(c->file, "lmdiff_index_chunk", &chunk, &present) < 0 || !present ||
        chunk != LMD_IX_CHUNK)
        goto fail;
    c->ix = malloc((n ? n : 1) * LMD_IX_FIELDS * sizeof *c->ix);
    lmd_buf ph = {0};
    if (!c->ix) goto fail;
    for (uint64_t cc = 0; cc * LMD_IX_CHUNK < n; cc++) {
        uint64_t m = n - cc * LMD_IX_CHUNK < LMD_IX_CHUNK ? n - cc * LMD_IX_CHUNK : LMD_IX_CHUNK;
        char ixn[32], phn[32];
        snprintf(ixn, sizeof ixn, "lmdiff_index_%06" PRIu64, cc);
        snprintf(phn, sizeof phn, "lmdiff_phrases_%06" PRIu64, cc);
        hid_t a = H5Aopen(c->file, ixn, H5P_DEFAULT);
        if (a < 0) goto fail_buf;
        hid_t sp = H5Aget_space(a);
        hsize_t dims[2] = {0, 0};
        int ok = H5Sget_simple_extent_ndims(sp) == 2 &&
                 H5Sget_simple_extent_dims(sp, dims, NULL) == 2 && dims[0] == m &&
                 dims[1] == LMD_IX_FIELDS;
        uint64_t *e = c->ix + cc * LMD_IX_CHUNK * LMD_IX_FIELDS;
        ok = ok && H5Aread(a, H5T_NATIVE_UINT64, e) >= 0;
        H5Sclose(sp);
        H5Aclose(a);
        a = ok ? H5Aopen(c->file, phn, H5P_DEFAULT) : -1;
        if (a < 0) goto fail_buf;
        sp = H5Aget_space(a);
        hssize_t bytes = H5Sget_simple_extent_npoints(sp);
        size_t base = ph.len;
        ok = bytes > 0 && lmd_buf_put(&ph, NULL, 0) == 0;
        char *tmp = ok ? malloc((size_t)bytes) : NULL;
        ok = tmp && H5Aread(a, H5T_NATIVE_UINT8, tmp) >= 0 &&
             lmd_buf_put(&ph, tmp, (size_t)bytes) == 0;
        free(tmp);
        H5Sclose(sp);
        H5Aclose(a);
        if (!ok) goto fail_buf;
        for (uint64_t j = 0; j < m; j++) {
            uint64_t *x = e + j * LMD_IX_FIELDS;
            if (x[LMD_IX_PHRASE_OFF] + x[LMD_IX_PHRASE_LEN] > (uint64_t)bytes) goto fail_buf;
            x[LMD_IX_PHRASE_OFF] += base;
        }
    }
    c->phrases = ph.data;
    c->phrases_len = ph.len;
    lmd_error ignored;
    if (lmd_map_file(c->path, &c->map, &ignored) < 0) goto fail;
    for (uint64_t i = 0; i < n; i++) { /* every dataset inside the file */
        const uint64_t *e = c->ix + i * LMD_IX_FIELDS;
        for (int f = 0; f < LMD_H5_N_FIELDS && e[LMD_IX_N]; f++) {
            uint64_t bytes =
                e[LMD_IX_N] * field_size[f] * (field_k[f] ? (uint64_t)c->info.top_k : 1);
            if (e[LMD_IX_IDS + f] > c->map.len || bytes > c->map.len - e[LMD_IX_IDS + f]) goto fail;
        }
    }
    /* a sample checked against HDF5: an index that does not describe the
     * file (edited by another tool) is not used */
    uint64_t probe[3] = {0, n / 2, n ? n - 1 : 0};
    for (int s = 0; s < 3 && n; s++)
        if (!entry_matches(c, probe[s], c->ix + probe[s] * LMD_IX_FIELDS)) goto fail;
    H5Eclear2(H5E_DEFAULT);
    return;
fail_buf:
    lmd_buf_free(&ph);
fail:
    H5Eclear2(H5E_DEFAULT);
    drop_index(c);
#else
    (void)c;
#endif
}

static int64_t le_i64(const uint8_t *p) {
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* The mapped pages of a long text are dropped from the resident set behind
 * the copy, a strip at a time (they stay in the page cache), so that
 * reading a text costs its copy and not the file's bytes too. */
#define STRIP_N 131072 /* tokens */

static void drop_behind(const uint8_t *p, size_t bytes) {
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = ((uintptr_t)p + pg - 1) / pg * pg, b = ((uintptr_t)p + bytes) / pg * pg;
    if (b > a) madvise((void *)a, b - a, MADV_DONTNEED);
}

static void copy_dropping(void *dst, const uint8_t *src, size_t bytes) {
    const size_t strip = 4 * (size_t)STRIP_N;
    for (size_t at = 0; at < bytes; at += strip) {
        size_t m = bytes - at < strip ? bytes - at : strip;
        memcpy((char *)dst + at, src + at, m);
        if (m == strip) drop_behind(src + at, m);
    }
}

/* Text i through the index: copies from the mapped file. */
static int fast_read(lmd_cache *c, uint64_t i, int flags, lmd_cache_text *t, lmd_error *err) {
    const uint64_t *e = c->ix + i * LMD_IX_FIELDS;
    size_t n = (size_t)e[LMD_IX_N], k = (size_t)c->info.top_k, nk = n * k;
    size_t n1 = n ? n : 1, nk1 = nk ? nk : 1;
    t->s.n = n;
    t->s.k = (int)k;
    t->has_entropy = t->has_logprob = 1;
    t->s.ids = malloc(n1 * sizeof *t->s.ids);
    t->s.rank = malloc(n1 * sizeof *t->s.rank);
    t->s.prob = malloc(n1 * sizeof *t->s.prob);
    t->s.logprob = malloc(n1 * sizeof *t->s.logprob);
    t->s.entropy = malloc(n1 * sizeof *t->s.entropy);
    t->s.topk_ids = malloc(nk1 * sizeof *t->s.topk_ids);
    int want_tp = !(flags & LMD_CACHE_NO_TOPK_PROBS);
    if (want_tp) t->s.topk_prob = malloc(nk1 * sizeof *t->s.topk_prob);
    if (flags & LMD_CACHE_PHRASE) {
        t->phrase_len = (size_t)e[LMD_IX_PHRASE_LEN];
        t->phrase = malloc(t->phrase_len + 1);
        if (t->phrase) {
            memcpy(t->phrase, c->phrases + e[LMD_IX_PHRASE_OFF], t->phrase_len);
            t->phrase[t->phrase_len] = 0;
        }
    }
    if (!t->s.ids || !t->s.rank || !t->s.prob || !t->s.logprob || !t->s.entropy || !t->s.topk_ids ||
        (want_tp && !t->s.topk_prob) || ((flags & LMD_CACHE_PHRASE) && !t->phrase)) {
        lmd_cache_text_free(t);
        return lmd_fail(err, "out of memory");
    }
    if (n == 0) return 0;
    const uint8_t *d = c->map.data;
    const uint8_t *ids = d + e[LMD_IX_IDS], *ranks = d + e[LMD_IX_RANKS],
                  *tids = d + e[LMD_IX_TOPK_IDS];
    for (size_t j = 0; j < n; j++) {
        int64_t id = le_i64(ids + 8 * j);
        uint32_t r;
        memcpy(&r, ranks + 4 * j, 4);
        if (id < 0 || id > INT32_MAX || r >= INT32_MAX) {
            lmd_cache_text_free(t);
            return lmd_fail(err,
                            "%s: text %" PRIu64 ", token %zu: id %" PRId64 " or rank %" PRIu32
                            " out of range",
                            c->path, i, j, id, r);
        }
        t->s.ids[j] = (int32_t)id;
        t->s.rank[j] = (int32_t)r + 1;
        if ((j + 1) % STRIP_N == 0) {
            drop_behind(ids + 8 * (j + 1 - STRIP_N), 8 * (size_t)STRIP_N);
            drop_behind(ranks + 4 * (j + 1 - STRIP_N), 4 * (size_t)STRIP_N);
        }
    }
    for (size_t j = 0; j < nk; j++) {
        int64_t id = le_i64(tids + 8 * j);
        if (id < 0 || id > INT32_MAX) {
            lmd_cache_text_free(t);
            return lmd_fail(err, "%s: text %" PRIu64 ": top-k id %" PRId64 " out of range", c->path,
                            i, id);
        }
        t->s.topk_ids[j] = (int32_t)id;
        if ((j + 1) % STRIP_N == 0) drop_behind(tids + 8 * (j + 1 - STRIP_N), 8 * (size_t)STRIP_N);
    }
    copy_dropping(t->s.prob, d + e[LMD_IX_PROBS], 4 * n);
    copy_dropping(t->s.entropy, d + e[LMD_IX_ENTROPY], 4 * n);
    copy_dropping(t->s.logprob, d + e[LMD_IX_LOGPROBS], 8 * n);
    if (want_tp) copy_dropping(t->s.topk_prob, d + e[LMD_IX_TOPK_PROBS], 4 * nk);
    return 0;
}

/* Drops the pages of the mapping from this process's resident set (they
 * stay in the page cache): a reader that goes through a file once, like
 * the journal's assembly, then holds no more of it than one text. */
void lmd_cache_release_pages(lmd_cache *c) {
    if (c->map.data && c->map.len) madvise((void *)c->map.data, c->map.len, MADV_DONTNEED);
}

/* ------------------------------------------------------------ opening */

int lmd_cache_open(const char *path, lmd_cache **out, lmd_error *err) {
    *out = NULL;
    if (lmd_cache_verify(path, err) < 0) return -1; /* before HDF5 reads a byte */
    return lmd_cache_open_unchecked(path, out, err);
}

int lmd_cache_open_unchecked(const char *path, lmd_cache **out, lmd_error *err) {
    *out = NULL;
    pthread_mutex_lock(&lmd_h5_lock);
    lmd_h5_quiet();
    int rc = -1;
    lmd_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(path))) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    c->file = -1;
    FILE *probe = fopen(path, "rb");
    if (!probe) {
        lmd_fail(err, "%s: %s", path, strerror(errno));
        goto done;
    }
    fclose(probe);
    if (H5Fis_hdf5(path) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        lmd_fail(err, "%s: not an HDF5 file (or a damaged one)", path);
        goto done;
    }
    c->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (c->file < 0) { /* an HDF5 signature, but HDF5 cannot open it */
        lmd_h5_note();
        LMD_H5_FAIL(err, "%s: damaged (HDF5 cannot open it)", path);
        goto done;
    }
    if (lmd_h5_read_info(c->file, path, &c->info, err) < 0) goto done;
    if (!c->info.complete) {
        lmd_fail(err,
                 "%s: an unfinished cache (its run was interrupted; 'lmdiff analyze "
                 "--resume' completes it)",
                 path);
        goto done;
    }
    if (c->info.top_k == 0 && c->info.n_texts > 0) { /* the original's: k from the first text */
        hid_t d = H5Dopen2(c->file, "000000000000000/topk_token_ids", H5P_DEFAULT);
        if (d >= 0) {
            hid_t sp = H5Dget_space(d);
            hsize_t dims[2] = {0, 0};
            if (H5Sget_simple_extent_ndims(sp) == 2) H5Sget_simple_extent_dims(sp, dims, NULL);
            c->info.top_k = (int)dims[1];
            H5Sclose(sp);
            H5Dclose(d);
        }
        H5Eclear2(H5E_DEFAULT);
    }
    load_index(c);
    rc = 0;
done:
    pthread_mutex_unlock(&lmd_h5_lock);
    if (rc < 0) {
        lmd_cache_close(c);
        c = NULL;
    }
    *out = c;
    return rc;
}

void lmd_cache_close(lmd_cache *c) {
    if (!c) return;
    pthread_mutex_lock(&lmd_h5_lock);
    lmd_h5_quiet();
    if (c->file >= 0) H5Fclose(c->file);
    pthread_mutex_unlock(&lmd_h5_lock);
    lmd_cache_info_free(&c->info);
    drop_index(c);
    free(c->vocab);
    free(c->vocab_blob);
    free(c->path);
    free(c);
}

const lmd_cache_info *lmd_cache_get_info(const lmd_cache *c) {
    return &c->info;
}
const char *lmd_cache_path(const lmd_cache *c) {
    return c->path;
}

/* Reads a dataset of the given rank, converted to mtype, into a malloc'ed
 * *data; its shape goes to dims.  -1 on an HDF5 error, -2 for another
 * rank. */
static int read_array(hid_t g, const char *name, hid_t mtype, size_t esize, int rank, hsize_t *dims,
                      void **data) {
    *data = NULL;
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    int rc = -1;
    if (H5Sget_simple_extent_ndims(sp) == rank) {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        size_t n = (size_t)dims[0] * (rank == 2 ? (size_t)dims[1] : 1);
        *data = malloc(n ? n * esize : 1);
        if (*data && (n == 0 || H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) >= 0))
            rc = 0;
        else {
            free(*data);
            *data = NULL;
        }
    } else {
        rc = -2;
    }
    H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

void lmd_cache_text_free(lmd_cache_text *t) {
    free(t->phrase);
    free(t->s.ids);
    free(t->s.prob);
    free(t->s.logprob);
    free(t->s.rank);
    free(t->s.entropy);
    free(t->s.topk_ids);
    free(t->s.topk_prob);
    memset(t, 0, sizeof *t);
}

/* One per-token dataset of a text group. */
typedef struct field {
    const char *name;
    hid_t mtype;
    size_t esize;
    int rank;   /* 1: [n], 2: [n, k] */
    int needed; /* 0: optional (lmdiff's additions) */
    void *data;
    hsize_t dims[2];
    int present;
} field;

enum { F_IDS, F_RANKS, F_PROBS, F_TOPK_IDS, F_TOPK_PROBS, F_ENTROPY, F_LOGPROBS, F_COUNT };

static int read_text_locked(lmd_cache *c, uint64_t index, int flags, lmd_cache_text *t,
                            lmd_error *err) {
    char name[LMD_H5_GROUP_NAME_LEN];
    lmd_h5_group_name(name, index);
    const char *p = c->path;
    if (index >= c->info.n_texts)
        return lmd_fail(err, "%s: no text %" PRIu64 " (the cache holds %" PRIu64 ")", p, index,
                        c->info.n_texts);
    if (c->ix) return fast_read(c, index, flags, t, err);
    hid_t g = H5Gopen2(c->file, name, H5P_DEFAULT);
    if (g < 0) {
        LMD_H5_FAIL(err, "%s: cannot open group %s", p, name);
        return -1;
    }
    field f[F_COUNT] = {
        {"token_ids", H5T_NATIVE_INT64, 8, 1, 1, NULL, {0, 0}, 0},
        {"ranks", H5T_NATIVE_UINT32, 4, 1, 1, NULL, {0, 0}, 0},
        {"probs", H5T_NATIVE_FLOAT, 4, 1, 1, NULL, {0, 0}, 0},
        {"topk_token_ids", H5T_NATIVE_INT64, 8, 2, 1, NULL, {0, 0}, 0},
        {"topk_probs", H5T_NATIVE_FLOAT, 4, 2, !(flags & LMD_CACHE_NO_TOPK_PROBS), NULL, {0, 0}, 0},
        {"entropy", H5T_NATIVE_FLOAT, 4, 1, 0, NULL, {0, 0}, 0},
        {"logprobs", H5T_NATIVE_DOUBLE, 8, 1, 0, NULL, {0, 0}, 0},
    };
    int rc = -1;
    if (flags & LMD_CACHE_PHRASE) {
        if (lmd_h5_get_str_attr(g, "phrase", &t->phrase) < 0 || !t->phrase) {
            lmd_fail(err, "%s: group %s: attribute 'phrase' is missing or not a string", p, name);
            goto out;
        }
        t->phrase_len = strlen(t->phrase);
    }
    size_t n = 0;
    int k = 0;
    for (int i = 0; i < F_COUNT; i++) {
        if (i == F_TOPK_PROBS && !f[i].needed) continue;
        if (!f[i].needed && H5Lexists(g, f[i].name, H5P_DEFAULT) <= 0) continue;
        int r = read_array(g, f[i].name, f[i].mtype, f[i].esize, f[i].rank, f[i].dims, &f[i].data);
        if (r == -1 && H5Lexists(g, f[i].name, H5P_DEFAULT) <= 0) {
            lmd_fail(err, "%s: group %s: no dataset '%s'", p, name, f[i].name);
            goto out;
        }
        if (r < 0) {
            lmd_fail(err, "%s: group %s: '%s' is not a %s array of numbers", p, name, f[i].name,
                     f[i].rank == 1 ? "1-D" : "2-D");
            goto out;
        }
        f[i].present = 1;
        if (i == F_IDS) n = (size_t)f[i].dims[0];
        if (i == F_TOPK_IDS) k = (int)f[i].dims[1];
        if (f[i].dims[0] != n || (f[i].rank == 2 && (int)f[i].dims[1] != k)) {
            lmd_fail(err, "%s: group %s: '%s' has shape [%llu%s] but 'token_ids' has %zu tokens%s",
                     p, name, f[i].name, (unsigned long long)f[i].dims[0],
                     f[i].rank == 2 ? ", k" : "", n,
                     f[i].rank == 2 ? " and 'topk_token_ids' k columns" : "");
            goto out;
        }
    }
    if (n > 0 && c->info.top_k > 0 && k != c->info.top_k) {
        lmd_fail(err, "%s: group %s: top-%d lists in a top-%d cache", p, name, k, c->info.top_k);
        goto out;
    }
    /* into lmd_scores: 32-bit ids, 1-based ranks */
    size_t n1 = n ? n : 1, nk = n * (size_t)k;
    t->s.n = n;
    t->s.k = n ? k : c->info.top_k;
    t->has_entropy = f[F_ENTROPY].present;
    t->has_logprob = f[F_LOGPROBS].present;
    t->s.ids = malloc(n1 * sizeof *t->s.ids);
    t->s.rank = malloc(n1 * sizeof *t->s.rank);
    t->s.topk_ids = malloc((nk ? nk : 1) * sizeof *t->s.topk_ids);
    t->s.prob = f[F_PROBS].data;
    t->s.topk_prob = f[F_TOPK_PROBS].data;
    t->s.entropy = f[F_ENTROPY].data ? f[F_ENTROPY].data : malloc(n1 * sizeof *t->s.entropy);
    t->s.logprob = f[F_LOGPROBS].data ? f[F_LOGPROBS].data : malloc(n1 * sizeof *t->s.logprob);
    f[F_PROBS].data = f[F_TOPK_PROBS].data = f[F_ENTROPY].data = f[F_LOGPROBS].data = NULL;
    if (!t->s.ids || !t->s.rank || !t->s.topk_ids || !t->s.entropy || !t->s.logprob || !t->s.prob) {
        lmd_fail(err, "out of memory");
        goto out;
    }
    const int64_t *ids = f[F_IDS].data, *tids = f[F_TOPK_IDS].data;
    const uint32_t *ranks = f[F_RANKS].data;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] > INT32_MAX || ranks[i] >= INT32_MAX) {
            lmd_fail(err,
                     "%s: group %s: token %zu: id %" PRId64 " or rank %" PRIu32 " out of range", p,
                     name, i, ids[i], ranks[i]);
            goto out;
        }
        t->s.ids[i] = (int32_t)ids[i];
        t->s.rank[i] = (int32_t)ranks[i] + 1;
        if (!t->has_entropy) t->s.entropy[i] = NAN;
        if (!t->has_logprob) {
            float pr = t->s.prob[i];
            t->s.logprob[i] = log(pr > 0 ? (double)pr : (double)FLT_TRUE_MIN);
        }
    }
    for (size_t i = 0; i < nk; i++) {
        if (tids[i] < 0 || tids[i] > INT32_MAX) {
            lmd_fail(err, "%s: group %s: top-k id %" PRId64 " out of range", p, name, tids[i]);
            goto out;
        }
        t->s.topk_ids[i] = (int32_t)tids[i];
    }
    rc = 0;
out:
    H5Eclear2(H5E_DEFAULT);
    H5Gclose(g);
    for (int i = 0; i < F_COUNT; i++)
        free(f[i].data);
    if (rc < 0) lmd_cache_text_free(t);
    return rc;
}

int lmd_cache_read_text(lmd_cache *c, uint64_t index, int flags, lmd_cache_text *t,
                        lmd_error *err) {
    memset(t, 0, sizeof *t);
    if (c->ix) { /* no HDF5 call: no lock */
        if (index >= c->info.n_texts)
            return lmd_fail(err, "%s: no text %" PRIu64 " (the cache holds %" PRIu64 ")", c->path,
                            index, c->info.n_texts);
        return fast_read(c, index, flags, t, err);
    }
    pthread_mutex_lock(&lmd_h5_lock);
    lmd_h5_quiet();
    int rc = read_text_locked(c, index, flags, t, err);
    pthread_mutex_unlock(&lmd_h5_lock);
    return rc;
}

/* Memory for HDF5's variable-length strings: chunks freed together. */
typedef struct arena_chunk {
    struct arena_chunk *prev;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_chunk;
typedef struct arena {
    arena_chunk *top;
    int failed;
} arena;

static void *arena_alloc(size_t size, void *info) {
    arena *a = info;
    size = (size + 15) / 16 * 16;
    if (!a->top || a->top->cap - a->top->used < size) {
        size_t cap = size > 65536 ? size : 65536;
        arena_chunk *c = malloc(sizeof *c + cap);
        if (!c) {
            a->failed = 1;
            return NULL;
        }
        c->prev = a->top;
        c->used = 0;
        c->cap = cap;
        a->top = c;
    }
    void *p = a->top->data + a->top->used;
    a->top->used += size;
    return p;
}

static void arena_free(void *p, void *info) { /* all at once, in arena_release */
    (void)p, (void)info;
}

static void arena_release(arena *a) {
    while (a->top) {
        arena_chunk *c = a->top;
        a->top = c->prev;
        free(c);
    }
}

/* ----------------------------------------------- vlen strings, checked */

/* HDF5 1.10.8 copies a global-heap object into a buffer sized by the
 * string's length without checking the object's own size (a damaged heap
 * crashed lmdiff; fuzz_cache_read found it).  So before HDF5 reads the
 * vocabulary, its raw references (length, collection address, object
 * index) are checked against the collections in the file (format spec,
 * "Global Heap"): every collection whole and inside the file, every
 * object inside its collection, and each referenced object exactly as long
 * as the string.  Little-endian fields, as every HDF5 file has. */
typedef struct gheap {
    const uint8_t *f;
    size_t len, sa, ss; /* file; sizes of addresses and lengths */
    uint64_t base, at;  /* the collection parsed last (0: none) */
    uint64_t *size;     /* its objects' sizes by index, UINT64_MAX = none */
} gheap;

static uint64_t le_n(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* Parses the collection at file address a into h->size; 0 when damaged. */
static int gheap_parse(gheap *h, uint64_t a) {
    uint64_t at = h->base + a;
    size_t hdr = 8 + h->ss, ohdr = 8 + h->ss;
    if (at < a || at > h->len || h->len - at < hdr || memcmp(h->f + at, "GCOL", 4) ||
        h->f[at + 4] != 1)
        return 0;
    uint64_t total = le_n(h->f + at + 8, h->ss);
    if (total < hdr || total > h->len - at) return 0;
    for (size_t i = 0; i < 65536; i++)
        h->size[i] = UINT64_MAX;
    for (uint64_t p = hdr; total - p >= ohdr;) {
        const uint8_t *o = h->f + at + p;
        uint64_t idx = le_n(o, 2), sz = le_n(o + 8, h->ss);
        if (idx == 0) break; /* the free space, to the end */
        uint64_t padded = (sz + 7) / 8 * 8;
        if (sz > total || padded > total - p - ohdr) return 0;
        h->size[idx] = sz;
        p += ohdr + padded;
    }
    h->at = a;
    return 1;
}

/* 1 when every reference of the contiguous vlen dataset d is sound. */
static int vlen_refs_ok(lmd_cache *c, hid_t d, size_t n) {
    hid_t fcpl = H5Fget_create_plist(c->file);
    size_t sa = 0, ss = 0;
    hsize_t ub = 0;
    int ok = fcpl >= 0 && H5Pget_sizes(fcpl, &sa, &ss) >= 0 && H5Pget_userblock(fcpl, &ub) >= 0 &&
             sa >= 2 && sa <= 8 && ss >= 2 && ss <= 8;
    if (fcpl >= 0) H5Pclose(fcpl);
    haddr_t raw = H5Dget_offset(d);
    lmd_map m = {0};
    lmd_error ignored;
    gheap h = {0};
    ok = ok && raw != HADDR_UNDEF && lmd_map_file(c->path, &m, &ignored) == 0;
    h.f = m.data, h.len = m.len, h.sa = sa, h.ss = ss, h.base = ub;
    h.size = ok ? malloc(65536 * sizeof *h.size) : NULL;
    size_t es = 4 + sa + 4;
    /* H5Dget_offset counts from the file's start; heap addresses from the
     * end of the userblock */
    ok = h.size && raw <= m.len && n <= (m.len - raw) / es;
    for (size_t i = 0; ok && i < n; i++) {
        const uint8_t *r = m.data + raw + i * es;
        uint64_t len = le_n(r, 4), a = le_n(r + 4, sa), idx = le_n(r + 4 + sa, 4);
        if (len == 0) continue;
        if (a != h.at && !gheap_parse(&h, a)) ok = 0;
        ok = ok && idx < 65536 && h.size[idx] == len;
    }
    free(h.size);
    lmd_unmap(&m);
    return ok;
}

static void load_vocab(lmd_cache *c) {
    c->vocab_failed = 1;
    hid_t d = H5Dopen2(c->file, "vocabulary", H5P_DEFAULT);
    if (d < 0) return;
    hid_t ft = H5Dget_type(d), sp = H5Dget_space(d);
    size_t n = (size_t)c->info.n_vocab;
    if (H5Tget_class(ft) == H5T_STRING && n > 0) {
        lmd_buf blob = {0};
        size_t *off = malloc(n * sizeof *off);
        int ok = off != NULL;
        int vlen = H5Tis_variable_str(ft) > 0;
        if (vlen && !vlen_refs_ok(c, d, n)) ok = 0; /* damaged: no vocabulary */
        if (ok && vlen) {
            /* HDF5 1.10 loses the strings it converted when a read fails
             * half-way (a damaged heap): they come from an arena, freed whole */
            hid_t mt = lmd_h5_str_type(), dx = H5Pcreate(H5P_DATASET_XFER);
            arena ar = {NULL};
            H5Pset_vlen_mem_manager(dx, arena_alloc, &ar, arena_free, &ar);
            char **v = calloc(n, sizeof *v);
            ok = v && H5Dread(d, mt, H5S_ALL, H5S_ALL, dx, v) >= 0 && !ar.failed;
            for (size_t i = 0; ok && i < n; i++) {
                off[i] = blob.len;
                const char *s = v[i] ? v[i] : "";
                ok = lmd_buf_put(&blob, s, strlen(s) + 1) == 0;
            }
            arena_release(&ar);
            free(v);
            H5Pclose(dx);
            H5Tclose(mt);
        } else if (ok) {
            size_t sz = H5Tget_size(ft);
            char *raw = malloc(n * sz);
            hid_t mt = H5Tcopy(ft);
            ok = raw && H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0;
            for (size_t i = 0; ok && i < n; i++) {
                off[i] = blob.len;
                ok = lmd_buf_put(&blob, raw + i * sz, strnlen(raw + i * sz, sz)) == 0 &&
                     lmd_buf_put(&blob, "", 1) == 0;
            }
            H5Tclose(mt);
            free(raw);
        }
        if (ok && (c->vocab = malloc(n * sizeof *c->vocab))) {
            for (size_t i = 0; i < n; i++)
                c->vocab[i] = blob.data + off[i];
            c->vocab_blob = blob.data;
            c->vocab_failed = 0;
        } else {
            lmd_buf_free(&blob);
        }
        free(off);
    }
    H5Sclose(sp);
    H5Tclose(ft);
    H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
}

const char *lmd_cache_vocab(lmd_cache *c, int32_t id) {
    pthread_mutex_lock(&lmd_h5_lock);
    lmd_h5_quiet();
    if (!c->vocab && !c->vocab_failed) load_vocab(c);
    const char *s = c->vocab && id >= 0 && (uint64_t)id < c->info.n_vocab ? c->vocab[id] : NULL;
    pthread_mutex_unlock(&lmd_h5_lock);
    return s;
}

int lmd_cache_comparable(const lmd_cache *a, const lmd_cache *b, lmd_error *err) {
    const lmd_cache_info *x = &a->info, *y = &b->info;
    if (strcmp(x->dataset_checksum, y->dataset_checksum))
        return lmd_fail(err,
                        "%s and %s were made from different datasets (dataset_checksum %s "
                        "vs %s)",
                        a->path, b->path, x->dataset_checksum, y->dataset_checksum);
    if (strcmp(x->vocab_hash, y->vocab_hash))
        return lmd_fail(err, "%s and %s use different tokenizers (vocab_hash %s vs %s)%s", a->path,
                        b->path, x->vocab_hash, y->vocab_hash,
                        (x->format == 0) != (y->format == 0)
                            ? "; caches of the original tool hash the vocabulary differently"
                            : "");
    if (x->n_texts != y->n_texts)
        return lmd_fail(err,
                        "%s holds %" PRIu64 " texts but %s holds %" PRIu64
                        " (built with different --first-n?)",
                        a->path, x->n_texts, b->path, y->n_texts);
    return 0;
}

static int same_str(const char *a, const char *b) {
    return a && b && !strcmp(a, b);
}

int lmd_cache_matches(const char *path, const lmd_cache_info *want, char *why, size_t why_len) {
    lmd_cache *c;
    lmd_error e;
    if (lmd_cache_open(path, &c, &e) < 0) {
        snprintf(why, why_len, "%s", e.msg);
        return -1;
    }
    const lmd_cache_info *h = &c->info;
    const char *what = !same_str(h->dataset_checksum, want->dataset_checksum) ? "dataset checksum"
                       : !h->weights_hash ? "weights hash (the file has none)"
                       : !same_str(h->weights_hash, want->weights_hash)             ? "weights hash"
                       : !same_str(h->vocab_hash, want->vocab_hash)                 ? "vocab hash"
                       : h->top_k != want->top_k                                    ? "top-k"
                       : h->first_n != want->first_n                                ? "first-n"
                       : !same_str(h->model_name, want->model_name)                 ? "model name"
                       : h->shard_k != want->shard_k || h->shard_n != want->shard_n ? "shard"
                       : strcmp(lmd_cache_precision(h), lmd_cache_precision(want))  ? "precision"
                                                                                    : NULL;
    if (what)
        snprintf(why, why_len, "its %s differs", what);
    else
        snprintf(why, why_len, "dataset, weights and top-k match");
    lmd_cache_close(c);
    return what ? 0 : 1;
}

/* ------------------------------------------------------------ token spans */

int lmd_cache_read_spans(lmd_cache *c, uint64_t index, lmd_span **sp, size_t *n, lmd_error *err) {
    *sp = NULL;
    *n = 0;
    if (index >= c->info.n_texts)
        return lmd_fail(err, "%s: no text %" PRIu64 " (the cache holds %" PRIu64 ")", c->path,
                        index, c->info.n_texts);
    char name[LMD_H5_GROUP_NAME_LEN];
    lmd_h5_group_name(name, index);
    pthread_mutex_lock(&lmd_h5_lock);
    lmd_h5_quiet();
    int rc = -1;
    hid_t g = H5Gopen2(c->file, name, H5P_DEFAULT), d = -1, s = -1;
    if (g < 0) {
        LMD_H5_FAIL(err, "%s: cannot open group %s", c->path, name);
        goto done;
    }
    if (H5Lexists(g, "token_spans", H5P_DEFAULT) <= 0) {
        rc = 1;
        goto done;
    }
    hsize_t dims[2] = {0, 0};
    if ((d = H5Dopen2(g, "token_spans", H5P_DEFAULT)) < 0 || (s = H5Dget_space(d)) < 0 ||
        H5Sget_simple_extent_ndims(s) != 2 || H5Sget_simple_extent_dims(s, dims, NULL) != 2 ||
        dims[1] != 2) {
        lmd_fail(err, "%s: %s/token_spans is not an [n, 2] dataset", c->path, name);
        goto done;
    }
    lmd_span *out = malloc((dims[0] ? dims[0] : 1) * sizeof *out);
    if (!out) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    if (dims[0] && H5Dread(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        free(out);
        LMD_H5_FAIL(err, "%s: cannot read %s/token_spans", c->path, name);
        goto done;
    }
    *sp = out;
    *n = (size_t)dims[0];
    rc = 0;
done:
    if (s >= 0) H5Sclose(s);
    if (d >= 0) H5Dclose(d);
    if (g >= 0) H5Gclose(g);
    pthread_mutex_unlock(&lmd_h5_lock);
    return rc;
}
