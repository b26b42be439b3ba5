/* journal.c - the crash-safe form of an analysis in progress.  OUT.partial
 * is a folder of segments: each is a complete analysis cache (cache_write.c)
 * of the texts scored between two checkpoints, written as NAME.tmp, fsync'ed
 * and renamed to NAME = "<index of its first text, 15 digits>.h5".  Nothing
 * is ever changed in place, so a kill (or power loss) at any moment leaves
 * whole segments and at most one .tmp: resuming removes the .tmp, opens
 * every segment read-only, checks that they are this analysis's and follow
 * each other, and continues after the last.  The finished cache is always
 * assembled from the segments, text by text, whether or not the run was
 * interrupted, so it is the same file either way.  An flock() on the folder
 * keeps a second writer out (docs/corpus.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis/cache_h5.h"

#define SEG_NAME_LEN 18 /* 15 digits + ".h5" */
#define ASSEMBLING "assembled.tmp"
#define ASSEMBLED "assembled.h5" /* whole, not yet renamed to OUT */

struct lmd_journal {
    char *dir;
    int fd; /* the folder, flock()ed while open */
    const lmd_cache_info *info;
    uint64_t *seg_first; /* first text of every renamed segment */
    size_t n_segs, cap_segs;
    uint64_t n_done;        /* texts in renamed segments */
    lmd_cache_writer *open; /* the segment being written, or NULL */
    uint64_t open_n;
    int assembled; /* ASSEMBLED is there */
};

static char *seg_path(const lmd_journal *j, uint64_t first, int tmp) {
    lmd_buf b = {0};
    if (lmd_buf_printf(&b, "%s/%015" PRIu64 ".h5%s", j->dir, first, tmp ? ".tmp" : "") < 0) {
        lmd_buf_free(&b);
        return NULL;
    }
    return b.data;
}

/* A segment's name: 15 digits + ".h5"; *first = the digits. */
static int is_seg_name(const char *name, uint64_t *first) {
    if (strlen(name) != SEG_NAME_LEN || strcmp(name + 15, ".h5")) return 0;
    for (int i = 0; i < 15; i++)
        if (name[i] < '0' || name[i] > '9') return 0;
    *first = strtoull(name, NULL, 10);
    return 1;
}

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && !strcmp(s + n - m, tail);
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int add_seg(lmd_journal *j, uint64_t first) {
    if (j->n_segs == j->cap_segs) {
        size_t cap = j->cap_segs ? 2 * j->cap_segs : 16;
        uint64_t *p = realloc(j->seg_first, cap * sizeof *p);
        if (!p) return -1;
        j->seg_first = p;
        j->cap_segs = cap;
    }
    j->seg_first[j->n_segs++] = first;
    return 0;
}

/* Lists the folder: removes *.tmp (unfinished segments, an unfinished
 * assembly), collects the segments in order.  Anything else is an error. */
static int scan(lmd_journal *j, lmd_error *err) {
    DIR *d = fdopendir(dup(j->fd));
    if (!d) return lmd_fail(err, "%s: cannot list: %s", j->dir, strerror(errno));
    rewinddir(d);
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        uint64_t first;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (ends_with(e->d_name, ".tmp")) {
            if (unlinkat(j->fd, e->d_name, 0) != 0)
                rc = lmd_fail(err, "%s/%s: cannot remove: %s", j->dir, e->d_name, strerror(errno));
        } else if (!strcmp(e->d_name, ASSEMBLED)) {
            j->assembled = 1;
        } else if (is_seg_name(e->d_name, &first)) {
            if (add_seg(j, first) < 0) rc = lmd_fail(err, "out of memory");
        } else {
            rc = lmd_fail(err,
                          "%s: holds %s, which lmdiff did not write; this is not a partial cache "
                          "to resume (remove the folder, or --force, to start over)",
                          j->dir, e->d_name);
        }
    }
    closedir(d);
    if (j->n_segs) qsort(j->seg_first, j->n_segs, sizeof *j->seg_first, cmp_u64);
    return rc;
}

static int same(const char *a, const char *b) {
    return a && b && !strcmp(a, b);
}

