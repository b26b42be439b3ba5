/* compare.c - `lmdiff compare`: per-text measures of two analysis caches of
 * one dataset.  For every text, six per-token differences (model 2 minus
 * model 1) are aggregated six ways; the rows go to a CSV per direction (the
 * original's columns first) and to a binary table per direction for search
 * and the server.  Definitions: docs/measures.md.  Caches of models with
 * different tokenizers go to compare_segments.c. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analysis/corpus.h"
#include "analysis/diff.h"
#include "analysis/kl.h"
#include "analysis/segments.h"

static const char *const measure_names[LMD_TM_SEGMENT_BPB + 1] = {
    "rank_diff",    "clamped_rank_diff", "prob_diff", "topk_diff",
    "logprob_diff", "entropy_diff",      "kl",        "segment_bpb_diff"};
static const char *const agg_names[LMD_AGG_COUNT] = {"avg", "max", "min", "median", "q75", "top5"};

static char col_names[LMD_N_COLUMNS][40];
static int csv_order[LMD_N_CSV_COLUMNS];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void build_names(void) {
    snprintf(col_names[0], sizeof col_names[0], "n_tokens");
    for (int m = 0; m <= LMD_TM_SEGMENT_BPB; m++)
        for (int a = 0; a < LMD_AGG_COUNT; a++)
            snprintf(col_names[lmd_column_of(m, a)], sizeof col_names[0], "%s_%s", agg_names[a],
                     measure_names[m]);
    snprintf(col_names[LMD_COL_N_BYTES], sizeof col_names[0], "n_bytes");
    snprintf(col_names[LMD_COL_BPB1], sizeof col_names[0], "bpb1");
    snprintf(col_names[LMD_COL_BPB2], sizeof col_names[0], "bpb2");
    snprintf(col_names[LMD_COL_BPB_DIFF], sizeof col_names[0], "bpb_diff");
    /* the CSV: the original's columns first, in its order */
    int n = 0, used[LMD_N_CSV_COLUMNS] = {0};
    csv_order[n++] = 0;
    used[0] = 1;
    for (int m = LMD_TM_RANK; m <= LMD_TM_TOPK; m++)
        for (int a = LMD_AGG_AVG; a <= LMD_AGG_MAX; a++) {
            csv_order[n++] = lmd_column_of(m, a);
            used[lmd_column_of(m, a)] = 1;
        }
    for (int c = 0; c < LMD_N_CSV_COLUMNS; c++)
        if (!used[c]) csv_order[n++] = c;
}

int lmd_column_of(lmd_text_measure m, lmd_aggregation a) {
    return 1 + (int)m * LMD_AGG_COUNT + (int)a;
}

const char *lmd_column_name(int col) {
    pthread_once(&names_once, build_names);
    return col >= 0 && col < LMD_N_COLUMNS ? col_names[col] : NULL;
}

int lmd_column_find(const char *name) {
    pthread_once(&names_once, build_names);
    for (int c = 0; c < LMD_N_COLUMNS; c++)
        if (!strcmp(name, col_names[c])) return c;
    return -1;
}

int lmd_column_is_integer(int col) {
    if (col == 0 || col == LMD_COL_N_BYTES) return 1;
    if (col < 0 || col >= LMD_N_CSV_COLUMNS) return 0;
    int m = (col - 1) / LMD_AGG_COUNT, a = (col - 1) % LMD_AGG_COUNT;
    return (m == LMD_TM_RANK || m == LMD_TM_CLAMPED_RANK || m == LMD_TM_TOPK) &&
           (a == LMD_AGG_MAX || a == LMD_AGG_MIN);
}

int lmd_csv_column(int i) {
    pthread_once(&names_once, build_names);
    return i >= 0 && i < LMD_N_CSV_COLUMNS ? csv_order[i] : -1;
}

/* ------------------------------------------------------------ one text */

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static void sort_doubles(double *v, size_t n) {
    if (n > 24) {
        qsort(v, n, sizeof *v, cmp_double);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        double x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) {
            v[j] = v[j - 1];
            j--;
        }
        v[j] = x;
    }
}

