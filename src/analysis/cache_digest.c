/* cache_digest.c - the digest that lets HDF5 parse only caches lmdiff wrote
 * (docs/corpus.md, "The digest").  Every cache starts with a 512-byte HDF5
 * userblock that HDF5 and h5py skip; lmdiff fills it, after the file is
 * closed and before it is fsync'ed and renamed, with a text header:
 *
 *     lmdiff cache digest 1\n
 *     sha256 <64 lowercase hex digits>\n
 *     bytes <decimal>\n
 *     (NUL padding to 512 bytes)
 *
 * where the SHA-256 covers every byte after the userblock and `bytes`
 * counts them.  A reader checks the header and the hash before HDF5 opens
 * the file; a file checked once in this process is not hashed again while
 * its (device, inode, size, mtime, ctime) stay the same and it had not
 * changed for 2 s when it was checked. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analysis/cache_h5.h"

#define MAGIC "lmdiff cache digest 1\n"
static const unsigned char hdf5_sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

/* ------------------------------------------------ files checked already */

typedef struct seen_key {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime, ctime;
} seen_key;

#define SEEN_MAX 64
static seen_key seen[SEEN_MAX];
static size_t n_seen, seen_next;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;

static seen_key key_of(const struct stat *st) {
    seen_key k;
    memset(&k, 0, sizeof k); /* padding too: keys are compared with memcmp */
    k.dev = st->st_dev;
    k.ino = st->st_ino;
    k.size = st->st_size;
    k.mtime = st->st_mtim;
    k.ctime = st->st_ctim;
    return k;
}

static int seen_has(const seen_key *k) {
    pthread_mutex_lock(&seen_lock);
    int hit = 0;
    for (size_t i = 0; i < n_seen && !hit; i++)
        hit = !memcmp(&seen[i], k, sizeof *k);
    pthread_mutex_unlock(&seen_lock);
    return hit;
}

/* Remembers k unless the file changed less than 2 s before `now`: file
 * times tick in jiffies, so a file rewritten in place that quickly could
 * keep its key (git's "racily clean" rule). */
static void seen_add(const seen_key *k, const struct timespec *now) {
    if (now->tv_sec - k->ctime.tv_sec < 2 || now->tv_sec - k->mtime.tv_sec < 2) return;
    pthread_mutex_lock(&seen_lock);
    seen[seen_next] = *k; /* the oldest goes when full */
    seen_next = (seen_next + 1) % SEEN_MAX;
    if (n_seen < SEEN_MAX) n_seen++;
    pthread_mutex_unlock(&seen_lock);
}

/* ------------------------------------------------ hashing */

/* SHA-256 of bytes [from, to) of fd, as hex. */
static int hash_range(int fd, off_t from, off_t to, char hex[65]) {
    enum { BUF = 1 << 20 };
    char *buf = malloc(BUF);
    lmd_sha256 *h = buf ? lmd_sha256_new() : NULL;
    int rc = h ? 0 : -1;
    for (off_t at = from; rc == 0 && at < to;) {
        size_t want = to - at < BUF ? (size_t)(to - at) : BUF;
        ssize_t got = pread(fd, buf, want, at);
        if (got <= 0) {
            if (got == 0) errno = EIO; /* shorter than fstat said: changed meanwhile */
            if (got < 0 && errno == EINTR) continue;
            rc = -1;
            break;
        }
        lmd_sha256_update(h, buf, (size_t)got);
        at += got;
    }
    int e = errno;
    lmd_sha256_final_hex(h, hex);
    free(buf);
    errno = e;
    return rc;
}

