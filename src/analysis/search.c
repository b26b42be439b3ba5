/* search.c - the global view: the texts of a comparison table where two
 * models differ most by one measure, the histogram of that measure over all
 * texts, and the JSON documents the web app reads (docs/api.md §6),
 * including per-token data of a text from both analysis caches. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis/corpus.h"
#include "analysis/diff.h"
#include "analysis/kl.h"

#define DEFAULT_TOP 50
#define DEFAULT_BINS 30

static const char *const order_names[] = {"abs", "desc", "asc", "abs_asc"};

const char *lmd_order_name(lmd_order o) {
    return (unsigned)o < 4 ? order_names[o] : "?";
}

int lmd_order_parse(const char *s) {
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, order_names[i])) return i;
    return -1;
}

typedef struct keyed {
    double key;
    uint64_t index;
} keyed;

static int cmp_keyed(const void *x, const void *y) {
    const keyed *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* The bin of v under numpy's rule (half-open bins, the last one closed). */
static int bin_of(double v, const double *edges, int bins) {
    double lo = edges[0], hi = edges[bins];
    int i = (int)((v - lo) / (hi - lo) * bins);
    if (i < 0) i = 0;
    if (i >= bins) i = bins - 1;
    if (v < edges[i] && i > 0)
        i--;
    else if (i < bins - 1 && v >= edges[i + 1])
        i++;
    return i;
}

void lmd_search_result_free(lmd_search_result *r) {
    free(r->hits);
    free(r->counts);
    free(r->edges);
    memset(r, 0, sizeof *r);
}

int lmd_search(const lmd_table *t, const lmd_search_opts *o, lmd_search_result *r, lmd_error *err) {
    memset(r, 0, sizeof *r);
    const double *v = lmd_table_column(t, o->column);
    if (!v) return lmd_fail(err, "no measure column %d", o->column);
    if ((unsigned)o->order > LMD_ORDER_ABS_ASC) return lmd_fail(err, "unknown order");
    uint64_t n = lmd_table_get_meta(t)->n_texts;
    int bins = o->bins > 0 ? o->bins : DEFAULT_BINS;
    size_t top = o->top > 0 ? o->top : DEFAULT_TOP;
    keyed *ks = malloc((n ? n : 1) * sizeof *ks);
    r->counts = calloc((size_t)bins, sizeof *r->counts);
    r->edges = malloc(((size_t)bins + 1) * sizeof *r->edges);
    if (!ks || !r->counts || !r->edges) {
        free(ks);
        lmd_search_result_free(r);
        return lmd_fail(err, "out of memory");
    }
    r->column = o->column;
    r->order = o->order;
    r->top = top;
    r->bins = bins;
    r->n_texts = n;
    size_t m = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (uint64_t i = 0; i < n; i++) {
        double x = v[i];
        if (!isfinite(x)) continue; /* no value (an empty text, no entropy) */
        double key = o->order == LMD_ORDER_ABS    ? -fabs(x)
                     : o->order == LMD_ORDER_DESC ? -x
                     : o->order == LMD_ORDER_ASC  ? x
                                                  : fabs(x);
        ks[m].key = key + 0.0; /* -0.0 and 0.0 sort as one */
        ks[m].index = i;
        m++;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
    }
    r->n_values = m;
    r->n_null = n - m;
    if (m == 0) {
        lo = 0;
        hi = 1;
    } else if (lo == hi) {
        lo -= 0.5;
        hi += 0.5;
    }
    for (int i = 0; i < bins; i++)
        r->edges[i] = lo + (double)i * (hi - lo) / bins;
    r->edges[bins] = hi;
    for (size_t i = 0; i < m; i++)
        r->counts[bin_of(v[ks[i].index], r->edges, bins)]++;
    qsort(ks, m, sizeof *ks, cmp_keyed);
    r->n_hits = top < m ? top : m;
    r->hits = malloc((r->n_hits ? r->n_hits : 1) * sizeof *r->hits);
    if (!r->hits) {
        free(ks);
        lmd_search_result_free(r);
        return lmd_fail(err, "out of memory");
    }
    for (size_t i = 0; i < r->n_hits; i++) {
        r->hits[i].index = ks[i].index;
        r->hits[i].value = v[ks[i].index];
        r->hits[i].bin = bin_of(r->hits[i].value, r->edges, bins);
    }
    free(ks);
    return 0;
}