/* numpy's linear interpolation between a and b */
static double lerp(double a, double b, double t) {
    double d = b - a;
    return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

/* numpy.quantile(v, q), method "linear", v sorted ascending */
static double quantile(const double *v, size_t n, double q) {
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    if (lo + 1 >= n) return v[n - 1];
    return lerp(v[lo], v[lo + 1], pos - (double)lo);
}

/* The six aggregations of v[n] (n > 0); sorts v. */
static void aggregate(double *v, size_t n, double *out) {
    double sum = 0, mx = v[0], mn = v[0];
    for (size_t i = 0; i < n; i++) {
        sum += v[i];
        if (v[i] > mx) mx = v[i];
        if (v[i] < mn) mn = v[i];
    }
    sort_doubles(v, n);
    size_t t = n < 5 ? n : 5;
    double top = 0;
    for (size_t i = n - t; i < n; i++)
        top += v[i];
    out[LMD_AGG_AVG] = sum / (double)n;
    out[LMD_AGG_MAX] = mx;
    out[LMD_AGG_MIN] = mn;
    out[LMD_AGG_MEDIAN] = quantile(v, n, 0.5);
    out[LMD_AGG_Q75] = quantile(v, n, 0.75);
    out[LMD_AGG_TOP5] = top / (double)t;
}

void lmd_aggregate(double *v, size_t n, double out[LMD_AGG_COUNT]) {
    aggregate(v, n, out);
}

typedef struct scratch {
    double *v;
    int32_t *ids;
    size_t cap, kcap;
} scratch;

static int row_with(scratch *sc, const lmd_scores *a, int ae, const lmd_scores *b, int be,
                    int clamp, double *row) {
    size_t n = a->n;
    row[0] = (double)n;
    for (int c = 1; c < LMD_N_COLUMNS; c++)
        row[c] = NAN;
    if (n == 0) return 0;
    int k = a->k < b->k ? a->k : b->k;
    if (n > sc->cap) {
        double *v = realloc(sc->v, n * sizeof *v);
        if (!v) return -1;
        sc->v = v;
        sc->cap = n;
    }
    if ((size_t)k > sc->kcap) {
        int32_t *p = realloc(sc->ids, (size_t)k * sizeof *p);
        if (!p) return -1;
        sc->ids = p;
        sc->kcap = (size_t)k;
    }
    double *v = sc->v;
    for (int m = 0; m < LMD_TM_COUNT; m++) {
        if ((m == LMD_TM_ENTROPY && !(ae && be)) || m == LMD_TM_KL) continue; /* kl: kl_row */
        for (size_t i = 0; i < n; i++) {
            int32_t r1 = a->rank[i], r2 = b->rank[i];
            switch (m) {
            case LMD_TM_RANK:
                v[i] = (double)((int64_t)r2 - r1);
                break;
            case LMD_TM_CLAMPED_RANK:
                v[i] = (double)((r2 < clamp ? r2 : clamp) - (r1 < clamp ? r1 : clamp));
                break;
            case LMD_TM_PROB:
                v[i] = (double)b->prob[i] - (double)a->prob[i];
                break;
            case LMD_TM_TOPK:
                v[i] = lmd_topk_missing(a->topk_ids + i * (size_t)a->k, k,
                                        b->topk_ids + i * (size_t)b->k, k);
                break;
            case LMD_TM_LOGPROB:
                v[i] = b->logprob[i] - a->logprob[i];
                break;
            default:
                v[i] = (double)b->entropy[i] - (double)a->entropy[i];
            }
        }
        aggregate(v, n, row + lmd_column_of(m, 0));
    }
    return 0;
}

int lmd_compare_row(const lmd_scores *a, int a_entropy, const lmd_scores *b, int b_entropy,
                    int clamp, double row[LMD_N_COLUMNS], lmd_error *err) {
    if (a->n != b->n) return lmd_fail(err, "the two scorings have %zu and %zu tokens", a->n, b->n);
    scratch sc = {0};
    int rc =
        row_with(&sc, a, a_entropy, b, b_entropy, clamp > 0 ? clamp : LMD_DEFAULT_MAX_CLAMP, row);
    free(sc.v);
    free(sc.ids);
    return rc < 0 ? lmd_fail(err, "out of memory") : 0;
}

/* The kl columns of text i in direction d from the pair file (n: the
 * text's tokens, which the file must have too). */
static int kl_row(const lmd_kl_pair *p, uint64_t i, int d, size_t n, scratch *sc, double *row,
                  lmd_error *err) {
    size_t m;
    const float *k = lmd_kl_pair_text(p, i, d, &m);
    if (m != n)
        return lmd_fail(err,
                        "text %" PRIu64 " has %zu tokens in the KL pair file but %zu in the caches",
                        i, m, n);
    if (n == 0) return 0;
    for (size_t t = 0; t < n; t++)
        sc->v[t] = k[t];
    aggregate(sc->v, n, row + lmd_column_of(LMD_TM_KL, 0));
    return 0;
}

/* ------------------------------------------------------------ files */

static void csv_header(FILE *f) {
    fputc(',', f);
    for (int i = 0; i < LMD_N_CSV_COLUMNS; i++) {
        const char *name = lmd_column_name(lmd_csv_column(i));
        fputs(name ? name : "?", f);
        fputc(i + 1 < LMD_N_CSV_COLUMNS ? ',' : '\n', f);
    }
}

/* One CSV line: the index, then the columns in CSV order; NaN is an empty
 * field (as pandas writes it), integer columns have no fraction. */
static void csv_row(FILE *f, const double *row, uint64_t index) {
    char line[LMD_N_CSV_COLUMNS * 40 + 32], *p = line;
    p += sprintf(p, "%" PRIu64, index);
    for (int i = 0; i < LMD_N_CSV_COLUMNS; i++) {
        int c = lmd_csv_column(i);
        double v = row[c];
        *p++ = ',';
        if (isnan(v)) continue;
        if (lmd_column_is_integer(c))
            p += sprintf(p, "%lld", (long long)v);
        else {
            lmd_fmt_double(p, v);
            p += strlen(p);
        }
    }
    *p++ = '\n';
    fwrite(line, 1, (size_t)(p - line), f);
}

void lmd_compare_out_free(lmd_compare_out *o) {
    for (int d = 0; d < 2; d++) {
        free(o->csv[d]);
        free(o->table[d]);
    }
    memset(o, 0, sizeof *o);
}

static char *out_name(const char *dir, const char *a, const char *b, const char *ds,
                      const char *ext) {
    lmd_buf p = {0};
    if (lmd_buf_printf(&p, "%s/%s_%s_%s.%s", dir, a, b, ds, ext) < 0) {
        lmd_buf_free(&p);
        return NULL;
    }
    return p.data;
}

/* Fills out->csv/out->table (see corpus.h) from the file-safe names; the
 * part of lmd_compare_paths after the names are made. */
static int paths_of(const lmd_cache_info *const in[2], char *const m[2], const char *ds,
                    const char *out_dir, const char *csv_ext, int force, lmd_compare_out *out,
                    lmd_error *err) {
    if (!m[0] || !m[1] || !ds) return lmd_fail(err, "out of memory");
    if (!strcmp(m[0], m[1]))
        return lmd_fail(err,
                        "both caches are of a model named '%s'; the outputs would have one name "
                        "('lmdiff analyze --name' names a cache's model)",
                        in[0]->model_name);
    if (lmd_mkdirs(out_dir, err) < 0) return -1;
    for (int d = 0; d < 2; d++) {
        out->csv[d] = out_name(out_dir, m[d], m[1 - d], ds, csv_ext);
        out->table[d] = out_name(out_dir, m[d], m[1 - d], ds, "lmdt");
        if (!out->csv[d] || !out->table[d]) return lmd_fail(err, "out of memory");
        for (int e = 0; e < 2; e++) {
            const char *p = e ? out->table[d] : out->csv[d];
            if (!force && lmd_file_exists(p))
                return lmd_fail(err, "%s exists (--force replaces it)", p);
        }
    }
    return 0;
}

int lmd_compare_paths(const lmd_cache_info *const in[2], const char *out_dir, const char *csv_ext,
                      int force, lmd_compare_out *out, lmd_error *err) {
    char *m[2] = {lmd_file_safe_name(in[0]->model_name), lmd_file_safe_name(in[1]->model_name)};
    char *ds = lmd_file_safe_name(in[0]->dataset_name);
    int rc = paths_of(in, m, ds, out_dir, csv_ext, force, out, err);
    free(m[0]);
    free(m[1]);
    free(ds);
    return rc;
}

/* The token ids of both caches must agree text by text. */
static int same_tokens(const char *p1, const char *p2, uint64_t i, const lmd_scores *a,
                       const lmd_scores *b, lmd_error *err) {
    if (a->n != b->n)
        return lmd_fail(err, "text %" PRIu64 " has %zu tokens in %s but %zu in %s", i, a->n, p1,
                        b->n, p2);
    for (size_t t = 0; t < a->n; t++)
        if (a->ids[t] != b->ids[t])
            return lmd_fail(err, "text %" PRIu64 ", token %zu: id %d in %s but %d in %s", i, t,
                            a->ids[t], p1, b->ids[t], p2);
    return 0;
}

/* ------------------------------------------------------------ workers */

/* What every worker shares: the rows (in memory that forked workers share
 * with the parent) and the progress. */
typedef struct job {
    const char *path[2];
    const lmd_kl_pair *kl; /* or NULL */
    int clamp;
    size_t per;     /* rows per column */
    double *store;  /* [2][LMD_N_COLUMNS][per] */
    uint64_t *lens; /* [per] phrase bytes */
    uint64_t *done; /* texts finished, all workers */
    volatile sig_atomic_t *cancel;
    lmd_progress_fn progress; /* in-process runs only */
    void *progress_ctx;
    uint64_t n;
    int kl_swap; /* the pair file's model 1 is cache 2 */
} job;

typedef struct slot {
    int failed;
    lmd_error err;
} slot;

/* Texts lo..hi-1: rows of both directions into the shared store and as CSV
 * lines into csv[0] and csv[1], phrases appended to phr. */
static int work(const job *j, uint64_t lo, uint64_t hi, FILE *phr, FILE *const *csv,
                lmd_error *err) {
    lmd_cache *c[2] = {NULL, NULL};
    scratch sc = {0};
    double row[LMD_N_COLUMNS];
    int rc = -1;
    if (lmd_cache_open(j->path[0], &c[0], err) < 0 || lmd_cache_open(j->path[1], &c[1], err) < 0)
        goto done;
    for (uint64_t i = lo; i < hi; i++) {
        if (j->cancel && *j->cancel) {
            lmd_fail(err, "interrupted; nothing was written");
            goto done;
        }
        lmd_cache_text t[2];
        if (lmd_cache_read_text(c[0], i, LMD_CACHE_PHRASE | LMD_CACHE_NO_TOPK_PROBS, &t[0], err) <
            0)
            goto done;
        if (lmd_cache_read_text(c[1], i, LMD_CACHE_NO_TOPK_PROBS, &t[1], err) < 0) {
            lmd_cache_text_free(&t[0]);
            goto done;
        }
        int bad = same_tokens(j->path[0], j->path[1], i, &t[0].s, &t[1].s, err) < 0;
        for (int d = 0; d < 2 && !bad; d++) {
            const lmd_cache_text *a = &t[d], *b = &t[1 - d];
            if (row_with(&sc, &a->s, a->has_entropy, &b->s, b->has_entropy, j->clamp, row) < 0) {
                bad = 1;
                lmd_fail(err, "out of memory");
            } else if (j->kl && kl_row(j->kl, i, d ^ j->kl_swap, a->s.n, &sc, row, err) < 0)
                bad = 1;
            for (int k = 0; k < LMD_N_COLUMNS && !bad; k++)
                j->store[((size_t)d * LMD_N_COLUMNS + (size_t)k) * j->per + i] = row[k];
            if (!bad) csv_row(csv[d], row, i);
        }
        if (!bad) {
            j->lens[i] = t[0].phrase_len;
            if (fwrite(t[0].phrase, 1, t[0].phrase_len, phr) != t[0].phrase_len) {
                bad = 1;
                lmd_fail(err, "cannot write a temporary file");
            }
        }
        lmd_cache_text_free(&t[0]);
        lmd_cache_text_free(&t[1]);
        if (bad) goto done;
        uint64_t d = __atomic_add_fetch(j->done, 1, __ATOMIC_RELAXED);
        if (j->progress && (d % 1024 == 0 || d == j->n)) j->progress(j->progress_ctx, d, j->n, 0);
    }
    rc = fflush(phr) == 0 && fflush(csv[0]) == 0 && fflush(csv[1]) == 0 && !ferror(csv[0]) &&
                 !ferror(csv[1])
             ? 0
             : lmd_fail(err, "cannot write a temporary file: %s", strerror(errno));
done:
    lmd_cache_close(c[0]);
    lmd_cache_close(c[1]);
    free(sc.v);
    free(sc.ids);
    return rc;
}

/* Runs the texts in `workers` forked processes (1: in this process),
 * gathers the phrases into blob/offs and appends the CSV lines of both
 * directions to csv_out[0] and csv_out[1]. */
static int run_workers(job *j, int workers, lmd_buf *blob, uint64_t *offs, FILE *const *csv_out,
                       lmd_error *err) {
    uint64_t n = j->n;
    FILE **phr = calloc((size_t)workers * 3, sizeof *phr); /* phrases, csv 0, csv 1 */
    pid_t *pid = calloc((size_t)workers, sizeof *pid);
    slot *slots = mmap(NULL, (size_t)workers * sizeof *slots, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int rc = -1;
    if (!phr || !pid || slots == MAP_FAILED) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    for (int w = 0; w < 3 * workers; w++)
        if (!(phr[w] = tmpfile())) {
            lmd_fail(err, "cannot create a temporary file: %s", strerror(errno));
            goto done;
        }
    if (workers == 1) {
        if (work(j, 0, n, phr[0], phr + workers, err) < 0) goto done;
    } else {
        fflush(NULL); /* nothing buffered may be written twice */
        for (int w = 0; w < workers; w++) {
            uint64_t lo = n * (uint64_t)w / (uint64_t)workers,
                     hi = n * (uint64_t)(w + 1) / (uint64_t)workers;
            pid[w] = fork();
            if (pid[w] == 0) {
                FILE *csv[2] = {phr[workers + 2 * w], phr[workers + 2 * w + 1]};
                int r = work(j, lo, hi, phr[w], csv, &slots[w].err);
                slots[w].failed = r < 0;
                _exit(r < 0 ? 1 : 0);
            }
            if (pid[w] < 0) {
                lmd_fail(err, "cannot start a worker process: %s", strerror(errno));
                for (int v = 0; v < w; v++)
                    kill(pid[v], SIGTERM);
                for (int v = 0; v < w; v++)
                    waitpid(pid[v], NULL, 0);
                goto done;
            }
        }
        int left = workers, failed = -1;
        while (left > 0) {
            for (int w = 0; w < workers; w++) {
                int status;
                if (pid[w] > 0 && waitpid(pid[w], &status, WNOHANG) == pid[w]) {
                    pid[w] = 0;
                    left--;
                    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) &&
                        (failed < 0 || w < failed))
                        failed = w;
                }
            }
            if (j->progress)
                j->progress(j->progress_ctx, __atomic_load_n(j->done, __ATOMIC_RELAXED), n, 0);
            if (left > 0) usleep(50000);
        }
        if (failed >= 0) {
            if (slots[failed].failed)
                *err = slots[failed].err;
            else
                lmd_fail(err, "a worker process died");
            goto done;
        }
    }
    /* the phrases, in text order: the workers' files hold consecutive slices */
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        offs[i] = total;
        total += j->lens[i];
    }
    offs[n] = total;
    blob->data = malloc((size_t)total + 1);
    if (!blob->data) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    blob->cap = (size_t)total + 1;
    for (int w = 0; w < workers; w++) {
        uint64_t lo = n * (uint64_t)w / (uint64_t)workers,
                 hi = n * (uint64_t)(w + 1) / (uint64_t)workers;
        size_t bytes = (size_t)(offs[hi] - offs[lo]);
        if (fseek(phr[w], 0, SEEK_SET) != 0 ||
            fread(blob->data + offs[lo], 1, bytes, phr[w]) != bytes) {
            lmd_fail(err, "cannot read back a temporary file");
            goto done;
        }
    }
    blob->len = (size_t)total;
    /* the CSV lines: worker by worker, in text order */
    char buf[65536];
    for (int d = 0; d < 2; d++)
        for (int w = 0; w < workers; w++) {
            FILE *in = workers == 1 ? phr[1 + d] : phr[workers + 2 * w + d];
            size_t got;
            if (fseek(in, 0, SEEK_SET) != 0) {
                lmd_fail(err, "cannot read back a temporary file");
                goto done;
            }
            while ((got = fread(buf, 1, sizeof buf, in)) > 0)
                fwrite(buf, 1, got, csv_out[d]);
        }
    rc = 0;
