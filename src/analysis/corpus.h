/* corpus.h - the corpus pipeline of lmdiff: datasets (one text per line
 * under a YAML front matter), analysis caches (HDF5, one per model x
 * dataset, in the layout of the original LMdiff), comparisons of two caches
 * (per-text measures as CSV and as a binary table) and the search for the
 * texts where two models differ most.  The CLI and the HTTP server call
 * these functions; like the rest of liblmdiff they never print or exit.
 * Definitions of every number: docs/measures.md; file formats:
 * docs/corpus.md. */
#ifndef LMD_CORPUS_H
#define LMD_CORPUS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "base/atomic.h"
#include "base/base.h"

/* Reports progress of a long job: done of total items, tokens so far. */
typedef void (*lmd_progress_fn)(void *ctx, uint64_t done, uint64_t total, uint64_t tokens);

/* ================================================================ files */

/* Creates a folder and its parents (like mkdir -p). */
int lmd_mkdirs(const char *dir, lmd_error *err);
/* The last path component without its last extension ("a/b.txt" -> "b"). */
char *lmd_path_stem(const char *path);
/* A name made safe for a file name: '/' becomes "__SLASH__" (the original's
 * rule for Hugging Face ids), other bytes below 0x20 become '_'. */
char *lmd_file_safe_name(const char *name);
/* Writes v as text that reads back to the same double, in Python's repr
 * style ("1.0", "0.25", "1e-05"): the shortest such text when it has at
 * most 15 significant digits, else 16 or 17 digits.  NaN and infinities
 * give "" (an empty CSV field, as pandas writes NaN). */
void lmd_fmt_double(char buf[40], double v);

/* ============================================================= datasets */

typedef struct lmd_dataset_meta {
    char *name;     /* the header's name, else the file stem */
    char *type;     /* "human_created" (default) or "machine_generated" */
    char *checksum; /* as declared in the header; NULL when absent */
    int has_header;
    /* other header keys, kept verbatim: extra_yaml[i] is the YAML text of
     * the entry "key: value" (possibly several lines) */
    size_t n_extra;
    char **extra_keys;
    char **extra_yaml;
} lmd_dataset_meta;

/* Streams the texts of a dataset file: memory does not grow with the file. */
typedef struct lmd_dataset_reader lmd_dataset_reader;

/* Opens a dataset and parses its header.  A file that does not start with a
 * '---' line has no header: every line is a text.  Errors name the file and
 * the line (broken YAML, an unclosed header, a bad type, invalid UTF-8). */
int lmd_dataset_open(const char *path, lmd_dataset_reader **out, lmd_error *err);
const lmd_dataset_meta *lmd_dataset_get_meta(const lmd_dataset_reader *r);
/* The next text: returns 1 and sets text/len (NUL-terminated, valid until
 * the next call), 0 at the end, -1 on error. */
int lmd_dataset_next(lmd_dataset_reader *r, const char **text, size_t *len, lmd_error *err);
/* Texts returned since the open (or the last rewind). */
uint64_t lmd_dataset_position(const lmd_dataset_reader *r);
/* The checksum of the texts returned so far; call it after next() gave 0. */
void lmd_dataset_checksum_of_read(lmd_dataset_reader *r, char hex[65]);
int lmd_dataset_rewind(lmd_dataset_reader *r, lmd_error *err);
void lmd_dataset_close(lmd_dataset_reader *r);

typedef struct lmd_dataset_summary {
    uint64_t n_texts, n_bytes;
    char checksum[65]; /* computed: SHA-256 of the texts joined by '\n' */
    int declared;      /* the header carries a checksum */
    int matches;       /* ... and it equals the computed one */
} lmd_dataset_summary;

/* Reads the dataset once to count its texts and compute its checksum, then
 * rewinds.  With verify, a declared checksum that differs is an error. */
int lmd_dataset_scan(lmd_dataset_reader *r, int verify, lmd_dataset_summary *out, lmd_error *err);

/* A whole dataset in memory (small files, tests, `dataset make`). */
typedef struct lmd_dataset {
    lmd_dataset_meta meta;
    char checksum[65]; /* computed */
    size_t n_texts;
    char **texts; /* NUL-terminated */
    size_t *lens;
} lmd_dataset;

