/* analyze.c - `lmdiff analyze`: scores every text of a dataset with one
 * model and streams the numbers into an analysis cache.  Texts are read,
 * tokenized and scored a batch at a time (several texts per lmd_score_ids
 * call), so memory does not grow with the corpus.  The texts go to the
 * journal OUT.partial (journal.c), checkpointed every few seconds; the cache
 * OUT is assembled from it at the end.  An interrupted or killed run leaves
 * OUT.partial for --resume, a failed one removes it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analysis/corpus.h"

#define DEFAULT_TOP_K 10
#define DEFAULT_BATCH_TOKENS 8192
#define MAX_BATCH_TEXTS 256
#define CHECKPOINT_SECONDS 10.0

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

char *lmd_cache_default_name(const char *dataset_path, const char *model_name, uint64_t first_n) {
    char *stem = lmd_path_stem(dataset_path), *m = lmd_file_safe_name(model_name);
    lmd_buf b = {0};
    int rc = !stem || !m;
    if (!rc) rc = lmd_buf_printf(&b, "%s_._%s", stem, m);
    if (!rc && first_n) rc = lmd_buf_printf(&b, "_first%" PRIu64, first_n);
    if (!rc) rc = lmd_buf_puts(&b, ".h5");
    free(stem);
    free(m);
    if (rc) {
        lmd_buf_free(&b);
        return NULL;
    }
    return b.data;
}

int lmd_analyze_expected_info(const lmd_model *m, const lmd_dataset_meta *meta,
                              const lmd_dataset_summary *sum, const lmd_analyze_opts *o,
                              lmd_cache_info *info, lmd_error *err) {
    memset(info, 0, sizeof *info);
    lmd_model_info mi;
    lmd_model_get_info(m, &mi);
    char h[65];
    info->dataset_name = strdup(meta->name);
    info->dataset_checksum = strdup(sum->checksum);
    lmd_tokenizer_hash(lmd_model_tokenizer(m), h);
    info->vocab_hash = strdup(h);
    info->model_name = strdup(o && o->model_name ? o->model_name : mi.name);
    lmd_model_weights_hash(m, h);
    info->weights_hash = strdup(h);
    info->model_arch = strdup(mi.arch ? mi.arch : "");
    info->scoring = strdup(mi.masked_lm ? "pseudo-likelihood" : "causal");
    info->lmdiff_version = strdup(LMD_VERSION);
    info->precision = strdup(mi.precision ? mi.precision : "f32");
    if (!info->dataset_name || !info->dataset_checksum || !info->vocab_hash || !info->model_name ||
        !info->weights_hash || !info->model_arch || !info->scoring || !info->lmdiff_version ||
        !info->precision) {
        lmd_cache_info_free(info);
        return lmd_fail(err, "out of memory");
    }
    info->format = LMD_CACHE_FORMAT;
    info->top_k = o && o->top_k > 0 ? o->top_k : DEFAULT_TOP_K;
    if (info->top_k > mi.vocab_size) info->top_k = mi.vocab_size;
    info->context = mi.n_ctx;
    /* the scorer's window rule (docs/scoring.md): causal windows slide by W/2;
     * a masked LM scores each token in a window centred on it (stride 0) */
    info->stride = mi.masked_lm ? 0 : mi.n_ctx / 2;
    info->dataset_n_texts = sum->n_texts;
    uint64_t fn = o ? o->first_n : 0;
    info->first_n = fn && fn < sum->n_texts ? fn : 0;
    info->n_texts = info->first_n ? info->first_n : sum->n_texts;
    info->complete = 1;
    info->shard_k = o ? o->shard_k : 0;
    info->shard_n = o ? o->shard_n : 0;
    return 0;
}

/* One batch of texts: their bytes and token ids. */
typedef struct batch {
    lmd_buf blob;
    size_t *off, *len;
    int32_t **ids;
    lmd_span **spans; /* each token's bytes in its text (cross-tokenizer use) */
    size_t *n_ids;
    lmd_scores *scores;
    size_t n;
} batch;

static int batch_alloc(batch *b) {
    memset(b, 0, sizeof *b);
    b->off = calloc(MAX_BATCH_TEXTS, sizeof *b->off);
    b->len = calloc(MAX_BATCH_TEXTS, sizeof *b->len);
    b->ids = calloc(MAX_BATCH_TEXTS, sizeof *b->ids);
    b->spans = calloc(MAX_BATCH_TEXTS, sizeof *b->spans);
    b->n_ids = calloc(MAX_BATCH_TEXTS, sizeof *b->n_ids);
    b->scores = calloc(MAX_BATCH_TEXTS, sizeof *b->scores);
    return b->off && b->len && b->ids && b->spans && b->n_ids && b->scores ? 0 : -1;
}

