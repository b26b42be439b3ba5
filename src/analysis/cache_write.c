/* cache_write.c - writes analysis caches: the root attributes and the
 * vocabulary, then one group per text in the original LMdiff's layout
 * (phrase, token_ids, ranks stored 0-based, probs, topk_token_ids,
 * topk_probs) plus lmdiff's entropy and logprobs.  Every per-text dataset
 * is contiguous, and its file offset goes into the read index (cache_h5.h)
 * written one chunk of texts at a time, so memory stays flat.  The closed
 * file gets its digest (cache_digest.c) in its userblock.  Files are
 * written once, front to back; resuming an interrupted analysis is the
 * journal's business (journal.c). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/cache_h5.h"

#define STRIP_ELEMS 65536 /* values converted per HDF5 write */

struct lmd_cache_writer {
    hid_t file, dcpl, gcpl, str_t;
    char *path;
    uint64_t n_done;
    int k;
    void *strip;  /* [max(STRIP_ELEMS, k)] int64, for ids and ranks */
    uint64_t *ix; /* index entries of the current chunk */
    lmd_buf phrases;
};

static int writer_init(lmd_cache_writer *w, const char *path) {
    w->file = -1;
    w->path = strdup(path);
    w->dcpl = H5Pcreate(H5P_DATASET_CREATE);
    w->gcpl = H5Pcreate(H5P_GROUP_CREATE);
    w->str_t = lmd_h5_str_type();
    w->ix = malloc(LMD_IX_CHUNK * LMD_IX_FIELDS * sizeof *w->ix);
    if (!w->path || !w->ix || w->dcpl < 0 || w->gcpl < 0 || w->str_t < 0) return -1;
    H5Pset_layout(w->dcpl, H5D_CONTIGUOUS);
    H5Pset_obj_track_times(w->dcpl, 0); /* the same inputs give the same bytes */
    H5Pset_obj_track_times(w->gcpl, 0);
    return 0;
}

static void writer_free(lmd_cache_writer *w) {
    if (w->dcpl > 0) H5Pclose(w->dcpl);
    if (w->gcpl > 0) H5Pclose(w->gcpl);
    if (w->str_t > 0) H5Tclose(w->str_t);
    free(w->path);
    free(w->strip);
    free(w->ix);
    lmd_buf_free(&w->phrases);
    free(w);
}

/* File access for writing: a metadata cache of at most 8 MiB (HDF5's
 * default allows 32 MiB), so that a writer's memory stays small. */
static hid_t writer_access(void) {
    hid_t fapl = lmd_h5_file_access();
    H5AC_cache_config_t c;
    memset(&c, 0, sizeof c);
    c.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    if (H5Pget_mdc_config(fapl, &c) >= 0) {
        c.set_initial_size = 1;
        c.initial_size = 2 << 20;
        c.min_size = 1 << 20;
        c.max_size = 8 << 20;
        H5Pset_mdc_config(fapl, &c);
    }
    return fapl;
}

