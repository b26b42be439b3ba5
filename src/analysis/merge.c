/* merge.c - `lmdiff cache merge`: joins the shard caches of one model (made
 * by `analyze --shard K/N`) into the cache one run over the whole dataset
 * would have written: the same root attributes (less the shard's own), the
 * same vocabulary, the same groups numbered from 0, the same values.  The
 * shard set is checked first - shards 1..N each once, every other root
 * attribute equal (dataset checksum, weights hash, top-k, and whatever a
 * newer writer adds), each shard starting where the one before ends - and
 * the error names the shard that is missing, doubled or foreign.  Texts are
 * copied one at a time, so memory does not grow with the corpus.  Also
 * `lmdiff cache import`: the same copy of one cache without a digest (the
 * original tool's) into one with it (cache_digest.c). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/cache_h5.h"

/* ------------------------------------------------ root attributes as text */

/* Root attributes that differ between a shard and the whole cache. */
static int shard_own(const char *name) {
    static const char *const own[] = {"n_texts", "complete",    "shard_k",
                                      "shard_n", "shard_first", "lmdiff_index_chunk"};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (!strcmp(name, own[i])) return 1;
    return !strncmp(name, "lmdiff_index_", 13) || !strncmp(name, "lmdiff_phrases_", 15);
}

/* The other root attributes, one "name=value" line each, in name order;
 * values of strings, integers and floats (others by class and size). */
typedef struct attr_list {
    lmd_buf text;
    hid_t file;
} attr_list;

static herr_t attr_cb(hid_t loc, const char *name, const H5A_info_t *ai, void *data) {
    (void)ai;
    attr_list *l = data;
    if (shard_own(name)) return 0;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    H5T_class_t cls = H5Tget_class(ft);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    H5Aclose(a);
    int rc = 0;
    if (np == 1 && cls == H5T_STRING) {
        char *v = NULL;
        rc = lmd_h5_get_str_attr(loc, name, &v);
        if (!rc) rc = lmd_buf_printf(&l->text, "%s=\"%s\"\n", name, v ? v : "");
        free(v);
    } else if (np == 1 && cls == H5T_INTEGER) {
        int64_t v;
        rc = lmd_h5_get_int_attr(loc, name, &v, NULL);
        if (!rc) rc = lmd_buf_printf(&l->text, "%s=%" PRId64 "\n", name, v);
    } else if (np == 1 && cls == H5T_FLOAT) {
        double v = 0;
        a = H5Aopen(loc, name, H5P_DEFAULT);
        rc = a < 0 || H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0 ? -1 : 0;
        if (a >= 0) H5Aclose(a);
        if (!rc) rc = lmd_buf_printf(&l->text, "%s=%.17g\n", name, v);
    } else {
        rc = lmd_buf_printf(&l->text, "%s=<class %d, %lld values, %zu bytes>\n", name, (int)cls,
                            (long long)np, H5Tget_size(ft));
    }
    H5Tclose(ft);
    return rc < 0 ? -1 : 0;
}

/* The attribute lines of the file at path (lock held). */
static int read_attrs(const char *path, lmd_buf *out, lmd_error *err) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        lmd_h5_note();
        LMD_H5_FAIL(err, "%s: cannot open", path);
        return -1;
    }
    attr_list l = {{0}, f};
    hsize_t idx = 0;
    int rc = H5Aiterate2(f, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_cb, &l) < 0 ? -1 : 0;
    H5Fclose(f);
    if (rc < 0) {
        lmd_buf_free(&l.text);
        LMD_H5_FAIL(err, "%s: cannot read the root attributes", path);
        return -1;
    }
    *out = l.text;
    return 0;
}

/* The first line that differs between two attribute lists, as "name" (or
 * the line present in one only). */
static void first_difference(const char *a, const char *b, char *what, size_t cap) {
    while (*a || *b) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        if (la != lb || memcmp(a, b, la)) {
            const char *x = la ? a : b;
            size_t lx = la ? la : lb;
            const char *eq = memchr(x, '=', lx);
            snprintf(what, cap, "%.*s", (int)(eq ? (size_t)(eq - x) : lx), x);
            return;
        }
        a += la + (ea != NULL);
        b += lb + (eb != NULL);
    }
    snprintf(what, cap, "?");
}

/* ------------------------------------------------ checking the set */

typedef struct shard_ref {
    const char *path;
    uint32_t k;
    uint64_t first, n;
} shard_ref;

/* What the checks need from each shard: refs, the first one's attributes
 * (attrs0), the shard count (*sn) and the texts of the dataset (*total). */
