/* fuzz_json_check.c - libFuzzer target: the request-body scan of the server
 * (NUL and lone surrogates in JSON strings, src/server/json_check.c) must
 * take any byte string without reading out of bounds, and reject a body
 * exactly when it has a raw NUL or the escape sequences it names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* a copy of exactly `size` bytes, so that a read past the end is caught */
    char *body = malloc(size ? size : 1);
    if (!body) return 0;
    if (size) memcpy(body, data, size);
    char msg[256];
    msg[0] = 0;
    int rc = lmd_json_check(body, size, msg, sizeof msg);
    if (rc < 0 && (msg[0] == 0 || !memchr(msg, 0, sizeof msg))) abort();
    if (rc == 0 && memchr(body, 0, size)) abort(); /* a raw NUL always fails */
    free(body);
    return 0;
}
