/* compare_segments.c - `compare` for two caches of models with different
 * tokenizers: per text, the byte-aligned segments of the two tokenizations
 * (from the caches' token_spans) and their bits per byte (docs/measures.md,
 * "Segments"), written as <m1>_<m2>_<dataset>.segments.csv and
 * <m1>_<m2>_<dataset>.lmdt (segment columns, lmd_table_meta.segments) and
 * the reverse, for `search`, `preprocess` and the server. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/segments.h"

enum {
    SC_BYTES,
    SC_SEGS,
    SC_TOK1,
    SC_TOK2,
    SC_BPB1,
    SC_BPB2,
    SC_DBPB,
    SC_AGG,
    SC_COUNT = SC_AGG + LMD_AGG_COUNT
};

static const char *const seg_cols[SC_COUNT] = {"n_bytes",
                                               "n_segments",
                                               "n_tokens1",
                                               "n_tokens2",
                                               "bpb1",
                                               "bpb2",
                                               "bpb_diff",
                                               "avg_segment_bpb_diff",
                                               "max_segment_bpb_diff",
                                               "min_segment_bpb_diff",
                                               "median_segment_bpb_diff",
                                               "q75_segment_bpb_diff",
                                               "top5_segment_bpb_diff"};

int lmd_compare_is_cross(const lmd_cache *a, const lmd_cache *b) {
    const lmd_cache_info *x = lmd_cache_get_info(a), *y = lmd_cache_get_info(b);
    return x->format > 0 && y->format > 0 && strcmp(x->vocab_hash, y->vocab_hash) != 0;
}

/* One text: the spans and log-probs of both caches. */
typedef struct side {
    lmd_cache_text t;
    lmd_span *sp;
    size_t n;
} side;

static int read_side(lmd_cache *c, uint64_t i, int flags, side *s, lmd_error *err) {
    memset(s, 0, sizeof *s);
    if (lmd_cache_read_text(c, i, flags | LMD_CACHE_NO_TOPK_PROBS, &s->t, err) < 0) return -1;
    int rc = lmd_cache_read_spans(c, i, &s->sp, &s->n, err);
    if (rc == 1)
        return lmd_fail(err,
                        "%s: text %" PRIu64 " has no token byte spans (the cache was written "
                        "before lmdiff kept them): rebuild it with 'lmdiff analyze --force' to "
                        "compare models with different tokenizers",
                        lmd_cache_path(c), i);
    if (rc == 0 && s->n != s->t.s.n)
        return lmd_fail(err, "%s: text %" PRIu64 " has %zu token spans for %zu tokens",
                        lmd_cache_path(c), i, s->n, s->t.s.n);
    return rc;
}

static void free_side(side *s) {
    lmd_cache_text_free(&s->t);
    free(s->sp);
}

/* The row of text i in direction d (model 1 = side d). */
static int seg_row(const side *s, int d, size_t len, double row[SC_COUNT], lmd_error *err) {
    const side *a = &s[d], *b = &s[1 - d];
    lmd_segments sg;
    lmd_segment_stats st;
    if (lmd_segments_align(a->sp, a->n, b->sp, b->n, len, &sg, err) < 0) return -1;
    lmd_segments_sum(&sg, a->t.s.logprob, b->t.s.logprob);
    int rc = lmd_segment_stats_of(&sg, &st, err);
    row[SC_BYTES] = (double)len;
    row[SC_SEGS] = (double)sg.n;
    row[SC_TOK1] = (double)a->n;
    row[SC_TOK2] = (double)b->n;
    row[SC_BPB1] = st.bpb[0];
    row[SC_BPB2] = st.bpb[1];
    row[SC_DBPB] = st.dbpb;
    for (int k = 0; k < LMD_AGG_COUNT; k++)
        row[SC_AGG + k] = st.agg[k];
    lmd_segments_free(&sg);
    return rc;
}

static void put_row(FILE *f, uint64_t i, const double *row) {
    fprintf(f, "%" PRIu64, i);
    for (int k = 0; k < SC_COUNT; k++) {
        char v[40];
        if (k < SC_BPB1) /* counts */
            snprintf(v, sizeof v, "%.0f", row[k]);
        else
            lmd_fmt_double(v, row[k]);
        fprintf(f, ",%s", v);
    }
    fputc('\n', f);
}

/* Row r (SC_ columns) as table columns of text i in direction d. */
static void put_cols(double *store, size_t per, int d, uint64_t i, const double *r) {
    double *col0 = store + (size_t)d * LMD_N_COLUMNS * per;
    for (int c = 0; c < LMD_N_COLUMNS; c++)
        col0[(size_t)c * per + i] = NAN;
    col0[i] = r[SC_TOK1]; /* n_tokens: model 1's */
    col0[(size_t)LMD_COL_N_BYTES * per + i] = r[SC_BYTES];
    col0[(size_t)LMD_COL_BPB1 * per + i] = r[SC_BPB1];
    col0[(size_t)LMD_COL_BPB2 * per + i] = r[SC_BPB2];
    col0[(size_t)LMD_COL_BPB_DIFF * per + i] = r[SC_DBPB];
    for (int k = 0; k < LMD_AGG_COUNT; k++)
        col0[(size_t)lmd_column_of(LMD_TM_SEGMENT_BPB, k) * per + i] = r[SC_AGG + k];
}

static char *dup_or_null(const char *s) {
    return s ? strdup(s) : NULL;
}

