/* corpus_api.c - the preprocessed folders of `lmdiff serve --config`, and
 * the two endpoints that use them: GET /api/datasets and GET /api/search. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/kl.h"
#include "server/internal.h"

static const char *json_str(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The KL pair file the tables name; one that is missing or does not match
 * leaves the dataset without KL (kl columns NaN), with a warning. */
static int open_kl(lmd_app *app, app_dataset *ds, const char *dir, lmd_error *err) {
    int kl_rev;
    lmd_error e;
    if (lmd_kl_pair_of_table(ds->table[0], &ds->kl, &kl_rev, &e) == 0) return 0;
    if (e.code == LMD_ERR_NO_MEMORY) return *err = e, -1;
    for (int w = 0; w < 2; w++)
        if (lmd_table_drop_kl(ds->table[w], err) < 0) return -1;
    if (app->warn) {
        char msg[sizeof e.msg + 512];
        snprintf(msg, sizeof msg, "%s: serving it without KL: %s", dir, e.msg);
        app->warn(app->warn_ctx, msg);
    }
    return 0;
}

int lmd_app_add_config_dir(lmd_app *app, const char *dir, lmd_error *err) {
    char *mp = lmd_path_join(dir, "metadata.json");
    char *data = NULL;
    size_t len;
    cJSON *meta = NULL;
    int rc = -1;
    if (!mp) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    if (lmd_read_file(mp, &data, &len, err) < 0) goto done;
    meta = cJSON_ParseWithLength(data, len);
    const char *d1 = json_str(meta, "m1_dir"), *d2 = json_str(meta, "m2_dir");
    const char *name = json_str(meta, "dataset_name");
    if (!d1 || !d2 || !name) {
        lmd_fail_code(err, LMD_ERR_BAD_INPUT,
                      "%s: not a metadata.json written by 'lmdiff preprocess' (needs m1_dir, "
                      "m2_dir and dataset_name)",
                      mp);
        goto done;
    }
    const char *id1, *id2;
    if (lmd_app_add_model(app, d1, &id1, err) < 0 || lmd_app_add_model(app, d2, &id2, err) < 0) {
        lmd_err_prefix(err, "%s", mp);
        goto done;
    }
    app_dataset *p = realloc(app->datasets, (app->n_datasets + 1) * sizeof *p);
    if (!p) {
        lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
        goto done;
    }
    app->datasets = p;
    app_dataset *ds = &p[app->n_datasets];
    memset(ds, 0, sizeof *ds);
    ds->m1 = id1;
    ds->m2 = id2;
    for (int w = 0; w < 2; w++) {
        char *tp;
        if (lmd_corpus_find_table(dir, NULL, NULL, w, &tp, err) < 0) goto fail;
        int trc = lmd_table_open(tp, &ds->table[w], err);
        free(tp);
        if (trc < 0) goto fail;
    }
    for (int w = 0; w < 2; w++) {
        char *cp = lmd_table_cache_path(ds->table[0], w);
        int crc = cp ? lmd_cache_open(cp, &ds->cache[w], err)
                     : lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
        free(cp);
        if (crc < 0) goto fail;
    }
    if (open_kl(app, ds, dir, err) < 0) goto fail;
    ds->n_texts = lmd_table_get_meta(ds->table[0])->n_texts;
    ds->name = strdup(name);
    ds->dir = strdup(dir);
    /* the id: the dataset's name, with -2, -3, ... when another folder has it */
    char cand[512];
    snprintf(cand, sizeof cand, "%s", name);
    for (int k = 2;; k++) {
        int taken = 0;
        for (size_t i = 0; i < app->n_datasets; i++) taken |= !strcmp(app->datasets[i].id, cand);
        if (!taken) break;
        snprintf(cand, sizeof cand, "%s-%d", name, k);
    }
    ds->id = strdup(cand);
    if (!ds->name || !ds->dir || !ds->id) {
        lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
        goto fail;
    }
    app->n_datasets++;
    rc = 0;
    goto done;
fail:
    lmd_app_dataset_free(ds);
done:
    cJSON_Delete(meta);
    free(data);
    free(mp);
    return rc;
}

void lmd_app_dataset_free(app_dataset *ds) {
    for (int w = 0; w < 2; w++) {
        if (ds->table[w]) lmd_table_close(ds->table[w]);
        if (ds->cache[w]) lmd_cache_close(ds->cache[w]);
    }
    lmd_kl_pair_close(ds->kl);
    free(ds->id);
    free(ds->name);
    free(ds->dir);
    memset(ds, 0, sizeof *ds);
}

static const char *arg(lmd_conn *c, const char *key) {
    return lmd_http_arg(&c->req, key);
}