int lmd_dataset_load(const char *path, int verify, lmd_dataset **out, lmd_error *err);
/* Writes the original's format: '---', the header keys in alphabetical order
 * (checksum recomputed), '---', a blank line, one text per line, no final
 * newline.  Texts that would not read back unchanged (empty, containing a
 * line break, leading/trailing white space at the ends of the body) are an
 * error.  Atomic. */
int lmd_dataset_save(const lmd_dataset *ds, const char *path, lmd_error *err);
void lmd_dataset_free(lmd_dataset *ds);
void lmd_dataset_meta_free(lmd_dataset_meta *m);
/* SHA-256 of texts joined by '\n', lowercase hex. */
void lmd_dataset_checksum(const char *const *texts, const size_t *lens, size_t n, char hex[65]);
/* 1 for "human_created" and "machine_generated". */
int lmd_dataset_type_valid(const char *type);

/* ====================================================== analysis caches */

#define LMD_CACHE_FORMAT 1

typedef struct lmd_cache_info {
    /* the original's root attributes */
    char *dataset_name, *dataset_checksum, *vocab_hash, *model_name;
    /* lmdiff's additions; format 0 = written by the original tool, which
     * has none of them (strings NULL, numbers 0) */
    int format;
    char *lmdiff_version, *weights_hash, *model_arch;
    char *scoring;            /* "causal" or "pseudo-likelihood"; NULL = causal
                                 (caches written before the attribute) */
    char *precision;          /* how the products ran: "f32" or "bf16"; NULL = f32
                                 (caches written before the attribute) */
    int top_k;                /* for format 0: the shape of the first text */
    int context, stride;      /* sliding window of the scorer, tokens; stride 0 =
                                 a window centred on each token (masked LMs) */
    uint64_t dataset_n_texts; /* texts in the dataset */
    uint64_t first_n;         /* 0 = the whole dataset */
    uint64_t n_texts;         /* texts in this file */
    uint64_t n_vocab;         /* entries of `vocabulary` */
    int complete;             /* 0 only for an interrupted (partial) file */
    /* a shard cache (analyze --shard K/N) holds texts shard_first ..
       shard_first + n_texts - 1 of the dataset; shard_n = 0: the whole one */
    uint32_t shard_k, shard_n;
    uint64_t shard_first;
} lmd_cache_info;
void lmd_cache_info_free(lmd_cache_info *info);
/* info->precision, "f32" when the cache has none */
const char *lmd_cache_precision(const lmd_cache_info *info);

/* --- writing */
typedef struct lmd_cache_writer lmd_cache_writer;
/* Creates (truncates) path and writes the root attributes and vocab[n_vocab]
 * (NULL entries are written as ""). info->n_texts etc. are ignored. */
int lmd_cache_create(const char *path, const lmd_cache_info *info, const char *const *vocab,
                     size_t n_vocab, lmd_cache_writer **out, lmd_error *err);
/* Appends the next text (group "%015d") with its phrase and scores. */
int lmd_cache_append(lmd_cache_writer *w, const char *phrase, size_t len, const lmd_scores *s,
                     lmd_error *err);
/* Adds the token byte spans of the text appended last (dataset
 * token_spans, [n, 2] u32: start, end; docs/corpus.md), which comparing
 * models with different tokenizers needs. */
int lmd_cache_append_spans(lmd_cache_writer *w, const lmd_span *sp, size_t n, lmd_error *err);
/* Writes the final attributes (complete = 1 when complete) and closes; w is
 * freed even on failure. */
int lmd_cache_finish(lmd_cache_writer *w, int complete, lmd_error *err);
/* Closes without checking anything (after an error); frees w. */
void lmd_cache_writer_abort(lmd_cache_writer *w);

/* --- the journal of an analysis in progress: the folder OUT.partial of
 * segments, each a whole cache of the texts between two checkpoints, renamed
 * into place; it survives a kill at any moment (journal.c, docs/corpus.md).
 * One writer at a time (flock). */
typedef struct lmd_journal lmd_journal;
enum {
    LMD_JOURNAL_NEW,     /* an existing non-empty journal is an error */
    LMD_JOURNAL_RESUME,  /* continue after its last segment */
    LMD_JOURNAL_RESTART, /* discard what is there */
};
/* Opens (creates) dir for writing texts from *n_done on.  Resuming opens
 * every segment read-only first and checks it against expect (dataset
 * checksum, vocab hash, weights hash, model name, top-k, first-n,
 * precision, shard); a
 * damaged or foreign journal is an error that says how to start over.
 * expect must outlive the journal. */