done:
    for (int w = 0; phr && w < 3 * workers; w++)
        if (phr[w]) fclose(phr[w]);
    if (slots != MAP_FAILED) munmap(slots, (size_t)workers * sizeof *slots);
    free(phr);
    free(pid);
    return rc;
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

/* Ends a comparison's four files: the two CSVs (f[0], f[2], written) are
 * synced, the two tables written after them into f[1], f[3] and synced;
 * then all four are renamed into place.  All written and synced before any
 * is renamed: a write error stays in the stream's error flag, and sync
 * reports it.  store: [2][LMD_N_COLUMNS][per]. */
int lmd_compare_commit(lmd_atomic f[4], const lmd_compare_out *out, const lmd_table_meta tm[2],
                       const double *store, size_t per, const char *blob, const uint64_t *offs,
                       lmd_error *err) {
    int ok = 1;
    for (int d = 0; d < 2 && ok; d++) {
        const double *cols[LMD_N_COLUMNS];
        for (int k = 0; k < LMD_N_COLUMNS; k++)
            cols[k] = store + ((size_t)d * LMD_N_COLUMNS + (size_t)k) * per;
        ok = lmd_atomic_sync(&f[2 * d], err) == 0;
        ok = ok && lmd_atomic_open(&f[2 * d + 1], out->table[d], err) == 0;
        ok = ok && lmd_table_write(f[2 * d + 1].f, &tm[d], cols, blob, offs, err) == 0;
        ok = ok && lmd_atomic_sync(&f[2 * d + 1], err) == 0;
    }
    for (int k = 0; k < 4 && ok; k++)
        ok = lmd_atomic_commit(&f[k], err) == 0;
    return ok ? 0 : -1;
}

