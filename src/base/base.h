/* base.h - small internal helpers shared by every part of liblmdiff:
 * error messages, whole-file reading, read-only mappings, UTF-8 checks and
 * SHA-256.  Nothing here prints or exits. */
#ifndef LMD_BASE_H
#define LMD_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "lmdiff.h"

#if defined(__GNUC__)
#define LMD_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LMD_PRINTF(a, b)
#endif

/* Fills err (may be NULL) with the message and LMD_ERR_FAILED and returns
 * -1, so that callers can write `return lmd_fail(err, "...")`. */
int lmd_fail(lmd_error *err, const char *fmt, ...) LMD_PRINTF(2, 3);
/* The same with a code (lmd_error_code). */
int lmd_fail_code(lmd_error *err, lmd_error_code code, const char *fmt, ...) LMD_PRINTF(3, 4);
/* The code for a failed system call's errno: ENOENT, ENOTDIR -> NOT_FOUND,
 * ENOMEM -> NO_MEMORY, EWOULDBLOCK, EBUSY -> BUSY, anything else -> IO. */
lmd_error_code lmd_errno_code(int e);

/* Prepends "prefix: " to the message already in err (the code stays). */
void lmd_err_prefix(lmd_error *err, const char *fmt, ...) LMD_PRINTF(2, 3);

/* Reads a whole file into a malloc'ed buffer with a NUL after the last byte. */
int lmd_read_file(const char *path, char **data, size_t *len, lmd_error *err);

/* A read-only mapping of a whole file. */
typedef struct lmd_map {
    const uint8_t *data;
    size_t len;
} lmd_map;
int lmd_map_file(const char *path, lmd_map *map, lmd_error *err);
void lmd_unmap(lmd_map *map);

/* Joins dir and name with one '/'.  Malloc'ed, NULL when out of memory. */
char *lmd_path_join(const char *dir, const char *name);
int lmd_file_exists(const char *path);

/* Returns the byte offset of the first invalid UTF-8 sequence, or len when the
 * whole buffer is valid (no overlongs, no surrogates, nothing past U+10FFFF). */
size_t lmd_utf8_check(const char *s, size_t len);

/* Length of the valid UTF-8 sequence at s (1-4), or 0 when it is invalid. */
int lmd_utf8_seq_len(const unsigned char *s, size_t avail);

/* SHA-256 of a buffer, in lowercase hex. */
typedef struct lmd_sha256 lmd_sha256;
lmd_sha256 *lmd_sha256_new(void);
void lmd_sha256_update(lmd_sha256 *h, const void *data, size_t len);
void lmd_sha256_final_hex(lmd_sha256 *h, char hex[65]); /* also frees h */
void lmd_sha256_hex(const void *data, size_t len, char hex[65]);

/* Growable byte buffer. */
typedef struct lmd_buf {
    char *data;
    size_t len, cap;
} lmd_buf;
int lmd_buf_put(lmd_buf *b, const void *data, size_t len);
int lmd_buf_puts(lmd_buf *b, const char *s);
int lmd_buf_printf(lmd_buf *b, const char *fmt, ...) LMD_PRINTF(2, 3);
void lmd_buf_free(lmd_buf *b);



/* The OpenBLAS kernel set in use ("SkylakeX", "Haswell", "Prescott", ...). */
const char *lmd_blas_corename(void);
/* When OpenBLAS fell back to its generic kernels although the CPU supports a
 * faster set, and OPENBLAS_CORETYPE is unset: that set's name; else NULL.
 * OPENBLAS_CORETYPE is read when OpenBLAS loads, so a program that wants it
 * must set it and re-execute itself (src/cli/main.c does). */
const char *lmd_blas_better_coretype(void);
/* Sets, where unset, OPENBLAS_CORETYPE (see above) and OMP_WAIT_POLICY=passive
 * in the environment; returns 1 when something changed, and the program must
 * then re-execute itself for OpenBLAS and libgomp to read them.  Never twice
 * in one process tree (LMDIFF_ENV_TUNED). */
int lmd_runtime_env_tune(void);

#endif
