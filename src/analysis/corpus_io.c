/* corpus_io.c - file helpers of the corpus pipeline: atomic replacement
 * (temporary file + fsync + rename, whose write errors keep their errno:
 * "No space left on device", not stdio's later "Input/output error"),
 * mkdir -p, file-name rules, and the number format of the CSV files. */
#define _GNU_SOURCE /* fopencookie */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/corpus.h"

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

void lmd_sync_parent(const char *path) {
    char *d = strdup(path);
    if (!d) return;
    char *slash = strrchr(d, '/');
    const char *dir = ".";
    if (slash == d)
        dir = "/";
    else if (slash) {
        *slash = 0;
        dir = d;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(d);
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
    int e = 0;
    if (rename(a->tmp, a->path) != 0) e = errno;
    if (e) {
        lmd_fail(err, "%s: cannot write: %s", a->path, strerror(e));
        lmd_atomic_abort(a);
        return -1;
    }
    lmd_sync_parent(a->path);
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

int lmd_mkdirs(const char *dir, lmd_error *err) {
    char *p = strdup(dir);
    if (!p) return lmd_fail(err, "%s: out of memory", dir);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = 0;
    for (char *s = p + 1;; s++) {
        int end = *s == 0;
        if (*s == '/' || end) {
            char c = *s;
            *s = 0;
            struct stat st;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                lmd_fail(err, "%s: cannot create folder: %s", p, strerror(e));
                free(p);
                return -1;
            }
            if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
                lmd_fail(err, "%s: exists and is not a folder", p);
                free(p);
                return -1;
            }
            *s = c;
        }
        if (end) break;
    }
    free(p);
    return 0;
}

char *lmd_path_stem(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    size_t e = n;
    for (size_t i = n; i > b + 1; i--)
        if (path[i - 1] == '.') {
            e = i - 1;
            break;
        }
    char *s = malloc(e - b + 1);
    if (!s) return NULL;
    memcpy(s, path + b, e - b);
    s[e - b] = 0;
    return s;
}

char *lmd_file_safe_name(const char *name) {
    lmd_buf b = {0};
    int rc = 0;
    for (const char *p = name; *p && !rc; p++) {
        if (*p == '/')
            rc = lmd_buf_puts(&b, "__SLASH__");
        else if ((unsigned char)*p < 0x20)
            rc = lmd_buf_put(&b, "_", 1);
        else
            rc = lmd_buf_put(&b, p, 1);
    }
    if (!rc) rc = lmd_buf_put(&b, "", 1);
    if (rc) {
        lmd_buf_free(&b);
        return NULL;
    }
    return b.data;
}

void lmd_fmt_double(char buf[40], double v) {
    if (!isfinite(v)) {
        buf[0] = 0;
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) { /* integral: "3.0" */
        snprintf(buf, 40, "%.0f.0", v);
        return;
    }
    /* 15 significant digits give the shortest form whenever it has at most
     * 15; otherwise 16 or 17, the first that reads back exactly */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 40, "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".e")) strcat(buf, ".0");
}
