/* http.c - the HTTP answers of `lmdiff serve` and the dispatch of a parsed
 * request: status line and headers (every error is JSON, with Retry-After on
 * 503 and Allow on 405), the API routes (api.c), the static files of the web
 * app (static.c), analyses parked on the pool (pool.c) and answered when
 * their worker is done, and lmd_server_run.  The sockets are io.c's. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/internal.h"

/* Seconds a client should wait after a 503 before it tries again. */
#define RETRY_AFTER_S "2"

static const char *reason(int status) {
    static const struct {
        int status;
        const char *text;
    } t[] = {{200, "OK"},
             {400, "Bad Request"},
             {404, "Not Found"},
             {405, "Method Not Allowed"},
             {413, "Content Too Large"},
             {414, "URI Too Long"},
             {415, "Unsupported Media Type"},
             {421, "Misdirected Request"},
             {422, "Unprocessable Content"},
             {431, "Request Header Fields Too Large"},
             {500, "Internal Server Error"},
             {501, "Not Implemented"},
             {503, "Service Unavailable"},
             {505, "HTTP Version Not Supported"}};
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].status == status) return t[i].text;
    return "Unknown";
}

/* Queues an answer on c: the status line and headers (extra: more header
 * lines, each ending in CRLF), then the body - copied when copy is set, else
 * referenced until written (owned is freed then).  A HEAD request gets the
 * headers only.  Returns 0, or -1 when out of memory (the connection closes). */
static int answer(lmd_conn *c, int status, const char *type, const char *cache, const char *extra,
                  const void *data, size_t len, int copy, void *owned) {
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    int head = c->req.method && !strcmp(c->req.method, "HEAD");
    if (!c->req.keep_alive) c->close_after = 1;
    lmd_buf *o = &c->out;
    o->len = 0;
    int rc = lmd_buf_printf(o,
                            "HTTP/1.1 %d %s\r\nDate: %s\r\nContent-Type: %s\r\n"
                            "Content-Length: %zu\r\nCache-Control: %s\r\n"
                            "X-Content-Type-Options: nosniff\r\n%s%s\r\n",
                            status, reason(status), date, type, len, cache ? cache : "no-store",
                            extra ? extra : "",
                            c->close_after      ? "Connection: close\r\n"
                            : c->req.minor == 0 ? "Connection: keep-alive\r\n"
                                                : "");
    if (rc == 0 && copy && !head && len) rc = lmd_buf_put(o, data, len);
    c->body = copy || head ? NULL : data;
    c->body_len = copy || head ? 0 : len;
    c->body_owned = owned;
    c->sent = 0;
    c->sending = rc == 0;
    if (rc < 0) c->close_after = 1; /* out of memory: the connection is closed */
    return rc < 0 ? -1 : 0;
}

int lmd_http_send(lmd_conn *c, int status, const char *type, const void *data, size_t len,
                  const char *cache, void *owned) {
    return answer(c, status, type, cache, NULL, data, len, 0, owned);
}

#define JSON_TYPE "application/json; charset=utf-8"

int lmd_http_json(lmd_conn *c, int status, const lmd_buf *b) {
    const char *extra = status == 503 ? "Retry-After: " RETRY_AFTER_S "\r\n" : NULL;
    return answer(c, status, JSON_TYPE, NULL, extra, b->data ? b->data : "", b->len, 1, NULL);
}

/* Appends the body {"error": msg} to b. */
static void error_json(lmd_buf *b, const char *msg) {
    lmd_buf_puts(b, "{\"error\":");
    lmd_json_str(b, msg, strlen(msg));
    lmd_buf_puts(b, "}");
}

int lmd_http_method(lmd_conn *c, const char *allow, const char *url) {
    lmd_buf b = {0};
    char msg[600], extra[64];
    snprintf(msg, sizeof msg, "use %s for %.500s", allow, url);
    error_json(&b, msg);
    snprintf(extra, sizeof extra, "Allow: %s\r\n", allow);
    int rc = answer(c, 405, JSON_TYPE, NULL, extra, b.data ? b.data : "", b.len, 1, NULL);
    lmd_buf_free(&b);
    return rc;
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
    error_json(b, msg);
}

void lmd_job_fail(lmd_job *j, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    j->status = status;
    j->body.len = 0;
    error_body(&j->body, fmt, ap);
    va_end(ap);
}

/* Runs j on the pool: parks c until a worker is done with it (returns 1),
 * or answers 503 at once when the pool is full (returns 0). */