/* ------------------------------------------------------------ JSON */

static int put_value(lmd_buf *b, int col, double v) {
    if (!isfinite(v)) return lmd_buf_puts(b, "null");
    if (lmd_column_is_integer(col)) return lmd_buf_printf(b, "%lld", (long long)v);
    return lmd_json_f64(b, v);
}

static int put_token_text(lmd_buf *b, const void *ctx, int32_t id) {
    const lmd_corpus_json_ctx *x = ctx;
    if (x->tok) {
        char *s = lmd_token_display(x->tok, id);
        int rc = s ? lmd_json_str(b, s, strlen(s)) : lmd_buf_puts(b, "null");
        free(s);
        return rc;
    }
    const char *s = lmd_cache_vocab(x->c1, id);
    return s ? lmd_json_str(b, s, strlen(s)) : lmd_buf_puts(b, "null");
}

/* ,"kl":[...] of text index from the pair file (n tokens, as the caches). */
static int kl_field(lmd_buf *b, const lmd_corpus_json_ctx *x, uint64_t index, size_t n,
                    lmd_error *err) {
    size_t m;
    const float *k = lmd_kl_pair_text(x->kl, index, x->kl_reverse, &m);
    if (m != n)
        return lmd_fail(err, "text %" PRIu64 " has %zu tokens in the KL pair file but %zu in %s",
                        index, m, n, lmd_cache_path(x->c1));
    int rc = lmd_buf_puts(b, ",\"kl\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) rc |= lmd_buf_put(b, ",", 1);
        rc |= lmd_json_f32(b, k[i]);
    }
    rc |= lmd_buf_put(b, "]", 1);
    return rc ? lmd_fail(err, "out of memory") : 0;
}

int lmd_corpus_text_fields(lmd_buf *b, const lmd_corpus_json_ctx *x, uint64_t index,
                           lmd_error *err) {
    if (!x->c1 || !x->c2) return lmd_fail(err, "per-token data needs both caches");
    lmd_cache_text t1, t2;
    if (lmd_cache_read_text(x->c1, index, 0, &t1, err) < 0) return -1;
    if (lmd_cache_read_text(x->c2, index, 0, &t2, err) < 0) {
        lmd_cache_text_free(&t1);
        return -1;
    }
    int rc = 0;
    if (t1.s.n != t2.s.n) {
        rc = lmd_fail(err, "text %" PRIu64 " has %zu tokens in %s but %zu in %s", index, t1.s.n,
                      lmd_cache_path(x->c1), t2.s.n, lmd_cache_path(x->c2));
    } else {
        int clamp = x->clamp > 0 ? x->clamp : LMD_DEFAULT_MAX_CLAMP;
        rc = lmd_buf_puts(b, "\"tokens\":[");
        for (size_t i = 0; i < t1.s.n; i++) {
            rc |= lmd_buf_printf(b, "%s{\"id\":%d,\"text\":", i ? "," : "", t1.s.ids[i]);
            rc |= put_token_text(b, x, t1.s.ids[i]);
            rc |= lmd_buf_put(b, "}", 1);
        }
        rc |= lmd_buf_puts(b, "],\"m1\":");
        rc |= lmd_json_scores_columns(b, &t1.s, put_token_text, x);
        rc |= lmd_buf_puts(b, ",\"m2\":");
        rc |= lmd_json_scores_columns(b, &t2.s, put_token_text, x);
        rc |= lmd_buf_puts(b, ",\"diff\":");
        rc |= lmd_json_diff_columns(b, &t1.s, &t2.s, clamp);
        if (rc) rc = lmd_fail(err, "out of memory");
        else if (x->kl)
            rc = kl_field(b, x, index, t1.s.n, err);
    }
    lmd_cache_text_free(&t1);
    lmd_cache_text_free(&t2);
    return rc;
}

int lmd_corpus_text_json(lmd_buf *b, const lmd_corpus_json_ctx *x, uint64_t index, lmd_error *err) {
    lmd_cache_text t;
    if (lmd_cache_read_text(x->c1, index, LMD_CACHE_PHRASE, &t, err) < 0) return -1;
    int rc = lmd_buf_printf(b, "{\"index\":%" PRIu64 ",\"text\":", index);
    rc |= lmd_json_str(b, t.phrase, t.phrase_len);
    rc |= lmd_buf_put(b, ",", 1);
    lmd_cache_text_free(&t);
    if (rc) return lmd_fail(err, "out of memory");
    if (lmd_corpus_text_fields(b, x, index, err) < 0) return -1;
    return lmd_buf_put(b, "}", 1) < 0 ? lmd_fail(err, "out of memory") : 0;
}