/* What differs between a segment's info and the expected one, or NULL. */
static const char *differs(const lmd_cache_info *have, const lmd_cache_info *want) {
    return !same(have->dataset_checksum, want->dataset_checksum)          ? "dataset checksum"
           : !same(have->vocab_hash, want->vocab_hash)                    ? "vocab hash"
           : !same(have->weights_hash, want->weights_hash)                ? "weights hash"
           : !same(have->model_name, want->model_name)                    ? "model name"
           : have->top_k != want->top_k                                   ? "top-k"
           : have->first_n != want->first_n                               ? "first-n"
           : strcmp(lmd_cache_precision(have), lmd_cache_precision(want)) ? "precision"
           : have->shard_k != want->shard_k || have->shard_n != want->shard_n ||
                   have->shard_first != want->shard_first
               ? "shard"
               : NULL;
}

static char *dir_file(const lmd_journal *j, const char *name) {
    return lmd_path_join(j->dir, name);
}

/* Opens path read-only: a cache of this analysis; *n = its texts. */
static int check_file(const lmd_journal *j, const char *path, uint64_t *n, lmd_error *err) {
    lmd_cache *c;
    if (lmd_cache_open(path, &c, err) < 0) {
        lmd_err_prefix(err, "%s: damaged", j->dir);
        size_t l = strlen(err->msg);
        snprintf(err->msg + l, sizeof err->msg - l,
                 "; the partial cache cannot be resumed (--force starts over)");
        return -1;
    }
    const char *what = differs(lmd_cache_get_info(c), j->info);
    *n = lmd_cache_get_info(c)->n_texts;
    lmd_cache_close(c);
    if (what)
        return lmd_fail(err,
                        "%s: the partial cache was made with another %s; it cannot be resumed "
                        "(--force starts over)",
                        j->dir, what);
    return 0;
}

/* Opens every segment (or the assembled cache) read-only: each must be
 * whole, of this analysis, and start where the one before ends.  Sets
 * j->n_done. */
static int validate(lmd_journal *j, lmd_error *err) {
    uint64_t next = 0;
    if (j->assembled) {
        char *p = dir_file(j, ASSEMBLED);
        int rc = p ? check_file(j, p, &j->n_done, err) : lmd_fail(err, "out of memory");
        free(p);
        if (rc == 0 && j->n_done != j->info->n_texts)
            rc = lmd_fail(err,
                          "%s: damaged: %s holds %" PRIu64 " texts, not %" PRIu64
                          "; the partial cache cannot be resumed (--force starts over)",
                          j->dir, ASSEMBLED, j->n_done, j->info->n_texts);
        return rc;
    }
    for (size_t s = 0; s < j->n_segs; s++) {
        char *p = seg_path(j, j->seg_first[s], 0);
        if (!p) return lmd_fail(err, "out of memory");
        int rc = 0;
        uint64_t n = 0;
        if (j->seg_first[s] != next)
            rc = lmd_fail(err,
                          "%s: damaged: the segment of texts from %" PRIu64
                          " is missing; the partial cache cannot be resumed (--force starts over)",
                          j->dir, next);
        else
            rc = check_file(j, p, &n, err);
        next += n;
        free(p);
        if (rc < 0) return -1;
    }
    j->n_done = next;
    return 0;
}

/* Removes the segments, last first (a kill meanwhile leaves a resumable
 * prefix), then the folder. */
static int remove_all(lmd_journal *j, lmd_error *err) {
    for (size_t s = j->n_segs; s-- > 0;) {
        char *p = seg_path(j, j->seg_first[s], 0);
        int bad = !p || (unlink(p) != 0 && errno != ENOENT);
        free(p);
        if (bad) return lmd_fail(err, "%s: cannot remove a segment: %s", j->dir, strerror(errno));
        j->n_segs = s;
    }
    return 0;
}

static int drop_assembled(lmd_journal *j, lmd_error *err) {
    char *p = dir_file(j, ASSEMBLED);
    int bad = !p || (unlink(p) != 0 && errno != ENOENT);
    free(p);
    if (bad) return lmd_fail(err, "%s: cannot remove %s: %s", j->dir, ASSEMBLED, strerror(errno));
    j->assembled = 0;
    return 0;
}

int lmd_journal_exists(const char *dir) {
    struct stat st;
    return lstat(dir, &st) == 0;
}

