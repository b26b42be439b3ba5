/* test_http_parse.c - the server's HTTP/1.1 request parser (http_parse.c):
 * every request is fed in one piece and byte by byte, and both must give the
 * same result; pipelined requests; Content-Length and chunked bodies
 * (extensions and trailers skipped); percent-decoding of the path and query;
 * and every error case with its status (400, 413, 414, 431, 501, 505). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http_parse.h"
#include "testutil.h"

static const lmd_http_limits LIM = {.max_uri = 100, .max_headers = 200, .max_body = 50};

/* Feeds all of req (step bytes at a time, 0: at once) through one request;
 * returns the final event; *rest is how many bytes were left unused. */
static enum lmd_http_event parse(lmd_http_req *r, const char *req, size_t len, size_t step,
                                 size_t *rest) {
    lmd_http_init(r, &LIM);
    size_t at = 0;
    int heads = 0;
    for (;;) {
        size_t n = step && len - at > step ? step : len - at, used;
        enum lmd_http_event e = lmd_http_feed(r, req + at, n, &used);
        assert_true(used <= n);
        at += used;
        if (e == LMD_HTTP_HEAD) {
            assert_int_equal(++heads, 1);
            continue;
        }
        if (e != LMD_HTTP_MORE || at == len) {
            if (rest) *rest = len - at;
            return e;
        }
    }
}

/* The status of req, the same fed at once and byte by byte (0 when accepted). */
static int status_of(const char *req) {
    int st[2];
    for (int k = 0; k < 2; k++) {
        lmd_http_req r;
        enum lmd_http_event e = parse(&r, req, strlen(req), k, NULL);
        st[k] = e == LMD_HTTP_ERROR ? r.status : e == LMD_HTTP_DONE ? 0 : -1;
        if (e == LMD_HTTP_ERROR) assert_true(strlen(r.msg) > 10);
        lmd_http_free(&r);
    }
    assert_int_equal(st[0], st[1]);
    return st[0];
}

static void test_get(void **state) {
    (void)state;
    const char *req = "GET /a%20b/c?m1=tiny%2Da&m2=x+y&flag&k=%41%zz HTTP/1.1\r\n"
                      "Host: 127.0.0.1:8000\r\nX-Pad:  spaced value \t\r\n\r\n";
    for (size_t step = 0; step < 4; step++) {
        lmd_http_req r;
        size_t rest;
        assert_int_equal(parse(&r, req, strlen(req), step, &rest), LMD_HTTP_DONE);
        assert_int_equal(rest, 0);
        assert_string_equal(r.method, "GET");
        assert_string_equal(r.path, "/a b/c");
        assert_int_equal(r.minor, 1);
        assert_true(r.keep_alive);
        assert_false(r.has_body);
        assert_int_equal(r.target_len, strlen("/a%20b/c?m1=tiny%2Da&m2=x+y&flag&k=%41%zz"));
        assert_string_equal(lmd_http_arg(&r, "m1"), "tiny-a");
        assert_string_equal(lmd_http_arg(&r, "m2"), "x y");
        assert_string_equal(lmd_http_arg(&r, "k"), "A%zz"); /* malformed escapes stay */
        assert_null(lmd_http_arg(&r, "flag"));
        assert_null(lmd_http_arg(&r, "nope"));
        assert_string_equal(lmd_http_header(&r, "host"), "127.0.0.1:8000");
        assert_string_equal(lmd_http_header(&r, "X-PAD"), "spaced value");
        assert_null(lmd_http_header(&r, "Content-Type"));
        lmd_http_free(&r);
    }
}