static int put_name(lmd_buf *b, const char *s) {
    return s ? lmd_json_str(b, s, strlen(s)) : lmd_buf_puts(b, "null");
}

int lmd_search_json(lmd_buf *b, const lmd_table *t, const lmd_search_result *r,
                    const lmd_corpus_json_ctx *x, lmd_error *err) {
    const lmd_table_meta *m = lmd_table_get_meta(t);
    lmd_corpus_json_ctx ctx = {0};
    if (x) ctx = *x;
    if (!ctx.clamp) ctx.clamp = m->max_clamp_rank;
    int rc = lmd_buf_puts(b, "{\"request\":{\"m1\":");
    rc |= put_name(b, ctx.m1 ? ctx.m1 : m->m1);
    rc |= lmd_buf_puts(b, ",\"m2\":");
    rc |= put_name(b, ctx.m2 ? ctx.m2 : m->m2);
    rc |= lmd_buf_puts(b, ",\"dataset\":");
    rc |= put_name(b, ctx.dataset ? ctx.dataset : m->dataset_name);
    rc |= lmd_buf_printf(b, ",\"measure\":\"%s\",\"order\":\"%s\",\"k\":%zu,\"bins\":%d}",
                         lmd_column_name(r->column), lmd_order_name(r->order), r->top, r->bins);
    rc |=
        lmd_buf_printf(b, ",\"n_texts\":%" PRIu64 ",\"n_without_value\":%" PRIu64 ",\"results\":[",
                       r->n_texts, r->n_null);
    if (rc) return lmd_fail(err, "out of memory");
    for (size_t h = 0; h < r->n_hits; h++) {
        uint64_t i = r->hits[h].index;
        size_t len;
        const char *text = lmd_table_text(t, i, &len);
        rc |= lmd_buf_printf(b, "%s{\"index\":%" PRIu64 ",\"text\":", h ? "," : "", i);
        rc |= lmd_json_str(b, text, len);
        rc |= lmd_buf_puts(b, ",\"value\":");
        rc |= put_value(b, r->column, r->hits[h].value);
        rc |= lmd_buf_puts(b, ",\"measures\":{");
        for (int c = 0; c < LMD_N_COLUMNS; c++) {
            rc |= lmd_buf_printf(b, "%s\"%s\":", c ? "," : "", lmd_column_name(c));
            rc |= put_value(b, c, lmd_table_column(t, c)[i]);
        }
        rc |= lmd_buf_put(b, "}", 1);
        if (rc) return lmd_fail(err, "out of memory");
        if (ctx.c1 && ctx.c2 && !m->segments) { /* by segments: no shared tokens */
            if (lmd_buf_put(b, ",", 1) < 0) return lmd_fail(err, "out of memory");
            if (lmd_corpus_text_fields(b, &ctx, i, err) < 0) return -1;
        }
        rc |= lmd_buf_put(b, "}", 1);
    }
    rc |= lmd_buf_puts(b, "],\"histogram\":{\"counts\":[");
    for (int i = 0; i < r->bins; i++)
        rc |= lmd_buf_printf(b, "%s%" PRIu64, i ? "," : "", r->counts[i]);
    rc |= lmd_buf_puts(b, "],\"edges\":[");
    for (int i = 0; i <= r->bins; i++) {
        if (i) rc |= lmd_buf_put(b, ",", 1);
        rc |= lmd_json_f64(b, r->edges[i]);
    }
    rc |= lmd_buf_puts(b, "],\"marks\":[");
    for (size_t h = 0; h < r->n_hits; h++)
        rc |= lmd_buf_printf(b, "%s%d", h ? "," : "", r->hits[h].bin);
    rc |= lmd_buf_puts(b, "]}}");
    return rc ? lmd_fail(err, "out of memory") : 0;
}

