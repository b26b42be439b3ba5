/* api.c - the JSON API of docs/api.md: models, datasets, analyze, search. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/kl.h"
#include "server/internal.h"

static int get_models(lmd_server *s, lmd_conn *c) {
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

/* One /api/analyze request on the pool: the text is tokenized and scored
 * by a worker, never by an HTTP thread. */
typedef struct analyze_job {
    lmd_job base; /* first: the pool sees only this */
    const lmd_server *s;
    const app_model *m1, *m2;
    char *text;
    size_t len;
    int segments; /* different tokenizers, or "segments": true */
    int kl;       /* "kl": true: also KL(P1||P2) per token */
} analyze_job;

static void analyze_destroy(lmd_job *j) {
    analyze_job *a = (analyze_job *)j;
    lmd_buf_free(&a->base.body);
    free(a->text);
    free(a);
}

/* "kl": true: KL(P1||P2) of each token (kl.c), on the same worker as the scores;
 * the KL pass runs both models again (docs/api.md §5 gives the cost). */
static int analyze_kl(const analyze_job *a, const int32_t *ids, size_t n, lmd_kl_token **kl,
                      lmd_error *err) {
    if (!(*kl = calloc(n, sizeof **kl)))
        return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory for the KL");
    return lmd_kl_tokens(a->m1->model, a->m2->model, ids, n, *kl, err);
}

/* The KL members go inside the instance document's object (before its '}'). */
static int append_kl(lmd_buf *b, const lmd_kl_token *kl, size_t n) {
    b->len--;
    return lmd_kl_json(b, kl, n) < 0 || lmd_buf_puts(b, "}") < 0 ? -1 : 0;
}

static void analyze_work(lmd_job *j) {
    analyze_job *a = (analyze_job *)j;
    if (a->segments) {
        lmd_api_analyze_segments(j, a->s, a->m1, a->m2, a->text, a->len);
        return;
    }
    const lmd_tokenizer *tok = lmd_model_tokenizer(a->m1->model);
    lmd_error err;
    int32_t *ids;
    size_t n;
    if (lmd_tokenize(tok, a->text, a->len, &ids, &n, &err) < 0) {
        lmd_job_fail(j, lmd_http_status_of(err.code), "%s", err.msg);
        return;
    }
    if (n == 0 || n > a->s->cfg.max_text_tokens) {
        free(ids);
        if (n == 0)
            lmd_job_fail(j, 422, LMD_MSG_NO_TOKENS);
        else
            lmd_job_fail(j, 413, "text has %zu tokens; the limit is %zu", n,
                         a->s->cfg.max_text_tokens);
        return;
    }
    lmd_score_opts so = LMD_SCORE_OPTS_INIT;
    so.n_threads = a->s->cfg.score_threads;
    lmd_scores x = {0}, y = {0};
    lmd_kl_token *kl = NULL;
    const int32_t *const p[1] = {ids};
    if (lmd_score_ids(a->m1->model, p, &n, 1, &so, &x, &err) < 0 ||
        lmd_score_ids(a->m2->model, p, &n, 1, &so, &y, &err) < 0 ||
        (a->kl && analyze_kl(a, ids, n, &kl, &err) < 0))
        lmd_job_fail(j, lmd_http_status_of(err.code), "%s", err.msg);
    else if (lmd_json_diff(&j->body, tok, a->text, a->len, a->m1->id, &x, a->m2->id, &y,
                           LMD_DEFAULT_CLAMP) < 0 ||
             (kl && append_kl(&j->body, kl, n) < 0))
        lmd_job_fail(j, 503, "out of memory for the answer");
    else
        j->status = 200;
    free(kl);
    free(ids);
    lmd_scores_free(&x);
    lmd_scores_free(&y);
}

/* Checks the request on the HTTP thread (docs/api.md §5 order) and returns
 * the job for the pool, or answers at once and returns NULL. */
static lmd_job *analyze_job_new(lmd_server *s, lmd_conn *c, const cJSON *req, int *rc) {
    const cJSON *j1 = cJSON_GetObjectItemCaseSensitive(req, "m1");
    const cJSON *j2 = cJSON_GetObjectItemCaseSensitive(req, "m2");
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(req, "text");
    if (!cJSON_IsString(j1) || !cJSON_IsString(j2) || !cJSON_IsString(jt))
        return *rc = lmd_http_error(c, 400, "\"m1\", \"m2\" and \"text\" must be strings"), NULL;
    const cJSON *jk = cJSON_GetObjectItemCaseSensitive(req, "kl");
    if (jk && !cJSON_IsBool(jk))
        return *rc = lmd_http_error(c, 400, "\"kl\" must be true or false"), NULL;
    size_t tl = strlen(jt->valuestring); /* no NUL inside: lmd_json_check */
    size_t bad = lmd_utf8_check(jt->valuestring, tl);
    if (bad != tl)
        return *rc = lmd_http_error(c, 400, "text is not valid UTF-8 (byte %zu)", bad), NULL;
    const app_model *m1 = lmd_app_find_model(s->app, j1->valuestring);
    const app_model *m2 = lmd_app_find_model(s->app, j2->valuestring);
    if (!m1 || !m2)
        return *rc = lmd_http_error(c, 404, "unknown model \"%s\"",
                                    !m1 ? j1->valuestring : j2->valuestring),
               NULL;
    const int segments = strcmp(m1->group, m2->group) != 0 ||
                         cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "segments"));
    if (tl == 0) return *rc = lmd_http_error(c, 422, "text is empty"), NULL;
    if (segments && cJSON_IsTrue(jk))
        return *rc = lmd_http_error(c, 422,
                                    "\"kl\" needs a pair compared token by token (one "
                                    "tokenizer); this pair is compared by segments"),
               NULL;
    analyze_job *a = calloc(1, sizeof *a);
    if (!a || !(a->text = malloc(tl + 1))) {
        free(a);
        return *rc = lmd_http_error(c, 503, "out of memory"), NULL;
    }
    memcpy(a->text, jt->valuestring, tl + 1);
    a->len = tl;
    a->s = s;
    a->m1 = m1;
    a->m2 = m2;
    a->segments = segments;
    a->kl = cJSON_IsTrue(jk);
    a->base.work = analyze_work;
    a->base.destroy = analyze_destroy;
    return &a->base;
}

static int post_analyze(lmd_server *s, lmd_conn *c, const char *body, size_t len, lmd_job **defer) {
    char msg[256];
    if (lmd_json_check(body, len, msg, sizeof msg) < 0) return lmd_http_error(c, 400, "%s", msg);
    const char *end = NULL;
    cJSON *req = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!req) {
        size_t at = end && end >= body ? (size_t)(end - body) : 0;
        return lmd_http_error(c, 400, "the request body is not valid JSON (at byte %zu)", at);
    }
    int rc = 0;
    if (!cJSON_IsObject(req))
        rc = lmd_http_error(c, 400, "the request body is not a JSON object");
    else
        *defer = analyze_job_new(s, c, req, &rc);
    cJSON_Delete(req);
    return rc;
}

int lmd_api_route(lmd_server *s, lmd_conn *c, const char *url, const char *method, const char *body,
                  size_t len, lmd_job **defer) {
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/api/models")) {
        if (!get) return lmd_http_method(c, "GET", url);
        return get_models(s, c);
    }
    if (!strcmp(url, "/api/analyze")) {
        if (!post) return lmd_http_method(c, "POST", url);
        return post_analyze(s, c, body, len, defer);
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