/* The absolute form (RFC 9112 3.2.2): its authority is the host, not the Host header. */
static void test_absolute_form(void **state) {
    (void)state;
    static const char *t[][3] = {
        {"GET http://127.0.0.1:8000/api/models?m1=a HTTP/1.1\r\nHost: evil\r\n\r\n",
         "127.0.0.1:8000", "/api/models"},
        {"GET HTTPS://x?m1=a HTTP/1.1\r\nHost: h\r\n\r\n", "x", "/"},
        {"GET http://x HTTP/1.1\r\nHost: h\r\n\r\n", "x", "/"},
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", "h", "/"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        lmd_http_req r;
        assert_int_equal(parse(&r, t[i][0], strlen(t[i][0]), 0, NULL), LMD_HTTP_DONE);
        assert_string_equal(r.host, t[i][1]);
        assert_string_equal(r.path, t[i][2]);
        if (i < 2) assert_string_equal(lmd_http_arg(&r, "m1"), "a");
        lmd_http_free(&r);
    }
    lmd_http_req r;
    const char *h10 = "GET / HTTP/1.0\r\n\r\n";
    assert_int_equal(parse(&r, h10, strlen(h10), 0, NULL), LMD_HTTP_DONE);
    assert_null(r.host);
    lmd_http_free(&r);
    assert_int_equal(status_of("GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
    assert_int_equal(status_of("GET ftp://x/ HTTP/1.1\r\nHost: h\r\n\r\n"), 400);
}

static void test_bodies(void **state) {
    (void)state;
    const char *cl = "POST /api/analyze HTTP/1.1\nHost: h\nContent-Length: 5\n\nhello";
    const char *ch = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: Chunked\r\n\r\n"
                     "3;ext=1\r\nhel\r\n2 \r\nlo\r\n0\r\nX-Trailer: t\r\n\r\n";
    const char *reqs[] = {cl, ch};
    for (int i = 0; i < 2; i++)
        for (size_t step = 0; step < 3; step++) {
            lmd_http_req r;
            size_t rest;
            assert_int_equal(parse(&r, reqs[i], strlen(reqs[i]), step, &rest), LMD_HTTP_DONE);
            assert_int_equal(rest, 0);
            assert_true(r.has_body);
            assert_int_equal(r.body.len, 5);
            assert_memory_equal(r.body.data, "hello", 5);
            lmd_http_free(&r);
        }
    lmd_http_req r;
    const char *empty = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
    assert_int_equal(parse(&r, empty, strlen(empty), 0, NULL), LMD_HTTP_DONE);
    assert_true(r.has_body);
    assert_int_equal(r.body.len, 0);
    lmd_http_free(&r);
}

/* Three requests in one buffer, the next starting where the previous stopped. */
static void test_pipelined(void **state) {
    (void)state;
    const char *req = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
                      "\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nab"
                      "GET /3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /4 HTTP/1.1\r\nHo";
    const char *paths[] = {"/1", "/2", "/3"};
    size_t at = 0, len = strlen(req);
    lmd_http_req r;
    lmd_http_init(&r, &LIM);
    for (int i = 0; i < 3; i++) {
        enum lmd_http_event e;
        size_t used;
        while ((e = lmd_http_feed(&r, req + at, len - at, &used)) == LMD_HTTP_HEAD)
            at += used;
        at += used;
        assert_int_equal(e, LMD_HTTP_DONE);
        assert_string_equal(r.path, paths[i]);
        assert_true(r.keep_alive);
        lmd_http_reset(&r);
    }
    size_t used;
    assert_int_equal(lmd_http_feed(&r, req + at, len - at, &used), LMD_HTTP_MORE);
    assert_int_equal(used, len - at);
    lmd_http_free(&r);
}

static void test_keep_alive(void **state) {
    (void)state;
    const char *reqs[] = {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                          "GET / HTTP/1.0\r\n\r\n",
                          "GET / HTTP/1.1\r\nHost: h\r\nConnection: x, Keep-Alive\r\n\r\n"};
    int want[] = {0, 0, 1};
    for (int i = 0; i < 3; i++) {
        lmd_http_req r;
        assert_int_equal(parse(&r, reqs[i], strlen(reqs[i]), 0, NULL), LMD_HTTP_DONE);
        assert_int_equal(r.keep_alive, want[i]);
        lmd_http_free(&r);
    }
}

static void test_errors(void **state) {
    (void)state;
    static const struct {
        int status;
        const char *req;
    } t[] = {
        {400, "GET\r\n\r\n"},
        {400, "GET /\r\n\r\n"},
        {400, "GET / HTTP/1.1 x\r\nHost: h\r\n\r\n"},
        {400, "G(T / HTTP/1.1\r\nHost: h\r\n\r\n"},
        {400, "GET relative HTTP/1.1\r\nHost: h\r\n\r\n"},
        {400, "GET / FTP/1.1\r\nHost: h\r\n\r\n"},
        {505, "GET / HTTP/2.0\r\nHost: h\r\n\r\n"},
        {505, "GET / HTTP/1.2\r\nHost: h\r\n\r\n"},
        {400, "GET / HTTP/1.1\r\n\r\n"}, /* no Host */
        {400, "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
        {400, "GET / HTTP/1.1\r\nHost: h\r\nNoColonHere\r\n\r\n"},
        {400, "GET / HTTP/1.1\r\nHost: h\r\nBad Name: v\r\n\r\n"},
        {400, "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n"},
        {400, "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"},
        {400, "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n"},
        {400, "GET /a%00b HTTP/1.1\r\nHost: h\r\n\r\n"},
        {400, "GET /a?m1=x%00 HTTP/1.1\r\nHost: h\r\n\r\n"},
        {400, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n"},
        {400, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n"},
        {400, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"},
        {400,
         "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n"},
        {413, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 51\r\n\r\n"},
        {413, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n"},
        {501, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"},
        {501, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"},
        {400,
         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"},
        {413, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
              "fffffffffffffffffffff\r\n{}\r\n0\r\n\r\n"},
        {413, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
              "20\r\n"
              "0123456789abcdef0123456789abcdef\r\n20\r\n"},
        {400, "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n"},
        {0, "\r\n\r\nGET / HTTP/1.0\r\n\r\n"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int got = status_of(t[i].req);
        if (got != t[i].status) fail_msg("case %zu: want %d, got %d", i, t[i].status, got);
    }
}

/* The limits: a target of max_uri bytes passes, one more is 414; headers of
 * max_headers bytes (counted "Name: value" + 4... as the limit says) pass,
 * more are 431, also when the line never ends. */
static void test_limits(void **state) {
    (void)state;
    char req[2048], target[200], pad[400];
    memset(target, 'a', sizeof target);
    target[0] = '/';
    for (int extra = 0; extra < 2; extra++) {
        snprintf(req, sizeof req, "GET %.*s HTTP/1.1\r\nHost: h\r\n\r\n", 100 + extra, target);
        assert_int_equal(status_of(req), extra ? 414 : 0);
    }
    snprintf(req, sizeof req, "GET %.*s", 180, target); /* the line never ends */
    assert_int_equal(status_of(req), 414);
    memset(pad, 'b', sizeof pad);
    /* Host: h = 1 + 4 + 4 = 9; X: <v> = 1 + v + 4 */
    for (int extra = 0; extra < 2; extra++) {
        snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: h\r\nX: %.*s\r\n\r\n",
                 200 - 9 - 5 + extra, pad);
        assert_int_equal(status_of(req), extra ? 431 : 0);
    }
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: h\r\nX: %.*s", 300, pad);
    assert_int_equal(status_of(req), 431);
    lmd_http_req r;
    assert_int_equal(parse(&r, req, strlen(req), 1, NULL), LMD_HTTP_ERROR);
    assert_true(r.head.cap <= 100 + 200 + 2 * 64 + 64 + 256); /* bounded, whatever is sent */
    lmd_http_free(&r);
}

static void test_unescape(void **state) {
    (void)state;
    char s[] = "a%2fb%2E%2e+c%4";
    assert_int_equal(lmd_http_unescape(s, strlen(s), 0), 9);
    assert_string_equal(s, "a/b..+c%4");
    char p[] = "x+y%20z";
    assert_int_equal(lmd_http_unescape(p, strlen(p), 1), 5);
    assert_string_equal(p, "x y z");
    char n[] = "a%00";
    assert_int_equal(lmd_http_unescape(n, strlen(n), 0), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get),        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_bodies),     cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_keep_alive), cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),     cmocka_unit_test(test_unescape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
