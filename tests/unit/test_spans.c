/* test_spans.c - lmd_tokenize_spans: the byte span of every token, for the
 * real GPT-2 (byte-level BPE), Llama-2 (SentencePiece: Prepend + Replace,
 * byte fallback), Llama-3-style (tests/models/tiny-llama3) and
 * bert-base-uncased (BertNormalizer, WordPiece) tokenizers on the llama.cpp
 * test vectors plus texts with accents, CJK, emoji and ligatures.  The ids
 * must equal lmd_tokenize's; starts never decrease; and the bytes of each
 * span must be what the token stands for: exactly its bytes (byte-level),
 * its text with ▁ as the space (SentencePiece), its normalized text
 * (WordPiece, ASCII texts).  Plus a timing of the plain path against the
 * spans path on 1 MB (printed, not asserted: the plain path is unchanged). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "testutil.h"
#include "tokenize/tok_internal.h"

static const char *extra[] = {
    "H\xc3\xa9llo  w\xc3\xb6rld, \xc4\xb0stanbul \xe4\xb8\xad\xe6\x96\x87 na\xc3\xafve "
    "\xef\xac\x81ne "
    "\xf0\x9f\x8e\x89!",
    "  leading and trailing  \n\n",
    "e\xcc\x81t\xc3\xa9 CAF\xc3\x89 \xe1\x84\x80\xe1\x85\xa1 <|endoftext|> tab\there",
    "",
};

static lmd_tokenizer *load(const char *rel, int shared) {
    char *dir = shared ? (tu_require_shared(), tu_shared_path(rel)) : tu_src_path(rel);
    lmd_tokenizer *t = tu_load_tokenizer(dir);
    free(dir);
    return t;
}

enum { BYTES, SPM, WORDPIECE };

static int ascii(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80 || (s[i] < 0x20 && s[i] != '\n' && s[i] != ' ')) return 0;
    return 1;
}

/* The checks of one text; returns the number of tokens checked. */
static size_t check_text(const lmd_tokenizer *t, int kind, const char *s, size_t n) {
    int32_t *ids, *ids2;
    lmd_span *sp;
    size_t k, k2;
    lmd_error err;
    if (lmd_tokenize(t, s, n, &ids, &k, &err) < 0) fail_msg("%s", err.msg);
    if (lmd_tokenize_spans(t, s, n, &ids2, &sp, &k2, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(k, k2);
    assert_memory_equal(ids, ids2, k * sizeof *ids);
    size_t pos = 0;
    for (size_t i = 0; i < k; i++) {
        const char *b;
        size_t bl = lmd_token_bytes(t, ids[i], &b);
        size_t a = sp[i].start, e = sp[i].end;
        if (a > e || e > n || (i && a < sp[i - 1].start))
            fail_msg("token %zu of \"%.*s\": bad span [%zu,%zu)", i, (int)n, s, a, e);
        if (kind == BYTES) { /* the spans tile the text, each with its bytes */
            if (a != pos || bl != e - a || memcmp(b, s + a, bl) != 0)
                fail_msg("token %zu of \"%.*s\": span [%zu,%zu) is not its bytes", i, (int)n, s, a,
                         e);
            pos = e;
        } else if (kind == SPM) { /* " x" for ▁x; the first ▁ may have been prepended */
            int same = bl == e - a && memcmp(b, s + a, bl) == 0;
            int prep = i == 0 && bl > 0 && b[0] == ' ' && bl - 1 == e - a &&
                       memcmp(b + 1, s + a, bl - 1) == 0;
            if (!same && !prep)
                fail_msg("token %zu \"%.*s\" of \"%.*s\": span [%zu,%zu)", i, (int)bl, b, (int)n, s,
                         a, e);
        } else if (ascii(s, n) && ids[i] != t->unk_id && t->slots[ids[i]].kind == LMD_SLOT_VOCAB) {
            const char *raw = lmd_token_raw(t, ids[i]);
            if (strncmp(raw, "##", 2) == 0) raw += 2;
            if (strlen(raw) != e - a) fail_msg("token \"%s\": span [%zu,%zu)", raw, a, e);
            for (size_t j = a; j < e; j++)
                if (tolower((unsigned char)s[j]) != raw[j - a])
                    fail_msg("token \"%s\": span [%zu,%zu) of \"%.*s\"", raw, a, e, (int)n, s);
        }
    }
    if (kind == BYTES && pos != n) fail_msg("\"%.*s\": the spans end at %zu", (int)n, s, pos);
    free(ids);
    free(ids2);
    free(sp);
    return k;
}

static void check_all(const char *rel, int shared, int kind, const char *vectors) {
    lmd_tokenizer *t = load(rel, shared);
    size_t total = 0;
    if (vectors) {
        tu_vectors v;
        tu_read_vectors(&v, vectors);
        for (size_t i = 0; i < v.n; i++)
            total += check_text(t, kind, v.text[i], v.text_len[i]);
        tu_vectors_free(&v);
    }
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++)
        total += check_text(t, kind, extra[i], strlen(extra[i]));
    printf("%s: %zu tokens checked\n", rel, total);
    lmd_tokenizer_free(t);
}

static void test_gpt2(void **state) {
    (void)state;
    check_all("fixtures/tokenizers/gpt2", 1, BYTES, "gpt-2");
}

static void test_llama3_style(void **state) {
    (void)state;
    check_all("tests/models/tiny-llama3", 0, BYTES, NULL);
}

static void test_llama2_spm(void **state) {
    (void)state;
    check_all("fixtures/tokenizers/llama2", 1, SPM, "llama-spm");
}

/* Llama-2 with legacy false: the Metaspace pre-tokenizer instead of the
 * normalizer (prepend_scheme first). */
static void test_llama2_metaspace(void **state) {
    (void)state;
    tu_require_shared();
    char *model = tu_shared_path("fixtures/tokenizers/llama2/tokenizer.model"), *data;
    size_t len;
    lmd_error err;
    if (lmd_read_file(model, &data, &len, &err) < 0) fail_msg("%s", err.msg);
    char *dir = tu_tmpdir();
    tu_write_file(dir, "tokenizer.model", data, len);
    tu_write_str(dir, "tokenizer_config.json", "{\"legacy\": false}");
    lmd_tokenizer *t = tu_load_tokenizer(dir);
    assert_int_equal(t->n_norms, 0);
    tu_vectors v;
    tu_read_vectors(&v, "llama-spm");
    size_t total = 0;
    for (size_t i = 0; i < v.n; i++)
        total += check_text(t, SPM, v.text[i], v.text_len[i]);
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++)
        total += check_text(t, SPM, extra[i], strlen(extra[i]));
    printf("llama2 Metaspace: %zu tokens checked\n", total);
    tu_vectors_free(&v);
    lmd_tokenizer_free(t);
    free(data);
    free(model);
    free(dir);
}

