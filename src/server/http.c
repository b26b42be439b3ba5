/* http.c - the HTTP layer of `lmdiff serve` on libmicrohttpd: a few HTTP
 * threads that only parse, queue and answer (analyses run on the pool of
 * pool.c), request bodies collected up to a limit, JSON errors, and dispatch
 * to the API routes (api.c) and the static files of the web app (static.c). */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/internal.h"

typedef struct request {
    size_t uri_len;   /* the request line's URI as sent, query included */
    int headers_seen; /* the access handler has seen the headers */
    lmd_buf body;
    int too_large;
    lmd_job *job; /* on the pool; the connection is suspended until it is done */
} request;

int lmd_http_send(struct MHD_Connection *c, int status, const char *type, const void *data,
                  size_t len, const char *cache) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", cache ? cache : "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

/* Seconds a client should wait after a 503 before it tries again. */
#define RETRY_AFTER_S "2"

int lmd_http_json(struct MHD_Connection *c, int status, const lmd_buf *b) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(b->len, b->data ? b->data : "", MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (status == 503) MHD_add_response_header(r, "Retry-After", RETRY_AFTER_S);
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
    MHD_destroy_response(r);
    return ok;
}

int lmd_http_method(struct MHD_Connection *c, const char *allow, const char *url) {
    lmd_buf b = {0};
    lmd_buf_puts(&b, "{\"error\":");
    char msg[600];
    snprintf(msg, sizeof msg, "use %s for %.500s", allow, url);
    lmd_json_str(&b, msg, strlen(msg));
    lmd_buf_puts(&b, "}");
    struct MHD_Response *r =
        MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
    lmd_buf_free(&b);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json; charset=utf-8");
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "Allow", allow);
    enum MHD_Result ok = MHD_queue_response(c, 405, r);
    MHD_destroy_response(r);
    return ok;
}

int lmd_http_status_of(lmd_error_code code) {
    switch (code) {
    case LMD_ERR_BAD_INPUT:
    case LMD_ERR_UNSUPPORTED:
        return 422;
    case LMD_ERR_NOT_FOUND:
        return 404;
    case LMD_ERR_NO_MEMORY:
    case LMD_ERR_BUSY:
        return 503;
    default:
        return 500;
    }
}

static void error_body(lmd_buf *b, const char *fmt, va_list ap) {
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    lmd_buf_puts(b, "{\"error\":");
    lmd_json_str(b, msg, strlen(msg));
    lmd_buf_puts(b, "}");
}

void lmd_job_fail(lmd_job *j, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    j->status = status;
    j->body.len = 0;
    error_body(&j->body, fmt, ap);
    va_end(ap);
}

int lmd_http_busy(struct MHD_Connection *c, const char *fmt, ...) {
    lmd_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    error_body(&b, fmt, ap);
    va_end(ap);
    int rc = lmd_http_json(c, 503, &b);
    lmd_buf_free(&b);
    return rc;
}

/* Runs j on the pool: suspends c until a worker is done with it, or answers
 * 503 at once when the pool is full. */
static enum MHD_Result defer(lmd_server *s, struct MHD_Connection *c, request *rq, lmd_job *j) {
    if (lmd_pool_reserve(s->pool) < 0) {
        j->destroy(j);
        return (enum MHD_Result)lmd_http_busy(
            c,
            "the server is busy: %d analyses are running and %d are waiting; try again in "
            "a few seconds",
            s->cfg.workers, s->cfg.queue);
    }
    j->c = c;
    rq->job = j;
    MHD_suspend_connection(c); /* before the push: a worker may finish at once */
    lmd_pool_push(s->pool, j);
    return MHD_YES;
}

/* Called again after the worker resumed the connection. */
static enum MHD_Result answer_job(struct MHD_Connection *c, request *rq) {
    lmd_job *j = rq->job;
    rq->job = NULL;
    enum MHD_Result rc = (enum MHD_Result)lmd_http_json(c, j->status, &j->body);
    j->destroy(j);
    return rc;
}

int lmd_http_error(struct MHD_Connection *c, int status, const char *fmt, ...) {
    lmd_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    error_body(&b, fmt, ap);
    va_end(ap);
    int rc = lmd_http_json(c, status, &b);
    lmd_buf_free(&b);
    return rc;
}

/* MHD_OPTION_URI_LOG_CALLBACK: runs once the request line is in, before
 * the headers; its result becomes the request's *con_cls. */
