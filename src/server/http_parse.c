/* http_parse.c - the incremental HTTP/1.1 request parser of http_parse.h.
 *
 * The request line and header lines are appended to one buffer as they
 * come; only the new bytes are searched for the end of a line, and a line
 * is checked once, when it ends.  A header line is rewritten in place to
 * "name\0value\0".  The body is copied out; chunk-size lines use a small
 * fixed buffer and trailers are skipped without being kept. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http_parse.h"

enum state {
    S_LINE,
    S_HEADERS,
    S_HEAD_OUT,
    S_BODY,
    S_CHUNK_SIZE,
    S_CHUNK_DATA,
    S_CHUNK_END,
    S_TRAILER,
    S_DONE,
    S_ERROR
};

/* Slack for what is not the target on the request line (method, spaces,
 * version) and for spacing in a header line, before a line still being read
 * is judged over the limit. */
#define LINE_SLACK 64
#define MAX_METHOD 32

static enum lmd_http_event fail(lmd_http_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum lmd_http_event fail(lmd_http_req *r, int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
    r->status = status;
    r->state = S_ERROR;
    return LMD_HTTP_ERROR;
}

void lmd_http_init(lmd_http_req *r, const lmd_http_limits *lim) {
    memset(r, 0, sizeof *r);
    r->lim = *lim;
}

void lmd_http_free(lmd_http_req *r) {
    lmd_buf_free(&r->head);
    lmd_buf_free(&r->body);
    lmd_buf_free(&r->args);
}

void lmd_http_reset(lmd_http_req *r) {
    lmd_http_limits lim = r->lim;
    lmd_http_free(r);
    lmd_http_init(r, &lim);
}

static int is_tchar(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int hex_digit(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long lmd_http_unescape(char *s, size_t len, int plus) {
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        char c = s[i];
        if (c == '%' && i + 2 < len && (hi = hex_digit((unsigned char)s[i + 1])) >= 0 &&
            (lo = hex_digit((unsigned char)s[i + 2])) >= 0) {
            c = (char)(hi * 16 + lo);
            if (!c) return -1;
            i += 2;
        } else if (plus && c == '+') {
            c = ' ';
        }
        s[o++] = c;
    }
    s[o] = 0;
    return (long)o;
}

/* The request line "METHOD SP target SP HTTP/1.x", NUL-terminated at line. */
static enum lmd_http_event request_line(lmd_http_req *r, char *line, size_t n) {
    char *sp1 = memchr(line, ' ', n);
    if (!sp1 || sp1 == line)
        return fail(r, 400, "the request line has no target (want \"METHOD /path HTTP/1.1\")");
    size_t ml = (size_t)(sp1 - line);
    for (size_t i = 0; i < ml; i++)
        if (!is_tchar((unsigned char)line[i]) || ml > MAX_METHOD)
            return fail(r, 400, "the request line does not start with a method");
    char *target = sp1 + 1, *end = line + n;
    char *sp2 = memchr(target, ' ', (size_t)(end - target));
    size_t tl = (size_t)((sp2 ? sp2 : end) - target);
    if (tl > r->lim.max_uri)
        return fail(r, 414, "the URI has %zu bytes; the limit is %zu", tl, r->lim.max_uri);
    if (!sp2 || tl == 0) return fail(r, 400, "the request line has no HTTP version");
    for (size_t i = 0; i < tl; i++)
        if ((unsigned char)target[i] <= 0x20 || target[i] == 0x7f)
            return fail(r, 400, "the request target has a space or a control character");
    if (target[0] != '/' && strncasecmp(target, "http://", 7) && strncasecmp(target, "https://", 8))
        return fail(r, 400, "the request target must be a path starting with / or an http URI");
    const char *v = sp2 + 1;
    size_t vl = (size_t)(end - v);
    if (vl != 8 || strncmp(v, "HTTP/", 5) || v[6] != '.' || v[5] < '0' || v[5] > '9' ||
        v[7] < '0' || v[7] > '9')
        return fail(r, 400, "the request line does not end with HTTP/1.1 or HTTP/1.0");
    if (v[5] != '1' || (v[7] != '0' && v[7] != '1'))
        return fail(r, 505, "HTTP/%c.%c is not supported; use HTTP/1.1 or HTTP/1.0", v[5], v[7]);
    r->minor = v[7] - '0';
    r->keep_alive = r->minor == 1;
    r->target_len = tl;
    *sp1 = 0;
    *sp2 = 0;
    r->headers_at = r->head.len;
    return LMD_HTTP_MORE;
}

/* 1 when the comma-separated list has the token (case-insensitive). */
static int has_token(const char *list, const char *tok) {
    size_t tn = strlen(tok);
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == tn && !strncasecmp(p, tok, tn)) return 1;
        p += n;
    }
    return 0;
}

