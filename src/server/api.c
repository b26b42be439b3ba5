/* api.c - the JSON API of docs/api.md: models, datasets, analyze, search. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

static int get_models(lmd_server *s, struct MHD_Connection *c) {
    lmd_buf b = {0};
    lmd_buf_puts(&b, "[");
    for (size_t i = 0; i < s->app->n_models; i++) {
        const app_model *m = &s->app->models[i];
        lmd_model_info info;
        lmd_model_get_info(m->model, &info);
        lmd_buf_puts(&b, i ? ",{\"id\":" : "{\"id\":");
        lmd_json_str(&b, m->id, strlen(m->id));
        lmd_buf_puts(&b, ",\"name\":");
        lmd_json_str(&b, info.name, strlen(info.name));
        lmd_buf_puts(&b, ",\"arch\":");
        lmd_json_str(&b, info.arch, strlen(info.arch));
        lmd_buf_puts(&b, info.masked_lm ? ",\"scoring\":\"pseudo-likelihood\""
                                         : ",\"scoring\":\"causal\"");
        lmd_buf_printf(&b, ",\"group\":\"%s\"}", m->group);
    }
    lmd_buf_puts(&b, "]");
    int rc = lmd_http_json(c, 200, &b);
    lmd_buf_free(&b);
    return rc;
}

static int post_analyze(lmd_server *s, struct MHD_Connection *c, const char *body, size_t len) {
    cJSON *req = cJSON_ParseWithLength(body, len);
    if (!req || !cJSON_IsObject(req)) {
        cJSON_Delete(req);
        return lmd_http_error(c, 400, "the request body is not a JSON object");
    }
    const cJSON *j1 = cJSON_GetObjectItemCaseSensitive(req, "m1");
    const cJSON *j2 = cJSON_GetObjectItemCaseSensitive(req, "m2");
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(req, "text");
    int rc;
    if (!cJSON_IsString(j1) || !cJSON_IsString(j2) || !cJSON_IsString(jt)) {
        rc = lmd_http_error(c, 400, "\"m1\", \"m2\" and \"text\" must be strings");
        goto done;
    }
    size_t bad = lmd_utf8_check(jt->valuestring, strlen(jt->valuestring));
    if (bad != strlen(jt->valuestring)) {
        rc = lmd_http_error(c, 400, "text is not valid UTF-8 (byte %zu)", bad);
        goto done;
    }
    const app_model *m1 = lmd_app_find_model(s->app, j1->valuestring);
    const app_model *m2 = lmd_app_find_model(s->app, j2->valuestring);
    if (!m1 || !m2) {
        rc = lmd_http_error(c, 404, "unknown model \"%s\"", !m1 ? j1->valuestring : j2->valuestring);
        goto done;
    }
    if (strcmp(m1->group, m2->group) ||
        cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "segments"))) { /* by segments */
        rc = lmd_api_analyze_segments(s, c, m1, m2, jt->valuestring, strlen(jt->valuestring));
        goto done;
    }
    const char *text = jt->valuestring;
    size_t tl = strlen(text);
    lmd_error err;
    int32_t *ids;
    size_t n;
    if (tl == 0) {
        rc = lmd_http_error(c, 422, "text is empty");
        goto done;
    }
    if (lmd_tokenize(lmd_model_tokenizer(m1->model), text, tl, &ids, &n, &err) < 0) {
        rc = lmd_http_error(c, 500, "%s", err.msg);
        goto done;
    }
    if (n > s->cfg.max_text_tokens) {
        free(ids);
        rc = lmd_http_error(c, 413, "text has %zu tokens; the limit is %zu", n,
                            s->cfg.max_text_tokens);
        goto done;
    }
    lmd_score_opts so = {.top_k = 10, .n_threads = s->cfg.score_threads};
    lmd_scores a, b;
    const int32_t *const p[1] = {ids};
    if (lmd_score_ids(m1->model, p, &n, 1, &so, &a, &err) < 0) {
        free(ids);
        rc = lmd_http_error(c, 500, "%s", err.msg);
        goto done;
    }
    if (lmd_score_ids(m2->model, p, &n, 1, &so, &b, &err) < 0) {
        free(ids);
        lmd_scores_free(&a);
        rc = lmd_http_error(c, 500, "%s", err.msg);
        goto done;
    }
    free(ids);
    lmd_buf out = {0};
    if (lmd_json_diff(&out, lmd_model_tokenizer(m1->model), text, tl, m1->id, &a, m2->id, &b,
                      LMD_DEFAULT_CLAMP) < 0)
        rc = lmd_http_error(c, 500, "out of memory");
    else
        rc = lmd_http_json(c, 200, &out);
    lmd_buf_free(&out);
    lmd_scores_free(&a);
    lmd_scores_free(&b);
done:
    cJSON_Delete(req);
    return rc;
}

int lmd_api_route(lmd_server *s, struct MHD_Connection *c, const char *url, const char *method,
                  const char *body, size_t len) {
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/api/models")) {
        if (!get) return lmd_http_method(c, "GET", url);
        return get_models(s, c);
    }
    if (!strcmp(url, "/api/analyze")) {
        if (!post) return lmd_http_method(c, "POST", url);
        return post_analyze(s, c, body, len);
    }
    if (!strcmp(url, "/api/datasets")) {
        if (!get) return lmd_http_method(c, "GET", url);
        return lmd_api_datasets(s, c);
    }
    if (!strcmp(url, "/api/search")) {
        if (!get) return lmd_http_method(c, "GET", url);
        return lmd_api_search(s, c);
    }
    return lmd_http_error(c, 404, "no such endpoint: %s", url);
}