int lmd_journal_open(const char *dir, const lmd_cache_info *expect, int mode, lmd_journal **out,
                     uint64_t *n_done, lmd_error *err);
/* Appends a text, and its token byte spans when sp is not NULL. */
int lmd_journal_append(lmd_journal *j, const char *phrase, size_t len, const lmd_scores *s,
                       const lmd_span *sp, size_t n_sp, lmd_error *err);
/* Makes the texts appended so far durable (a renamed, fsync'ed segment). */
int lmd_journal_checkpoint(lmd_journal *j, lmd_error *err);
/* Texts appended so far, durable or not. */
uint64_t lmd_journal_done(const lmd_journal *j);
/* Checkpoints, writes the finished cache from the segments (as
 * assembled.tmp, renamed assembled.h5: a resume after a kill then only
 * renames it), removes the segments, renames it to out_path and removes the
 * folder.  j must still be closed. */
int lmd_journal_assemble(lmd_journal *j, const char *out_path, const char *const *vocab,
                         size_t n_vocab, lmd_error *err);
/* Removes every segment and the folder (last segment first). */
int lmd_journal_discard(lmd_journal *j, lmd_error *err);
/* Drops an unfinished segment and releases the lock; frees j. */
void lmd_journal_close(lmd_journal *j);
/* Removes dir when it is an empty journal that nobody holds (a run killed
 * after its cache was renamed into place leaves one). */
void lmd_journal_tidy(const char *dir);
/* Whether anything (a journal, an older lmdiff's partial file) is at dir. */
int lmd_journal_exists(const char *dir);

/* --- reading (thread-safe: calls are serialised) */
typedef struct lmd_cache lmd_cache;

/* One text of a cache, as lmd_scores with 1-based ranks.  Where the file
 * lacks them (the original tool's caches), logprob = ln(prob) (prob 0 taken
 * as the smallest positive float32) and entropy = NaN. */
typedef struct lmd_cache_text {
    char *phrase; /* NULL unless asked for */
    size_t phrase_len;
    lmd_scores s;
    int has_logprob, has_entropy;
} lmd_cache_text;

/* Opens a cache that lmdiff wrote, its digest checked before HDF5 reads it
 * (below).  A file without the digest (the original's caches, an earlier
 * lmdiff's: lmd_cache_import), damaged, or lacking the root attributes or
 * the vocabulary is an error that names the file and the problem. */
int lmd_cache_open(const char *path, lmd_cache **out, lmd_error *err);
/* The digest (cache_digest.c, docs/corpus.md): every cache lmdiff writes
 * starts with a userblock of LMD_CACHE_USERBLOCK bytes holding a SHA-256 of
 * the rest of the file.  lmd_cache_seal writes it into a closed cache;
 * lmd_cache_verify checks it (once per unchanged file and process) and
 * fails - "damaged", "without lmdiff's digest" - before HDF5 reads a byte. */
#define LMD_CACHE_USERBLOCK 512
int lmd_cache_seal(const char *path, lmd_error *err);
int lmd_cache_verify(const char *path, lmd_error *err);
void lmd_cache_close(lmd_cache *c);
const lmd_cache_info *lmd_cache_get_info(const lmd_cache *c);
const char *lmd_cache_path(const lmd_cache *c);
/* What lmd_cache_read_text reads besides the per-token arrays. */
#define LMD_CACHE_PHRASE 1        /* the phrase (else t->phrase = NULL) */
#define LMD_CACHE_NO_TOPK_PROBS 2 /* skip topk_probs (t->s.topk_prob = NULL) */
int lmd_cache_read_text(lmd_cache *c, uint64_t index, int flags, lmd_cache_text *t, lmd_error *err);
void lmd_cache_text_free(lmd_cache_text *t);
/* The token byte spans of text index (*sp malloc'ed, *n of them): 0, or 1
 * when the text has none (a cache written before they were kept, or by
 * the original tool), -1 on error. */
int lmd_cache_read_spans(lmd_cache *c, uint64_t index, lmd_span **sp, size_t *n, lmd_error *err);
/* The vocabulary string of an id (loaded on first use); NULL when the id is
 * out of range or the vocabulary could not be read. */
const char *lmd_cache_vocab(lmd_cache *c, int32_t id);
/* Checks that two caches can be compared: same dataset checksum, vocab
 * hash and number of texts; the message names the first difference. */