static enum lmd_http_event content_length(lmd_http_req *r, const char *v) {
    if (!*v) return fail(r, 400, "the Content-Length header is empty");
    uint64_t x = 0;
    int over = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return fail(r, 400, "the Content-Length \"%.40s\" is not a number", v);
        if (x > (UINT64_MAX - 9) / 10) over = 1;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    if (over) x = UINT64_MAX;
    if (r->has_length && x != r->content_length)
        return fail(r, 400, "the request has two different Content-Length headers");
    r->has_length = 1;
    r->content_length = x;
    return LMD_HTTP_MORE;
}

/* The headers lmdiff acts on as they come: Host, Content-Length,
 * Transfer-Encoding, Connection. */
static enum lmd_http_event known_header(lmd_http_req *r, const char *name, const char *v) {
    if (!strcasecmp(name, "Host") && ++r->n_host > 1)
        return fail(r, 400, "the request has more than one Host header");
    if (!strcasecmp(name, "Content-Length")) return content_length(r, v);
    if (!strcasecmp(name, "Transfer-Encoding")) r->n_te++;
    if (!strcasecmp(name, "Connection")) {
        if (has_token(v, "close")) r->keep_alive = 0;
        if (has_token(v, "keep-alive")) r->keep_alive = 1;
    }
    return LMD_HTTP_MORE;
}

/* A header line "Name: value" of n bytes at line, rewritten to "Name\0value\0". */
static enum lmd_http_event header_line(lmd_http_req *r, char *line, size_t n) {
    if (line[0] == ' ' || line[0] == '\t')
        return fail(r, 400, "a header line starts with a space (obsolete line folding)");
    char *colon = memchr(line, ':', n);
    if (!colon) return fail(r, 400, "a header line has no colon: \"%.40s\"", line);
    size_t nl = (size_t)(colon - line);
    for (size_t i = 0; i < nl; i++)
        if (!is_tchar((unsigned char)line[i]))
            return fail(r, 400, "the header name \"%.40s\" is not a token", line);
    if (nl == 0) return fail(r, 400, "a header line has no name");
    char *v = colon + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (const char *p = v; p < end; p++)
        if (((unsigned char)*p < 0x20 && *p != '\t') || *p == 0x7f)
            return fail(r, 400, "the header %.*s has a control character", (int)nl, line);
    size_t vl = (size_t)(end - v);
    r->header_bytes += nl + vl + 4;
    if (r->header_bytes > r->lim.max_headers)
        return fail(r, 431, "the request headers have over %zu bytes; the limit is %zu",
                    r->header_bytes, r->lim.max_headers);
    *colon = 0;
    memmove(colon + 1, v, vl);
    colon[1 + vl] = 0;
    r->head.len = (size_t)(colon + 2 + vl - r->head.data);
    return known_header(r, line, colon + 1);
}