static void test_bert(void **state) {
    (void)state;
    check_all("fixtures/tokenizers/bert-base-uncased", 1, WORDPIECE, "bert-bge");
    /* normalized characters cover their original bytes */
    lmd_tokenizer *t = load("fixtures/tokenizers/bert-base-uncased", 1);
    const char *s = "Caf\xc3\xa9 \xe4\xb8\xad!";
    int32_t *ids;
    lmd_span *sp;
    size_t k;
    lmd_error err;
    assert_int_equal(lmd_tokenize_spans(t, s, strlen(s), &ids, &sp, &k, &err), 0);
    assert_int_equal(k, 3); /* cafe 中 ! */
    assert_int_equal(sp[0].start, 0);
    assert_int_equal(sp[0].end, 5);
    assert_int_equal(sp[1].start, 6);
    assert_int_equal(sp[1].end, 9);
    assert_int_equal(sp[2].start, 9);
    assert_int_equal(sp[2].end, 10);
    free(ids);
    free(sp);
    lmd_tokenizer_free(t);
}

/* The cost of spans, printed: plain and spans path on a 1 MB corpus text. */
static void test_timing(void **state) {
    (void)state;
    tu_require_shared();
    char *path = tu_shared_path("corpora/austen-emma-paragraphs.txt");
    char *text;
    size_t len;
    lmd_error err;
    if (lmd_read_file(path, &text, &len, &err) < 0) fail_msg("%s", err.msg);
    if (len > (1u << 20)) len = 1u << 20;
    while (len && ((unsigned char)text[len] & 0xC0) == 0x80)
        len--;
    lmd_tokenizer *t = load("fixtures/tokenizers/gpt2", 1);
    double best[2] = {1e9, 1e9};
    for (int rep = 0; rep < 3; rep++)
        for (int mode = 0; mode < 2; mode++) {
            int32_t *ids;
            lmd_span *sp = NULL;
            size_t k;
            double t0 = tu_now();
            int rc = mode ? lmd_tokenize_spans(t, text, len, &ids, &sp, &k, &err)
                          : lmd_tokenize(t, text, len, &ids, &k, &err);
            double dt = tu_now() - t0;
            assert_int_equal(rc, 0);
            if (dt < best[mode]) best[mode] = dt;
            free(ids);
            free(sp);
        }
    printf("gpt2 on %zu bytes: plain %.3f s, with spans %.3f s (ratio %.2f)\n", len, best[0],
           best[1], best[1] / best[0]);
    lmd_tokenizer_free(t);
    free(text);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt2),       cmocka_unit_test(test_llama3_style),
        cmocka_unit_test(test_llama2_spm), cmocka_unit_test(test_llama2_metaspace),
        cmocka_unit_test(test_bert),       cmocka_unit_test(test_timing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