int lmd_cache_comparable(const lmd_cache *a, const lmd_cache *b, lmd_error *err);

/* Whether the cache at path was built from these inputs (dataset checksum,
 * weights hash, vocab hash, top-k, first-n) and is complete: 1 yes, 0 no
 * (why says what differs), -1 when it cannot be read (why says why). */
int lmd_cache_matches(const char *path, const lmd_cache_info *want, char *why, size_t why_len);

/* ============================================================= analyze */

/* Tokens a text may have in `analyze` (docs/corpus.md): memory grows with
 * the longest text, about 130 bytes per token. */
#define LMD_MAX_TEXT_TOKENS 1000000
typedef struct lmd_analyze_opts {
    int top_k;              /* 0 = 10 */
    uint64_t first_n;       /* 0 = every text */
    const char *model_name; /* NULL = the model folder's basename */
    int force;              /* replace an existing cache / discard a partial one */
    int resume;             /* continue OUT.partial when it exists */
    int no_verify;          /* accept a dataset whose declared checksum is wrong */
    int n_threads;          /* 0 = OpenMP's default */
    int batch_tokens;       /* tokens per lmd_score_ids call; 0 = 8192 */
    uint32_t shard_k, shard_n; /* only shard K of N (lmd_shard_range); 0 = all */
    lmd_progress_fn progress;
    void *progress_ctx;
    volatile sig_atomic_t *cancel; /* when it becomes non-zero: stop, keep OUT.partial */
    /* a text of more tokens is an error; 0 = LMD_MAX_TEXT_TOKENS */
    uint64_t max_text_tokens;
} lmd_analyze_opts;
/* The defaults: `lmd_analyze_opts o = LMD_ANALYZE_OPTS_INIT;` */
#define LMD_ANALYZE_OPTS_INIT                                                                      \
    { .top_k = 10, .first_n = 0 }

typedef struct lmd_analyze_stats {
    uint64_t n_texts;      /* texts in the cache */
    uint64_t n_tokens;     /* tokens scored by this run */
    uint64_t resumed_from; /* texts found in OUT.partial */
    double seconds;
    int interrupted; /* stopped by *cancel; OUT.partial kept for --resume */
    int up_to_date;  /* resume found OUT complete and matching: nothing done */
    char dataset_checksum[65];
} lmd_analyze_stats;

/* Scores every text of a dataset and writes the cache to out_path through
 * the journal out_path.partial (assembled at the end).  On an error the
 * journal is removed; on cancel or a kill its last checkpoint is kept for
 * opts->resume (a journal that does not match is an error).  With
 * opts->resume, an existing out_path that matches (lmd_cache_matches) is
 * left as it is (st->up_to_date); one that does not is an error. */
int lmd_analyze(const lmd_model *m, const char *dataset_path, const char *out_path,
                const lmd_analyze_opts *opts, lmd_analyze_stats *st, lmd_error *err);
/* "<dataset stem>_._<model>[_first<N>].h5", the original's file name. */
char *lmd_cache_default_name(const char *dataset_path, const char *model_name, uint64_t first_n);
/* The info a cache of this model, dataset and options would carry
 * (strings malloc'ed; free with lmd_cache_info_free). */
int lmd_analyze_expected_info(const lmd_model *m, const lmd_dataset_meta *meta,
                              const lmd_dataset_summary *sum, const lmd_analyze_opts *opts,
                              lmd_cache_info *info, lmd_error *err);

/* ============================================================== shards */

#define LMD_MAX_SHARDS 100000
/* Shards start at multiples of this many texts, and so do analyze's
 * scoring batches (a batch never crosses such a boundary). */
#define LMD_SHARD_BLOCK 64
/* Parses "K/N" (1 <= K <= N <= LMD_MAX_SHARDS); -1 when malformed. */
int lmd_shard_parse(const char *s, uint32_t *k, uint32_t *n);
/* The texts of shard K of N among the first n_texts of a dataset: contiguous
 * slices balanced by bytes, in whole blocks of LMD_SHARD_BLOCK texts
 * (shard.c, docs/cluster.md).  Reads the dataset
 * from its start and rewinds it. */
int lmd_shard_range(lmd_dataset_reader *r, uint64_t n_texts, uint32_t k, uint32_t n,
                    uint64_t *first, uint64_t *count, lmd_error *err);
/* "NAME.shard-K-of-N.h5" for the cache name "NAME.h5" (K zero-padded to
 * the width of N, so that the files sort in shard order).  Malloc'ed. */