const char *lmd_http_header(const lmd_http_req *r, const char *name) {
    if (r->state <= S_HEADERS || r->state == S_ERROR) return NULL;
    const char *p = r->head.data + r->headers_at, *end = r->head.data + r->head.len;
    while (p < end) {
        const char *v = p + strlen(p) + 1;
        if (!strcasecmp(p, name)) return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

const char *lmd_http_arg(const lmd_http_req *r, const char *key) {
    const char *p = r->args.data, *end = p + r->args.len;
    while (p && p < end) {
        const char *v = p + strlen(p) + 1;
        if (!strcmp(p, key)) return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

/* Splits the query "a=1&b=x+y" into decoded "key\0value\0" pairs; a part
 * without '=' is left out (no value). */
static int parse_args(lmd_http_req *r, const char *q) {
    while (*q) {
        size_t n = strcspn(q, "&");
        const char *eq = memchr(q, '=', n);
        if (eq) {
            size_t start = r->args.len, kl = (size_t)(eq - q), vl = n - kl - 1;
            if (lmd_buf_put(&r->args, q, kl + 1) < 0 || lmd_buf_put(&r->args, eq + 1, vl + 1) < 0)
                return -2;
            char *k = r->args.data + start, *v = k + kl + 1;
            long kn = lmd_http_unescape(k, kl, 1), vn = lmd_http_unescape(v, vl, 1);
            if (kn < 0 || vn < 0) return -1;
            memmove(k + kn + 1, v, (size_t)vn + 1);
            r->args.len = start + (size_t)kn + 1 + (size_t)vn + 1;
        }
        q += n + (q[n] == '&');
    }
    return 0;
}

/* An absolute-form target "http://authority/path?query" (RFC 9112 3.2.2):
 * copies the authority, and moves *t to the path ("/" when there is none). */
static int absolute_form(lmd_http_req *r, char **t) {
    char *p = *t + (!strncasecmp(*t, "http://", 7) ? 7 : 8);
    size_t n = strcspn(p, "/?");
    if (n == 0 || n >= sizeof r->authority) return -1;
    memcpy(r->authority, p, n);
    r->authority[n] = 0;
    p += n;
    if (*p != '/') *--p = '/'; /* over the authority's last byte, copied already */
    *t = p;
    return 0;
}

/* The path and query of the target, decoded. */
static enum lmd_http_event split_target(lmd_http_req *r) {
    char *t = r->head.data + strlen(r->head.data) + 1;
    if (t[0] != '/' && absolute_form(r, &t) < 0)
        return fail(r, 400, "the request target has no host or one over %zu bytes",
                    sizeof r->authority - 1);
    char *q = strchr(t, '?');
    if (q) *q++ = 0;
    if (lmd_http_unescape(t, strlen(t), 0) < 0)
        return fail(r, 400, "the path has an escaped NUL (%%00)");
    int rc = q ? parse_args(r, q) : 0;
    if (rc == -1) return fail(r, 400, "a query argument has an escaped NUL (%%00)");
    if (rc == -2) return fail(r, 503, "out of memory for the query arguments");
    r->method = r->head.data;
    r->path = t;
    return LMD_HTTP_MORE;
}

/* The empty line after the headers: what the body is. */
static enum lmd_http_event end_of_headers(lmd_http_req *r) {
    if (r->minor == 1 && r->n_host == 0)
        return fail(r, 400, "an HTTP/1.1 request must have a Host header");
    if (r->n_te && r->has_length)
        return fail(r, 400, "the request has both Content-Length and Transfer-Encoding");
    r->state = S_HEAD_OUT;
    if (r->n_te) {
        const char *te = lmd_http_header(r, "Transfer-Encoding");
        if (r->n_te > 1 || strcasecmp(te, "chunked"))
            return fail(r, 501, "Transfer-Encoding \"%.40s\" is not supported (only chunked)", te);
        r->has_body = 1;
        if (r->minor == 0) r->keep_alive = 0; /* RFC 9112 §6.1: close after answering */
    } else if (r->has_length) {
        if (r->content_length > r->lim.max_body)
            return fail(r, 413, "request body larger than %zu bytes", r->lim.max_body);
        r->has_body = 1;
        r->left = r->content_length;
    }
    if (split_target(r) == LMD_HTTP_ERROR) return LMD_HTTP_ERROR;
    /* an absolute-form target's host is the one that counts (RFC 9112 3.2.2) */
    r->host = r->authority[0] ? r->authority : lmd_http_header(r, "Host");
    return LMD_HTTP_HEAD;
}

/* A complete line of the head (without its line end) at line_start. */
static enum lmd_http_event head_line(lmd_http_req *r) {
    char *line = r->head.data + r->line_start;
    size_t n = r->head.len - r->line_start;
    if (n && line[n - 1] == '\r') line[--n] = 0;
    if (memchr(line, '\r', n)) return fail(r, 400, "a bare CR in the request head");
    if (memchr(line, 0, n)) return fail(r, 400, "a NUL byte in the request head");
    r->head.len = r->line_start + n + 1; /* the NUL that ends it */
    if (r->state == S_LINE) {
        if (n == 0) { /* empty lines before a request are ignored (RFC 9112 2.2) */
            r->head.len = 0;
            return LMD_HTTP_MORE;
        }
        r->state = S_HEADERS;
        return request_line(r, line, n);
    }
    if (n == 0) {
        r->head.len = r->line_start;
        return end_of_headers(r);
    }
    return header_line(r, line, n);
}

/* Bytes of the head; stops after each complete line that ends the head or fails. */
static enum lmd_http_event feed_head(lmd_http_req *r, const char *d, size_t len, size_t *used) {
    while (*used < len) {
        const char *p = d + *used;
        const char *nl = memchr(p, '\n', len - *used);
        size_t n = nl ? (size_t)(nl - p) : len - *used;
        size_t line = r->head.len - r->line_start + n;
        if (r->state == S_LINE && line > r->lim.max_uri + LINE_SLACK)
            return fail(r, 414, "the URI has over %zu bytes; the limit is %zu", r->lim.max_uri,
                        r->lim.max_uri);
        if (r->state == S_HEADERS && r->header_bytes + line > r->lim.max_headers + LINE_SLACK)
            return fail(r, 431, "the request headers have over %zu bytes; the limit is %zu",
                        r->lim.max_headers, r->lim.max_headers);
        if (lmd_buf_put(&r->head, p, n + (nl != NULL)) < 0)
            return fail(r, 503, "out of memory for the request headers");
        *used += n + (nl != NULL);
        if (!nl) break;
        r->head.data[--r->head.len] = 0; /* the '\n' */
        enum lmd_http_event e = head_line(r);
        r->line_start = r->head.len;
        if (e != LMD_HTTP_MORE) return e;
    }
    return LMD_HTTP_MORE;
}

/* Body bytes up to r->left; -1 when out of memory. */
static int take_body(lmd_http_req *r, const char *d, size_t len, size_t *used) {
    size_t n = len - *used < r->left ? len - *used : (size_t)r->left;
    if (n && lmd_buf_put(&r->body, d + *used, n) < 0) return -1;
    *used += n;
    r->left -= n;
    return 0;
}

/* A chunk-size line: hex digits, then extensions after ';' (ignored). */
static enum lmd_http_event chunk_size(lmd_http_req *r) {
    char *l = r->chunk_line;
    size_t n = r->chunk_len;
    if (n && l[n - 1] == '\r') n--;
    l[n] = 0;
    uint64_t x = 0;
    size_t i = 0;
    for (int h; i < n && (h = hex_digit((unsigned char)l[i])) >= 0; i++) {
        if (x > (UINT64_MAX >> 4)) return fail(r, 413, "a chunk size is over 64 bits");
        x = x * 16 + (uint64_t)h;
    }
    size_t j = i;
    while (j < n && (l[j] == ' ' || l[j] == '\t'))
        j++;
    if (i == 0 || (j < n && l[j] != ';'))
        return fail(r, 400, "the chunk size \"%.20s\" is not a hex number", l);
    if (x > r->lim.max_body - r->body.len)
        return fail(r, 413, "request body larger than %zu bytes", r->lim.max_body);
    r->left = x;
    r->chunk_len = 0;
    r->state = x ? S_CHUNK_DATA : S_TRAILER;
    return LMD_HTTP_MORE;
}

/* One step of a chunked body. */
static enum lmd_http_event feed_chunked(lmd_http_req *r, const char *d, size_t len, size_t *used) {
    char c = d[*used];
    switch (r->state) {
    case S_CHUNK_SIZE:
        ++*used;
        if (c == '\n') return chunk_size(r);
        if (r->chunk_len + 1 >= sizeof r->chunk_line)
            return fail(r, 400, "a chunk-size line is over %zu bytes", sizeof r->chunk_line - 2);
        r->chunk_line[r->chunk_len++] = c;
        return LMD_HTTP_MORE;
    case S_CHUNK_DATA:
        if (take_body(r, d, len, used) < 0) return fail(r, 503, "out of memory for the body");
        if (!r->left) r->state = S_CHUNK_END;
        return LMD_HTTP_MORE;
    case S_CHUNK_END: /* the CRLF after the data */
        ++*used;
        if (c == '\r' && r->chunk_len == 0) return r->chunk_len = 1, LMD_HTTP_MORE;
        if (c != '\n') return fail(r, 400, "a chunk's data is not followed by CRLF");
        r->chunk_len = 0;
        r->state = S_CHUNK_SIZE;
        return LMD_HTTP_MORE;
    default: /* S_TRAILER: lines skipped until an empty one */
        ++*used;
        if (c != '\n') {
            if (++r->header_bytes > r->lim.max_headers + LINE_SLACK)
                return fail(r, 431, "the trailer lines are over %zu bytes", r->lim.max_headers);
            r->trailer_len += c != '\r';
            return LMD_HTTP_MORE;
        }
        if (r->trailer_len) return r->trailer_len = 0, LMD_HTTP_MORE;
        r->state = S_DONE;
        return LMD_HTTP_DONE;
    }
}

enum lmd_http_event lmd_http_feed(lmd_http_req *r, const char *d, size_t len, size_t *used) {
    *used = 0;
    if (r->state == S_LINE || r->state == S_HEADERS) return feed_head(r, d, len, used);
    if (r->state == S_ERROR) return LMD_HTTP_ERROR;
    if (r->state == S_DONE) return LMD_HTTP_DONE;
    if (r->state == S_HEAD_OUT)
        r->state = !r->has_body ? S_DONE : r->has_length ? S_BODY : S_CHUNK_SIZE;
    if (r->state == S_BODY) {
        if (take_body(r, d, len, used) < 0) return fail(r, 503, "out of memory for the body");
        if (!r->left) r->state = S_DONE;
    }
    while (r->state != S_DONE && *used < len) {
        enum lmd_http_event e = feed_chunked(r, d, len, used);
        if (e != LMD_HTTP_MORE) return e;
    }
    return r->state == S_DONE ? LMD_HTTP_DONE : LMD_HTTP_MORE;
}
