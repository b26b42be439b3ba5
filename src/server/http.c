/* http.c - the HTTP layer of `lmdiff serve` on libmicrohttpd: a thread pool,
 * request bodies collected up to a limit, JSON errors, and dispatch to the
 * API routes (api.c) and the static files of the web app (static.c). */
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
    lmd_buf body;
    int too_large;
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

int lmd_http_json(struct MHD_Connection *c, int status, const lmd_buf *b) {
    return lmd_http_send(c, status, "application/json; charset=utf-8", b->data ? b->data : "",
                         b->len, NULL);
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

int lmd_http_error(struct MHD_Connection *c, int status, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lmd_buf b = {0};
    lmd_buf_puts(&b, "{\"error\":");
    lmd_json_str(&b, msg, strlen(msg));
    lmd_buf_puts(&b, "}");
    int rc = lmd_http_json(c, status, &b);
    lmd_buf_free(&b);
    return rc;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls) {
    (void)version;
    lmd_server *s = cls;
    request *rq = *con_cls;
    if (!rq) { /* first call: headers only */
        rq = calloc(1, sizeof *rq);
        if (!rq) return MHD_NO;
        *con_cls = rq;
        return MHD_YES;
    }
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
    if (rq->too_large)
        return (enum MHD_Result)lmd_http_error(c, 413, "request body larger than %zu bytes",
                                               s->cfg.max_body);
    if (!strncmp(url, "/api/", 5))
        return (enum MHD_Result)lmd_api_route(s, c, url, method, rq->body.data ? rq->body.data : "",
                                              rq->body.len);
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return (enum MHD_Result)lmd_http_method(c, "GET", url);
    return (enum MHD_Result)lmd_static_serve(s, c, url);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe) {
    (void)cls, (void)c, (void)toe;
    request *rq = *con_cls;
    if (rq) {
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
        return lmd_fail(err, "--host %s is not an IPv4 address", host);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return lmd_fail(err, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return lmd_fail(err, "cannot listen on %s:%d: %s", host, cfg->port, strerror(e));
    }
    socklen_t al = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &al) == 0) cfg->port = ntohs(addr.sin_port);
    cfg->listen_fd = fd;
    return 0;
}

int lmd_server_run(lmd_app *app, const lmd_server_config *cfg_in, lmd_error *err) {
    lmd_server s;
    memset(&s, 0, sizeof s);
    s.app = app;
    s.cfg = *cfg_in;
    if (!s.cfg.host) s.cfg.host = "127.0.0.1";
    if (s.cfg.threads <= 0) s.cfg.threads = 4;
    if (!s.cfg.max_body) s.cfg.max_body = 1 << 20;
    if (!s.cfg.max_text_tokens) s.cfg.max_text_tokens = 4096;
    if (s.cfg.timeout_s <= 0) s.cfg.timeout_s = 30;
    if (s.cfg.score_threads <= 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        s.cfg.score_threads = cores / s.cfg.threads > 1 ? (int)(cores / s.cfg.threads) : 1;
    }
    if (lmd_static_init(&s, err) < 0) return -1;
    if (s.cfg.listen_fd < 0 && lmd_server_listen(&s.cfg, err) < 0) return -1;
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, handle,
        &s, MHD_OPTION_LISTEN_SOCKET, s.cfg.listen_fd, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)s.cfg.threads, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)s.cfg.timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, 256u, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
        MHD_OPTION_END);
    if (!d) return lmd_fail(err, "cannot start the HTTP server on %s:%d", s.cfg.host, s.cfg.port);
    printf("lmdiff serving %zu models on http://%s:%d/\n", lmd_app_n_models(app), s.cfg.host,
           s.cfg.port);
    fflush(stdout);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    while (!stop_flag) sleep(1);
    MHD_stop_daemon(d);
    lmd_static_free(&s);
    return 0;
}