static int write_root_attrs(hid_t f, const lmd_cache_info *in) {
    int rc = 0;
    rc |= lmd_h5_put_str_attr(f, "dataset_name", in->dataset_name);
    rc |= lmd_h5_put_str_attr(f, "dataset_checksum", in->dataset_checksum);
    rc |= lmd_h5_put_str_attr(f, "vocab_hash", in->vocab_hash);
    rc |= lmd_h5_put_str_attr(f, "model_name", in->model_name);
    rc |= lmd_h5_put_int_attr(f, "lmdiff_format", LMD_CACHE_FORMAT);
    rc |= lmd_h5_put_str_attr(f, "lmdiff_version", LMD_VERSION);
    if (in->weights_hash) /* none in an imported cache of the original tool */
        rc |= lmd_h5_put_str_attr(f, "weights_hash", in->weights_hash);
    if (in->model_arch) rc |= lmd_h5_put_str_attr(f, "model_arch", in->model_arch);
    rc |= lmd_h5_put_str_attr(f, "scoring", in->scoring ? in->scoring : "causal");
    rc |= lmd_h5_put_str_attr(f, "precision", in->precision ? in->precision : "f32");
    rc |= lmd_h5_put_int_attr(f, "top_k", in->top_k);
    rc |= lmd_h5_put_int_attr(f, "context", in->context);
    rc |= lmd_h5_put_int_attr(f, "stride", in->stride);
    rc |= lmd_h5_put_int_attr(f, "dataset_n_texts", (int64_t)in->dataset_n_texts);
    rc |= lmd_h5_put_int_attr(f, "first_n", (int64_t)in->first_n);
    rc |= lmd_h5_put_int_attr(f, "n_texts", 0);
    rc |= lmd_h5_put_int_attr(f, "complete", 0);
    if (in->shard_n) { /* analyze --shard K/N */
        rc |= lmd_h5_put_int_attr(f, "shard_k", in->shard_k);
        rc |= lmd_h5_put_int_attr(f, "shard_n", in->shard_n);
        rc |= lmd_h5_put_int_attr(f, "shard_first", (int64_t)in->shard_first);
    }
    return rc;
}

int lmd_cache_create(const char *path, const lmd_cache_info *info, const char *const *vocab,
                     size_t n_vocab, lmd_cache_writer **out, lmd_error *err) {
    *out = NULL;
    pthread_mutex_lock(&lmd_h5_lock);
    lmd_h5_quiet();
    lmd_cache_writer *w = calloc(1, sizeof *w);
    int rc = -1;
    if (!w || writer_init(w, path) < 0) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    w->k = info->top_k;
    w->strip = malloc((w->k > STRIP_ELEMS ? (size_t)w->k : STRIP_ELEMS) * sizeof(int64_t));
    if (!w->strip) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    hid_t fapl = writer_access(), fcpl = H5Pcreate(H5P_FILE_CREATE);
    /* freed file space is not tracked for reuse: the tracking grew memory
     * with every text, and the file is written once, front to back */
    H5Pset_file_space_strategy(fcpl, H5F_FSPACE_STRATEGY_NONE, 0, 1);
    /* room for the digest, written by lmd_cache_finish (cache_digest.c) */
    H5Pset_userblock(fcpl, LMD_CACHE_USERBLOCK);
    /* no times where HDF5 honours it (not the root group's header in 1.10) */
    H5Pset_obj_track_times(fcpl, 0);
    w->file = H5Fcreate(path, H5F_ACC_TRUNC, fcpl, fapl);
    if (w->file < 0) lmd_h5_note();
    H5Pclose(fcpl);
    H5Pclose(fapl);
    if (w->file < 0) {
        LMD_H5_FAIL(err, "%s: cannot create", path);
        goto done;
    }
    if (write_root_attrs(w->file, info) < 0) {
        LMD_H5_FAIL(err, "%s: cannot write the root attributes", path);
        goto done;
    }
    /* the vocabulary: vlen UTF-8 strings, index = id */
    const char **v = malloc((n_vocab ? n_vocab : 1) * sizeof *v);
    if (!v) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n_vocab; i++)
        v[i] = vocab[i] ? vocab[i] : "";
    hsize_t dim = n_vocab;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t d = H5Dcreate2(w->file, "vocabulary", w->str_t, sp, H5P_DEFAULT, w->dcpl, H5P_DEFAULT);
    int bad = d < 0 || (n_vocab && H5Dwrite(d, w->str_t, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0);
    if (bad) lmd_h5_note();
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    free(v);
    if (bad) {
        LMD_H5_FAIL(err, "%s: cannot write the vocabulary", path);
        goto done;
    }
    rc = 0;
done:
    if (rc < 0 && w) {
        if (w->file >= 0) H5Fclose(w->file);
        writer_free(w);
        w = NULL;
    }
    pthread_mutex_unlock(&lmd_h5_lock);
    *out = w;
    return rc;
}

