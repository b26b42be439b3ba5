/* json_check.c - what cJSON accepts or reports badly in a request body,
 * found before it is parsed: a NUL in a string (cJSON's strings end at the
 * first NUL, so "ab\u0000cd" would read as "ab") and \u escapes of UTF-16
 * surrogates that are not a high-low pair. */
#include <stdio.h>
#include <string.h>

#include "server/internal.h"

/* The value of the 4 hex digits at p, or -1. */
static long hex4(const char *p) {
    long v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    return v;
}

int lmd_json_check(const char *body, size_t len, char *msg, size_t msg_len) {
    const char *nul = memchr(body, 0, len);
    if (nul) {
        snprintf(msg, msg_len, "the request body has a NUL byte at byte %zu", (size_t)(nul - body));
        return -1;
    }
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = body[i];
        if (ch == '"') in_str = !in_str;
        if (!in_str || ch != '\\') continue;
        if (i + 1 < len && body[i + 1] != 'u') { /* \" \\ \n ...: skip the escaped char */
            i++;
            continue;
        }
        long u = i + 6 <= len ? hex4(body + i + 2) : -1;
        if (u < 0) continue; /* malformed: cJSON says so */
        if (u == 0) {
            snprintf(msg, msg_len,
                     "a JSON string has \\u0000 (a NUL) at byte %zu; texts and ids "
                     "must not contain NUL characters",
                     i);
            return -1;
        }
        if (u >= 0xDC00 && u <= 0xDFFF) {
            snprintf(msg, msg_len,
                     "a JSON string has a lone low surrogate \\u%04lX at byte %zu "
                     "(it must follow a high surrogate \\uD800-\\uDBFF)",
                     u, i);
            return -1;
        }
        if (u >= 0xD800 && u <= 0xDBFF) {
            long lo = i + 12 <= len && body[i + 6] == '\\' && body[i + 7] == 'u'
                          ? hex4(body + i + 8)
                          : -1;
            if (lo < 0xDC00 || lo > 0xDFFF) {
                snprintf(msg, msg_len,
                         "a JSON string has a lone high surrogate \\u%04lX at byte "
                         "%zu (it must be followed by a low surrogate "
                         "\\uDC00-\\uDFFF)",
                         u, i);
                return -1;
            }
            i += 6; /* the pair's low half is checked */
        }
        i += 5;
    }
    return 0;
}
