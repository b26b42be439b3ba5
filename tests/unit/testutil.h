/* testutil.h - helpers for the cmocka tests: where the fixtures are,
 * skipping (exit 77) when ../shared is absent, temporary folders, tokenizer
 * loading and test vectors, a timer, and the checks of golden files against
 * the float64 references of tools/reference. */
#ifndef LMD_TESTUTIL_H
#define LMD_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the headers it needs */

/* Path under the project's source tree ($LMD_SRC); malloc'ed. */
char *tu_src_path(const char *rel);
/* Path under ../shared ($LMD_SHARED); malloc'ed.  NULL when shared/ is absent. */
char *tu_shared_path(const char *rel);
/* Prints a message and exits 77 (ctest's skip) when shared/ is absent. */
void tu_require_shared(void);
/* A fresh temporary directory; malloc'ed. */
char *tu_tmpdir(void);

/* Writes (creates or replaces) dir/name; fails the test on error. */
void tu_write_file(const char *dir, const char *name, const char *data, size_t len);
void tu_write_str(const char *dir, const char *name, const char *data);
/* Copies from_dir/name to to_dir/name. */
void tu_copy_file(const char *from_dir, const char *to_dir, const char *name);

struct lmd_tokenizer;
struct lmd_scores;
struct cJSON;
/* A tokenizer from the text of a tokenizer.json (named "test.json" in errors);
 * fails the test when it is refused. */
struct lmd_tokenizer *tu_tok_json(const char *json);

/* The tokenizer test vectors ../shared/fixtures/tokenizer-vectors/<base>.inp
 * and .out (llama.cpp's format: each text followed by a line
 * "__ggml_vocab_test__"; one line of space-separated ids per text). */
typedef struct tu_vectors {
    char *inp, *out; /* the files' contents; text[] points into inp */
    size_t n;
    const char *text[64];
    size_t text_len[64];
    int32_t *ids[64];
    size_t n_ids[64];
} tu_vectors;
/* Reads the 46 cases of <base>; the caller has checked that ../shared is
 * there.  Fails the test on a malformed file. */
void tu_read_vectors(tu_vectors *v, const char *base);
void tu_vectors_free(tu_vectors *v);

/* Tokenizes text[0..len) and fails the test, printing both id lists, unless
 * the ids equal want[0..n_want). */
void tu_expect_ids(const struct lmd_tokenizer *t, const char *text, size_t len, const int32_t *want,
                   size_t n_want);
/* TU_EXPECT(t, "literal", id, id, ...): the ids of a string literal (which
 * may hold a NUL); TU_EXPECT_NONE(t, "literal"): no ids at all. */
#define TU_EXPECT(t, text, ...)                                                                    \
    tu_expect_ids(t, text, sizeof(text) - 1, (const int32_t[]){__VA_ARGS__},                       \
                  sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t))
#define TU_EXPECT_NONE(t, text) tu_expect_ids(t, text, sizeof(text) - 1, NULL, 0)

/* The tokenizer of a model folder; fails the test, naming the folder, when
 * it is refused. */
struct lmd_tokenizer *tu_load_tokenizer(const char *dir);
/* Loading dir must fail with a message that holds needle1 and (unless
 * NULL) needle2. */
void tu_expect_load_error(const char *dir, const char *needle1, const char *needle2);
/* Removes the files of a folder of tu_tmpdir and the folder, and frees dir. */
void tu_rm_dir(char *dir);

/* Monotonic time in seconds, for the timings the tests print. */
double tu_now(void);

struct lmd_model;
struct lmd_model_opts;
struct lmd_scores;
/* tests/models/NAME loaded with the options o; fails the test when it is
 * refused. */
struct lmd_model *tu_test_model(const char *name, const struct lmd_model_opts *o);
/* n texts of lens[t] pseudo-random ids below V, the same for the same seed;
 * each ids[t] is malloc'ed. */
void tu_random_ids(uint32_t seed, int V, int n, const size_t *lens, int32_t **ids);
/* Scores n texts of random ids (tu_random_ids with the model's vocabulary)
 * in one batch with top-k 5 into s[0..n). */
void tu_score_random(struct lmd_model *m, uint32_t seed, int n, const size_t *lens,
                     struct lmd_scores *s);
/* Asserts that a[t] and b[t] agree bit for bit (log-probs, entropies, ranks,
 * top-5 ids and probabilities) for t < n, and frees both. */
void tu_expect_same_scores(struct lmd_scores *a, struct lmd_scores *b, int n);

/* A golden file tests/golden/<name>.jsonl of tools/reference (float64
 * PyTorch): one JSON document per text with "text", "ids" and "tokens" (per
 * token: logprob, entropy, rank_lo, rank_hi (the ranks allowed when logits
 * within 1e-5 of the true one count as ties), topk: [[id, logprob], ...]). */
#define TU_GOLDEN_MAX 64
#define TU_GOLDEN_TOL 1e-4 /* |d log p|, |d H| (nats) */
#define TU_GOLDEN_TIE 1e-5 /* reference logits this close are ties */
typedef struct tu_golden {
    size_t n; /* texts */
    struct cJSON *doc[TU_GOLDEN_MAX];
    int32_t *ids[TU_GOLDEN_MAX]; /* the C tokenizer's ids (equal to the reference's) */
    size_t n_ids[TU_GOLDEN_MAX];
    char *data;
} tu_golden;
/* Reads the file at path and tokenizes its texts with tok; fails the test
 * (naming what) when a text's ids differ from the reference's. */
void tu_golden_read(tu_golden *g, const char *path, const struct lmd_tokenizer *tok,
                    const char *what);
void tu_golden_free(tu_golden *g);
/* Token i of text c: the reference's entry (rank_lo, rank_hi; the others by
 * name with cJSON). */
const struct cJSON *tu_golden_token(const tu_golden *g, size_t c, size_t i, int *lo, int *hi);
/* Checks the scores of text c (top_k 10) against the reference: log p and
 * ln(prob) within TU_GOLDEN_TOL, entropy within TU_GOLDEN_TOL, the rank in
 * [rank_lo, rank_hi], the top-k probabilities within TU_GOLDEN_TOL and ids
 * equal except for ties within TU_GOLDEN_TIE.  worst[0], worst[1]: the
 * largest |d log p| and |d H| seen, raised. */
void tu_golden_check(const tu_golden *g, size_t c, const struct lmd_scores *s, const char *what,
                     double worst[2]);
/* check(dir, golden) on the folder <dir_prefix><name> under the source tree
 * and tests/golden/<golden_prefix><name>.jsonl. */
void tu_golden_run(void (*check)(const char *dir, const char *golden), const char *dir_prefix,
                   const char *golden_prefix, const char *name);
/* The same on ../shared/fixtures/hf-models/<name> (saved by HF
 * transformers) and tests/golden/<name>.jsonl; skips the test, saying so,
 * when ../shared is absent. */
void tu_golden_run_shared(void (*check)(const char *dir, const char *golden), const char *name);
#endif
