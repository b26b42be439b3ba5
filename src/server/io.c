/* io.c - the sockets of `lmdiff serve`: a few I/O threads share one epoll
 * instance; each connection is non-blocking and armed with EPOLLONESHOT, so
 * one thread at a time works on it.  A thread reads what has arrived, feeds
 * the parser (http_parse.c), answers (http.c) and writes as much as the
 * socket takes, then re-arms the connection for reading or writing; nothing
 * in an I/O thread blocks on a client.  Keep-alive and pipelining: one
 * request at a time, bytes read past it wait in c->in.  An analysis parks
 * the connection (not armed) until its worker re-arms it for writing
 * (lmd_io_job_done).  After an answer that closes the connection the rest
 * of the request is read and dropped for a moment (lingering close), so
 * the client gets the answer rather than a reset.  A connection over
 * --max-connections or --max-per-ip gets a prebuilt 503 at once (refuse).
 * The main thread sweeps deadlines (guard.c) four times a second and stops
 * everything on a signal. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "server/internal.h"

#define READ_CHUNK ((size_t)16 * 1024)
#define ACCEPT_BATCH 64
#define EVENTS 32
/* One turn of an I/O thread on a connection ends after this many reads, or
 * this many steps (requests answered, pipelined ones included); the
 * connection is then re-armed, so that a fast client cannot hold a thread
 * while others wait (level-triggered: what is left is reported again). */
#define TURN_READS 16
#define TURN_STEPS 16

/* epoll data of the listening socket and of the stop signal */
static char listen_tag, wake_tag;

/* What a step on a connection leads to. */
enum step { AGAIN, CLOSE, NEXT, PARKED };

static void arm(lmd_conn *c, uint32_t events) {
    struct epoll_event e = {.events = events | EPOLLONESHOT, .data.ptr = c};
    epoll_ctl(c->s->ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void arm_listen(lmd_server *s) {
    struct epoll_event e = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = &listen_tag};
    epoll_ctl(s->ep, EPOLL_CTL_MOD, s->cfg.listen_fd, &e);
}

static void conn_free(lmd_conn *c) {
    if (c->job) c->job->destroy(c->job);
    lmd_http_free(&c->req);
    lmd_buf_free(&c->out);
    free(c->in);
    free(c->body_owned);
    free(c);
}

static void conn_close(lmd_conn *c) {
    lmd_guard_remove(c->s, c); /* first: the sweep may shut its socket down until then */
    close(c->fd);
    conn_free(c);
}

/* Adds a registered connection to the epoll set, armed for reading; closes
 * it when that fails. */
static void watch(lmd_conn *c) {
    struct epoll_event e = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = c};
    if (epoll_ctl(c->s->ep, EPOLL_CTL_ADD, c->fd, &e) < 0) conn_close(c);
}

/* Reads and drops, without waiting, what the client has sent so far (at
 * most 64 KiB). */
static void drop_input(int fd) {
    char buf[4096];
    for (int i = 0; i < 16; i++) {
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r <= 0 && !(r < 0 && errno == EINTR)) return;
    }
}

/* Answers c, over the limit `over` (LMD_OVER_*), with its prebuilt 503 and
 * closes it.  One send without waiting: a fresh socket's send buffer takes
 * the few hundred bytes, and a client that does not read them loses nothing
 * it asked for.  Closing a socket with unread bytes in it sends a reset,
 * which can make the client drop the answer, and its request may still be
 * on the way; so, as after any closing answer, the rest is read and dropped
 * for up to 2 s (lingering close).  Only LMD_REFUSED_LINGER refused
 * connections linger at a time, so a flood cannot pile them up (or use up
 * the file descriptors the limits protect); beyond that, what has arrived is
 * dropped and the socket closed at once: still answered, at worst with a
 * reset behind the answer. */
static void refuse(lmd_conn *c, int over) {
    const lmd_buf *a = &c->s->refusal[over - 1];
    (void)send(c->fd, a->data, a->len, MSG_NOSIGNAL | MSG_DONTWAIT);
    shutdown(c->fd, SHUT_WR);
    if (lmd_guard_add_refused(c->s, c) == 0) return watch(c);
    drop_input(c->fd);
    close(c->fd);
    conn_free(c);
}

static void conn_open(lmd_server *s, int fd, uint32_t ip) {
    lmd_conn *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->s = s;
    c->fd = fd;
    c->ip = ip;
    lmd_http_limits lim = {LMD_MAX_URI, LMD_MAX_HEADERS, s->cfg.max_body};
    lmd_http_init(&c->req, &lim);
    int over = lmd_guard_add(s, c);
    if (over) return refuse(c, over);
    watch(c);
}

static void accept_some(lmd_server *s) {
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        int fd =
            accept4(s->cfg.listen_fd, (struct sockaddr *)&a, &al, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_open(s, fd, a.sin_addr.s_addr);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* no socket to answer on: pause accepting, the client waits in the backlog */
            __atomic_store_n(&s->listen_paused, 1, __ATOMIC_RELAXED); /* the sweep re-arms */
            return;
        }
        break; /* EAGAIN: none left */
    }
    arm_listen(s);
}