char *lmd_shard_file_name(const char *cache_name, uint32_t k, uint32_t n);

typedef struct lmd_merge_opts {
    int force; /* replace an existing output */
    lmd_progress_fn progress;
    void *progress_ctx;
    volatile sig_atomic_t *cancel;
} lmd_merge_opts;

/* Joins the shard caches of one model into the cache a single run would
 * have written (out_path, through out_path.partial).  The set must be
 * complete (shards 1..N, each once), matching (every root attribute but
 * the shard's own equal) and contiguous; the error names the missing,
 * doubled or foreign shard.  Streams one text at a time. */
int lmd_cache_merge(const char *const *shards, size_t n_shards, const char *out_path,
                    const lmd_merge_opts *opts, uint64_t *n_texts, lmd_error *err);
/* Reads a cache without lmdiff's digest (the original tool's, an earlier
 * lmdiff's) through HDF5 - the one place HDF5 parses a file lmdiff cannot
 * check, so only for files the user vouches for - and writes the same
 * texts and attributes to out_path (through out_path.partial) as a cache
 * with a digest.  opts: force and progress as for merging. */
int lmd_cache_import(const char *in_path, const char *out_path, const lmd_merge_opts *opts,
                     uint64_t *n_texts, lmd_error *err);

/* ============================================ per-text measures (compare) */

/* Per-token measures (docs/measures.md), model 2 minus model 1. */
typedef enum {
    LMD_TM_RANK,         /* rank_diff:         r2 - r1 (1-based ranks) */
    LMD_TM_CLAMPED_RANK, /* clamped_rank_diff: min(r2,C) - min(r1,C) */
    LMD_TM_PROB,         /* prob_diff:         p2 - p1 */
    LMD_TM_TOPK,         /* topk_diff:         |topk1 \ topk2| */
    LMD_TM_LOGPROB,      /* logprob_diff:      ln p2 - ln p1 */
    LMD_TM_ENTROPY,      /* entropy_diff:      H2 - H1 */
    LMD_TM_KL,           /* kl:                KL(P1 || P2), nats; from the KL pair file */
    LMD_TM_COUNT,        /* the per-token measures above */
    /* segment_bpb_diff: per byte-aligned segment, bits per byte of model 2
     * minus model 1; tables of models with different tokenizers only */
    LMD_TM_SEGMENT_BPB = LMD_TM_COUNT
} lmd_text_measure;

/* Aggregations over the tokens of a text. */
typedef enum {
    LMD_AGG_AVG,
    LMD_AGG_MAX, /* signed */
    LMD_AGG_MIN,
    LMD_AGG_MEDIAN,
    LMD_AGG_Q75,  /* upper quartile, linear interpolation */
    LMD_AGG_TOP5, /* mean of the 5 largest (of all when fewer) */
    LMD_AGG_COUNT
} lmd_aggregation;

/* Columns of the per-text table: 0 = n_tokens, then measure by measure,
 * aggregation by aggregation (docs/api.md §6): avg_rank_diff,
 * max_rank_diff, min_rank_diff, ... top5_entropy_diff, avg_kl ... top5_kl
 * (NaN without a KL pair file) (the CSV's columns,
 * LMD_N_CSV_COLUMNS), then avg_segment_bpb_diff ... top5_segment_bpb_diff
 * and n_bytes, bpb1, bpb2, bpb_diff (whole text: bits per byte of each
 * model and model 2 minus model 1).  A table of models with one tokenizer
 * has NaN in the segment columns; one of models with different tokenizers
 * (lmd_table_meta.segments) has NaN in the per-token columns and model 1's
 * token count in n_tokens. */
#define LMD_N_CSV_COLUMNS (1 + LMD_TM_COUNT * LMD_AGG_COUNT)
#define LMD_COL_N_BYTES (LMD_N_CSV_COLUMNS + LMD_AGG_COUNT)
#define LMD_COL_BPB1 (LMD_COL_N_BYTES + 1)
#define LMD_COL_BPB2 (LMD_COL_N_BYTES + 2)
#define LMD_COL_BPB_DIFF (LMD_COL_N_BYTES + 3)
#define LMD_N_COLUMNS (LMD_COL_N_BYTES + 4)
#define LMD_DEFAULT_MAX_CLAMP 50

/* The six aggregations of v[0..n) (n > 0) into out, as the columns define
 * them (docs/measures.md); sorts v. */