void lmd_journal_close(lmd_journal *j) {
    if (!j) return;
    if (j->open) {
        lmd_cache_writer_abort(j->open);
        char *p = seg_path(j, j->n_done, 1);
        if (p) unlink(p);
        free(p);
    }
    if (j->fd >= 0) close(j->fd); /* releases the lock */
    free(j->seg_first);
    free(j->dir);
    free(j);
}

/* mkdir; an older lmdiff's partial cache (a file) is replaced only when
 * starting over. */
static int make_dir(const char *dir, int mode, lmd_error *err) {
    struct stat st;
    if (lstat(dir, &st) == 0 && !S_ISDIR(st.st_mode)) {
        if (mode != LMD_JOURNAL_RESTART)
            return lmd_fail(err,
                            "%s is the partial cache of an older lmdiff, which cannot be "
                            "resumed (--force starts over)",
                            dir);
        if (unlink(dir) != 0) return lmd_fail(err, "%s: cannot remove: %s", dir, strerror(errno));
    }
    if (mkdir(dir, 0755) == 0) {
        if (lmd_sync_parent(dir, err) < 0) return -1; /* the folder survives a power cut */
    } else if (errno != EEXIST)
        return lmd_fail(err, "%s: cannot create: %s", dir, strerror(errno));
    return 0;
}

int lmd_journal_open(const char *dir, const lmd_cache_info *expect, int mode, lmd_journal **out,
                     uint64_t *n_done, lmd_error *err) {
    *out = NULL;
    *n_done = 0;
    if (make_dir(dir, mode, err) < 0) return -1;
    lmd_journal *j = calloc(1, sizeof *j);
    if (!j || !(j->dir = strdup(dir))) {
        free(j);
        return lmd_fail(err, "out of memory");
    }
    j->info = expect;
    j->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->fd < 0) {
        lmd_fail(err, "%s: cannot open: %s", dir, strerror(errno));
        goto fail;
    }
    if (flock(j->fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            lmd_fail(err, "%s: another lmdiff process is writing this cache (wait for it to end)",
                     dir);
        else
            lmd_fail(err, "%s: cannot lock: %s", dir, strerror(errno));
        goto fail;
    }
    if (scan(j, err) < 0) goto fail;
    if ((j->n_segs || j->assembled) && mode == LMD_JOURNAL_NEW) {
        lmd_fail(err,
                 "%s is left from an interrupted run: --resume continues it, --force starts over",
                 dir);
        goto fail;
    }
    if (mode == LMD_JOURNAL_RESTART ? remove_all(j, err) < 0 || drop_assembled(j, err) < 0
                                    : validate(j, err) < 0)
        goto fail;
    *n_done = j->n_done;
    *out = j;
    return 0;
fail:
    lmd_journal_close(j);
    return -1;
}

int lmd_journal_append(lmd_journal *j, const char *phrase, size_t len, const lmd_scores *s,
                       const lmd_span *sp, size_t n_sp, lmd_error *err) {
    if (!j->open) {
        char *p = seg_path(j, j->n_done, 1);
        if (!p) return lmd_fail(err, "out of memory");
        int rc = lmd_cache_create(p, j->info, NULL, 0, &j->open, err);
        free(p);
        if (rc < 0) return -1;
        j->open_n = 0;
    }
    if (lmd_cache_append(j->open, phrase, len, s, err) < 0) return -1;
    j->open_n++;
    if (sp && lmd_cache_append_spans(j->open, sp, n_sp, err) < 0) return -1;
    return 0;
}

int lmd_journal_checkpoint(lmd_journal *j, lmd_error *err) {
    if (!j->open) return 0;
    char *tmp = seg_path(j, j->n_done, 1), *fin = seg_path(j, j->n_done, 0);
    int rc = -1;
    lmd_cache_writer *w = j->open;
    j->open = NULL;
    if (!tmp || !fin) {
        lmd_cache_writer_abort(w);
        lmd_fail(err, "out of memory");
    } else if (lmd_cache_finish(w, 1, err) == 0 && lmd_publish(tmp, fin, err) == 0) {
        if (add_seg(j, j->n_done) < 0)
            lmd_fail(err, "out of memory");
        else {
            j->n_done += j->open_n;
            rc = 0;
        }
    }
    if (rc < 0 && tmp) unlink(tmp);
    free(tmp);
    free(fin);
    return rc;
}

void lmd_journal_tidy(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) rmdir(dir); /* only when empty */
    close(fd);
}

