/* guard.c - what keeps `lmdiff serve` usable under slow or hostile clients:
 * the registry of open connections with the limits on their number (in all
 * and per address) and of the refused ones still lingering (a bounded few),
 * deadlines for a request's headers and body (a client that sends one header
 * line a second is cut off) and for silence, the open-file budget for many
 * connections, and the checks on the headers alone (Host, Content-Type) that
 * answer before any body is read. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "server/internal.h"

struct lmd_guard {
    pthread_mutex_t mu;
    lmd_conn *head;
    unsigned n, max_conn;
    unsigned refused; /* answered 503 over a limit, lingering (not counted in n) */
};

static long long now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

lmd_guard *lmd_guard_new(unsigned max_connections) {
    lmd_guard *g = calloc(1, sizeof *g);
    if (!g) return NULL;
    pthread_mutex_init(&g->mu, NULL);
    g->max_conn = lmd_guard_fd_budget(max_connections);
    return g;
}

unsigned lmd_guard_max_connections(const lmd_server *s) {
    return s->guard->max_conn;
}

void lmd_guard_free(lmd_guard *g) {
    if (!g) return;
    pthread_mutex_destroy(&g->mu); /* every connection is closed by now */
    free(g);
}

/* Connections from ip; called with the lock held. */
static unsigned from_ip(const lmd_guard *g, uint32_t ip) {
    unsigned n = 0;
    for (const lmd_conn *k = g->head; k; k = k->next)
        n += k->ip == ip && !k->refused;
    return n;
}

/* Puts c at the head of the registry; called with the lock held. */
static void link_conn(lmd_guard *g, lmd_conn *c) {
    c->prev = NULL;
    c->next = g->head;
    if (g->head) g->head->prev = c;
    g->head = c;
}

int lmd_guard_add(lmd_server *s, lmd_conn *c) {
    lmd_guard *g = s->guard;
    c->since_ms = c->last_io_ms = now_ms();
    c->phase = LMD_WAIT_HEADERS;
    pthread_mutex_lock(&g->mu);
    int over = g->n >= g->max_conn                      ? LMD_OVER_ALL
               : from_ip(g, c->ip) >= s->cfg.max_per_ip ? LMD_OVER_IP
                                                        : 0;
    if (!over) {
        link_conn(g, c);
        g->n++;
    }
    pthread_mutex_unlock(&g->mu);
    return over;
}

int lmd_guard_add_refused(lmd_server *s, lmd_conn *c) {
    lmd_guard *g = s->guard;
    c->phase = LMD_LINGER; /* its deadline: LINGER_MS from lmd_guard_add */
    pthread_mutex_lock(&g->mu);
    int ok = g->refused < LMD_REFUSED_LINGER;
    if (ok) {
        c->refused = 1;
        link_conn(g, c);
        g->refused++;
    }
    pthread_mutex_unlock(&g->mu);
    return ok ? 0 : -1;
}

void lmd_guard_remove(lmd_server *s, lmd_conn *c) {
    lmd_guard *g = s->guard;
    pthread_mutex_lock(&g->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next) c->next->prev = c->prev;
    if (c->refused)
        g->refused--;
    else
        g->n--;
    pthread_mutex_unlock(&g->mu);
}

size_t lmd_guard_busy(lmd_server *s) {
    size_t n = 0;
    pthread_mutex_lock(&s->guard->mu);
    for (lmd_conn *k = s->guard->head; k; k = k->next) {
        int ph = __atomic_load_n(&k->phase, __ATOMIC_RELAXED);
        n += !k->shut && (ph == LMD_PARKED || ph == LMD_ANSWERING);
    }
    pthread_mutex_unlock(&s->guard->mu);
    return n;
}

lmd_conn *lmd_guard_take_all(lmd_server *s) {
    pthread_mutex_lock(&s->guard->mu);
    lmd_conn *all = s->guard->head;
    s->guard->head = NULL;
    s->guard->n = s->guard->refused = 0;
    pthread_mutex_unlock(&s->guard->mu);
    return all;
}

void lmd_guard_phase(lmd_conn *c, enum lmd_conn_phase ph) {
    long long t = now_ms();
    __atomic_store_n(&c->since_ms, t, __ATOMIC_RELAXED);
    __atomic_store_n(&c->last_io_ms, t, __ATOMIC_RELAXED);
    __atomic_store_n(&c->phase, (int)ph, __ATOMIC_RELAXED);
}

void lmd_guard_touch(lmd_conn *c) {
    __atomic_store_n(&c->last_io_ms, now_ms(), __ATOMIC_RELAXED);
}

/* How long a lingering close waits for the client to stop sending. */
#define LINGER_MS 2000

/* 1 when c is past a deadline at time t. */
static int overdue(const lmd_server *s, lmd_conn *c, long long t) {
    int ph = __atomic_load_n(&c->phase, __ATOMIC_RELAXED);
    long long since = t - __atomic_load_n(&c->since_ms, __ATOMIC_RELAXED);
    long long idle = t - __atomic_load_n(&c->last_io_ms, __ATOMIC_RELAXED);
    long long limit = ph == LMD_WAIT_HEADERS ? s->cfg.header_timeout_s * 1000LL
                      : ph == LMD_WAIT_BODY  ? s->cfg.body_timeout_s * 1000LL
                      : ph == LMD_LINGER     ? LINGER_MS
                                             : -1;
    if (ph == LMD_PARKED) return 0;
    return (limit >= 0 && since > limit) || idle > s->cfg.timeout_s * 1000LL;
}

size_t lmd_guard_sweep(lmd_server *s) {
    lmd_guard *g = s->guard;
    long long t = now_ms();
    size_t n = 0;
    pthread_mutex_lock(&g->mu);
    for (lmd_conn *k = g->head; k; k = k->next) {
        if (k->shut || !overdue(s, k, t)) continue;
        /* its I/O thread sees end-of-file (or a failed write) and closes it */
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

int lmd_guard_check_headers(lmd_server *s, lmd_conn *c) {
    const char *host = c->req.host;
    if (host && !host_ok(s, host)) {
        lmd_http_error(c, 421,
                       "the Host header \"%.200s\" does not name this server (%s); start it with "
                       "--allow-host NAME to accept that name",
                       host, s->cfg.host);
        return 1;
    }
    if (!strcmp(c->req.method, "POST") && !json_type(lmd_http_header(&c->req, "Content-Type"))) {
        lmd_http_error(c, 415, "a POST body must be sent with Content-Type: application/json");
        return 1;
    }
    return 0;
}

unsigned lmd_guard_fd_budget(unsigned want) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) < 0) return want;
    /* the server's own files (models, caches, --web files, the tokenizer
     * cache) and the refused connections that linger */
    const rlim_t spare = 64 + LMD_REFUSED_LINGER;
    rlim_t need = (rlim_t)want + spare;
    if (r.rlim_cur < need) {
        r.rlim_cur = r.rlim_max == RLIM_INFINITY || r.rlim_max >= need ? need : r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
        getrlimit(RLIMIT_NOFILE, &r);
    }
    if (r.rlim_cur >= need) return want;
    return r.rlim_cur > spare + 64 ? (unsigned)(r.rlim_cur - spare) : 64;
}
