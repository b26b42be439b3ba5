/* test_search.c - ranking texts by a measure (four orders, ties, texts
 * without a value), the histogram rule of docs/api.md §6, the JSON
 * document for the web app, and finding the table in a folder. */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "corpus_testlib.h"
#include "testutil.h"

static char *dir, *out_dir, *table_path;
static const char *vocab[] = {"<s>", "x", "y", "z"};

/* Six texts of one token; model 2's rank minus model 1's: +2, 0, +5,
 * (empty), -3, -5. */
static void setup_caches(void) {
    static const int r1[6] = {1, 1, 1, 0, 4, 6}, r2[6] = {3, 1, 6, 0, 1, 1};
    lmd_error err;
    for (int side = 0; side < 2; side++) {
        lmd_cache_info in = ct_info(side ? "model/two" : "one", side ? "w2" : "w1", 2);
        in.dataset_n_texts = 6;
        char *p = lmd_path_join(dir, side ? "two.h5" : "one.h5");
        lmd_cache_writer *w;
        if (lmd_cache_create(p, &in, vocab, 4, &w, &err) < 0) fail_msg("%s", err.msg);
        for (int i = 0; i < 6; i++) {
            lmd_scores s = ct_scores(i == 3 ? 0 : 1, 2);
            if (i != 3)
                ct_token(&s, 0, 1 + i % 3, side ? r2[i] : r1[i], side ? 0.25f : 0.5f, 1.0f,
                         (int32_t[]){1, 2});
            char ph[16];
            snprintf(ph, sizeof ph, "t%d", i);
            if (lmd_cache_append(w, ph, strlen(ph), &s, &err) < 0) fail_msg("%s", err.msg);
            ct_scores_free(&s);
        }
        assert_int_equal(lmd_cache_finish(w, 1, &err), 0);
        free(p);
    }
    char *a = lmd_path_join(dir, "one.h5"), *b = lmd_path_join(dir, "two.h5");
    out_dir = lmd_path_join(dir, "cmp");
    lmd_compare_out co;
    if (lmd_compare(a, b, out_dir, NULL, &co, &err) < 0) fail_msg("%s", err.msg);
    table_path = strdup(co.table[0]);
    lmd_compare_out_free(&co);
    free(a);
    free(b);
}

static lmd_search_result search(lmd_table *t, const char *measure, lmd_order o, size_t top,
                                int bins) {
    lmd_search_opts so = {lmd_column_find(measure), o, top, bins};
    lmd_search_result r;
    lmd_error err;
    if (lmd_search(t, &so, &r, &err) < 0) fail_msg("%s", err.msg);
    return r;
}

static void expect_order(lmd_table *t, lmd_order o, const uint64_t *want, size_t n) {
    lmd_search_result r = search(t, "avg_rank_diff", o, 50, 5);
    assert_int_equal(r.n_hits, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r.hits[i].index, want[i]);
    lmd_search_result_free(&r);
}

static void test_orders(void **st) {
    (void)st;
    lmd_table *t;
    lmd_error err;
    if (lmd_table_open(table_path, &t, &err) < 0) fail_msg("%s", err.msg);
    expect_order(t, LMD_ORDER_ABS, (uint64_t[]){2, 5, 4, 0, 1}, 5); /* |5| = |-5|: index */
    expect_order(t, LMD_ORDER_DESC, (uint64_t[]){2, 0, 1, 4, 5}, 5);
    expect_order(t, LMD_ORDER_ASC, (uint64_t[]){5, 4, 1, 0, 2}, 5);
    expect_order(t, LMD_ORDER_ABS_ASC, (uint64_t[]){1, 0, 4, 2, 5}, 5);
    lmd_search_result r = search(t, "avg_rank_diff", LMD_ORDER_ABS, 2, 5);
    assert_int_equal(r.n_hits, 2);
    assert_true(r.hits[1].value == -5);
    assert_int_equal(r.n_texts, 6);
    assert_int_equal(r.n_values, 5);
    assert_int_equal(r.n_null, 1); /* the empty text */
    lmd_search_result_free(&r);
    assert_int_equal(lmd_order_parse("abs"), LMD_ORDER_ABS);
    assert_int_equal(lmd_order_parse("sideways"), -1);
    lmd_search_opts bad = {99, LMD_ORDER_ABS, 5, 5};
    assert_int_equal(lmd_search(t, &bad, &r, &err), -1);
    lmd_table_close(t);
}