/* Frees a batch's texts and what is left of their scores. */
static void batch_clear(batch *b) {
    for (size_t i = 0; i < b->n; i++) {
        free(b->ids[i]);
        b->ids[i] = NULL;
        free(b->spans[i]);
        b->spans[i] = NULL;
        lmd_scores_free(&b->scores[i]);
    }
    b->n = 0;
    b->blob.len = 0;
}

static void batch_free(batch *b) {
    batch_clear(b);
    lmd_buf_free(&b->blob);
    free(b->off);
    free(b->len);
    free(b->ids);
    free(b->spans);
    free(b->n_ids);
    free(b->scores);
}

/* Seconds between checkpoints: 10, or $LMD_CHECKPOINT_SECONDS (0: after
 * every batch; the crash tests use it). */
static double checkpoint_interval(void) {
    const char *e = getenv("LMD_CHECKPOINT_SECONDS");
    char *end;
    double v = e && *e ? strtod(e, &end) : -1;
    return e && *e && !*end && v >= 0 ? v : CHECKPOINT_SECONDS;
}

/* The vocabulary strings of the model's tokenizer (malloc'ed array). */
static const char **vocab_of(const lmd_tokenizer *tok, size_t *n) {
    *n = (size_t)lmd_tokenizer_vocab_size(tok);
    const char **v = malloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; v && i < *n; i++)
        v[i] = lmd_token_raw(tok, (int32_t)i);
    return v;
}