uint64_t lmd_journal_done(const lmd_journal *j) {
    return j->n_done + (j->open ? j->open_n : 0);
}

/* The token byte spans of a segment's text i, when it has them. */
static int copy_spans(lmd_cache *c, uint64_t i, lmd_cache_writer *w, lmd_error *err) {
    lmd_span *sp = NULL;
    size_t n = 0;
    int r = lmd_cache_read_spans(c, i, &sp, &n, err);
    int rc = r < 0 ? -1 : r == 0 ? lmd_cache_append_spans(w, sp, n, err) : 0;
    free(sp);
    return rc;
}

/* Copies every text of every segment (with its spans), in order, into w. */
static int copy_segments(lmd_journal *j, lmd_cache_writer *w, lmd_error *err) {
    for (size_t s = 0; s < j->n_segs; s++) {
        char *p = seg_path(j, j->seg_first[s], 0);
        lmd_cache *c;
        if (!p || lmd_cache_open(p, &c, err) < 0) {
            free(p);
            return p ? -1 : lmd_fail(err, "out of memory");
        }
        free(p);
        uint64_t n = lmd_cache_get_info(c)->n_texts;
        int rc = 0;
        for (uint64_t i = 0; i < n && rc == 0; i++) {
            lmd_cache_text t;
            rc = lmd_cache_read_text(c, i, LMD_CACHE_PHRASE, &t, err);
            if (rc == 0) {
                rc = lmd_cache_append(w, t.phrase, t.phrase_len, &t.s, err);
                lmd_cache_text_free(&t);
            }
            if (rc == 0) rc = copy_spans(c, i, w, err);
            if (i % 256 == 255) lmd_cache_release_pages(c);
        }
        lmd_cache_close(c);
        if (rc < 0) return -1;
    }
    return 0;
}

/* Writes ASSEMBLED from the segments (through ASSEMBLING, fsync'ed). */
static int assemble(lmd_journal *j, const char *const *vocab, size_t n_vocab, lmd_error *err) {
    char *tmp = dir_file(j, ASSEMBLING), *fin = dir_file(j, ASSEMBLED);
    lmd_cache_writer *w;
    int rc = !tmp || !fin ? lmd_fail(err, "out of memory")
                          : lmd_cache_create(tmp, j->info, vocab, n_vocab, &w, err);
    if (rc == 0) {
        if (copy_segments(j, w, err) < 0) {
            lmd_cache_writer_abort(w);
            rc = -1;
        } else {
            rc = lmd_cache_finish(w, 1, err);
        }
    }
    if (rc == 0) rc = lmd_publish(tmp, fin, err);
    if (rc == 0) {
        j->assembled = 1;
    } else if (tmp) {
        unlink(tmp);
    }
    free(tmp);
    free(fin);
    return rc;
}

/* The order makes every kill resumable: ASSEMBLED is whole before the
 * segments go, and it leaves the folder last. */
int lmd_journal_assemble(lmd_journal *j, const char *out_path, const char *const *vocab,
                         size_t n_vocab, lmd_error *err) {
    if (lmd_journal_checkpoint(j, err) < 0) return -1;
    if (!j->assembled && assemble(j, vocab, n_vocab, err) < 0) return -1;
    if (remove_all(j, err) < 0) return -1;
    char *p = dir_file(j, ASSEMBLED);
    if (!p) return lmd_fail(err, "out of memory");
    int rc = 0;
    if (rename(p, out_path) != 0)
        rc = lmd_fail(err, "%s: cannot rename %s to it: %s", out_path, p, strerror(errno));
    free(p);
    if (rc < 0) return -1;
    j->assembled = 0;
    if (lmd_sync_parent(out_path, err) < 0) return -1;
    return lmd_journal_discard(j, err);
}

int lmd_journal_discard(lmd_journal *j, lmd_error *err) {
    if (j->open) {
        lmd_cache_writer_abort(j->open);
        j->open = NULL;
        char *p = seg_path(j, j->n_done, 1);
        if (p) unlink(p);
        free(p);
    }
    if (remove_all(j, err) < 0 || drop_assembled(j, err) < 0) return -1;
    if (rmdir(j->dir) != 0) return lmd_fail(err, "%s: cannot remove: %s", j->dir, strerror(errno));
    return lmd_sync_parent(j->dir, err);
}