static void test_histogram(void **st) {
    (void)st;
    lmd_table *t;
    lmd_error err;
    assert_int_equal(lmd_table_open(table_path, &t, &err), 0);
    /* values -5, -3, 0, 2, 5 in 5 bins of width 2; the last bin is closed */
    lmd_search_result r = search(t, "avg_rank_diff", LMD_ORDER_ABS, 50, 5);
    static const double edges[6] = {-5, -3, -1, 1, 3, 5};
    for (int i = 0; i <= 5; i++)
        assert_true(r.edges[i] == edges[i]);
    for (int i = 0; i < 5; i++)
        assert_int_equal(r.counts[i], 1);
    assert_int_equal(r.hits[0].bin, 4); /* 5 */
    assert_int_equal(r.hits[1].bin, 0); /* -5 */
    assert_int_equal(r.hits[2].bin, 1); /* -3 */
    lmd_search_result_free(&r);
    /* one value everywhere: [v - 0.5, v + 0.5] */
    r = search(t, "max_topk_diff", LMD_ORDER_ABS, 50, 4);
    assert_true(r.edges[0] == -0.5 && r.edges[4] == 0.5);
    assert_int_equal(r.counts[2], 5);
    lmd_search_result_free(&r);
    lmd_table_close(t);
}

static void test_json(void **st) {
    (void)st;
    lmd_table *t;
    lmd_error err;
    assert_int_equal(lmd_table_open(table_path, &t, &err), 0);
    lmd_search_result r = search(t, "max_rank_diff", LMD_ORDER_ABS, 3, 5);
    char *p1 = lmd_table_cache_path(t, 0), *p2 = lmd_table_cache_path(t, 1);
    lmd_corpus_json_ctx x = {0};
    assert_int_equal(lmd_cache_open(p1, &x.c1, &err), 0);
    assert_int_equal(lmd_cache_open(p2, &x.c2, &err), 0);
    lmd_buf b = {0};
    if (lmd_search_json(&b, t, &r, &x, &err) < 0) fail_msg("%s", err.msg);
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    if (!j) fail_msg("not JSON: %.*s", (int)b.len, b.data);
    cJSON *req = cJSON_GetObjectItem(j, "request");
    assert_string_equal(cJSON_GetObjectItem(req, "m1")->valuestring, "one");
    assert_string_equal(cJSON_GetObjectItem(req, "m2")->valuestring, "model/two");
    assert_string_equal(cJSON_GetObjectItem(req, "measure")->valuestring, "max_rank_diff");
    assert_string_equal(cJSON_GetObjectItem(req, "order")->valuestring, "abs");
    assert_int_equal(cJSON_GetObjectItem(req, "k")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(j, "n_texts")->valueint, 6);
    cJSON *res = cJSON_GetObjectItem(j, "results");
    assert_int_equal(cJSON_GetArraySize(res), 3);
    cJSON *first = cJSON_GetArrayItem(res, 0);
    assert_int_equal(cJSON_GetObjectItem(first, "index")->valueint, 2);
    assert_string_equal(cJSON_GetObjectItem(first, "text")->valuestring, "t2");
    assert_true(cJSON_GetObjectItem(first, "value")->valuedouble == 5);
    cJSON *ms = cJSON_GetObjectItem(first, "measures");
    assert_int_equal(cJSON_GetArraySize(ms), LMD_N_COLUMNS);
    assert_string_equal(ms->child->string, "n_tokens");
    assert_true(cJSON_GetObjectItem(ms, "avg_prob_diff")->valuedouble == -0.25);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(ms, "avg_entropy_diff")) == 0);
    /* integer columns are written as integers */
    assert_non_null(strstr(b.data, "\"max_rank_diff\":5,"));
    cJSON *toks = cJSON_GetObjectItem(first, "tokens");
    assert_int_equal(cJSON_GetArraySize(toks), 1);
    assert_string_equal(cJSON_GetObjectItem(toks->child, "text")->valuestring, "z");
    cJSON *m2 = cJSON_GetObjectItem(first, "m2");
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(m2, "rank"), 0)->valueint, 6);
    cJSON *diff = cJSON_GetObjectItem(first, "diff");
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(diff, "rank"), 0)->valueint, 5);
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(diff, "topk"), 0)->valueint, 0);
    cJSON *h = cJSON_GetObjectItem(j, "histogram");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h, "counts")), 5);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h, "edges")), 6);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(h, "marks")), 3);
    cJSON_Delete(j);

    /* one text with its per-token data */
    b.len = 0;
    if (lmd_corpus_text_json(&b, &x, 4, &err) < 0) fail_msg("%s", err.msg);
    j = cJSON_ParseWithLength(b.data, b.len);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "text")->valuestring, "t4");
    diff = cJSON_GetObjectItem(j, "diff");
    assert_int_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(diff, "rank"), 0)->valueint, -3);
    cJSON_Delete(j);
    lmd_buf_free(&b);
    lmd_cache_close(x.c1);
    lmd_cache_close(x.c2);
    free(p1);
    free(p2);
    lmd_search_result_free(&r);
    lmd_table_close(t);
}