/* 1 when the file `path` lies in folder dir (the tables name a pair file
 * by its name only, so it must be beside them). */
static int in_folder(const char *path, const char *dir) {
    const char *slash = strrchr(path, '/');
    char *pd = slash ? strndup(path, (size_t)(slash - path + 1)) : strdup(".");
    char *a = pd ? realpath(pd, NULL) : NULL, *b = realpath(dir, NULL);
    const int same = a && b && !strcmp(a, b);
    free(pd), free(a), free(b);
    return same;
}

/* Opens the KL pair file of these caches: made from the same dataset and
 * weights (else refused; caches given in the other order read it
 * reversed), beside the tables, and named in both. */
static int open_kl(const char *path, const char *out_dir, const lmd_cache_info *const in[2],
                   lmd_table_meta tm[2], lmd_kl_pair **kl, lmd_error *err) {
    if (lmd_kl_pair_open(path, kl, err) < 0) return -1;
    int swap = 0;
    const char *cs = in[0]->dataset_checksum, *w1 = in[0]->weights_hash, *w2 = in[1]->weights_hash;
    if (!lmd_kl_pair_matches(*kl, cs, w1, w2) && !(swap = lmd_kl_pair_matches(*kl, cs, w2, w1)))
        return lmd_fail(err, "%s was made from another dataset or other models than %s and %s",
                        path, in[0]->model_name, in[1]->model_name);
    if (lmd_kl_pair_n_texts(*kl) != in[0]->n_texts)
        return lmd_fail(err, "%s has %" PRIu64 " texts, the caches %" PRIu64, path,
                        lmd_kl_pair_n_texts(*kl), in[0]->n_texts);
    if (!in_folder(path, out_dir))
        return lmd_fail(err,
                        "%s is not in %s: the tables name their pair file by its name only, "
                        "so it must lie beside them (copy it there)",
                        path, out_dir);
    const char *slash = strrchr(path, '/');
    for (int d = 0; d < 2; d++) {
        tm[d].kl_reverse = d ^ swap;
        if (!(tm[d].kl = strdup(slash ? slash + 1 : path)))
            return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    }
    return 0;
}

