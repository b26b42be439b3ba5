/* testutil.h - helpers for the cmocka tests: where the fixtures are, and
 * skipping (exit 77) when ../shared is absent. */
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
#endif
