/* test_segments.c - lmd_segments_align and the bits-per-byte numbers:
 * hand-made spans (equal, nested boundaries, zero-width and shared starts,
 * a model without tokens, an empty text), sums over segments = sums over
 * tokens, the aggregations; and the alignment of GPT-2 against Llama-2 on
 * 1 MB of text, checked against a brute-force alignment on a prefix and
 * timed (printed); token spans kept in an analysis cache and read back. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/segments.h"
#include "corpus_testlib.h"
#include "testutil.h"

static void align(const lmd_span *a, size_t na, const lmd_span *b, size_t nb, size_t len,
                  lmd_segments *sg) {
    lmd_error err;
    if (lmd_segments_align(a, na, b, nb, len, sg, &err) < 0) fail_msg("%s", err.msg);
}

static void test_same_spans(void **state) {
    (void)state;
    lmd_span s[] = {{0, 2}, {2, 5}, {5, 6}};
    lmd_segments sg;
    align(s, 3, s, 3, 6, &sg);
    assert_int_equal(sg.n, 3);
    for (size_t j = 0; j < 3; j++) {
        assert_int_equal(sg.at[j], s[j].start);
        assert_int_equal(sg.first[0][j], j);
        assert_int_equal(sg.first[1][j], j);
    }
    assert_int_equal(sg.at[3], 6);
    lmd_segments_free(&sg);
}

static void test_different(void **state) {
    (void)state;
    /* "abcdefgh": model 1 ab|cde|fgh, model 2 abc|de|f|gh -> ab cde | f gh */
    lmd_span a[] = {{0, 2}, {2, 5}, {5, 8}};
    lmd_span b[] = {{0, 3}, {3, 5}, {5, 6}, {6, 8}};
    lmd_segments sg;
    align(a, 3, b, 4, 8, &sg);
    assert_int_equal(sg.n, 2);
    assert_int_equal(sg.at[1], 5);
    assert_int_equal(sg.at[2], 8);
    assert_int_equal(sg.first[0][1], 2);
    assert_int_equal(sg.first[1][1], 2);
    assert_int_equal(sg.first[0][2], 3);
    assert_int_equal(sg.first[1][2], 4);
    double lp1[] = {-1, -2, -3}, lp2[] = {-0.5, -0.5, -1, -4};
    lmd_segments_sum(&sg, lp1, lp2);
    assert_true(sg.lp[0][0] == -3 && sg.lp[0][1] == -3);
    assert_true(sg.lp[1][0] == -1 && sg.lp[1][1] == -5);
    lmd_segment_stats st;
    lmd_error err;
    assert_int_equal(lmd_segment_stats_of(&sg, &st, &err), 0);
    assert_true(fabs(st.bits[0] - 6 / M_LN2) < 1e-12 && fabs(st.bits[1] - 6 / M_LN2) < 1e-12);
    assert_true(fabs(st.bpb[0] - 6 / M_LN2 / 8) < 1e-12 && fabs(st.dbpb) < 1e-12);
    double d0 = (1 - 3) / M_LN2 / 5, d1 = (5 - 3) / M_LN2 / 3;
    assert_true(fabs(lmd_segment_dbpb(&sg, 0) - d0) < 1e-12);
    assert_true(fabs(st.agg[LMD_AGG_AVG] - (d0 + d1) / 2) < 1e-12);
    assert_true(st.agg[LMD_AGG_MAX] == lmd_segment_dbpb(&sg, 1));
    lmd_segments_free(&sg);
}

/* zero-width tokens, shared starts, gaps, a first token after 0 */
static void test_odd_spans(void **state) {
    (void)state;
    /* model 1: a prepended "▁" [0,0), then [0,3), then two tokens of one
     * character [4,7) [4,7); model 2 drops white space: [1,3) [4,7) */
    lmd_span a[] = {{0, 0}, {0, 3}, {4, 7}, {4, 7}};
    lmd_span b[] = {{1, 3}, {4, 7}};
    lmd_segments sg;
    align(a, 4, b, 2, 8, &sg);
    assert_int_equal(sg.n, 2);
    assert_int_equal(sg.at[0], 0);
    assert_int_equal(sg.at[1], 4);
    assert_int_equal(sg.at[2], 8);
    assert_int_equal(sg.first[0][1], 2);
    assert_int_equal(sg.first[1][1], 1);
    lmd_segments_free(&sg);
    /* a model without tokens: one segment */
    align(a, 4, NULL, 0, 8, &sg);
    assert_int_equal(sg.n, 1);
    assert_int_equal(sg.first[0][1], 4);
    assert_int_equal(sg.first[1][1], 0);
    lmd_segments_free(&sg);
    /* an empty text: no segments */
    align(NULL, 0, NULL, 0, 0, &sg);
    assert_int_equal(sg.n, 0);
    lmd_segment_stats st;
    lmd_error err;
    assert_int_equal(lmd_segment_stats_of(&sg, &st, &err), 0);
    assert_true(isnan(st.agg[LMD_AGG_AVG]) && isnan(st.bpb[0]));
    lmd_segments_free(&sg);
}