int lmd_cache_seal(const char *path, lmd_error *err) {
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return lmd_fail_code(err, LMD_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    unsigned char sig[8] = {0};
    char hex[65], head[LMD_CACHE_USERBLOCK];
    int rc = -1;
    if (fstat(fd, &st) != 0 || pread(fd, sig, 8, LMD_CACHE_USERBLOCK) < 0) {
        lmd_fail_code(err, LMD_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    } else if (memcmp(sig, hdf5_sig, 8)) {
        lmd_fail(err, "%s: no HDF5 file after a %d-byte userblock: cannot seal it", path,
                 LMD_CACHE_USERBLOCK);
    } else if (hash_range(fd, LMD_CACHE_USERBLOCK, st.st_size, hex) < 0) {
        lmd_fail_code(err, LMD_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    } else {
        memset(head, 0, sizeof head);
        snprintf(head, sizeof head, MAGIC "sha256 %s\nbytes %" PRIu64 "\n", hex,
                 (uint64_t)(st.st_size - LMD_CACHE_USERBLOCK));
        if (pwrite(fd, head, sizeof head, 0) != (ssize_t)sizeof head)
            lmd_fail_code(err, LMD_ERR_IO, "%s: cannot write: %s", path,
                          errno ? strerror(errno) : "short write");
        else
            rc = 0;
    }
    close(fd);
    return rc;
}

/* ------------------------------------------------ checking */

/* Parses the header: 0 with the hash and the byte count, -1 when the
 * userblock is not a digest. */
static int parse_head(const char *h, char hex[65], uint64_t *bytes) {
    size_t m = strlen(MAGIC);
    if (memcmp(h, MAGIC, m) || memcmp(h + m, "sha256 ", 7)) return -1;
    const char *x = h + m + 7;
    for (int i = 0; i < 64; i++)
        if (!((x[i] >= '0' && x[i] <= '9') || (x[i] >= 'a' && x[i] <= 'f'))) return -1;
    memcpy(hex, x, 64);
    hex[64] = 0;
    const char *b = x + 64;
    if (memcmp(b, "\nbytes ", 7)) return -1;
    b += 7;
    uint64_t v = 0;
    int digits = 0;
    for (; *b >= '0' && *b <= '9' && digits < 19; b++, digits++)
        v = v * 10 + (uint64_t)(*b - '0');
    if (!digits || *b != '\n') return -1;
    for (const char *p = b + 1; p < h + LMD_CACHE_USERBLOCK; p++)
        if (*p) return -1;
    *bytes = v;
    return 0;
}

/* Why a file without a digest is refused. */
static int no_digest(const char *path, const char *head, size_t got, lmd_error *err) {
    if (got >= 8 && !memcmp(head, hdf5_sig, 8))
        return lmd_fail_code(
            err, LMD_ERR_UNSUPPORTED,
            "%s: an HDF5 file without lmdiff's digest (a cache of the original LMdiff or of an "
            "earlier lmdiff); lmdiff lets HDF5 read only caches "
            "it can check: 'lmdiff cache import %s -o NEW.h5' reads it once and writes a "
            "checked copy",
            path, path);
    if (got >= strlen(MAGIC) && !memcmp(head, MAGIC, strlen(MAGIC)))
        return lmd_fail_code(err, LMD_ERR_BAD_INPUT, "%s: damaged (%s)", path,
                             got < LMD_CACHE_USERBLOCK ? "cut short inside its digest header"
                                                       : "its digest header is unreadable");
    return lmd_fail_code(err, LMD_ERR_BAD_INPUT, "%s: not an lmdiff analysis cache%s", path,
                         got < LMD_CACHE_USERBLOCK + 8 ? " (too short)" : " (not HDF5)");
}

int lmd_cache_verify(const char *path, lmd_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block */
    if (fd < 0)
        return lmd_fail_code(err, errno == ENOENT ? LMD_ERR_NOT_FOUND : LMD_ERR_IO, "%s: %s", path,
                             strerror(errno));
    struct stat st;
    char head[LMD_CACHE_USERBLOCK], want[65], have[65];
    uint64_t bytes = 0;
    unsigned char sig[8] = {0};
    int rc = -1;
    if (fstat(fd, &st) != 0) {
        lmd_fail_code(err, LMD_ERR_IO, "%s: %s", path, strerror(errno));
        goto done;
    }
    if (!S_ISREG(st.st_mode)) {
        lmd_fail_code(err, LMD_ERR_BAD_INPUT, "%s: not a regular file", path);
        goto done;
    }
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    seen_key k = key_of(&st);
    if (seen_has(&k)) {
        rc = 0;
        goto done;
    }
    ssize_t got = pread(fd, head, sizeof head, 0);
    if (got < 0) {
        lmd_fail_code(err, LMD_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
        goto done;
    }
    if (got < (ssize_t)sizeof head || parse_head(head, want, &bytes) < 0) {
        no_digest(path, head, (size_t)got, err);
        goto done;
    }
    if (bytes != (uint64_t)st.st_size - LMD_CACHE_USERBLOCK) {
        lmd_fail_code(err, LMD_ERR_BAD_INPUT,
                      "%s: damaged (its digest covers %" PRIu64 " bytes, the file has %" PRIu64
                      " after its header: cut short or appended to)",
                      path, bytes, (uint64_t)st.st_size - LMD_CACHE_USERBLOCK);
        goto done;
    }
    if (pread(fd, sig, 8, LMD_CACHE_USERBLOCK) != 8 || memcmp(sig, hdf5_sig, 8) ||
        hash_range(fd, LMD_CACHE_USERBLOCK, st.st_size, have) < 0) {
        lmd_fail_code(err, LMD_ERR_BAD_INPUT, "%s: damaged (%s)", path,
                      memcmp(sig, hdf5_sig, 8) ? "no HDF5 signature after the digest"
                                               : strerror(errno));
        goto done;
    }
    if (strcmp(want, have)) {
        lmd_fail_code(err, LMD_ERR_BAD_INPUT,
                      "%s: damaged (its bytes do not match the digest lmdiff wrote: changed "
                      "or corrupted after it was written)",
                      path);
        goto done;
    }
    seen_add(&k, &now);
    rc = 0;
done:
    close(fd);
    return rc;
}