/* ------------------------------------------------------------ the index */

static void chunk_names(uint64_t c, char ix[32], char ph[32]) {
    snprintf(ix, 32, "lmdiff_index_%06" PRIu64, c);
    snprintf(ph, 32, "lmdiff_phrases_%06" PRIu64, c);
}

/* Writes the entries of chunk c (m texts) as two root attributes. */
static int write_chunk(lmd_cache_writer *w, uint64_t c, size_t m) {
    char ixn[32], phn[32];
    chunk_names(c, ixn, phn);
    for (int i = 0; i < 2; i++) {
        const char *nm = i ? phn : ixn;
        if (H5Aexists(w->file, nm) > 0 && H5Adelete(w->file, nm) < 0) return lmd_h5_note();
    }
    hsize_t d2[2] = {m, LMD_IX_FIELDS}, d1 = w->phrases.len ? w->phrases.len : 1;
    hid_t s2 = H5Screate_simple(2, d2, NULL), s1 = H5Screate_simple(1, &d1, NULL);
    hid_t a = H5Acreate2(w->file, ixn, H5T_STD_U64LE, s2, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, H5T_NATIVE_UINT64, w->ix) < 0 ? lmd_h5_note() : 0;
    if (a >= 0) H5Aclose(a);
    if (!rc) {
        a = H5Acreate2(w->file, phn, H5T_STD_U8LE, s1, H5P_DEFAULT, H5P_DEFAULT);
        rc = a < 0 || H5Awrite(a, H5T_NATIVE_UINT8, w->phrases.len ? w->phrases.data : "") < 0
                 ? lmd_h5_note()
                 : 0;
        if (a >= 0) H5Aclose(a);
    }
    H5Sclose(s1);
    H5Sclose(s2);
    return rc;
}

static haddr_t ds_offset(hid_t d) {
    haddr_t a = H5Dget_offset(d);
    return a == HADDR_UNDEF ? 0 : a;
}

/* ------------------------------------------------------------ texts */

static int write_ds(lmd_cache_writer *w, hid_t g, int field, hid_t ftype, hid_t mtype, int rank,
                    const hsize_t *dims, size_t nbytes, const void *data, uint64_t *e) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(g, lmd_h5_fields[field], ftype, sp, H5P_DEFAULT, w->dcpl, H5P_DEFAULT);
    int rc = d < 0 || (nbytes && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0);
    if (rc)
        lmd_h5_note();
    else
        e[LMD_IX_IDS + field] = nbytes ? ds_offset(d) : 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    return rc ? -1 : 0;
}

/* token ids (int64 on disk) and ranks (uint32, 0-based): 32-bit values
 * plus add, converted through the writer's fixed buffer a strip of rows at
 * a time, so that a long text needs no second copy of its numbers (and
 * HDF5's own conversion, which keeps memory it never frees, is not used) */
static int write_converted(lmd_cache_writer *w, hid_t g, int field, const int32_t *src, int32_t add,
                           int rank, const hsize_t *dims, uint64_t *e) {
    int wide = field != 1; /* ids: int64; ranks: uint32 */
    hsize_t cols = rank == 2 ? dims[1] : 1, per = STRIP_ELEMS / (cols ? cols : 1);
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(g, lmd_h5_fields[field], wide ? H5T_STD_I64LE : H5T_STD_U32LE, sp,
                         H5P_DEFAULT, w->dcpl, H5P_DEFAULT);
    int rc = d < 0;
    for (hsize_t at = 0; !rc && cols && at < dims[0]; at += per) {
        hsize_t start[2] = {at, 0}, count[2] = {dims[0] - at < per ? dims[0] - at : per, cols};
        size_t m = (size_t)(count[0] * cols);
        const int32_t *x = src + at * cols;
        for (size_t i = 0; i < m; i++)
            if (wide)
                ((int64_t *)w->strip)[i] = (int64_t)x[i] + add;
            else
                ((uint32_t *)w->strip)[i] = (uint32_t)(x[i] + add);
        hid_t ms = H5Screate_simple(rank, count, NULL);
        rc = H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
             H5Dwrite(d, wide ? H5T_NATIVE_INT64 : H5T_NATIVE_UINT32, ms, sp, H5P_DEFAULT,
                      w->strip) < 0;
        H5Sclose(ms);
    }
    if (rc)
        lmd_h5_note();
    else
        e[LMD_IX_IDS + field] = dims[0] && cols ? ds_offset(d) : 0;
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    return rc ? -1 : 0;
}

