/* internal.h - what the parts of the server share. */
#ifndef LMD_SERVER_INTERNAL_H
#define LMD_SERVER_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>

#include "analysis/corpus.h"
#include "analysis/diff.h"
#include "base/base.h"
#include "server/http_parse.h"
#include "server/server.h"

typedef struct app_model {
    char *id, *dir;
    lmd_model *model;
    char group[65];
} app_model;

/* A folder of `lmdiff preprocess`: one dataset scored by one model pair,
 * with the per-text tables of both directions and both caches. */
typedef struct app_dataset {
    char *id;            /* unique over the app */
    char *name;          /* the dataset's name */
    char *dir;           /* the preprocess output folder */
    const char *m1, *m2; /* model ids (owned by the app's models) */
    uint64_t n_texts;
    lmd_table *table[2]; /* m1 -> m2, m2 -> m1 */
    lmd_cache *cache[2]; /* m1, m2 */
    lmd_kl_pair *kl;     /* per-token KL of both directions, or NULL (kl.h) */
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
typedef struct lmd_conn lmd_conn;
struct lmd_job {
    void (*work)(lmd_job *j);
    void (*destroy)(lmd_job *j);
    lmd_conn *c; /* parked (not read from) while the job waits or runs */
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
/* Answers every job still queued with 503 and waits for the running ones;
 * the pool then refuses every reservation but stays valid. */
void lmd_pool_stop(lmd_pool *p);
/* lmd_pool_stop, then frees the pool (once no I/O thread can call it). */
void lmd_pool_free(lmd_pool *p);

typedef struct lmd_guard lmd_guard;

typedef struct lmd_server {
    lmd_app *app;
    lmd_server_config cfg;
    char *web_root; /* realpath of --web, or NULL for the embedded bundle */
    lmd_pool *pool;
    lmd_guard *guard;
    int ep;            /* the epoll instance the I/O threads share (io.c) */
    int listen_paused; /* accept ran out of file descriptors; the sweep re-arms it */
    /* the whole 503 answer to a connection over --max-connections
     * (refusal[LMD_OVER_ALL - 1]) and over --max-per-ip, built once (http.c) */
    lmd_buf refusal[2];
} lmd_server;

/* Where a connection is (guard.c sets the deadline of each). */
enum lmd_conn_phase {
    LMD_WAIT_HEADERS, /* --header-timeout from the connection or the previous request */
    LMD_WAIT_BODY,    /* --body-timeout from the headers */
    LMD_ANSWERING,    /* writing: --timeout of silence */
    LMD_PARKED,       /* a job on the pool: no deadline */
    LMD_LINGER,       /* answered and closing: the rest of the request is read and dropped */
};

/* One client connection (io.c).  At most one I/O thread works on it at a
 * time (EPOLLONESHOT); while parked only the job's worker may re-arm it. */
struct lmd_conn {
    lmd_server *s;
    int fd;
    uint32_t ip; /* the client's IPv4 address */
    lmd_http_req req;
    char *in; /* bytes read past the request being answered (pipelining) */
    size_t in_len, in_off;
    /* the answer being written: out (status line, headers and a copied
     * body), then body_len bytes at body (not copied), sent so far */
    lmd_buf out;
    const char *body;
    size_t body_len, sent;
    void *body_owned; /* freed once the answer is written */
    int sending, close_after;
    lmd_job *job;
    int job_done; /* atomic: set by the worker */
    /* guard.c: the phase and its clocks (atomic: the sweep reads them) */
    int phase;
    long long since_ms, last_io_ms;
    int shut;
    int refused; /* answered 503 over a limit and lingering (lmd_guard_add_refused) */
    lmd_conn *prev, *next;
};

/* guard.c: the registry of open connections, their deadlines and limits. */
/* max_connections: --max-connections, lowered to fit the open-file budget. */
lmd_guard *lmd_guard_new(unsigned max_connections);
void lmd_guard_free(lmd_guard *g);
/* The limit on open connections in force. */
unsigned lmd_guard_max_connections(const lmd_server *s);
/* Which limit refuses a connection. */
enum { LMD_OVER_ALL = 1, LMD_OVER_IP = 2 };
/* Registers c: 0, or LMD_OVER_ALL / LMD_OVER_IP when --max-connections or
 * --max-per-ip is reached (c is not registered then). */
int lmd_guard_add(lmd_server *s, lmd_conn *c);
/* At most this many refused connections linger at a time. */
#define LMD_REFUSED_LINGER 64
/* Registers c, refused by lmd_guard_add and answered, for a lingering close
 * (it counts against neither limit); -1 when LMD_REFUSED_LINGER already do. */
int lmd_guard_add_refused(lmd_server *s, lmd_conn *c);
void lmd_guard_remove(lmd_server *s, lmd_conn *c);
/* Moves c to a phase (its deadline starts now) / notes that bytes moved. */
void lmd_guard_phase(lmd_conn *c, enum lmd_conn_phase ph);
void lmd_guard_touch(lmd_conn *c);
/* Shuts down the sockets of connections past their deadline; returns how many. */
size_t lmd_guard_sweep(lmd_server *s);
/* Connections whose answer is being prepared or written (parked or answering). */
size_t lmd_guard_busy(lmd_server *s);
/* Takes every connection off the registry (at shutdown); returns the list. */
lmd_conn *lmd_guard_take_all(lmd_server *s);
/* The checks made on the headers alone: the Host header names this server
 * (421), a POST says Content-Type: application/json (415).  The sizes
 * (414, 431, 413) are the parser's.  Returns 0, or 1 after the answer. */
#define LMD_MAX_URI ((size_t)8 * 1024)
#define LMD_MAX_HEADERS ((size_t)32 * 1024)
int lmd_guard_check_headers(lmd_server *s, lmd_conn *c);
/* Raises the soft limit of open files toward `want` + 64 (the server's own
 * files) + LMD_REFUSED_LINGER; returns the connection limit that fits. */
unsigned lmd_guard_fd_budget(unsigned want);

/* io.c: the I/O threads.  Runs until *stop is set; then closes every connection. */
int lmd_io_run(lmd_server *s, volatile sig_atomic_t *stop, lmd_error *err);
/* A worker is done with j: hands its connection back to the I/O threads. */
void lmd_io_job_done(lmd_job *j);
/* The request on c is complete: answers it or parks it on the pool (http.c).
 * Returns 1 when parked: the caller must not touch c any more. */
int lmd_http_dispatch(lmd_server *s, lmd_conn *c);
/* The answer of a job that a worker finished (http.c). */
void lmd_http_answer_job(lmd_conn *c);

/* The HTTP status for a library error code: BAD_INPUT, UNSUPPORTED 422,
 * NOT_FOUND 404, NO_MEMORY, BUSY 503, IO and the rest 500. */
int lmd_http_status_of(lmd_error_code code);

/* An answer whose body is not copied: data must live until it is written;
 * owned (NULL or data) is freed then. */
int lmd_http_send(lmd_conn *c, int status, const char *type, const void *data, size_t len,
                  const char *cache, void *owned);
/* A JSON answer; a 503 gets Retry-After. */
int lmd_http_json(lmd_conn *c, int status, const lmd_buf *b);
/* A 405 with the Allow header. */
int lmd_http_method(lmd_conn *c, const char *allow, const char *url);
/* An {"error": ...} answer (a 503 gets Retry-After). */
int lmd_http_error(lmd_conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 0 when the JSON text has no NUL (raw or \u0000) in a string and no
 * unpaired \u surrogate escape; else -1 and a message (json_check.c). */
int lmd_json_check(const char *body, size_t len, char *msg, size_t msg_len);

int lmd_api_datasets(lmd_server *s, lmd_conn *c);
int lmd_api_search(lmd_server *s, lmd_conn *c);
/* Answers an /api/ request now, or returns a job in *defer for the pool
 * (http.c runs it and answers when it is done). */
int lmd_api_route(lmd_server *s, lmd_conn *c, const char *url, const char *method, const char *body,
                  size_t len, lmd_job **defer);
/* POST /api/analyze by segments (analyze_segments.c), on a pool worker:
 * fills the job's status and body. */
void lmd_api_analyze_segments(lmd_job *j, const lmd_server *s, const app_model *m1,
                              const app_model *m2, const char *text, size_t tl);
int lmd_static_init(lmd_server *s, lmd_error *err);
void lmd_static_free(lmd_server *s);
int lmd_static_serve(lmd_server *s, lmd_conn *c, const char *url);

const app_model *lmd_app_find_model(const lmd_app *app, const char *id);
void lmd_app_dataset_free(app_dataset *ds);

#endif