/* token_spans written with a text and read back; a text without them says so */
static void test_cache_spans(void **state) {
    (void)state;
    char *dir = tu_tmpdir(), *path = lmd_path_join(dir, "spans.h5");
    const char *vocab[] = {"a", "b"};
    lmd_cache_info in = ct_info("m", "w", 1);
    lmd_cache_writer *w;
    lmd_error err;
    assert_int_equal(lmd_cache_create(path, &in, vocab, 2, &w, &err), 0);
    assert_int_equal(lmd_cache_append_spans(w, NULL, 0, &err), -1); /* before any text */
    lmd_scores s = ct_scores(3, 1);
    const int32_t top[1] = {1};
    for (size_t i = 0; i < 3; i++)
        ct_token(&s, i, 1, 1, 0.5f, 1.0f, top);
    lmd_span sp[3] = {{0, 0}, {0, 4}, {4, 9}};
    if (lmd_cache_append(w, "text", 4, &s, &err) < 0 ||
        lmd_cache_append_spans(w, sp, 3, &err) < 0 || lmd_cache_append(w, "old", 3, &s, &err) < 0 ||
        lmd_cache_finish(w, 1, &err) < 0)
        fail_msg("%s", err.msg);
    ct_scores_free(&s);
    lmd_cache *c;
    if (lmd_cache_open(path, &c, &err) < 0) fail_msg("%s", err.msg);
    lmd_span *got;
    size_t n;
    assert_int_equal(lmd_cache_read_spans(c, 0, &got, &n, &err), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(got, sp, sizeof sp);
    free(got);
    assert_int_equal(lmd_cache_read_spans(c, 1, &got, &n, &err), 1);
    assert_null(got);
    assert_int_equal(lmd_cache_read_spans(c, 2, &got, &n, &err), -1);
    lmd_cache_close(c);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

static lmd_tokenizer *load(const char *rel) {
    char *dir = tu_shared_path(rel);
    lmd_tokenizer *t = tu_load_tokenizer(dir);
    free(dir);
    return t;
}

/* Brute force: segment of every byte position that is a cut of both. */
static size_t brute_count(const lmd_span *a, size_t na, const lmd_span *b, size_t nb, size_t len) {
    char *ca = calloc(len + 1, 1), *cb = calloc(len + 1, 1);
    ca[0] = cb[0] = 1;
    for (size_t i = 1; i < na; i++)
        if (a[i].start < len) ca[a[i].start] = 1;
    for (size_t i = 1; i < nb; i++)
        if (b[i].start < len) cb[b[i].start] = 1;
    size_t n = 0;
    for (size_t p = 0; p < len; p++)
        n += ca[p] && cb[p];
    free(ca);
    free(cb);
    return n;
}

static void test_megabyte(void **state) {
    (void)state;
    tu_require_shared();
    char *path = tu_shared_path("corpora/austen-emma-paragraphs.txt");
    char *text;
    size_t len;
    lmd_error err;
    if (lmd_read_file(path, &text, &len, &err) < 0) fail_msg("%s", err.msg);
    lmd_tokenizer *t1 = load("fixtures/tokenizers/gpt2"), *t2 = load("fixtures/tokenizers/llama2");
    /* 1 MiB: the corpus repeated */
    size_t L = 1u << 20;
    char *big = malloc(L);
    for (size_t i = 0; i < L; i += len)
        memcpy(big + i, text, i + len <= L ? len : L - i);
    while (((unsigned char)big[L - 1] & 0x80))
        L--;
    int32_t *i1, *i2;
    lmd_span *s1, *s2;
    size_t n1, n2;
    double t0 = tu_now();
    assert_int_equal(lmd_tokenize_spans(t1, big, L, &i1, &s1, &n1, &err), 0);
    double t1s = tu_now();
    assert_int_equal(lmd_tokenize_spans(t2, big, L, &i2, &s2, &n2, &err), 0);
    double t2s = tu_now();
    lmd_segments sg;
    align(s1, n1, s2, n2, L, &sg);
    double t3 = tu_now();
    assert_int_equal(sg.n, brute_count(s1, n1, s2, n2, L));
    /* every token in exactly one segment, in order */
    for (size_t j = 0; j < sg.n; j++)
        for (int m = 0; m < 2; m++) {
            const lmd_span *sp = m ? s2 : s1;
            assert_true(sg.first[m][j] < sg.first[m][j + 1]);
            for (size_t k = sg.first[m][j] + (j > 0 ? 0 : 1); k < sg.first[m][j + 1]; k++)
                assert_true(sp[k].start >= sg.at[j] && sp[k].start < sg.at[j + 1]);
        }
    printf("1 MiB: gpt2 %zu tokens (%.3f s with spans), llama2 %zu tokens (%.3f s), %zu "
           "segments aligned in %.4f s\n",
           n1, t1s - t0, n2, t2s - t1s, sg.n, t3 - t2s);
    lmd_segments_free(&sg);
    free(i1);
    free(i2);
    free(s1);
    free(s2);
    free(big);
    free(text);
    free(path);
    lmd_tokenizer_free(t1);
    lmd_tokenizer_free(t2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_spans), cmocka_unit_test(test_different),
        cmocka_unit_test(test_odd_spans),  cmocka_unit_test(test_cache_spans),
        cmocka_unit_test(test_megabyte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