int lmd_cache_append(lmd_cache_writer *w, const char *phrase, size_t len, const lmd_scores *s,
                     lmd_error *err) {
    if (s->k != w->k)
        return lmd_fail(err, "%s: text %" PRIu64 " has top-%d lists, the cache top-%d", w->path,
                        w->n_done, s->k, w->k);
    size_t n = s->n, nk = n * (size_t)s->k;
    uint64_t *e = w->ix + (w->n_done % LMD_IX_CHUNK) * LMD_IX_FIELDS;
    memset(e, 0, LMD_IX_FIELDS * sizeof *e);
    e[LMD_IX_N] = n;
    e[LMD_IX_PHRASE_OFF] = w->phrases.len;
    e[LMD_IX_PHRASE_LEN] = len;
    if (lmd_buf_put(&w->phrases, phrase, len) < 0) return lmd_fail(err, "out of memory");
    pthread_mutex_lock(&lmd_h5_lock);
    lmd_h5_quiet();
    char name[LMD_H5_GROUP_NAME_LEN];
    lmd_h5_group_name(name, w->n_done);
    int rc = -1;
    hid_t g = H5Gcreate2(w->file, name, H5P_DEFAULT, w->gcpl, H5P_DEFAULT);
    if (g < 0) {
        lmd_h5_note();
        goto fail;
    }
    if (lmd_h5_put_str_attr(g, "phrase", phrase) < 0) goto fail;
    hsize_t d1[1] = {n}, d2[2] = {n, (hsize_t)s->k};
    if (write_converted(w, g, 0, s->ids, 0, 1, d1, e) < 0 ||
        write_converted(w, g, 1, s->rank, -1, 1, d1, e) < 0 ||
        write_ds(w, g, 2, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1, n * 4, s->prob, e) < 0 ||
        write_converted(w, g, 3, s->topk_ids, 0, 2, d2, e) < 0 ||
        write_ds(w, g, 4, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d2, nk * 4, s->topk_prob, e) < 0 ||
        write_ds(w, g, 5, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, d1, n * 4, s->entropy, e) < 0 ||
        write_ds(w, g, 6, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, d1, n * 8, s->logprob, e) < 0)
        goto fail;
    H5Gclose(g);
    g = -1;
    if ((w->n_done + 1) % LMD_IX_CHUNK == 0) { /* a full chunk of the index */
        if (write_chunk(w, w->n_done / LMD_IX_CHUNK, LMD_IX_CHUNK) < 0) goto fail;
        w->phrases.len = 0;
    }
    rc = 0;
fail:
    if (rc < 0) LMD_H5_FAIL(err, "%s: cannot write text %" PRIu64, w->path, w->n_done);
    if (g >= 0) H5Gclose(g);
    pthread_mutex_unlock(&lmd_h5_lock);
    if (rc == 0)
        w->n_done++;
    else
        w->phrases.len = (size_t)e[LMD_IX_PHRASE_OFF];
    return rc;
}