static void *request_new(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls, (void)c;
    request *rq = calloc(1, sizeof *rq);
    if (rq) rq->uri_len = strlen(uri);
    return rq;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
    (void)version;
    lmd_server *s = cls;
    request *rq = *con_cls;
    if (!rq) return MHD_NO;  /* out of memory in request_new */
    if (!rq->headers_seen) { /* first call: headers only */
        rq->headers_seen = 1;
        lmd_guard_headers_in(c);
        enum MHD_Result answer;
        if (lmd_guard_check_headers(s, c, method, rq->uri_len, &answer)) return answer;
        return MHD_YES;
    }
    if (rq->job) return answer_job(c, rq);
    if (*upload_size) { /* a piece of the body */
        if (!rq->too_large) {
            if (rq->body.len + *upload_size > s->cfg.max_body) {
                rq->too_large = 1;
                lmd_buf_free(&rq->body);
            } else if (lmd_buf_put(&rq->body, upload, *upload_size) < 0) {
                rq->too_large = 1;
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }
    lmd_guard_body_in(c);
    if (rq->too_large)
        return (enum MHD_Result)lmd_http_error(c, 413, "request body larger than %zu bytes",
                                               s->cfg.max_body);
    if (!strncmp(url, "/api/", 5)) {
        lmd_job *j = NULL;
        int rc =
            lmd_api_route(s, c, url, method, rq->body.data ? rq->body.data : "", rq->body.len, &j);
        return j ? defer(s, c, rq, j) : (enum MHD_Result)rc;
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return (enum MHD_Result)lmd_http_method(c, "GET", url);
    return (enum MHD_Result)lmd_static_serve(s, c, url);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)toe;
    lmd_guard_request_done(c);
    request *rq = *con_cls;
    if (rq) {
        if (rq->job) rq->job->destroy(rq->job); /* only when the daemon stops */
        lmd_buf_free(&rq->body);
        free(rq);
        *con_cls = NULL;
    }
}

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

int lmd_server_listen(lmd_server_config *cfg, lmd_error *err) {
    const char *host = cfg->host ? cfg->host : "127.0.0.1";
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1)
        return lmd_fail_code(err, LMD_ERR_BAD_INPUT, "--host %s is not an IPv4 address", host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return lmd_fail(err, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 1024) < 0) {
        int e = errno;
        close(fd);
        return lmd_fail_code(err, e == EADDRINUSE ? LMD_ERR_BUSY : LMD_ERR_IO,
                             "cannot listen on %s:%d: %s", host, cfg->port, strerror(e));
    }
    socklen_t al = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &al) == 0) cfg->port = ntohs(addr.sin_port);
    cfg->listen_fd = fd;
    return 0;
}

/* Fills the defaults of lmd_server_config (docs/api.md, `serve --help`). */
static void defaults(lmd_server_config *c) {
    if (!c->host) c->host = "127.0.0.1";
    if (c->threads <= 0) c->threads = 4;
    if (!c->max_body) c->max_body = 1 << 20;
    if (!c->max_text_tokens) c->max_text_tokens = 4096;
    if (c->timeout_s <= 0) c->timeout_s = 30;
    if (c->workers <= 0) c->workers = 2;
    if (c->queue <= 0) c->queue = 32;
    if (c->header_timeout_s <= 0) c->header_timeout_s = 10;
    if (c->body_timeout_s <= 0) c->body_timeout_s = 30;
    if (!c->max_connections) c->max_connections = 1000;
    if (!c->max_per_ip) c->max_per_ip = 64;
    if (c->score_threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        c->score_threads = cores / c->workers > 1 ? (int)(cores / c->workers) : 1;
    }
}

/* Memory of one connection (request line, headers, the answer's headers) and
 * the step its read buffer grows by.  Well above LMD_MAX_URI and
 * LMD_MAX_HEADERS, so that lmdiff's own JSON 414/431 answer a request over
 * those limits before libmicrohttpd runs out of room and sends its HTML page
 * (docs/api.md §7).  The pool is mmap'ed: an idle connection costs little,
 * a kept-alive one all of it (measured in docs/api.md §9). */
#define CONN_MEMORY ((size_t)128 * 1024)
#define CONN_MEMORY_STEP ((size_t)16 * 1024)

static struct MHD_Daemon *start_daemon(lmd_server *s) {
    unsigned max_conn = lmd_guard_fd_budget(s->cfg.max_connections);
    return MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
        handle, s, MHD_OPTION_LISTEN_SOCKET, s->cfg.listen_fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)s->cfg.threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s->cfg.timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, max_conn, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        s->cfg.max_per_ip, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_NOTIFY_CONNECTION, lmd_guard_notify, s, MHD_OPTION_URI_LOG_CALLBACK, request_new,
        NULL, MHD_OPTION_CONNECTION_MEMORY_LIMIT, CONN_MEMORY,
        MHD_OPTION_CONNECTION_MEMORY_INCREMENT, CONN_MEMORY_STEP, MHD_OPTION_END);
}

int lmd_server_run(lmd_app *app, const lmd_server_config *cfg_in, lmd_error *err) {
    lmd_server s;
    memset(&s, 0, sizeof s);
    s.app = app;
    s.cfg = *cfg_in;
    defaults(&s.cfg);
    if (lmd_static_init(&s, err) < 0) return -1;
    if (s.cfg.listen_fd < 0 && lmd_server_listen(&s.cfg, err) < 0) return -1;
    if (!(s.guard = lmd_guard_new())) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    if (!(s.pool = lmd_pool_new(s.cfg.workers, (size_t)s.cfg.queue, err))) {
        lmd_guard_free(s.guard);
        return -1;
    }
    struct MHD_Daemon *d = start_daemon(&s);
    if (!d) {
        lmd_pool_free(s.pool);
        lmd_guard_free(s.guard);
        return lmd_fail(err, "cannot start the HTTP server on %s:%d", s.cfg.host, s.cfg.port);
    }
    printf("lmdiff serving %zu models on http://%s:%d/\n", lmd_app_n_models(app), s.cfg.host,
           s.cfg.port);
    fflush(stdout);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!stop_flag) {
        usleep(250000);
        lmd_guard_sweep(&s);
    }
    lmd_pool_free(s.pool); /* resumes every suspended connection first */
    MHD_stop_daemon(d);
    lmd_guard_free(s.guard);
    lmd_static_free(&s);
    return 0;
}