static int scan_shards(const char *const *paths, size_t n, shard_ref *refs, lmd_buf *attrs0,
                       uint32_t *sn0, uint64_t *total, lmd_error *err) {
    for (size_t i = 0; i < n; i++) {
        lmd_cache *c;
        if (lmd_cache_open(paths[i], &c, err) < 0) return -1;
        const lmd_cache_info *in = lmd_cache_get_info(c);
        refs[i] = (shard_ref){paths[i], in->shard_k, in->shard_first, in->n_texts};
        uint32_t sn = in->shard_n;
        int rc = 0;
        if (!sn)
            rc = lmd_fail(err, "%s: not a shard cache (made without analyze --shard)", paths[i]);
        else if (in->shard_k < 1 || in->shard_k > sn)
            rc = lmd_fail(err, "%s: shard number %" PRIu32 " of %" PRIu32 " is out of range",
                          paths[i], in->shard_k, sn);
        else if (i == 0) {
            *sn0 = sn;
            *total = in->first_n ? in->first_n : in->dataset_n_texts;
        } else if (sn != *sn0)
            rc = lmd_fail(err, "%s is shard %" PRIu32 "/%" PRIu32 ", but %s is one of %" PRIu32,
                          paths[i], in->shard_k, sn, paths[0], *sn0);
        lmd_cache_close(c);
        if (rc < 0) return -1;
        lmd_buf attrs = {0};
        pthread_mutex_lock(&lmd_h5_lock);
        lmd_h5_quiet();
        rc = read_attrs(paths[i], i ? &attrs : attrs0, err);
        pthread_mutex_unlock(&lmd_h5_lock);
        if (rc < 0) return -1;
        if (i && strcmp(attrs.data ? attrs.data : "", attrs0->data ? attrs0->data : "")) {
            char what[128];
            first_difference(attrs.data ? attrs.data : "", attrs0->data ? attrs0->data : "", what,
                             sizeof what);
            lmd_buf_free(&attrs);
            return lmd_fail(err,
                            "%s does not belong with %s: its root attribute '%s' differs (a shard "
                            "of another dataset, model or setting)",
                            paths[i], paths[0], what);
        }
        lmd_buf_free(&attrs);
    }
    return 0;
}

static int by_k(const void *a, const void *b) {
    const shard_ref *x = a, *y = b;
    return (x->k > y->k) - (x->k < y->k);
}

/* Shards 1..N each once, contiguous, covering every text. */
static int check_set(shard_ref *refs, size_t n, uint32_t sn, uint64_t total, lmd_error *err) {
    qsort(refs, n, sizeof *refs, by_k);
    uint64_t next = 0;
    size_t i = 0;
    for (uint32_t k = 1; k <= sn; k++) {
        if (i < n && refs[i].k == k) {
            if (i + 1 < n && refs[i + 1].k == k)
                return lmd_fail(err, "%s and %s are both shard %" PRIu32 "/%" PRIu32, refs[i].path,
                                refs[i + 1].path, k, sn);
            if (refs[i].first != next)
                return lmd_fail(err,
                                "%s: shard %" PRIu32 "/%" PRIu32 " starts at text %" PRIu64
                                ", but the shards before it end at text %" PRIu64,
                                refs[i].path, k, sn, refs[i].first, next);
            next += refs[i].n;
            i++;
            continue;
        }
        uint64_t end = i < n ? refs[i].first : total;
        if (end > next)
            return lmd_fail(
                err, "shard %" PRIu32 "/%" PRIu32 " is missing (texts %" PRIu64 "..%" PRIu64 ")", k,
                sn, next, end - 1);
        return lmd_fail(err, "shard %" PRIu32 "/%" PRIu32 " is missing", k, sn);
    }
    if (next != total)
        return lmd_fail(err, "the %" PRIu32 " shards hold %" PRIu64 " texts, the dataset %" PRIu64,
                        sn, next, total);
    return 0;
}

/* ------------------------------------------------ writing */

/* Creates out with c's vocabulary and info's root attributes. */
static int create_like(lmd_cache *c, const lmd_cache_info *info, const char *out,
                       lmd_cache_writer **w, lmd_error *err) {
    size_t nv = (size_t)info->n_vocab;
    const char **v = malloc((nv ? nv : 1) * sizeof *v);
    int rc = v ? 0 : lmd_fail(err, "out of memory");
    for (size_t i = 0; i < nv && !rc; i++)
        if (!(v[i] = lmd_cache_vocab(c, (int32_t)i)))
            rc = lmd_fail(err, "%s: cannot read vocabulary entry %zu", lmd_cache_path(c), i);
    if (!rc) rc = lmd_cache_create(out, info, v, nv, w, err);
    free(v);
    return rc;
}

/* Creates out with shard 1's root attributes, less the shard's own, and
 * its vocabulary. */