int lmd_cache_finish(lmd_cache_writer *w, int complete, lmd_error *err) {
    pthread_mutex_lock(&lmd_h5_lock);
    lmd_h5_quiet();
    int rc = 0;
    size_t tail = (size_t)(w->n_done % LMD_IX_CHUNK);
    if ((complete && tail && write_chunk(w, w->n_done / LMD_IX_CHUNK, tail) < 0) ||
        (complete && lmd_h5_put_int_attr(w->file, "lmdiff_index_chunk", LMD_IX_CHUNK) < 0) ||
        lmd_h5_put_int_attr(w->file, "n_texts", (int64_t)w->n_done) < 0 ||
        lmd_h5_put_int_attr(w->file, "complete", complete ? 1 : 0) < 0 ||
        H5Fflush(w->file, H5F_SCOPE_LOCAL) < 0) {
        LMD_H5_FAIL(err, "%s: cannot write", w->path);
        rc = -1;
    }
    if (H5Fclose(w->file) < 0 && rc == 0) {
        LMD_H5_FAIL(err, "%s: cannot write", w->path);
        rc = -1;
    }
    w->file = -1;
    if (rc == 0) rc = lmd_cache_seal(w->path, err); /* closed: its bytes are final */
    writer_free(w);
    pthread_mutex_unlock(&lmd_h5_lock);
    return rc;
}

void lmd_cache_writer_abort(lmd_cache_writer *w) {
    if (!w) return;
    pthread_mutex_lock(&lmd_h5_lock);
    lmd_h5_quiet();
    if (w->file >= 0) {
        H5Fclose(w->file);
        H5Eclear2(H5E_DEFAULT);
    }
    writer_free(w);
    pthread_mutex_unlock(&lmd_h5_lock);
}

/* ------------------------------------------------------------ token spans */

/* spans go through the writer's strip buffer (STRIP_ELEMS int64 = as
   many [start, end] rows of u32) a strip of rows at a time, like the ids */
static int write_spans(lmd_cache_writer *w, hid_t g, const lmd_span *sp, size_t n) {
    hsize_t dims[2] = {n, 2};
    hid_t s = H5Screate_simple(2, dims, NULL);
    hid_t d =
        s < 0 ? -1
              : H5Dcreate2(g, "token_spans", H5T_STD_U32LE, s, H5P_DEFAULT, w->dcpl, H5P_DEFAULT);
    int bad = d < 0;
    uint32_t *u = w->strip;
    for (size_t at = 0; !bad && at < n; at += STRIP_ELEMS) {
        size_t m = n - at < STRIP_ELEMS ? n - at : STRIP_ELEMS;
        for (size_t i = 0; i < m; i++) {
            u[2 * i] = sp[at + i].start;
            u[2 * i + 1] = sp[at + i].end;
        }
        hsize_t start[2] = {at, 0}, count[2] = {m, 2};
        hid_t ms = H5Screate_simple(2, count, NULL);
        bad = H5Sselect_hyperslab(s, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
              H5Dwrite(d, H5T_NATIVE_UINT32, ms, s, H5P_DEFAULT, u) < 0;
        H5Sclose(ms);
    }
    if (d >= 0) H5Dclose(d);
    if (s >= 0) H5Sclose(s);
    return bad ? lmd_h5_note() : 0;
}

int lmd_cache_append_spans(lmd_cache_writer *w, const lmd_span *sp, size_t n, lmd_error *err) {
    if (w->n_done == 0) return lmd_fail(err, "%s: token spans before any text", w->path);
    pthread_mutex_lock(&lmd_h5_lock);
    lmd_h5_quiet();
    char name[LMD_H5_GROUP_NAME_LEN];
    lmd_h5_group_name(name, w->n_done - 1);
    hid_t g = H5Gopen2(w->file, name, H5P_DEFAULT);
    int rc = g < 0 ? lmd_h5_note() : write_spans(w, g, sp, n);
    if (rc < 0) LMD_H5_FAIL(err, "%s: cannot write the token spans of text %s", w->path, name);
    if (g >= 0) H5Gclose(g);
    pthread_mutex_unlock(&lmd_h5_lock);
    return rc;
}
