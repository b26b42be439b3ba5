/* internal.h - what the parts of the server share. */
#ifndef LMD_SERVER_INTERNAL_H
#define LMD_SERVER_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>

#include "analysis/corpus.h"
#include "analysis/diff.h"
#include "base/base.h"
#include "server/server.h"

typedef struct app_model {
    char *id, *dir;
    lmd_model *model;
    char group[65];
} app_model;

/* A folder of `lmdiff preprocess`: one dataset scored by one model pair,
 * with the per-text tables of both directions and both caches. */
typedef struct app_dataset {
    char *id;              /* unique over the app */
    char *name;            /* the dataset's name */
    char *dir;             /* the preprocess output folder */
    const char *m1, *m2;   /* model ids (owned by the app's models) */
    uint64_t n_texts;
    lmd_table *table[2];   /* m1 -> m2, m2 -> m1 */
    lmd_cache *cache[2];   /* m1, m2 */
    lmd_kl_pair *kl;       /* per-token KL of both directions, or NULL (kl.h) */
} app_dataset;

struct lmd_app {
    app_model *models;
    size_t n_models;
    app_dataset *datasets;
    size_t n_datasets;
    lmd_model_opts model_opts; /* how models added from now on load (precision) */
    lmd_warn_fn warn;          /* lmd_app_set_warn */
    void *warn_ctx;
};

/* A request that runs on the analysis pool (pool.c).  work() fills status
 * and body (a JSON object); destroy() frees the job. */
typedef struct lmd_job lmd_job;
struct lmd_job {
    void (*work)(lmd_job *j);
    void (*destroy)(lmd_job *j);
    struct MHD_Connection *c; /* suspended while the job waits or runs */
    int status;
    lmd_buf body;
    lmd_job *next;
};
/* Sets status and an {"error": ...} body. */
void lmd_job_fail(lmd_job *j, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef struct lmd_pool lmd_pool;
/* `workers` threads; at most `capacity` jobs wait besides the running ones. */
lmd_pool *lmd_pool_new(int workers, size_t capacity, lmd_error *err);
/* Takes a slot for one job: 0, or -1 when the pool is full or stopping. */
int lmd_pool_reserve(lmd_pool *p);
/* Queues a job into a slot taken by lmd_pool_reserve. */
void lmd_pool_push(lmd_pool *p, lmd_job *j);
/* Answers every job still queued with 503, waits for the running ones. */
void lmd_pool_free(lmd_pool *p);

/* Connection deadlines (guard.c): every open connection, and since when it
 * has been waiting for a request's headers or body. */
typedef struct lmd_conn lmd_conn;
typedef struct lmd_guard lmd_guard;

typedef struct lmd_server {
    lmd_app *app;
    lmd_server_config cfg;
    char *web_root; /* realpath of --web, or NULL for the embedded bundle */
    lmd_pool *pool;
    lmd_guard *guard;
} lmd_server;

/* guard.c */
lmd_guard *lmd_guard_new(void);
void lmd_guard_free(lmd_guard *g);
/* MHD_OPTION_NOTIFY_CONNECTION callback (cls: the lmd_server). */
void lmd_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code);
/* The request's headers are in (the body, if any, is now due) / the whole
 * request is in (no deadline while it is answered) / the request is done
 * (the next one's headers are due). */
void lmd_guard_headers_in(struct MHD_Connection *c);
void lmd_guard_body_in(struct MHD_Connection *c);
void lmd_guard_request_done(struct MHD_Connection *c);
/* Shuts down the sockets of connections past their deadline; returns how many. */
size_t lmd_guard_sweep(lmd_server *s);
/* The checks made on the headers alone: the URI (uri_len bytes as sent) is
 * at most LMD_MAX_URI bytes, the header lines at most LMD_MAX_HEADERS, the
 * Host header names this server, a POST says Content-Type: application/json,
 * Content-Length is within max_body.  Returns 0, or 1 after queueing the
 * error answer (its MHD result in *answer). */
#define LMD_MAX_URI ((size_t)8 * 1024)
#define LMD_MAX_HEADERS ((size_t)32 * 1024)
int lmd_guard_check_headers(lmd_server *s, struct MHD_Connection *c, const char *method,
                            size_t uri_len, enum MHD_Result *answer);
/* Raises the soft limit of open files toward `want` + 64; returns the
 * connection limit that fits. */
unsigned lmd_guard_fd_budget(unsigned want);

/* The HTTP status for a library error code: BAD_INPUT, UNSUPPORTED 422,
 * NOT_FOUND 404, NO_MEMORY, BUSY 503, IO and the rest 500. */
int lmd_http_status_of(lmd_error_code code);
/* 503 with Retry-After, as JSON. */
int lmd_http_busy(struct MHD_Connection *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

int lmd_http_send(struct MHD_Connection *c, int status, const char *type, const void *data,
                  size_t len, const char *cache);
/* A JSON answer; a 503 gets Retry-After. */
int lmd_http_json(struct MHD_Connection *c, int status, const lmd_buf *b);
/* A 405 with the Allow header. */
int lmd_http_method(struct MHD_Connection *c, const char *allow, const char *url);
int lmd_http_error(struct MHD_Connection *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 0 when the JSON text has no NUL (raw or \u0000) in a string and no
 * unpaired \u surrogate escape; else -1 and a message (json_check.c). */
int lmd_json_check(const char *body, size_t len, char *msg, size_t msg_len);

int lmd_api_datasets(lmd_server *s, struct MHD_Connection *c);
int lmd_api_search(lmd_server *s, struct MHD_Connection *c);
/* Answers an /api/ request now, or returns a job in *defer for the pool
 * (http.c runs it and answers when it is done). */
int lmd_api_route(lmd_server *s, struct MHD_Connection *c, const char *url, const char *method,
                  const char *body, size_t len, lmd_job **defer);
/* POST /api/analyze by segments (analyze_segments.c), on a pool worker:
 * fills the job's status and body. */
void lmd_api_analyze_segments(lmd_job *j, const lmd_server *s, const app_model *m1,
                              const app_model *m2, const char *text, size_t tl);
int lmd_static_init(lmd_server *s, lmd_error *err);
void lmd_static_free(lmd_server *s);
int lmd_static_serve(lmd_server *s, struct MHD_Connection *c, const char *url);

const app_model *lmd_app_find_model(const lmd_app *app, const char *id);
void lmd_app_dataset_free(app_dataset *ds);

#endif
