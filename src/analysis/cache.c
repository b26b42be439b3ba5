/* cache.c - the HDF5 side shared by the analysis-cache reader and writer
 * (cache_read.c, cache_write.c): one lock, errors folded into lmd_error,
 * string and integer attributes, and the root attributes of a cache
 * (docs/corpus.md).  HDF5's own error printing is switched off. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/cache_h5.h"

const char *const lmd_h5_fields[LMD_H5_N_FIELDS] = {
    "token_ids", "ranks", "probs", "topk_token_ids", "topk_probs", "entropy", "logprobs"};

/* HDF5 is built thread-safe on Debian, but our reader keeps state
 * (the vocabulary) too: one lock for all of it. */
pthread_mutex_t lmd_h5_lock = PTHREAD_MUTEX_INITIALIZER;

/* The innermost HDF5 message of the first failure since the public
 * function began: every HDF5 call (a cleanup H5Xclose too) clears the
 * error stack, so failure points note it at once. */
static _Thread_local char lmd_h5_noted[512];

/* The error stack and its printing are per thread in a thread-safe HDF5. */
/* HDF5 closes files left open at exit; a file whose close failed (a full
 * disk) crashes that cleanup in HDF5 1.10, and lmdiff closes its files
 * itself: no exit handler, set before the library's first call. */
static pthread_once_t h5_once = PTHREAD_ONCE_INIT;
static void h5_init(void) {
    H5dont_atexit();
}

void lmd_h5_quiet(void) {
    pthread_once(&h5_once, h5_init);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    lmd_h5_noted[0] = 0;
}

typedef struct walk_ctx {
    char desc[512];
} walk_ctx;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    walk_ctx *w = data;
    if (e->desc && *e->desc) snprintf(w->desc, sizeof w->desc, "%s", e->desc);
    return 0;
}

/* Notes the current error stack (if the first failure); returns -1. */
int lmd_h5_note(void) {
    if (lmd_h5_noted[0] || H5Eget_num(H5E_DEFAULT) <= 0) return -1;
    walk_ctx w = {{0}};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &w);
    snprintf(lmd_h5_noted, sizeof lmd_h5_noted, "%s", w.desc);
    return -1;
}

/* The noted message, shortened to its system error when there is one ("No
 * space left on device"). */
const char *lmd_h5_detail(char *buf, size_t cap) {
    lmd_h5_note();
    const char *d = lmd_h5_noted;
    const char *em = strstr(d, "error message = '");
    if (em) {
        em += strlen("error message = '");
        const char *q = strchr(em, '\'');
        snprintf(buf, cap, "%.*s", q ? (int)(q - em) : (int)strlen(em), em);
    } else if (strstr(d, "signature")) {
        snprintf(buf, cap, "not an HDF5 file");
    } else {
        snprintf(buf, cap, "%s", d[0] ? d : "HDF5 error");
    }
    H5Eclear2(H5E_DEFAULT);
    lmd_h5_noted[0] = 0;
    return buf;
}

hid_t lmd_h5_str_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

void lmd_h5_group_name(char buf[LMD_H5_GROUP_NAME_LEN], uint64_t i) {
    snprintf(buf, LMD_H5_GROUP_NAME_LEN, "%015" PRIu64, i);
}

/* ------------------------------------------------------------ attributes */

int lmd_h5_put_str_attr(hid_t obj, const char *name, const char *val) {
    if (!val) val = "";
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) return lmd_h5_note();
    hid_t t = lmd_h5_str_type(), sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a < 0 || H5Awrite(a, t, &val) < 0 ? lmd_h5_note() : 0;
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return rc;
}

int lmd_h5_put_int_attr(hid_t obj, const char *name, int64_t v) {
    hid_t a;
    if (H5Aexists(obj, name) > 0) {
        a = H5Aopen(obj, name, H5P_DEFAULT);
    } else {
        hid_t sp = H5Screate(H5S_SCALAR);
        a = H5Acreate2(obj, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Sclose(sp);
    }
    int rc = a < 0 || H5Awrite(a, H5T_NATIVE_INT64, &v) < 0 ? lmd_h5_note() : 0;
    if (a >= 0) H5Aclose(a);
    return rc;
}

/* A string attribute, variable or fixed length, scalar or of one element.
 * *out = NULL and 0 when absent; -1 when present but not a string; -2 when
 * HDF5 cannot tell (a damaged object header). */
int lmd_h5_get_str_attr(hid_t obj, const char *name, char **out) {
    *out = NULL;
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0) return lmd_h5_note() - 1;
    if (ex == 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = -1;
    if (H5Tget_class(ft) == H5T_STRING && H5Sget_simple_extent_npoints(sp) == 1) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = lmd_h5_str_type();
            H5Tset_cset(mt, H5Tget_cset(ft));
            char *p = NULL;
            if (H5Aread(a, mt, &p) >= 0) {
                *out = strdup(p ? p : "");
                rc = *out ? 0 : -1;
                H5free_memory(p);
            }
            H5Tclose(mt);
        } else {
            size_t sz = H5Tget_size(ft);
            char *buf = calloc(1, sz + 1);
            hid_t mt = H5Tcopy(ft);
            if (buf && H5Aread(a, mt, buf) >= 0) {
                *out = buf;
                buf = NULL;
                rc = 0;
            }
            H5Tclose(mt);
            free(buf);
        }
    }
    H5Sclose(sp);
    H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

/* An integer attribute; 0 and *present = 0 when absent; -2 when HDF5
 * cannot tell. */