/* What the two tables record (as compare.c's tables, plus segments). */
static int table_metas(lmd_cache *c[2], int clamp, lmd_table_meta tm[2]) {
    const lmd_cache_info *in[2] = {lmd_cache_get_info(c[0]), lmd_cache_get_info(c[1])};
    int ok = 1;
    for (int d = 0; d < 2; d++) {
        const lmd_cache_info *a = in[d], *b = in[1 - d];
        char *p1 = realpath(lmd_cache_path(c[d]), NULL),
             *p2 = realpath(lmd_cache_path(c[1 - d]), NULL);
        tm[d].m1 = dup_or_null(a->model_name);
        tm[d].m2 = dup_or_null(b->model_name);
        tm[d].dataset_name = dup_or_null(in[0]->dataset_name);
        tm[d].dataset_checksum = dup_or_null(in[0]->dataset_checksum);
        tm[d].vocab_hash = dup_or_null(a->vocab_hash);
        tm[d].cache1 = p1 ? p1 : strdup(lmd_cache_path(c[d]));
        tm[d].cache2 = p2 ? p2 : strdup(lmd_cache_path(c[1 - d]));
        tm[d].weights_hash1 = dup_or_null(a->weights_hash);
        tm[d].weights_hash2 = dup_or_null(b->weights_hash);
        tm[d].max_clamp_rank = clamp; /* recorded as compare.c does; no segment column uses it */
        tm[d].top_k = in[0]->top_k < in[1]->top_k ? in[0]->top_k : in[1]->top_k;
        tm[d].segments = 1;
        tm[d].n_texts = in[0]->n_texts;
        ok = ok && tm[d].m1 && tm[d].m2 && tm[d].dataset_name && tm[d].dataset_checksum &&
             tm[d].vocab_hash && tm[d].cache1 && tm[d].cache2;
    }
    return ok ? 0 : -1;
}

int lmd_compare_segments(lmd_cache *c[2], const char *out_dir, const lmd_compare_opts *o,
                         lmd_compare_out *out, lmd_error *err) {
    const lmd_cache_info *in[2] = {lmd_cache_get_info(c[0]), lmd_cache_get_info(c[1])};
    memset(out, 0, sizeof *out);
    if (strcmp(in[0]->dataset_checksum, in[1]->dataset_checksum) ||
        in[0]->n_texts != in[1]->n_texts)
        return lmd_fail(err,
                        "%s and %s were not made from the same texts (dataset_checksum %s, %" PRIu64
                        " texts vs %s, %" PRIu64 ")",
                        lmd_cache_path(c[0]), lmd_cache_path(c[1]), in[0]->dataset_checksum,
                        in[0]->n_texts, in[1]->dataset_checksum, in[1]->n_texts);
    uint64_t n = in[0]->n_texts;
    size_t per = (size_t)(n ? n : 1);
    double *store = malloc(2 * LMD_N_COLUMNS * per * sizeof *store);
    uint64_t *offs = calloc(per + 1, sizeof *offs);
    lmd_buf blob = {0};
    lmd_table_meta tm[2];
    memset(tm, 0, sizeof tm);
    lmd_atomic f[4]; /* csv, table; csv, table */
    memset(f, 0, sizeof f);
    int rc = -1;
    if (!store || !offs ||
        table_metas(c, o->max_clamp_rank > 0 ? o->max_clamp_rank : LMD_DEFAULT_MAX_CLAMP, tm) < 0) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    if (lmd_compare_paths(in, out_dir, "segments.csv", o->force, out, err) < 0) goto done;
    for (int d = 0; d < 2; d++) {
        if (lmd_atomic_open(&f[2 * d], out->csv[d], err) < 0) goto done;
        for (int k = 0; k < SC_COUNT; k++)
            fprintf(f[2 * d].f, ",%s", seg_cols[k]);
        fputc('\n', f[2 * d].f);
    }
    for (uint64_t i = 0; i < n; i++) {
        if (o->cancel && *o->cancel) {
            lmd_fail(err, "interrupted");
            goto done;
        }
        side s[2];
        int r = read_side(c[0], i, LMD_CACHE_PHRASE, &s[0], err);
        if (r == 0)
            r = read_side(c[1], i, 0, &s[1], err);
        else
            memset(&s[1], 0, sizeof s[1]);
        double row[2][SC_COUNT];
        for (int d = 0; d < 2 && r == 0; d++)
            r = seg_row(s, d, s[0].t.phrase_len, row[d], err);
        if (r == 0 && lmd_buf_put(&blob, s[0].t.phrase, s[0].t.phrase_len) < 0)
            r = lmd_fail(err, "out of memory");
        free_side(&s[0]);
        free_side(&s[1]);
        if (r < 0) goto done;
        offs[i + 1] = blob.len;
        for (int d = 0; d < 2; d++) {
            put_row(f[2 * d].f, i, row[d]);
            put_cols(store, per, d, i, row[d]);
        }
        if (o->progress) o->progress(o->progress_ctx, i + 1, n, 0);
    }
    out->n_texts = n;
    if (lmd_compare_commit(f, out, tm, store, per, blob.data, offs, err) == 0) rc = 0;
done:
    for (int k = 0; k < 4; k++)
        lmd_atomic_abort(&f[k]);
    for (int d = 0; d < 2; d++)
        lmd_table_meta_free(&tm[d]);
    free(store);
    free(offs);
    lmd_buf_free(&blob);
    if (rc < 0) lmd_compare_out_free(out);
    return rc;
}