static void test_find_table(void **st) {
    (void)st;
    char *found;
    lmd_error err;
    assert_int_equal(lmd_corpus_find_table(out_dir, NULL, NULL, 0, &found, &err), -1);
    assert_non_null(strstr(err.msg, "holds 2 tables"));
    assert_int_equal(lmd_corpus_find_table(out_dir, "one", "model/two", 0, &found, &err), 0);
    assert_string_equal(found, table_path);
    free(found);
    assert_int_equal(lmd_corpus_find_table(out_dir, "one", "model/two", 1, &found, &err), 0);
    assert_non_null(strstr(found, "model__SLASH__two_one_tiny-ds.lmdt"));
    free(found);
    assert_int_equal(lmd_corpus_find_table(table_path, NULL, NULL, 0, &found, &err), 0);
    free(found);
    /* a preprocess folder: metadata.json names the direction */
    char *meta = lmd_path_join(out_dir, "metadata.json");
    FILE *f = fopen(meta, "w");
    fputs("{\"m1\": \"one\", \"m2\": \"model/two\", \"dataset\": \"x/tiny-ds.txt\", "
          "\"dataset_name\": \"tiny-ds\", \"top_k\": 2, \"max_clamp_rank\": 50}",
          f);
    fclose(f);
    assert_int_equal(lmd_corpus_find_table(out_dir, NULL, NULL, 0, &found, &err), 0);
    assert_string_equal(found, table_path);
    free(found);
    assert_int_equal(lmd_corpus_find_table(out_dir, NULL, NULL, 1, &found, &err), 0);
    assert_non_null(strstr(found, "model__SLASH__two_one_tiny-ds.lmdt"));
    free(found);
    unlink(meta);
    free(meta);
    /* a damaged table */
    char *bad = lmd_path_join(dir, "bad.lmdt");
    f = fopen(bad, "w");
    fputs("LMDTABLE but nothing else of one", f);
    fclose(f);
    lmd_table *t;
    assert_int_equal(lmd_table_open(bad, &t, &err), -1);
    assert_non_null(strstr(err.msg, "bad.lmdt"));
    free(bad);
}

int main(void) {
    dir = tu_tmpdir();
    setup_caches();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders),
        cmocka_unit_test(test_histogram),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_find_table),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0 && !rc) rc = 1;
    free(dir);
    free(out_dir);
    free(table_path);
    return rc;
}
