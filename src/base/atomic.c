/* atomic.c - files that appear whole or not at all (atomic.h): a temporary
 * beside the final path, fsync, rename, fsync of the folder.  Write errors
 * keep their errno: "No space left on device", not stdio's later
 * "Input/output error". */
#define _GNU_SOURCE /* fopencookie */
#include "base/atomic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The stream's writes: the errno of the first failure stays in the handle
 * (stdio forgets it: a later fflush of an empty buffer reports nothing). */
static ssize_t atomic_write(void *cookie, const char *buf, size_t n) {
    lmd_atomic *a = cookie;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(a->fd, buf + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (!a->write_errno) a->write_errno = w < 0 ? errno : EIO;
            return done ? (ssize_t)done : -1;
        }
        done += (size_t)w;
    }
    return (ssize_t)done;
}

static int atomic_close(void *cookie) {
    lmd_atomic *a = cookie;
    int rc = a->fd >= 0 ? close(a->fd) : 0;
    if (rc != 0 && !a->write_errno) a->write_errno = errno;
    a->fd = -1;
    return rc;
}

static const cookie_io_functions_t atomic_io = {NULL, atomic_write, NULL, atomic_close};

int lmd_atomic_open(lmd_atomic *a, const char *path, lmd_error *err) {
    memset(a, 0, sizeof *a);
    a->fd = -1;
    size_t n = strlen(path) + 32;
    a->path = strdup(path);
    a->tmp = malloc(n);
    if (!a->path || !a->tmp) {
        lmd_atomic_abort(a);
        return lmd_fail(err, "%s: out of memory", path);
    }
    snprintf(a->tmp, n, "%s.tmp%ld", path, (long)getpid());
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(a->tmp);
        a->tmp = NULL;
        lmd_atomic_abort(a);
        return lmd_fail(err, "%s: cannot create: %s", path, strerror(e));
    }
    a->fd = fd;
    a->f = fopencookie(a, "wb", atomic_io);
    if (!a->f) {
        lmd_atomic_abort(a);
        return lmd_fail(err, "%s: out of memory", path);
    }
    return 0;
}

int lmd_atomic_sync(lmd_atomic *a, lmd_error *err) {
    if (!a->f) return 0;
    int e = 0;
    if (fflush(a->f) != 0 || ferror(a->f)) e = a->write_errno ? a->write_errno : EIO;
    if (!e && fsync(a->fd) != 0) e = errno;
    if (fclose(a->f) != 0 && !e) e = a->write_errno ? a->write_errno : EIO;
    a->f = NULL;
    if (e) {
        lmd_fail(err, "%s: cannot write: %s", a->path, strerror(e));
        lmd_atomic_abort(a);
        return -1;
    }
    return 0;
}

int lmd_atomic_commit(lmd_atomic *a, lmd_error *err) {
    if (lmd_atomic_sync(a, err) < 0) return -1;
    int rc = lmd_publish(a->tmp, a->path, err);
    if (rc < 0) {
        lmd_atomic_abort(a);
        return -1;
    }
    free(a->tmp);
    free(a->path);
    a->tmp = a->path = NULL;
    return 0;
}

void lmd_atomic_abort(lmd_atomic *a) {
    if (a->f)
        fclose(a->f);
    else if (a->fd >= 0 && a->tmp)
        close(a->fd);
    if (a->tmp) unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    memset(a, 0, sizeof *a);
}

/* fsync of a file or folder; the errno on failure, else 0. */
static int sync_file(const char *path, int flags) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0) return errno;
    int e = fsync(fd) != 0 ? errno : 0;
    close(fd);
    return e;
}

int lmd_sync_parent(const char *path, lmd_error *err) {
    char *d = strdup(path);
    if (!d) return lmd_fail(err, "%s: out of memory", path);
    char *slash = strrchr(d, '/');
    const char *dir = ".";
    if (slash == d)
        dir = "/";
    else if (slash) {
        *slash = 0;
        dir = d;
    }
    int e = sync_file(dir, O_DIRECTORY);
    int rc = e && e != EINVAL
                 ? lmd_fail_code(err, lmd_errno_code(e), "%s: cannot sync its folder %s: %s", path,
                                 dir, strerror(e))
                 : 0;
    free(d);
    return rc;
}

int lmd_publish(const char *tmp, const char *path, lmd_error *err) {
    int e = sync_file(tmp, 0);
    if (e) {
        unlink(tmp);
        return lmd_fail_code(err, lmd_errno_code(e), "%s: cannot write %s: %s", path, tmp,
                             strerror(e));
    }
    if (rename(tmp, path) != 0) {
        e = errno;
        unlink(tmp);
        return lmd_fail_code(err, lmd_errno_code(e), "%s: cannot rename %s to it: %s", path, tmp,
                             strerror(e));
    }
    return lmd_sync_parent(path, err);
}