void lmd_aggregate(double *v, size_t n, double out[LMD_AGG_COUNT]);

int lmd_column_of(lmd_text_measure m, lmd_aggregation a);
const char *lmd_column_name(int col);
int lmd_column_find(const char *name); /* -1 when unknown */
/* 1 for columns whose values are integers (n_tokens, n_bytes, max/min of
 * the rank, clamped rank and top-k diffs). */
int lmd_column_is_integer(int col);
/* The CSV's column order (LMD_N_CSV_COLUMNS of them): n_tokens and the
 * original's 8 columns first, then the other per-token ones;
 * lmd_csv_column(i) is the table column of CSV column i. */
int lmd_csv_column(int i);

/* The row of one text (a and b: the same token ids).  An empty text gives
 * n_tokens 0 and NaN everywhere else; so does entropy_diff when either side
 * has no entropy. */
int lmd_compare_row(const lmd_scores *a, int a_entropy, const lmd_scores *b, int b_entropy,
                    int clamp, double row[LMD_N_COLUMNS], lmd_error *err);

typedef struct lmd_compare_opts {
    int max_clamp_rank; /* 0 = 50 */
    int force;          /* replace existing outputs */
    int workers;        /* processes reading the caches: 0 or 1 = this process
                           only; more fork()s (do not ask for that from a
                           multithreaded program) */
    lmd_progress_fn progress;
    void *progress_ctx;
    volatile sig_atomic_t *cancel;
    const char *kl_path; /* the caches' KL pair file (kl.h), or NULL: no kl columns */
} lmd_compare_opts;
#define LMD_COMPARE_OPTS_INIT                                                                      \
    { .max_clamp_rank = 50, .force = 0 }

typedef struct lmd_compare_out {
    char *csv[2]; /* m1_m2, m2_m1 */
    char *table[2];
    uint64_t n_texts;
} lmd_compare_out;

/* Compares two caches and writes, in out_dir, <m1>_<m2>_<dataset>.csv and
 * .lmdt and the same for the reverse direction.  All four files appear
 * together or not at all. */
int lmd_compare(const char *cache1, const char *cache2, const char *out_dir,
                const lmd_compare_opts *opts, lmd_compare_out *out, lmd_error *err);
void lmd_compare_out_free(lmd_compare_out *o);
/* Sets out->csv[d] and out->table[d] to OUT_DIR/M_d_M_(1-d)_DATASET.{csv_ext, lmdt}
 * (file-safe names; out_dir made if missing) for lmd_compare and its
 * segment variant.  Refuses two models of one name and, unless force,
 * outputs that exist. */
int lmd_compare_paths(const lmd_cache_info *const in[2], const char *out_dir, const char *csv_ext,
                      int force, lmd_compare_out *out, lmd_error *err);

/* ============================================ binary per-text table (.lmdt) */

typedef struct lmd_table_meta {
    char *m1, *m2, *dataset_name, *dataset_checksum, *vocab_hash;
    char *cache1, *cache2;               /* absolute paths of the caches when written */
    char *weights_hash1, *weights_hash2; /* NULL when the cache has none */
    int max_clamp_rank, top_k;
    int segments; /* 1: models with different tokenizers, compared by segments */
    uint64_t n_texts;
    char *kl;       /* the KL pair file's name (beside the table), or NULL */
    int kl_reverse; /* 1: this direction's kl is the pair file's KL(P2||P1) */
} lmd_table_meta;

typedef struct lmd_table lmd_table;

/* Writes a table to f: cols[c][i] is column c of text i; text i is
 * text_blob[text_offsets[i] .. text_offsets[i+1]).  Write errors stay in
 * f's error flag (the caller writes through lmd_atomic and syncs). */
int lmd_table_write(FILE *f, const lmd_table_meta *meta, const double *const *cols,
                    const char *text_blob, const uint64_t *text_offsets, lmd_error *err);
/* The last step of lmd_compare and lmd_compare_segments (compare.c): the
 * two tables written after the two CSVs, all four synced, then renamed. */
int lmd_compare_commit(lmd_atomic f[4], const lmd_compare_out *out, const lmd_table_meta tm[2],
                       const double *store, size_t per, const char *blob, const uint64_t *offs,
                       lmd_error *err);