int lmd_h5_get_int_attr(hid_t obj, const char *name, int64_t *v, int *present) {
    *v = 0;
    if (present) *present = 0;
    htri_t ex = H5Aexists(obj, name);
    if (ex < 0) return lmd_h5_note() - 1;
    if (ex == 0) return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    int rc = -1;
    if (H5Tget_class(ft) == H5T_INTEGER && H5Sget_simple_extent_npoints(sp) == 1 &&
        H5Aread(a, H5T_NATIVE_INT64, v) >= 0) {
        rc = 0;
        if (present) *present = 1;
    }
    H5Sclose(sp);
    H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

void lmd_cache_info_free(lmd_cache_info *i) {
    free(i->dataset_name);
    free(i->dataset_checksum);
    free(i->vocab_hash);
    free(i->model_name);
    free(i->lmdiff_version);
    free(i->weights_hash);
    free(i->model_arch);
    free(i->scoring);
    free(i->precision);
    memset(i, 0, sizeof *i);
}

const char *lmd_cache_precision(const lmd_cache_info *i) {
    return i->precision ? i->precision : "f32";
}

hid_t lmd_h5_file_access(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    /* v1.8 object formats: compact groups, readable by every HDF5 >= 1.8 */
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    return fapl;
}

typedef struct count_ctx {
    uint64_t n, max;
    int other_groups;
} count_ctx;

static herr_t count_cb(hid_t g, const char *name, const H5L_info_t *li, void *data) {
    (void)g, (void)li;
    count_ctx *c = data;
    size_t n = strlen(name);
    int digits = n == 15;
    for (size_t i = 0; i < n && digits; i++)
        digits = name[i] >= '0' && name[i] <= '9';
    if (!digits) return 0;
    uint64_t v = strtoull(name, NULL, 10);
    if (c->n == 0 || v > c->max) c->max = v;
    c->n++;
    return 0;
}

/* Root attributes into info; the number of texts from the groups. */
int lmd_h5_read_info(hid_t f, const char *path, lmd_cache_info *info, lmd_error *err) {
    memset(info, 0, sizeof *info);
    static const char *const req[] = {"dataset_name", "dataset_checksum", "vocab_hash",
                                      "model_name"};
    char **slots[] = {&info->dataset_name, &info->dataset_checksum, &info->vocab_hash,
                      &info->model_name};
    for (int i = 0; i < 4; i++) {
        int r = lmd_h5_get_str_attr(f, req[i], slots[i]);
        if (r == -2) goto bad;
        if (r < 0) {
            LMD_H5_FAIL(err, "%s: root attribute '%s' is not a string", path, req[i]);
            lmd_cache_info_free(info);
            return -1;
        }
        if (!*slots[i]) {
            lmd_cache_info_free(info);
            return lmd_fail(err, "%s: not an lmdiff analysis cache (no root attribute '%s')", path,
                            req[i]);
        }
    }
    int64_t v;
    int present;
    if (lmd_h5_get_str_attr(f, "lmdiff_version", &info->lmdiff_version) < 0 ||
        lmd_h5_get_str_attr(f, "weights_hash", &info->weights_hash) < 0 ||
        lmd_h5_get_str_attr(f, "model_arch", &info->model_arch) < 0 ||
        lmd_h5_get_str_attr(f, "scoring", &info->scoring) < 0 ||
        lmd_h5_get_str_attr(f, "precision", &info->precision) < 0)
        goto bad;
#define INT_ATTR(name, field)                                                                      \
    if (lmd_h5_get_int_attr(f, name, &v, &present) < 0) goto bad;                                  \
    info->field = v;
    INT_ATTR("lmdiff_format", format);
    INT_ATTR("top_k", top_k);
    INT_ATTR("context", context);
    INT_ATTR("stride", stride);
    INT_ATTR("dataset_n_texts", dataset_n_texts);
    INT_ATTR("first_n", first_n);
    INT_ATTR("shard_k", shard_k);
    INT_ATTR("shard_n", shard_n);
    INT_ATTR("shard_first", shard_first);
#undef INT_ATTR
    if (lmd_h5_get_int_attr(f, "complete", &v, &present) < 0) goto bad;
    info->complete = present ? v != 0 : 1;
    htri_t has_vocab = H5Lexists(f, "vocabulary", H5P_DEFAULT);
    if (has_vocab < 0) goto bad;
    if (has_vocab == 0) {
        lmd_cache_info_free(info);
        return lmd_fail(err, "%s: not an lmdiff analysis cache (no 'vocabulary' dataset)", path);
    }
    hid_t d = H5Dopen2(f, "vocabulary", H5P_DEFAULT);
    if (d < 0) goto bad;
    hid_t sp = H5Dget_space(d);
    hssize_t np = H5Sget_simple_extent_npoints(sp);
    H5Sclose(sp);
    H5Dclose(d);
    info->n_vocab = np > 0 ? (uint64_t)np : 0;
    count_ctx c = {0, 0, 0};
    if (H5Literate(f, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, count_cb, &c) < 0) goto bad;
    if (c.n && c.max + 1 != c.n) {
        lmd_cache_info_free(info);
        return lmd_fail(err,
                        "%s: the text groups are not numbered 0..%" PRIu64 " (found %" PRIu64
                        " groups, the highest %015" PRIu64 ")",
                        path, c.n - 1, c.n, c.max);
    }
    info->n_texts = c.n;
    return 0;
bad: /* the file opened, but its root group cannot be read */
    LMD_H5_FAIL(err, "%s: damaged (its root group cannot be read)", path);
    lmd_cache_info_free(info);
    return -1;
}