int lmd_compare(const char *cache1, const char *cache2, const char *out_dir,
                const lmd_compare_opts *opts, lmd_compare_out *out, lmd_error *err) {
    lmd_compare_opts o = {0};
    if (opts) o = *opts;
    int clamp = o.max_clamp_rank > 0 ? o.max_clamp_rank : LMD_DEFAULT_MAX_CLAMP;
    memset(out, 0, sizeof *out);
    lmd_cache *c[2] = {NULL, NULL};
    double *store = MAP_FAILED;
    size_t store_len = 0;
    uint64_t *offs = NULL;
    lmd_buf blob = {0};
    lmd_atomic f[4];
    memset(f, 0, sizeof f);
    lmd_table_meta tm[2];
    memset(tm, 0, sizeof tm);
    lmd_kl_pair *kl = NULL;
    int rc = -1;
    if (lmd_cache_open(cache1, &c[0], err) < 0 || lmd_cache_open(cache2, &c[1], err) < 0) goto done;
    if (lmd_compare_is_cross(c[0], c[1])) { /* different tokenizers: by segments */
        if (o.kl_path) {
            lmd_fail_code(err, LMD_ERR_UNSUPPORTED,
                          "%s and %s have different tokenizers: a comparison by segments has no "
                          "KL",
                          cache1, cache2);
            goto done;
        }
        rc = lmd_compare_segments(c, out_dir, &o, out, err);
        goto done;
    }
    if (lmd_cache_comparable(c[0], c[1], err) < 0) goto done;
    const lmd_cache_info *in[2] = {lmd_cache_get_info(c[0]), lmd_cache_get_info(c[1])};
    if (lmd_compare_paths(in, out_dir, "csv", o.force, out, err) < 0) goto done;
    /* what the tables record, taken before the caches are closed */
    char *abs[2] = {realpath(cache1, NULL), realpath(cache2, NULL)};
    for (int d = 0; d < 2; d++) {
        const lmd_cache_info *a = in[d], *b = in[1 - d];
        tm[d].m1 = dup_or_null(a->model_name);
        tm[d].m2 = dup_or_null(b->model_name);
        tm[d].dataset_name = dup_or_null(in[0]->dataset_name);
        tm[d].dataset_checksum = dup_or_null(in[0]->dataset_checksum);
        tm[d].vocab_hash = dup_or_null(in[0]->vocab_hash);
        tm[d].cache1 = dup_or_null(abs[d] ? abs[d] : d ? cache2 : cache1);
        tm[d].cache2 = dup_or_null(abs[1 - d] ? abs[1 - d] : d ? cache1 : cache2);
        tm[d].weights_hash1 = dup_or_null(a->weights_hash);
        tm[d].weights_hash2 = dup_or_null(b->weights_hash);
        tm[d].max_clamp_rank = clamp;
        tm[d].top_k = in[0]->top_k < in[1]->top_k ? in[0]->top_k : in[1]->top_k;
        tm[d].n_texts = in[0]->n_texts;
    }
    free(abs[0]);
    free(abs[1]);
    if (o.kl_path && open_kl(o.kl_path, out_dir, in, tm, &kl, err) < 0) goto done;
    uint64_t n = in[0]->n_texts;
    lmd_cache_close(c[0]); /* workers open their own */
    lmd_cache_close(c[1]);
    c[0] = c[1] = NULL;

    size_t per = (size_t)(n ? n : 1);
    store_len = (2 * LMD_N_COLUMNS + 2) * per * sizeof(double) + 64;
    store = mmap(NULL, store_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    offs = malloc((per + 1) * sizeof *offs);
    if (store == MAP_FAILED || !offs) {
        lmd_fail(err, "out of memory for %" PRIu64 " texts", n);
        goto done;
    }
    job j = {{cache1, cache2},
             kl,
             clamp,
             per,
             store,
             (uint64_t *)(store + 2 * LMD_N_COLUMNS * per),
             (uint64_t *)(store + (2 * LMD_N_COLUMNS + 1) * per),
             o.cancel,
             o.progress,
             o.progress_ctx,
             n,
             tm[0].kl_reverse};
    int workers = o.workers > 1 ? o.workers : 1;
    if ((uint64_t)workers > n) workers = n ? (int)n : 1;
    if (lmd_atomic_open(&f[0], out->csv[0], err) < 0 ||
        lmd_atomic_open(&f[2], out->csv[1], err) < 0)
        goto done;
    csv_header(f[0].f);
    csv_header(f[2].f);
    FILE *csv_out[2] = {f[0].f, f[2].f};
    if (run_workers(&j, workers, &blob, offs, csv_out, err) < 0) goto done;
    out->n_texts = n;

    if (lmd_compare_commit(f, out, tm, store, per, blob.data, offs, err) == 0) rc = 0;
done:
    for (int k = 0; k < 4; k++)
        lmd_atomic_abort(&f[k]);
    lmd_cache_close(c[0]);
    lmd_cache_close(c[1]);
    for (int d = 0; d < 2; d++)
        lmd_table_meta_free(&tm[d]);
    lmd_kl_pair_close(kl);
    if (store != MAP_FAILED) munmap(store, store_len);
    free(offs);
    lmd_buf_free(&blob);
    if (rc < 0) lmd_compare_out_free(out);
    return rc;
}