int lmd_api_datasets(lmd_server *s, lmd_conn *c) {
    const char *m1 = arg(c, "m1"), *m2 = arg(c, "m2");
    if (!m1 || !m2) return lmd_http_error(c, 400, "parameters m1 and m2 are required");
    if (!lmd_app_find_model(s->app, m1)) return lmd_http_error(c, 404, "unknown model \"%s\"", m1);
    if (!lmd_app_find_model(s->app, m2)) return lmd_http_error(c, 404, "unknown model \"%s\"", m2);
    lmd_buf b = {0};
    lmd_buf_puts(&b, "[");
    int first = 1;
    for (size_t i = 0; i < s->app->n_datasets; i++) {
        const app_dataset *d = &s->app->datasets[i];
        if (!((!strcmp(d->m1, m1) && !strcmp(d->m2, m2)) || (!strcmp(d->m1, m2) && !strcmp(d->m2, m1))))
            continue;
        lmd_buf_puts(&b, first ? "{\"id\":" : ",{\"id\":");
        first = 0;
        lmd_json_str(&b, d->id, strlen(d->id));
        lmd_buf_puts(&b, ",\"name\":");
        lmd_json_str(&b, d->name, strlen(d->name));
        lmd_buf_printf(&b, ",\"n_texts\":%llu,\"kl\":%s}", (unsigned long long)d->n_texts,
                       d->kl ? "true" : "false");
    }
    lmd_buf_puts(&b, "]");
    int rc = lmd_http_json(c, 200, &b);
    lmd_buf_free(&b);
    return rc;
}

/* An optional integer parameter: 0 when absent or valid, -1 when not an integer. */
static int int_arg(lmd_conn *c, const char *key, long def, long *out) {
    const char *v = arg(c, key);
    *out = def;
    if (!v) return 0;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end) return -1;
    *out = x;
    return 0;
}

int lmd_api_search(lmd_server *s, lmd_conn *c) {
    const char *m1 = arg(c, "m1"), *m2 = arg(c, "m2"), *ds_id = arg(c, "dataset");
    const char *measure = arg(c, "measure"), *order = arg(c, "order");
    if (!m1 || !m2 || !ds_id || !measure)
        return lmd_http_error(c, 400, "parameters m1, m2, dataset and measure are required");
    long k, bins;
    if (int_arg(c, "k", 50, &k) < 0) return lmd_http_error(c, 400, "k must be an integer");
    if (int_arg(c, "bins", 30, &bins) < 0) return lmd_http_error(c, 400, "bins must be an integer");
    const app_model *a = lmd_app_find_model(s->app, m1), *b = lmd_app_find_model(s->app, m2);
    if (!a) return lmd_http_error(c, 404, "unknown model \"%s\"", m1);
    if (!b) return lmd_http_error(c, 404, "unknown model \"%s\"", m2);
    const app_dataset *d = NULL;
    int dir = 0;
    for (size_t i = 0; i < s->app->n_datasets && !d; i++) {
        const app_dataset *x = &s->app->datasets[i];
        if (strcmp(x->id, ds_id)) continue;
        if (!strcmp(x->m1, m1) && !strcmp(x->m2, m2)) d = x, dir = 0;
        else if (!strcmp(x->m1, m2) && !strcmp(x->m2, m1)) d = x, dir = 1;
    }
    if (!d)
        return lmd_http_error(c, 404, "dataset \"%s\" is not preprocessed for %s and %s", ds_id, m1, m2);
    int col = lmd_column_find(measure);
    if (col < 0) return lmd_http_error(c, 422, "unknown measure \"%s\"", measure);
    int ord = LMD_ORDER_ABS;
    if (order && (!strcmp(order, "abs_asc") || (ord = lmd_order_parse(order)) < 0))
        return lmd_http_error(c, 422, "order must be abs, desc or asc, not \"%s\"", order);
    if (k < 1 || k > 200) return lmd_http_error(c, 422, "k must be in 1..200, not %ld", k);
    if (bins < 1 || bins > 200) return lmd_http_error(c, 422, "bins must be in 1..200, not %ld", bins);
    lmd_search_opts so = {.column = col, .order = (lmd_order)ord, .top = (size_t)k, .bins = (int)bins};
    lmd_search_result r;
    lmd_error err;
    if (lmd_search(d->table[dir], &so, &r, &err) < 0)
        return lmd_http_error(c, lmd_http_status_of(err.code), "%s", err.msg);
    lmd_corpus_json_ctx ctx = {.m1 = m1, .m2 = m2, .dataset = ds_id,
                               .c1 = d->cache[dir], .c2 = d->cache[1 - dir], .kl = d->kl,
                               .kl_reverse = lmd_table_get_meta(d->table[dir])->kl_reverse,
                               .tok = lmd_model_tokenizer(a->model)};
    lmd_buf out = {0};
    int rc;
    if (lmd_search_json(&out, d->table[dir], &r, &ctx, &err) < 0)
        rc = lmd_http_error(c, lmd_http_status_of(err.code), "%s", err.msg);
    else
        rc = lmd_http_json(c, 200, &out);
    lmd_buf_free(&out);
    lmd_search_result_free(&r);
    return rc;
}
