/* guard.c - what keeps `lmdiff serve` usable under slow or hostile clients:
 * deadlines for a request's headers and body (a client that sends one header
 * line a second is cut off; libmicrohttpd's own timeout only measures
 * silence), the open-file budget for many connections, and the checks on
 * the headers alone (URI and header sizes, Host, Content-Type,
 * Content-Length) that answer before any body is read. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "server/internal.h"

enum phase { WAIT_HEADERS, WAIT_BODY, ANSWERING };

struct lmd_conn {
    lmd_guard *g;
    int fd;
    enum phase phase;
    double since; /* monotonic seconds: when the current phase began */
    int shut;     /* the sweep has shut its socket down */
    lmd_conn *prev, *next;
};

struct lmd_guard {
    pthread_mutex_t mu;
    lmd_conn *head;
};

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

lmd_guard *lmd_guard_new(void) {
    lmd_guard *g = calloc(1, sizeof *g);
    if (g) pthread_mutex_init(&g->mu, NULL);
    return g;
}

void lmd_guard_free(lmd_guard *g) {
    if (!g) return;
    pthread_mutex_destroy(&g->mu); /* the daemon has closed every connection */
    free(g);
}

void lmd_guard_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                      enum MHD_ConnectionNotificationCode code) {
    lmd_guard *g = ((lmd_server *)cls)->guard;
    lmd_conn *k = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(k = calloc(1, sizeof *k))) return; /* untracked: only the idle timeout */
        k->g = g;
        k->fd = ci->connect_fd;
        k->phase = WAIT_HEADERS;
        k->since = now_s();
        pthread_mutex_lock(&g->mu);
        k->next = g->head;
        if (g->head) g->head->prev = k;
        g->head = k;
        pthread_mutex_unlock(&g->mu);
        *socket_context = k;
    } else if (k) { /* closed: the socket is still open until this returns */
        pthread_mutex_lock(&g->mu);
        if (k->prev)
            k->prev->next = k->next;
        else
            g->head = k->next;
        if (k->next) k->next->prev = k->prev;
        pthread_mutex_unlock(&g->mu);
        free(k);
        *socket_context = NULL;
    }
}

static void set_phase(struct MHD_Connection *c, enum phase ph) {
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    lmd_conn *k = ci ? ci->socket_context : NULL;
    if (!k) return;
    pthread_mutex_lock(&k->g->mu);
    k->phase = ph;
    k->since = now_s();
    pthread_mutex_unlock(&k->g->mu);
}

void lmd_guard_headers_in(struct MHD_Connection *c) {
    set_phase(c, WAIT_BODY);
}
void lmd_guard_body_in(struct MHD_Connection *c) {
    set_phase(c, ANSWERING);
}
void lmd_guard_request_done(struct MHD_Connection *c) {
    set_phase(c, WAIT_HEADERS);
}

size_t lmd_guard_sweep(lmd_server *s) {
    lmd_guard *g = s->guard;
    double t = now_s();
    size_t n = 0;
    pthread_mutex_lock(&g->mu);
    for (lmd_conn *k = g->head; k; k = k->next) {
        double limit = k->phase == WAIT_HEADERS ? s->cfg.header_timeout_s
                       : k->phase == WAIT_BODY  ? s->cfg.body_timeout_s
                                                : -1;
        if (limit < 0 || k->shut || t - k->since <= limit) continue;
        /* the daemon sees end-of-file and closes the connection itself */
        shutdown(k->fd, SHUT_RDWR);
        k->shut = 1;
        n++;
    }
    pthread_mutex_unlock(&g->mu);
    return n;
}