/* Writes the queued answer as far as the socket takes it. */
static enum step write_answer(lmd_conn *c) {
    size_t head = c->out.len, total = head + c->body_len;
    while (c->sent < total) {
        struct iovec v[2];
        int n = 0;
        if (c->sent < head) v[n++] = (struct iovec){c->out.data + c->sent, head - c->sent};
        size_t bo = c->sent > head ? c->sent - head : 0;
        if (c->body_len > bo) v[n++] = (struct iovec){(char *)c->body + bo, c->body_len - bo};
        struct msghdr m = {.msg_iov = v, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return arm(c, EPOLLOUT), AGAIN;
        if (w < 0) return CLOSE;
        c->sent += (size_t)w;
        lmd_guard_touch(c);
    }
    c->sending = 0;
    lmd_buf_free(&c->out);
    free(c->body_owned);
    c->body_owned = NULL;
    c->body = NULL;
    if (c->close_after) {
        shutdown(c->fd, SHUT_WR);
        lmd_guard_phase(c, LMD_LINGER);
        return arm(c, EPOLLIN), AGAIN;
    }
    lmd_http_reset(&c->req);
    lmd_guard_phase(c, LMD_WAIT_HEADERS);
    if (c->in) return NEXT;        /* a pipelined request is waiting */
    return arm(c, EPOLLIN), AGAIN; /* rather than a read that most likely finds nothing */
}

/* Reads and drops what the client still sends after the final answer. */
static enum step linger(lmd_conn *c) {
    char buf[4096];
    for (int reads = 0; reads < TURN_READS;) {
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r > 0) {
            reads++;
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        return CLOSE;
    }
    return arm(c, EPOLLIN), AGAIN;
}

/* A client that sent "Expect: 100-continue" waits for this before it sends
 * the body (curl does for bodies over 1 KiB).  Best effort: a client that
 * does not get it sends the body after a while anyway. */
static void expect_continue(lmd_conn *c) {
    const char *e = lmd_http_header(&c->req, "Expect");
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    if (e && c->req.minor == 1 && c->req.has_body && !strcasecmp(e, "100-continue"))
        (void)send(c->fd, cont, sizeof cont - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
}

enum fed { FED_MORE, FED_ANSWERED, FED_DONE };

/* Feeds n bytes to the parser until it needs more, has an answer queued
 * (an error, or a check on the headers), or has a complete request. */
static enum fed feed(lmd_conn *c, const char *d, size_t n, size_t *used) {
    *used = 0;
    for (;;) {
        size_t u;
        enum lmd_http_event e = lmd_http_feed(&c->req, d + *used, n - *used, &u);
        *used += u;
        if (e == LMD_HTTP_MORE) return FED_MORE;
        if (e == LMD_HTTP_DONE) return FED_DONE;
        c->close_after = 1; /* answered before the body is read: the connection cannot go on */
        if (e == LMD_HTTP_ERROR) {
            lmd_http_error(c, c->req.status, "%s", c->req.msg);
            return FED_ANSWERED;
        }
        lmd_guard_phase(c, LMD_WAIT_BODY); /* LMD_HTTP_HEAD */
        if (lmd_guard_check_headers(c->s, c)) return FED_ANSWERED;
        c->close_after = 0;
        if (*used == n) expect_continue(c);
    }
}

/* Keeps the bytes after the request (the next one) in c->in. */
static int keep_rest(lmd_conn *c, const char *d, size_t n, size_t used) {
    if (c->in) {
        c->in_off += used;
        if (c->in_off < c->in_len) return 0;
        free(c->in);
        c->in = NULL;
        return 0;
    }
    if (used == n) return 0;
    if (!(c->in = malloc(n - used))) return -1;
    memcpy(c->in, d + used, n - used);
    c->in_len = n - used;
    c->in_off = 0;
    return 0;
}

/* Reads until a request is complete and answered or parked. */
static enum step read_request(lmd_conn *c) {
    char buf[READ_CHUNK];
    for (int reads = 0;;) {
        const char *d = c->in ? c->in + c->in_off : buf;
        size_t n = c->in ? c->in_len - c->in_off : 0;
        if (!c->in) {
            if (reads++ == TURN_READS) return arm(c, EPOLLIN), AGAIN;
            ssize_t r = recv(c->fd, buf, sizeof buf, 0);
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return arm(c, EPOLLIN), AGAIN;
            if (r <= 0) return CLOSE;
            lmd_guard_touch(c);
            n = (size_t)r;
        }
        size_t used;
        enum fed f = feed(c, d, n, &used);
        if (keep_rest(c, d, n, used) < 0) return CLOSE;
        if (f == FED_MORE) continue;
        if (f == FED_DONE) {
            lmd_guard_phase(c, LMD_ANSWERING);
            if (lmd_http_dispatch(c->s, c)) return PARKED; /* c is the worker's now */
        }
        return c->sending ? NEXT : CLOSE; /* not sending: out of memory */
    }
}

/* An event on c: its job is done, or it can be read or written. */
static void drive(lmd_conn *c) {
    if (c->job) {
        (void)__atomic_load_n(&c->job_done, __ATOMIC_ACQUIRE);
        c->job_done = 0;
        lmd_http_answer_job(c);
        if (!c->sending) return conn_close(c);
    }
    for (int steps = 0; steps < TURN_STEPS; steps++) {
        enum step st = c->sending ? write_answer(c)
                       : __atomic_load_n(&c->phase, __ATOMIC_RELAXED) == LMD_LINGER
                           ? linger(c)
                           : read_request(c);
        if (st == CLOSE) conn_close(c);
        if (st != NEXT) return;
    }
    arm(c, EPOLLIN | EPOLLOUT); /* writable at once: the next turn goes on where this one ends */
}

void lmd_io_job_done(lmd_job *j) {
    lmd_conn *c = j->c;
    __atomic_store_n(&c->job_done, 1, __ATOMIC_RELEASE);
    arm(c, EPOLLOUT); /* an I/O thread may own c from here on */
}

static void *io_thread(void *arg) {
    lmd_server *s = arg;
    struct epoll_event ev[EVENTS];
    for (;;) {
        int n = epoll_wait(s->ep, ev, EVENTS, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return NULL;
        for (int i = 0; i < n; i++) {
            void *p = ev[i].data.ptr;
            if (p == &wake_tag) return NULL; /* stopping: every connection is closed later */
            if (p == &listen_tag)
                accept_some(s);
            else
                drive(p);
        }
    }
}

/* The epoll instance with the listening socket and the stop signal in it. */
static int io_open(lmd_server *s, int wake, lmd_error *err) {
    int fl = fcntl(s->cfg.listen_fd, F_GETFL);
    if (fl < 0 || fcntl(s->cfg.listen_fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        (s->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
        return lmd_fail(err, "cannot start the HTTP server: %s", strerror(errno));
    struct epoll_event l = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = &listen_tag};
    struct epoll_event w = {.events = EPOLLIN, .data.ptr = &wake_tag};
    if (epoll_ctl(s->ep, EPOLL_CTL_ADD, s->cfg.listen_fd, &l) < 0 ||
        epoll_ctl(s->ep, EPOLL_CTL_ADD, wake, &w) < 0)
        return lmd_fail(err, "cannot start the HTTP server: %s", strerror(errno));
    return 0;
}

/* Starts the I/O threads with the signals blocked (the main thread takes them). */
static int start_threads(lmd_server *s, pthread_t *t, int *n, lmd_error *err) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (*n = 0; *n < s->cfg.threads; ++*n)
        if (pthread_create(&t[*n], NULL, io_thread, s)) break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return *n == s->cfg.threads ? 0 : lmd_fail(err, "cannot start %d HTTP threads", s->cfg.threads);
}

/* How long a stopping server lets the I/O threads finish the answers under way. */
#define DRAIN_MS 2000

/* Stops: no new connections, the pool stopped (running analyses finish,
 * queued ones get 503; it stays valid for the I/O threads, which still call
 * it, until lmd_io_run frees it after they are joined), the answers under
 * way written for up to DRAIN_MS, the threads joined, every connection
 * closed. */
static void io_stop(lmd_server *s, int wake, pthread_t *t, int n) {
    epoll_ctl(s->ep, EPOLL_CTL_DEL, s->cfg.listen_fd, NULL);
    lmd_pool_stop(s->pool);
    for (int ms = 0; ms < DRAIN_MS && lmd_guard_busy(s); ms += 10) {
        usleep(10000);
        if (ms % 250 == 0) lmd_guard_sweep(s);
    }
    uint64_t one = 1;
    ssize_t w = write(wake, &one, sizeof one); /* cannot fail on a fresh eventfd */
    (void)w;
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    for (lmd_conn *c = lmd_guard_take_all(s), *next; c; c = next) {
        next = c->next;
        close(c->fd);
        conn_free(c);
    }
}

int lmd_io_run(lmd_server *s, volatile sig_atomic_t *stop, lmd_error *err) {
    pthread_t *t = calloc((size_t)s->cfg.threads, sizeof *t);
    int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), n = 0, rc = -1;
    if (!t || wake < 0) {
        lmd_fail_code(err, LMD_ERR_NO_MEMORY, "cannot start the HTTP server: out of memory");
    } else if (io_open(s, wake, err) == 0 && start_threads(s, t, &n, err) == 0) {
        printf("lmdiff serving %zu models on http://%s:%d/\n", lmd_app_n_models(s->app),
               s->cfg.host, s->cfg.port);
        fflush(stdout);
        while (!*stop) {
            usleep(250000);
            lmd_guard_sweep(s);
            if (__atomic_exchange_n(&s->listen_paused, 0, __ATOMIC_RELAXED)) arm_listen(s);
        }
        rc = 0;
    }
    if (s->ep >= 0) io_stop(s, wake, t, n);
    lmd_pool_free(s->pool);
    if (s->ep >= 0) close(s->ep);
    if (wake >= 0) close(wake);
    close(s->cfg.listen_fd);
    free(t);
    return rc;
}