/* ------------------------------------------------------------ finding tables */

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static char *table_name(const char *dir, const char *m1, const char *m2, const char *ds) {
    char *a = lmd_file_safe_name(m1), *b = lmd_file_safe_name(m2), *d = lmd_file_safe_name(ds);
    lmd_buf p = {0};
    if (a && b && d) lmd_buf_printf(&p, "%s/%s_%s_%s.lmdt", dir, a, b, d);
    free(a);
    free(b);
    free(d);
    return p.data;
}

int lmd_corpus_find_table(const char *path, const char *m1, const char *m2, int reverse,
                          char **table_path, lmd_error *err) {
    *table_path = NULL;
    if (!is_dir(path)) {
        if (!lmd_file_exists(path)) return lmd_fail(err, "%s: no such file or folder", path);
        return (*table_path = strdup(path)) ? 0 : lmd_fail(err, "out of memory");
    }
    char *meta_path = lmd_path_join(path, "metadata.json");
    char *data = NULL;
    size_t len;
    if (meta_path && lmd_file_exists(meta_path)) {
        if (lmd_read_file(meta_path, &data, &len, err) < 0) {
            free(meta_path);
            return -1;
        }
        cJSON *j = cJSON_ParseWithLength(data, len);
        free(data);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "m1");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "m2");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "dataset_name");
        if (!cJSON_IsString(a) || !cJSON_IsString(b) || !cJSON_IsString(d)) {
            cJSON_Delete(j);
            lmd_fail(err,
                     "%s: not a metadata.json of 'lmdiff preprocess' (needs m1, m2, "
                     "dataset_name)",
                     meta_path);
            free(meta_path);
            return -1;
        }
        const char *x = m1 ? m1 : a->valuestring, *y = m2 ? m2 : b->valuestring;
        const cJSON *named = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "comparisons"),
                                             reverse ? "m2_m1" : "m1_m2"),
            "table");
        if (!m1 && !m2 && cJSON_IsString(named) && !strchr(named->valuestring, '/'))
            *table_path = lmd_path_join(path, named->valuestring);
        else
            *table_path = reverse ? table_name(path, y, x, d->valuestring)
                                  : table_name(path, x, y, d->valuestring);
        cJSON_Delete(j);
        free(meta_path);
        if (!*table_path) return lmd_fail(err, "out of memory");
        if (!lmd_file_exists(*table_path)) {
            lmd_fail(err, "%s: no such table (run 'lmdiff preprocess' or 'lmdiff compare')",
                     *table_path);
            free(*table_path);
            *table_path = NULL;
            return -1;
        }
        return 0;
    }
    free(meta_path);
    /* a compare folder: the .lmdt files there */
    DIR *dir = opendir(path);
    if (!dir) return lmd_fail(err, "%s: cannot list the folder", path);
    char *pa = m1 ? lmd_file_safe_name(m1) : NULL, *pb = m2 ? lmd_file_safe_name(m2) : NULL;
    lmd_buf list = {0};
    int found = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t l = strlen(de->d_name);
        if (l < 6 || strcmp(de->d_name + l - 5, ".lmdt")) continue;
        if (pa || pb) { /* <m1>_<m2>_<dataset>.lmdt */
            const char *x = reverse ? pb : pa, *y = reverse ? pa : pb;
            lmd_buf pre = {0};
            if (x)
                lmd_buf_printf(&pre, "%s_%s", x, y ? y : "");
            else
                lmd_buf_printf(&pre, "_%s_", y);
            int ok = pre.data && (x ? !strncmp(de->d_name, pre.data, pre.len)
                                    : strstr(de->d_name, pre.data) != NULL);
            lmd_buf_free(&pre);
            if (!ok) continue;
        }
        found++;
        lmd_buf_printf(&list, "%s%s", list.len ? ", " : "", de->d_name);
        if (found == 1) *table_path = lmd_path_join(path, de->d_name);
    }
    closedir(dir);
    free(pa);
    free(pb);
    int rc = 0;
    if (found != 1) {
        free(*table_path);
        *table_path = NULL;
        if (found == 0)
            rc = lmd_fail(err, "%s: no comparison table (.lmdt) here%s", path,
                          m1 || m2 ? " for these models" : "");
        else
            rc = lmd_fail(err, "%s holds %d tables (%s): name the file, or choose with --m1/--m2",
                          path, found, list.data);
    }
    lmd_buf_free(&list);
    return rc;
}
