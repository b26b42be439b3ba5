/* fuzz_file.h - the start-up shared by the fuzz targets whose reader takes a
 * path (fuzz_cache_read: an analysis cache; fuzz_table: a comparison
 * table): a temporary file of this process, removed at exit, that holds the
 * current input, and the rule that a refusal names that file. */
#ifndef LMD_FUZZ_FILE_H
#define LMD_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

static char fuzz_path[64];

static void fuzz_file_cleanup(void) {
    unlink(fuzz_path);
}

/* /tmp/lmd-fuzz-<what>-<pid><ext>; call from LLVMFuzzerInitialize. */
static inline void fuzz_file_init(const char *what, const char *ext) {
    snprintf(fuzz_path, sizeof fuzz_path, "/tmp/lmd-fuzz-%s-%d%s", what, (int)getpid(), ext);
    atexit(fuzz_file_cleanup);
}

/* Replaces the file's contents with the input. */
static inline void fuzz_file_write(const uint8_t *data, size_t size) {
    FILE *f = fopen(fuzz_path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort();
}

/* A refusal: a NUL-terminated message that names the file. */
static inline void fuzz_file_refused(const lmd_error *err) {
    if (!memchr(err->msg, 0, sizeof err->msg) || !strstr(err->msg, fuzz_path)) abort();
}

#endif