static int defer(lmd_server *s, lmd_conn *c, lmd_job *j) {
    if (lmd_pool_reserve(s->pool) < 0) {
        j->destroy(j);
        lmd_http_error(c, 503,
                       "the server is busy: %d analyses are running and %d are waiting; try "
                       "again in a few seconds",
                       s->cfg.workers, s->cfg.queue);
        return 0;
    }
    j->c = c;
    c->job = j;
    lmd_guard_phase(c, LMD_PARKED);
    lmd_pool_push(s->pool, j); /* from here on the worker owns c until it hands it back */
    return 1;
}

void lmd_http_answer_job(lmd_conn *c) {
    lmd_job *j = c->job;
    c->job = NULL;
    lmd_guard_phase(c, LMD_ANSWERING);
    lmd_http_json(c, j->status, &j->body);
    j->destroy(j);
}

int lmd_http_error(lmd_conn *c, int status, const char *fmt, ...) {
    lmd_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    error_body(&b, fmt, ap);
    va_end(ap);
    int rc = lmd_http_json(c, status, &b);
    lmd_buf_free(&b);
    return rc;
}

/* One whole 503 answer with the error msg, into b.  No Date header (RFC 9110
 * §6.6.1 makes it optional on 5xx), so it can be built once. */
static int refusal(lmd_buf *b, const char *msg) {
    lmd_buf body = {0};
    error_json(&body, msg);
    int rc = lmd_buf_printf(b,
                            "HTTP/1.1 503 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                            "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                            "Retry-After: " RETRY_AFTER_S "\r\nConnection: close\r\n\r\n",
                            reason(503), JSON_TYPE, body.len);
    if (rc == 0) rc = lmd_buf_put(b, body.data, body.len);
    lmd_buf_free(&body);
    return rc;
}

/* The answers to a connection over --max-connections and over --max-per-ip
 * (io.c sends them as they are).  A connection is refused when the count
 * reaches the limit, so the count in the message is the limit. */
static int refusals(lmd_server *s) {
    unsigned all = lmd_guard_max_connections(s), want = s->cfg.max_connections;
    char m[256];
    if (all == want)
        snprintf(m, sizeof m, "too many connections (%u open; the limit is --max-connections %u)",
                 all, all);
    else
        snprintf(m, sizeof m,
                 "too many connections (%u open; the limit is %u: --max-connections %u, lowered "
                 "to fit the limit of open files)",
                 all, all, want);
    if (refusal(&s->refusal[LMD_OVER_ALL - 1], m) < 0) return -1;
    snprintf(m, sizeof m,
             "too many connections from this address (%u open; the limit is --max-per-ip %u)",
             s->cfg.max_per_ip, s->cfg.max_per_ip);
    return refusal(&s->refusal[LMD_OVER_IP - 1], m);
}

int lmd_http_dispatch(lmd_server *s, lmd_conn *c) {
    const char *url = c->req.path, *method = c->req.method;
    if (!strncmp(url, "/api/", 5)) {
        lmd_job *j = NULL;
        lmd_buf *b = &c->req.body;
        lmd_api_route(s, c, url, method, b->data ? b->data : "", b->len, &j);
        return j ? defer(s, c, j) : 0;
    }
    if (strcmp(method, "GET") && strcmp(method, "HEAD")) {
        lmd_http_method(c, "GET", url);
        return 0;
    }
    lmd_static_serve(s, c, url);
    return 0;
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

int lmd_server_run(lmd_app *app, const lmd_server_config *cfg_in, lmd_error *err) {
    lmd_server s;
    memset(&s, 0, sizeof s);
    s.app = app;
    s.cfg = *cfg_in;
    s.ep = -1;
    defaults(&s.cfg);
    if (lmd_static_init(&s, err) < 0) return -1;
    if (s.cfg.listen_fd < 0 && lmd_server_listen(&s.cfg, err) < 0) return -1;
    int ready = (s.guard = lmd_guard_new(s.cfg.max_connections)) && refusals(&s) == 0;
    if (!ready) lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    if (!ready || !(s.pool = lmd_pool_new(s.cfg.workers, (size_t)s.cfg.queue, err))) {
        lmd_guard_free(s.guard);
        lmd_buf_free(&s.refusal[0]);
        lmd_buf_free(&s.refusal[1]);
        return -1;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int rc = lmd_io_run(&s, &stop_flag, err);
    lmd_guard_free(s.guard);
    lmd_buf_free(&s.refusal[0]);
    lmd_buf_free(&s.refusal[1]);
    lmd_static_free(&s);
    return rc;
}