/* Maps a table file; its columns are read in place. */
int lmd_table_open(const char *path, lmd_table **out, lmd_error *err);
void lmd_table_close(lmd_table *t);
const lmd_table_meta *lmd_table_get_meta(const lmd_table *t);
const char *lmd_table_path(const lmd_table *t);
const double *lmd_table_column(const lmd_table *t, int col);
/* From now on the six kl columns read as NaN and the table names no pair
 * file (the server's, when that file is missing or does not match). */
int lmd_table_drop_kl(lmd_table *t, lmd_error *err);
const char *lmd_table_text(const lmd_table *t, uint64_t i, size_t *len);
/* The cache of model 1 (which 0) or 2 (which 1): beside the table when a
 * file of that name is there, else the recorded path.  Malloc'ed. */
char *lmd_table_cache_path(const lmd_table *t, int which);
void lmd_table_meta_free(lmd_table_meta *m);

/* ================================================================ search */

typedef enum {
    LMD_ORDER_ABS,     /* |value| descending (default) */
    LMD_ORDER_DESC,    /* value descending */
    LMD_ORDER_ASC,     /* value ascending */
    LMD_ORDER_ABS_ASC, /* |value| ascending: where the models agree most */
} lmd_order;

const char *lmd_order_name(lmd_order o); /* "abs", "desc", "asc", "abs_asc" */
int lmd_order_parse(const char *s);      /* -1 when unknown */

typedef struct lmd_search_opts {
    int column; /* lmd_column_find() */
    lmd_order order;
    size_t top; /* 0 = 50 */
    int bins;   /* 0 = 30 */
} lmd_search_opts;
#define LMD_SEARCH_OPTS_INIT                                                                       \
    { .column = 0, .order = LMD_ORDER_ABS, .top = 50, .bins = 30 }

typedef struct lmd_search_hit {
    uint64_t index;
    double value;
    int bin;
} lmd_search_hit;

typedef struct lmd_search_result {
    int column;
    lmd_order order;
    size_t top; /* as asked (the JSON's request.k) */
    size_t n_hits;
    lmd_search_hit *hits; /* most interesting first; ties by index */
    int bins;
    uint64_t *counts;                   /* [bins] */
    double *edges;                      /* [bins + 1] */
    uint64_t n_texts, n_values, n_null; /* n_null: NaN rows, skipped */
} lmd_search_result;

/* Ranks the texts by one column and builds its histogram (docs/api.md §6). */
int lmd_search(const lmd_table *t, const lmd_search_opts *o, lmd_search_result *r, lmd_error *err);
void lmd_search_result_free(lmd_search_result *r);

/* What the JSON renderers need besides the table. */
typedef struct lmd_kl_pair lmd_kl_pair; /* kl.h */
typedef struct lmd_corpus_json_ctx {
    const char *m1, *m2, *dataset; /* ids for "request" (NULL: the table's names) */
    lmd_cache *c1, *c2;            /* NULL: results carry no per-token data */
    const lmd_kl_pair *kl;         /* per-token "kl" from this pair file; NULL: none */
    int kl_reverse;                /* this direction is the file's KL(P2||P1) */
    const lmd_tokenizer *tok;      /* token texts; NULL: the caches' vocabulary strings */
    int clamp;                     /* 0: the table's max_clamp_rank */
} lmd_corpus_json_ctx;

/* The /api/search document (docs/api.md §6). */
int lmd_search_json(lmd_buf *b, const lmd_table *t, const lmd_search_result *r,
                    const lmd_corpus_json_ctx *ctx, lmd_error *err);
/* Per-token data of one text from both caches: the members "tokens", "m1",
 * "m2", "diff" (and "kl" with a pair file) of an Instance (docs/api.md §2),
 * without braces. */
int lmd_corpus_text_fields(lmd_buf *b, const lmd_corpus_json_ctx *ctx, uint64_t index,
                           lmd_error *err);
/* {"index", "text", "tokens", "m1", "m2", "diff"} of one text. */
int lmd_corpus_text_json(lmd_buf *b, const lmd_corpus_json_ctx *ctx, uint64_t index,
                         lmd_error *err);

/* The table to search in path: a .lmdt file, or a folder: with a
 * metadata.json (preprocess) its m1 -> m2 table (m2 -> m1 with reverse),
 * else the one table there, or the one of m1/m2 when given.  Malloc'ed. */
int lmd_corpus_find_table(const char *path, const char *m1, const char *m2, int reverse,
                          char **table_path, lmd_error *err);

#endif
