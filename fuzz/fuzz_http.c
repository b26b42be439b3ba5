/* fuzz_http.c - libFuzzer target: the server's HTTP/1.1 request parser
 * (src/server/http_parse.c) on any bytes.  The first byte picks the piece
 * size the rest is fed in; the parse must give the same requests (path,
 * body, status) fed at once and in pieces, take no byte twice, keep its
 * memory within the limits, and fail only with the statuses it documents. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http_parse.h"

static const lmd_http_limits LIM = {.max_uri = 64, .max_headers = 256, .max_body = 128};

/* A digest of what the parse of data (in pieces of step, 0: at once) gave. */
static uint64_t run(const uint8_t *data, size_t size, size_t step) {
    lmd_http_req r;
    lmd_http_init(&r, &LIM);
    uint64_t h = 1469598103934665603ull;
    size_t at = 0;
    for (int guard = 0; guard < 100000; guard++) {
        size_t n = step && size - at > step ? step : size - at, used;
        enum lmd_http_event e = lmd_http_feed(&r, (const char *)data + at, n, &used);
        if (used > n) abort();
        at += used;
        /* the head holds the request line and headers, within the limits */
        if (r.head.len > LIM.max_uri + LIM.max_headers + 256 || r.body.len > LIM.max_body) abort();
        if (e == LMD_HTTP_HEAD) {
            h = h * 31 + strlen(r.path) + (lmd_http_header(&r, "Host") != NULL) +
                (lmd_http_arg(&r, "a") != NULL) * 7;
            continue;
        }
        if (e == LMD_HTTP_DONE) {
            h = h * 31 + r.body.len + (uint64_t)r.keep_alive;
            lmd_http_reset(&r);
            if (at == size) break;
            continue;
        }
        if (e == LMD_HTTP_ERROR) {
            static const int ok[] = {400, 413, 414, 431, 501, 505};
            int known = 0;
            for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
                known |= r.status == ok[i];
            if (!known || !r.msg[0] || !memchr(r.msg, 0, sizeof r.msg)) abort();
            h = h * 31 + (uint64_t)r.status;
            break;
        }
        if (at == size) break; /* LMD_HTTP_MORE with everything taken */
    }
    lmd_http_free(&r);
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t step = 1 + data[0] % 17;
    if (run(data + 1, size - 1, 0) != run(data + 1, size - 1, step)) abort();
    return 0;
}