static int create_like_shard(const char *path, const char *out, lmd_cache_writer **w,
                             lmd_error *err) {
    lmd_cache *c;
    if (lmd_cache_open(path, &c, err) < 0) return -1;
    lmd_cache_info info = *lmd_cache_get_info(c); /* borrowed from c: not freed */
    info.shard_k = info.shard_n = 0;
    info.shard_first = 0;
    int rc = create_like(c, &info, out, w, err);
    lmd_cache_close(c);
    return rc;
}

/* The text's token byte spans, when the shard has them (older caches
 * have none, and neither will the merged text). */
static int copy_spans(lmd_cache *c, uint64_t i, lmd_cache_writer *w, lmd_error *err) {
    lmd_span *sp = NULL;
    size_t n = 0;
    int r = lmd_cache_read_spans(c, i, &sp, &n, err);
    if (r < 0) return -1;
    int rc = r == 0 ? lmd_cache_append_spans(w, sp, n, err) : 0;
    free(sp);
    return rc;
}

/* Copies c's n texts (with their spans) into w; *done counts them. */
static int copy_texts(lmd_cache *c, uint64_t n, lmd_cache_writer *w, const lmd_merge_opts *o,
                      uint64_t *done, uint64_t total, lmd_error *err) {
    int rc = 0;
    for (uint64_t i = 0; i < n && !rc; i++) {
        if (o->cancel && *o->cancel) return lmd_fail(err, "interrupted");
        lmd_cache_text t;
        if (lmd_cache_read_text(c, i, LMD_CACHE_PHRASE, &t, err) < 0) return -1;
        rc = lmd_cache_append(w, t.phrase, t.phrase_len, &t.s, err);
        lmd_cache_text_free(&t);
        if (!rc) rc = copy_spans(c, i, w, err);
        ++*done;
        if (o->progress && (*done % 256 == 0 || *done == total))
            o->progress(o->progress_ctx, *done, total, 0);
    }
    return rc;
}

static int copy_shard(const shard_ref *s, lmd_cache_writer *w, const lmd_merge_opts *o,
                      uint64_t *done, uint64_t total, lmd_error *err) {
    lmd_cache *c;
    if (lmd_cache_open(s->path, &c, err) < 0) return -1;
    int rc = copy_texts(c, s->n, w, o, done, total, err);
    lmd_cache_close(c);
    return rc;
}

/* Copies to f the attributes of s listed in want ("name=value" lines) that
 * f lacks: strings and integers (lock held). */
static void copy_missing(hid_t f, hid_t s, const char *want) {
    for (const char *l = want; *l;) {
        const char *e = strchr(l, '\n'), *eq = memchr(l, '=', (size_t)(e - l));
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(eq - l), l);
        if (H5Aexists(f, name) <= 0) {
            char *sv = NULL;
            int64_t iv;
            int present = 0;
            if (eq[1] == '"' && lmd_h5_get_str_attr(s, name, &sv) == 0 && sv)
                lmd_h5_put_str_attr(f, name, sv);
            else if (lmd_h5_get_int_attr(s, name, &iv, &present) == 0 && present)
                lmd_h5_put_int_attr(f, name, iv);
            free(sv);
        }
        l = e + 1;
    }
}

/* Gives path (a finished cache) the attributes of src listed in want that
 * lmd_cache_create does not write (a newer writer's), and lmdiff_format 0
 * when src is the original tool's; seals it again (lock held). */
static int carry_attrs(const char *path, const char *src, const char *want, int original,
                       lmd_error *err) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t s = H5Fopen(src, H5F_ACC_RDONLY, H5P_DEFAULT);
    int rc = 0;
    if (f < 0 || s < 0) {
        lmd_h5_note();
        LMD_H5_FAIL(err, "%s: cannot reopen", path);
        rc = -1;
    } else {
        copy_missing(f, s, want);
        /* the original's vocab_hash is a pickle's: compare says so */
        if (original && lmd_h5_put_int_attr(f, "lmdiff_format", 0) < 0) rc = -1;
    }
    if (s >= 0) H5Fclose(s);
    if (f >= 0 && H5Fclose(f) < 0) rc = -1;
    if (rc < 0 && f >= 0) LMD_H5_FAIL(err, "%s: cannot write", path);
    return rc < 0 ? -1 : lmd_cache_seal(path, err); /* its bytes changed */
}

/* Gives the merged file the shards' attributes that lmd_cache_create does
 * not write (from a newer writer), then checks that all of them are equal. */
