/* atomic.h - files that appear whole or not at all: a file is written under
 * a temporary name beside its final path, fsync'ed, renamed into place and
 * its folder fsync'ed.  lmd_atomic writes through stdio and keeps the first
 * write's errno; lmd_publish does the last steps for a file written by
 * other means (HDF5, a GGUF writer).  Every failed fsync or rename is
 * reported with the file's name and strerror ("No space left on device"). */
#ifndef LMD_ATOMIC_H
#define LMD_ATOMIC_H

#include <stdio.h>

#include "base/base.h"

/* A file written under a temporary name beside its final path and renamed
 * into place by lmd_atomic_commit, so that readers never see half a file. */
typedef struct lmd_atomic {
    FILE *f; /* writes go straight to fd; the first failure's errno is kept */
    char *path, *tmp;
    int fd, write_errno;
} lmd_atomic;
int lmd_atomic_open(lmd_atomic *a, const char *path, lmd_error *err);
/* Flushes, fsyncs and closes the temporary (the step where a full disk
 * shows); on failure removes it. */
int lmd_atomic_sync(lmd_atomic *a, lmd_error *err);
/* lmd_atomic_sync if not done yet, then lmd_publish; on failure removes the
 * temporary. */
int lmd_atomic_commit(lmd_atomic *a, lmd_error *err);
/* Closes and removes the temporary (safe on a zeroed or finished handle). */
void lmd_atomic_abort(lmd_atomic *a);

/* Makes the closed file tmp the file path: fsyncs tmp, renames it to path
 * and fsyncs path's folder.  When the fsync or the rename fails, tmp is
 * removed and path is left as it was; when only the folder's fsync fails,
 * path is the whole new file but the rename may not survive a power cut.
 * Either way the error names the file and the system's reason. */
int lmd_publish(const char *tmp, const char *path, lmd_error *err);
/* fsync()s the folder that holds path, so that a rename in it is durable.
 * File systems that cannot sync a folder (EINVAL) are not an error. */
int lmd_sync_parent(const char *path, lmd_error *err);

#endif
