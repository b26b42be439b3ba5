/* http_parse.h - an incremental HTTP/1.1 request parser (RFC 9112) for
 * `lmdiff serve`: fed bytes as they arrive, in pieces of any size, it yields
 * the method, the percent-decoded path and query arguments, the version, the
 * headers and the body (Content-Length or chunked, trailers skipped), or an
 * HTTP status and a one-sentence message.  Memory is bounded by the limits:
 * the request line and header lines are kept (at most max_uri + max_headers
 * and a little), the body up to max_body.  Each byte is looked at a bounded
 * number of times: no rescans of a growing buffer.  No I/O, no threads. */
#ifndef LMD_HTTP_PARSE_H
#define LMD_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

typedef struct lmd_http_limits {
    size_t max_uri;     /* the request target as sent: 414 beyond */
    size_t max_headers; /* header lines, "Name: value" plus 4 bytes each: 431 beyond */
    size_t max_body;    /* the body, announced or chunked: 413 beyond */
} lmd_http_limits;

/* What lmd_http_feed reached. */
enum lmd_http_event {
    LMD_HTTP_MORE,  /* every byte given was taken; more are needed */
    LMD_HTTP_HEAD,  /* the request line and headers are in (once per request) */
    LMD_HTTP_DONE,  /* the request is complete, body included */
    LMD_HTTP_ERROR, /* status and msg say why; the connection cannot go on */
};

typedef struct lmd_http_req {
    /* From LMD_HTTP_HEAD on (pointers into the parser's own memory). */
    const char *method;
    const char *path;  /* percent-decoded, without the query */
    const char *host;  /* an absolute-form target's authority, else the Host header, or NULL */
    size_t target_len; /* the request target as sent, query included */
    int minor;         /* HTTP/1.minor: 0 or 1 */
    int keep_alive;    /* the connection may carry another request */
    int has_body;      /* Content-Length (even 0) or chunked */
    uint64_t content_length; /* announced; 0 when chunked */
    /* From LMD_HTTP_DONE on. */
    lmd_buf body;
    /* LMD_HTTP_ERROR */
    int status;
    char msg[160];
    /* The parser's state (private). */
    lmd_http_limits lim;
    int state;
    int lines;           /* lines ended so far (request line included) */
    lmd_buf head;        /* request line and headers: "method\0target\0" then "name\0value\0"... */
    size_t line_start;   /* where the line being read begins in head */
    size_t headers_at;   /* where the header pairs begin in head */
    size_t header_bytes; /* counted as the limit says */
    int n_host, n_te, has_length;
    uint64_t left;       /* body or chunk bytes still due */
    char chunk_line[64]; /* a chunk-size line being read */
    size_t chunk_len;
    size_t trailer_len;  /* bytes of the trailer line being skipped */
    lmd_buf args;        /* decoded query arguments: "key\0value\0"... */
    char authority[256]; /* of an absolute-form target */
} lmd_http_req;

void lmd_http_init(lmd_http_req *r, const lmd_http_limits *lim);
/* Frees what the request holds and makes it ready for the next one. */
void lmd_http_reset(lmd_http_req *r);
void lmd_http_free(lmd_http_req *r);
/* Takes bytes from data (len may be 0) until one of the events; *used is how
 * many it took.  After LMD_HTTP_HEAD call it again for the body; after
 * LMD_HTTP_DONE the bytes not used belong to the next request (pipelining). */
enum lmd_http_event lmd_http_feed(lmd_http_req *r, const char *data, size_t len, size_t *used);
/* A header's value (the first one of that name, case-insensitive) or NULL. */
const char *lmd_http_header(const lmd_http_req *r, const char *name);
/* A query argument, decoded ('+' is a space), or NULL when absent. */
const char *lmd_http_arg(const lmd_http_req *r, const char *key);
/* Decodes %XX escapes in place (and '+' when plus is set); returns the new
 * length, or -1 when an escape decodes to NUL.  Malformed escapes stay as sent. */
long lmd_http_unescape(char *s, size_t len, int plus);

#endif