int lmd_analyze(const lmd_model *m, const char *dataset_path, const char *out_path,
                const lmd_analyze_opts *opts, lmd_analyze_stats *st, lmd_error *err) {
    lmd_analyze_opts o = {0};
    if (opts) o = *opts;
    lmd_analyze_stats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    double t0 = now();
    size_t pl = strlen(out_path) + 9;
    char *partial = malloc(pl);
    if (!partial) return lmd_fail(err, "out of memory");
    snprintf(partial, pl, "%s.partial", out_path);

    lmd_dataset_reader *r = NULL;
    lmd_journal *j = NULL;
    lmd_cache_info info = {0};
    batch bt;
    int rc = -1;
    if (batch_alloc(&bt) < 0) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    int have_out = lmd_file_exists(out_path);
    if (have_out) lmd_journal_tidy(partial);
    if (have_out && !o.force && !o.resume) {
        lmd_fail(err, "%s exists (--force replaces it)", out_path);
        goto done;
    }
    lmd_dataset_summary sum;
    if (lmd_dataset_open(dataset_path, &r, err) < 0 ||
        lmd_dataset_scan(r, !o.no_verify, &sum, err) < 0)
        goto done;
    memcpy(st->dataset_checksum, sum.checksum, 65);
    if (lmd_analyze_expected_info(m, lmd_dataset_get_meta(r), &sum, &o, &info, err) < 0) goto done;
    uint64_t first = 0, total = info.n_texts;
    if (o.shard_n &&
        lmd_shard_range(r, info.n_texts, o.shard_k, o.shard_n, &first, &total, err) < 0) {
        lmd_err_prefix(err, "%s", dataset_path);
        goto done;
    }
    info.shard_first = first;
    info.n_texts = total; /* the texts this run writes (a shard's own) */
    if (have_out && !o.force) { /* --resume: done already? */
        char why[512];
        if (lmd_cache_matches(out_path, &info, why, sizeof why) != 1) {
            lmd_fail(err, "%s exists, but %s (--force replaces it)", out_path, why);
            goto done;
        }
        st->up_to_date = 1;
        st->n_texts = total;
        rc = 0;
        goto done;
    }

    const lmd_tokenizer *tok = lmd_model_tokenizer(m);
    uint64_t done_n = 0;
    int mode = o.force ? LMD_JOURNAL_RESTART : o.resume ? LMD_JOURNAL_RESUME : LMD_JOURNAL_NEW;
    if (lmd_journal_open(partial, &info, mode, &j, &done_n, err) < 0) goto done;
    st->resumed_from = done_n;

    const char *text;
    size_t len;
    for (uint64_t i = 0; i < first + done_n; i++) {
        int got = lmd_dataset_next(r, &text, &len, err);
        if (got < 0) goto fail;
        if (got == 0) {
            lmd_fail(err, "%s: has fewer texts than the partial cache", dataset_path);
            goto fail;
        }
    }
    lmd_score_opts so = {info.top_k, o.n_threads, 0};
    size_t budget = o.batch_tokens > 0 ? (size_t)o.batch_tokens : DEFAULT_BATCH_TOKENS;
    uint64_t pos = done_n;
    double every = checkpoint_interval(), last = now();
    uint64_t max_tokens = o.max_text_tokens ? o.max_text_tokens : LMD_MAX_TEXT_TOKENS;
    if (o.progress) o.progress(o.progress_ctx, pos, total, 0);
    /* one batch at a time: scoring uses every core (OpenMP), and an HDF5
     * writer thread beside it only made the two fight */
    while (pos < total) {
        if (o.cancel && *o.cancel) break;
        batch *b = &bt;
        size_t tokens = 0;
        batch_clear(b);
        /* a batch ends at a multiple of LMD_SHARD_BLOCK texts, where shards
           start: a shard's batches are then a single run's (shard.c) */
        while (b->n < MAX_BATCH_TEXTS && tokens < budget && pos < total &&
               (b->n == 0 || (first + pos) % LMD_SHARD_BLOCK)) {
            int got = lmd_dataset_next(r, &text, &len, err);
            if (got < 0) goto fail;
            if (got == 0) {
                lmd_fail(err, "%s: changed while being analyzed (it has fewer texts now)",
                         dataset_path);
                goto fail;
            }
            b->off[b->n] = b->blob.len;
            b->len[b->n] = len;
            if (lmd_buf_put(&b->blob, text, len + 1) < 0) {
                lmd_fail(err, "out of memory");
                goto fail;
            }
            if (lmd_tokenize_spans(tok, text, len, &b->ids[b->n], &b->spans[b->n], &b->n_ids[b->n],
                                   err) < 0) {
                lmd_err_prefix(err, "%s: text %" PRIu64, dataset_path, first + pos);
                goto fail;
            }
            if (b->n_ids[b->n] > max_tokens) {
                lmd_fail(err,
                         "%s: text %" PRIu64 " has %zu tokens, more than the %" PRIu64
                         " a text may have (memory grows with a text's length, about 130 bytes "
                         "a token): split it into several lines, or raise --max-text-tokens",
                         dataset_path, first + pos, b->n_ids[b->n], max_tokens);
                free(b->ids[b->n]);
                b->ids[b->n] = NULL;
                free(b->spans[b->n]);
                b->spans[b->n] = NULL;
                goto fail;
            }
            tokens += b->n_ids[b->n];
            b->n++;
            pos++;
        }
        if (lmd_score_ids(m, (const int32_t *const *)b->ids, b->n_ids, b->n, &so, b->scores, err) <
            0) {
            lmd_err_prefix(err, "%s: texts %" PRIu64 "..%" PRIu64, dataset_path,
                           first + pos - b->n, first + pos - 1);
            goto fail;
        }
        for (size_t i = 0; i < b->n; i++) {
            if (lmd_journal_append(j, b->blob.data + b->off[i], b->len[i], &b->scores[i],
                                   b->spans[i], b->n_ids[i], err) < 0)
                goto fail;
            lmd_scores_free(&b->scores[i]);
        }
        st->n_tokens += tokens;
        if (now() - last >= every) {
            if (lmd_journal_checkpoint(j, err) < 0) goto fail;
            last = now();
        }
        if (o.progress) o.progress(o.progress_ctx, pos, total, st->n_tokens);
    }
    if (pos < total) { /* cancelled: keep what is done for --resume */
        st->interrupted = 1;
        st->n_texts = pos;
        if (lmd_journal_checkpoint(j, err) < 0) goto fail;
        lmd_fail(err,
                 "interrupted after %" PRIu64 " of %" PRIu64 " texts; %s keeps them "
                 "(--resume continues)",
                 pos, total, partial);
        goto done;
    }
    if (!info.first_n && done_n == 0) { /* the whole file was read twice: same texts? */
        char hex[65];
        int got;
        while ((got = lmd_dataset_next(r, &text, &len, err)) > 0) /* a shard's rest */
            ;
        if (got < 0) goto fail;
        lmd_dataset_checksum_of_read(r, hex);
        if (strcmp(hex, sum.checksum)) {
            lmd_fail(err, "%s: changed while being analyzed", dataset_path);
            goto fail;
        }
    }
    batch_clear(&bt); /* the last batch's memory, before the assembly's */
    size_t nv;
    const char **vocab = vocab_of(tok, &nv);
    if (!vocab) {
        lmd_fail(err, "out of memory");
        goto fail;
    }
    int c = lmd_journal_assemble(j, out_path, vocab, nv, err);
    free(vocab);
    if (c < 0) goto fail;
    st->n_texts = total;
    rc = 0;
    goto done;
fail: /* an error after the journal was opened: it goes, as a failed run's file would */
    if (j) {
        lmd_error ignored;
        lmd_journal_discard(j, &ignored);
    }
done:
    lmd_journal_close(j);
    if (r) lmd_dataset_close(r);
    lmd_cache_info_free(&info);
    batch_free(&bt);
    free(partial);
    st->seconds = now() - t0;
    return rc;
}