/* 1 when name (len bytes) is one of the comma-separated names in list. */
static int in_list(const char *list, const char *name, size_t len) {
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        if (n == len && !strncasecmp(p, name, len)) return 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* 1 when the Host header (without its port) names this server: the bound
 * address, localhost on a loopback address, any IPv4 address when bound to
 * 0.0.0.0, or a name of --allow-host.  A name the server did not expect is
 * how a DNS-rebinding page would reach it. */
static int host_ok(const lmd_server *s, const char *host) {
    const char *name = host, *end;
    if (host[0] == '[')
        name = host + 1, end = strchr(name, ']');
    else
        end = strchr(host, ':');
    size_t len = end ? (size_t)(end - name) : strlen(name);
    char buf[64];
    const char *bound = s->cfg.host;
    if (len == strlen(bound) && !strncasecmp(name, bound, len)) return 1;
    if (in_list(s->cfg.allow_hosts, name, len)) return 1;
    int loopback = !strncmp(bound, "127.", 4), any = !strcmp(bound, "0.0.0.0");
    if ((loopback || any) && len == 9 && !strncasecmp(name, "localhost", 9)) return 1;
    if (!any || len >= sizeof buf) return 0;
    memcpy(buf, name, len);
    buf[len] = 0;
    struct in_addr a;
    return inet_pton(AF_INET, buf, &a) == 1;
}

/* 1 when the media type of a Content-Type value is application/json. */
static int json_type(const char *ct) {
    if (!ct) return 0;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, ";");
    while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == 16 && !strncasecmp(ct, "application/json", 16);
}

/* MHD_KeyValueIterator: adds a header line's bytes ("Name: value\r\n"). */
static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value) {
    (void)kind;
    *(size_t *)cls += strlen(key) + (value ? strlen(value) : 0) + 4;
    return MHD_YES;
}

/* 1 after queueing a 414 or 431 when the URI or the header lines are over
 * lmdiff's limits (docs/api.md §7). */
static int too_long(struct MHD_Connection *c, size_t uri_len, enum MHD_Result *answer) {
    if (uri_len > LMD_MAX_URI) {
        *answer = (enum MHD_Result)lmd_http_error(c, 414, "the URI has %zu bytes; the limit is %zu",
                                                  uri_len, LMD_MAX_URI);
        return 1;
    }
    size_t bytes = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, count_header, &bytes);
    if (bytes > LMD_MAX_HEADERS) {
        *answer = (enum MHD_Result)lmd_http_error(
            c, 431, "the request headers have %zu bytes; the limit is %zu", bytes, LMD_MAX_HEADERS);
        return 1;
    }
    return 0;
}

int lmd_guard_check_headers(lmd_server *s, struct MHD_Connection *c, const char *method,
                            size_t uri_len, enum MHD_Result *answer) {
    if (too_long(c, uri_len, answer)) return 1;
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (host && !host_ok(s, host)) {
        *answer = (enum MHD_Result)lmd_http_error(
            c, 421,
            "the Host header \"%.200s\" does not name this server (%s); start it with "
            "--allow-host NAME to accept that name",
            host, s->cfg.host);
        return 1;
    }
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *e;
        errno = 0;
        unsigned long long v = strtoull(cl, &e, 10);
        if (errno || e == cl || v > s->cfg.max_body) {
            *answer = (enum MHD_Result)lmd_http_error(c, 413, "request body larger than %zu bytes",
                                                      s->cfg.max_body);
            return 1;
        }
    }
    if (!strcmp(method, "POST") &&
        !json_type(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type"))) {
        *answer = (enum MHD_Result)lmd_http_error(
            c, 415, "a POST body must be sent with Content-Type: application/json");
        return 1;
    }
    return 0;
}

unsigned lmd_guard_fd_budget(unsigned want) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) < 0) return want;
    rlim_t need = (rlim_t)want + 64;
    if (r.rlim_cur < need) {
        r.rlim_cur = r.rlim_max == RLIM_INFINITY || r.rlim_max >= need ? need : r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
        getrlimit(RLIMIT_NOFILE, &r);
    }
    if (r.rlim_cur >= need) return want;
    return r.rlim_cur > 128 ? (unsigned)(r.rlim_cur - 64) : 64;
}