static int settle_attrs(const char *path, const char *shard0, const char *want, lmd_error *err) {
    pthread_mutex_lock(&lmd_h5_lock);
    lmd_h5_quiet();
    int rc = -1;
    lmd_buf have = {0};
    if (read_attrs(path, &have, err) < 0) goto done;
    if (!strcmp(have.data ? have.data : "", want)) {
        rc = 0;
        goto done;
    }
    if (carry_attrs(path, shard0, want, 0, err) < 0) goto done;
    lmd_buf_free(&have);
    if (read_attrs(path, &have, err) < 0) goto done;
    if (strcmp(have.data ? have.data : "", want)) {
        char what[128];
        first_difference(have.data ? have.data : "", want, what, sizeof what);
        lmd_fail(err, "%s: the merged cache's root attribute '%s' differs from the shards'", path,
                 what);
        goto done;
    }
    rc = 0;
done:
    lmd_buf_free(&have);
    pthread_mutex_unlock(&lmd_h5_lock);
    return rc;
}

static char *partial_name(const char *out_path) {
    size_t pl = strlen(out_path) + 9;
    char *p = malloc(pl);
    if (p) snprintf(p, pl, "%s.partial", out_path);
    return p;
}

int lmd_cache_merge(const char *const *shards, size_t n_shards, const char *out_path,
                    const lmd_merge_opts *opts, uint64_t *n_texts, lmd_error *err) {
    lmd_merge_opts o = {0};
    if (opts) o = *opts;
    if (n_shards == 0) return lmd_fail(err, "no shard caches to merge");
    if (!o.force && lmd_file_exists(out_path))
        return lmd_fail(err, "%s exists (--force replaces it)", out_path);
    shard_ref *refs = calloc(n_shards, sizeof *refs);
    char *partial = partial_name(out_path);
    lmd_buf attrs0 = {0};
    lmd_cache_writer *w = NULL;
    int rc = -1;
    if (!refs || !partial) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    uint32_t sn = 0;
    uint64_t total = 0;
    if (scan_shards(shards, n_shards, refs, &attrs0, &sn, &total, err) < 0 ||
        check_set(refs, n_shards, sn, total, err) < 0)
        goto done;
    unlink(partial);
    if (create_like_shard(refs[0].path, partial, &w, err) < 0) goto done;
    uint64_t done_n = 0;
    for (size_t i = 0; i < n_shards; i++)
        if (copy_shard(&refs[i], w, &o, &done_n, total, err) < 0) goto done;
    int c = lmd_cache_finish(w, 1, err);
    w = NULL;
    if (c < 0 || settle_attrs(partial, refs[0].path, attrs0.data ? attrs0.data : "", err) < 0)
        goto done;
    if (lmd_publish(partial, out_path, err) < 0) goto done;
    if (n_texts) *n_texts = done_n;
    rc = 0;
done:
    if (w) lmd_cache_writer_abort(w);
    if (rc < 0 && partial) unlink(partial);
    lmd_buf_free(&attrs0);
    free(refs);
    free(partial);
    return rc;
}

/* ------------------------------------------------ importing */

/* The imported cache gets the root attributes of in that the writer does
 * not know. */
static int import_attrs(const char *path, const char *in, int original, lmd_error *err) {
    pthread_mutex_lock(&lmd_h5_lock);
    lmd_h5_quiet();
    lmd_buf want = {0};
    int rc = read_attrs(in, &want, err);
    if (!rc) rc = carry_attrs(path, in, want.data ? want.data : "", original, err);
    lmd_buf_free(&want);
    pthread_mutex_unlock(&lmd_h5_lock);
    return rc;
}

int lmd_cache_import(const char *in_path, const char *out_path, const lmd_merge_opts *opts,
                     uint64_t *n_texts, lmd_error *err) {
    lmd_merge_opts o = {0};
    if (opts) o = *opts;
    if (!o.force && lmd_file_exists(out_path))
        return lmd_fail(err, "%s exists (--force replaces it)", out_path);
    lmd_cache *c;
    if (lmd_cache_open_unchecked(in_path, &c, err) < 0) return -1;
    char *partial = partial_name(out_path);
    lmd_cache_writer *w = NULL;
    uint64_t n = lmd_cache_get_info(c)->n_texts, done_n = 0;
    int rc = partial ? 0 : lmd_fail(err, "out of memory");
    if (!rc) {
        unlink(partial);
        rc = create_like(c, lmd_cache_get_info(c), partial, &w, err);
    }
    if (!rc) rc = copy_texts(c, n, w, &o, &done_n, n, err);
    if (!rc) {
        rc = lmd_cache_finish(w, 1, err);
        w = NULL;
    }
    if (!rc) rc = import_attrs(partial, in_path, lmd_cache_get_info(c)->format == 0, err);
    if (!rc) rc = lmd_publish(partial, out_path, err);
    if (w) lmd_cache_writer_abort(w);
    if (rc < 0 && partial) unlink(partial);
    if (!rc && n_texts) *n_texts = done_n;
    free(partial);
    lmd_cache_close(c);
    return rc;
}
