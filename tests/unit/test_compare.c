/* test_compare.c - per-text measures computed by hand on tiny caches, the
 * CSV and binary table files of `compare`, the checks that two caches can
 * be compared, and that a failed compare leaves no file behind. */
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "corpus_testlib.h"
#include "testutil.h"

static char *dir;
static const char *vocab[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"};

/* Text 0 of the hand-computed example (docs/measures.md has the same). */
static void text0(lmd_scores *a, lmd_scores *b) {
    *a = ct_scores(4, 3);
    *b = ct_scores(4, 3);
    ct_token(a, 0, 1, 1, 0.5f, 1.0f, (int32_t[]){1, 2, 3});
    ct_token(a, 1, 2, 3, 0.25f, 2.0f, (int32_t[]){4, 5, 6});
    ct_token(a, 2, 3, 60, 0.125f, 3.0f, (int32_t[]){7, 8, 9});
    ct_token(a, 3, 4, 2, 0.75f, 4.0f, (int32_t[]){1, 2, 3});
    ct_token(b, 0, 1, 2, 0.25f, 1.5f, (int32_t[]){1, 2, 3});
    ct_token(b, 1, 2, 1, 0.5f, 1.5f, (int32_t[]){6, 5, 0});
    ct_token(b, 2, 3, 100, 0.0625f, 3.5f, (int32_t[]){0, 10, 11});
    ct_token(b, 3, 4, 55, 0.125f, 2.0f, (int32_t[]){3, 2, 1});
}

/* Text 3: six tokens, rank diffs 1..6 (for top5, median, q75). */
static void text3(lmd_scores *a, lmd_scores *b) {
    *a = ct_scores(6, 3);
    *b = ct_scores(6, 3);
    for (int i = 0; i < 6; i++) {
        ct_token(a, (size_t)i, i, 1, 0.5f, 1.0f, (int32_t[]){0, 1, 2});
        ct_token(b, (size_t)i, i, 2 + i, 0.5f, 1.0f, (int32_t[]){0, 1, 2});
    }
}

#define COL(m, a) lmd_column_of(LMD_TM_##m, LMD_AGG_##a)
#define NEAR(x, y) assert_true(fabs((x) - (y)) < 1e-12)

static void test_columns(void **st) {
    (void)st;
    assert_int_equal(LMD_N_CSV_COLUMNS, 43);
    assert_int_equal(LMD_N_COLUMNS, 53);
    assert_string_equal(lmd_column_name(37), "avg_kl");
    assert_string_equal(lmd_column_name(42), "top5_kl");
    assert_string_equal(lmd_column_name(43), "avg_segment_bpb_diff");
    assert_string_equal(lmd_column_name(48), "top5_segment_bpb_diff");
    assert_string_equal(lmd_column_name(LMD_COL_N_BYTES), "n_bytes");
    assert_string_equal(lmd_column_name(LMD_COL_BPB_DIFF), "bpb_diff");
    assert_int_equal(lmd_column_find("bpb1"), LMD_COL_BPB1);
    assert_int_equal(lmd_column_find("bpb2"), LMD_COL_BPB2);
    assert_true(lmd_column_is_integer(LMD_COL_N_BYTES) && !lmd_column_is_integer(LMD_COL_BPB1));
    assert_false(lmd_column_is_integer(lmd_column_of(LMD_TM_SEGMENT_BPB, LMD_AGG_MAX)));
    assert_int_equal(lmd_csv_column(LMD_N_CSV_COLUMNS), -1);
    assert_string_equal(lmd_column_name(0), "n_tokens");
    assert_string_equal(lmd_column_name(1), "avg_rank_diff");
    assert_string_equal(lmd_column_name(2), "max_rank_diff");
    assert_string_equal(lmd_column_name(3), "min_rank_diff");
    assert_string_equal(lmd_column_name(7), "avg_clamped_rank_diff");
    assert_string_equal(lmd_column_name(36), "top5_entropy_diff");
    assert_int_equal(lmd_column_find("median_logprob_diff"), COL(LOGPROB, MEDIAN));
    assert_int_equal(lmd_column_find("avg_kl"), COL(KL, AVG));
    assert_int_equal(lmd_column_find("avg_volume"), -1);
    static const char *const csv9[] = {"n_tokens",
                                       "avg_rank_diff",
                                       "max_rank_diff",
                                       "avg_clamped_rank_diff",
                                       "max_clamped_rank_diff",
                                       "avg_prob_diff",
                                       "max_prob_diff",
                                       "avg_topk_diff",
                                       "max_topk_diff"};
    for (int i = 0; i < 9; i++)
        assert_string_equal(lmd_column_name(lmd_csv_column(i)), csv9[i]);
    assert_string_equal(lmd_column_name(lmd_csv_column(9)), "min_rank_diff");
    assert_true(lmd_column_is_integer(COL(TOPK, MAX)));
    assert_true(lmd_column_is_integer(COL(CLAMPED_RANK, MIN)));
    assert_false(lmd_column_is_integer(COL(RANK, MEDIAN)));
    assert_false(lmd_column_is_integer(COL(PROB, MAX)));
}

static void test_row_by_hand(void **st) {
    (void)st;
    lmd_scores a, b;
    text0(&a, &b);
    double r[LMD_N_COLUMNS];
    lmd_error err;
    assert_int_equal(lmd_compare_row(&a, 1, &b, 1, 50, r, &err), 0);
    assert_true(r[0] == 4);
    /* rank_diff = [1, -2, 40, 53] */
    NEAR(r[COL(RANK, AVG)], 23);
    NEAR(r[COL(RANK, MAX)], 53);
    NEAR(r[COL(RANK, MIN)], -2);
    NEAR(r[COL(RANK, MEDIAN)], 20.5);
    NEAR(r[COL(RANK, Q75)], 43.25);
    NEAR(r[COL(RANK, TOP5)], 23);
    /* clamped at 50: [1, -2, 0, 48] */
    NEAR(r[COL(CLAMPED_RANK, AVG)], 11.75);
    NEAR(r[COL(CLAMPED_RANK, MAX)], 48);
    NEAR(r[COL(CLAMPED_RANK, MIN)], -2);
    NEAR(r[COL(CLAMPED_RANK, MEDIAN)], 0.5);
    NEAR(r[COL(CLAMPED_RANK, Q75)], 12.75);
    /* prob_diff = [-0.25, 0.25, -0.0625, -0.625] */
    NEAR(r[COL(PROB, AVG)], -0.171875);
    NEAR(r[COL(PROB, MAX)], 0.25);
    NEAR(r[COL(PROB, MIN)], -0.625);
    NEAR(r[COL(PROB, MEDIAN)], -0.15625);
    NEAR(r[COL(PROB, Q75)], 0.015625);
    /* topk_diff = [0, 1, 3, 0] */
    NEAR(r[COL(TOPK, AVG)], 1);
    NEAR(r[COL(TOPK, MAX)], 3);
    NEAR(r[COL(TOPK, MIN)], 0);
    NEAR(r[COL(TOPK, MEDIAN)], 0.5);
    NEAR(r[COL(TOPK, Q75)], 1.5);
    /* logprob_diff = ln(p2/p1) = [ln 1/2, ln 2, ln 1/2, ln 1/6] */
    NEAR(r[COL(LOGPROB, AVG)], (-log(2) + log(2) - log(2) - log(6)) / 4);
    NEAR(r[COL(LOGPROB, MAX)], log(2));
    NEAR(r[COL(LOGPROB, MIN)], -log(6));
    NEAR(r[COL(LOGPROB, MEDIAN)], -log(2));
    /* entropy_diff = [0.5, -0.5, 0.5, -2] */
    NEAR(r[COL(ENTROPY, AVG)], -0.375);
    NEAR(r[COL(ENTROPY, MIN)], -2);
    NEAR(r[COL(ENTROPY, MEDIAN)], 0);
    NEAR(r[COL(ENTROPY, Q75)], 0.5);
    /* the other direction: max and min swap with their signs */
    double q[LMD_N_COLUMNS];
    assert_int_equal(lmd_compare_row(&b, 1, &a, 1, 50, q, &err), 0);
    NEAR(q[COL(RANK, AVG)], -23);
    NEAR(q[COL(RANK, MAX)], 2);
    NEAR(q[COL(RANK, MIN)], -53);
    NEAR(q[COL(PROB, MAX)], 0.625);
    NEAR(q[COL(TOPK, MAX)], 3);
    /* another clamp */
    assert_int_equal(lmd_compare_row(&a, 1, &b, 1, 10, r, &err), 0);
    NEAR(r[COL(CLAMPED_RANK, MAX)], 8); /* min(55,10) - min(2,10) */
    /* without entropy on one side: NaN */
    assert_int_equal(lmd_compare_row(&a, 0, &b, 1, 50, r, &err), 0);
    assert_true(isnan(r[COL(ENTROPY, AVG)]));
    assert_false(isnan(r[COL(RANK, AVG)]));
    ct_scores_free(&a);
    ct_scores_free(&b);

    text3(&a, &b);
    assert_int_equal(lmd_compare_row(&a, 1, &b, 1, 50, r, &err), 0);
    NEAR(r[COL(RANK, TOP5)], 4); /* (2+3+4+5+6)/5 */
    NEAR(r[COL(RANK, MEDIAN)], 3.5);
    NEAR(r[COL(RANK, Q75)], 4.75); /* numpy: 4 + 0.75 (5 - 4) */
    ct_scores_free(&a);
    ct_scores_free(&b);

    /* an empty text: n_tokens 0, everything else NaN */
    a = ct_scores(0, 3);
    b = ct_scores(0, 3);
    assert_int_equal(lmd_compare_row(&a, 1, &b, 1, 50, r, &err), 0);
    assert_true(r[0] == 0);
    for (int c = 1; c < LMD_N_COLUMNS; c++)
        assert_true(isnan(r[c]));
    ct_scores_free(&a);
    ct_scores_free(&b);
}

/* Caches of models "m-a" and "m-b": text 0, an empty text, one token
 * equal in both, text 3. */
static void write_pair(const char *pa, const char *pb, const char *b_checksum, int b_bad_id) {
    lmd_error err;
    for (int side = 0; side < 2; side++) {
        lmd_cache_info in = ct_info(side ? "m-b" : "m-a", side ? "wb" : "wa", 3);
        if (side && b_checksum) in.dataset_checksum = (char *)b_checksum;
        lmd_cache_writer *w;
        if (lmd_cache_create(side ? pb : pa, &in, vocab, 12, &w, &err) < 0) fail_msg("%s", err.msg);
        lmd_scores s[2][4];
        text0(&s[0][0], &s[1][0]);
        s[0][1] = ct_scores(0, 3);
        s[1][1] = ct_scores(0, 3);
        s[0][2] = ct_scores(1, 3);
        s[1][2] = ct_scores(1, 3);
        ct_token(&s[0][2], 0, 7, 5, 0.5f, 1.0f, (int32_t[]){0, 1, 2});
        ct_token(&s[1][2], 0, 7, 5, 0.5f, 1.0f, (int32_t[]){0, 1, 2});
        text3(&s[0][3], &s[1][3]);
        if (b_bad_id) s[1][0].ids[2] = 9;
        const char *ph[4] = {"text zero", "", "seven", "text, \"three\"\twith tab"};
        for (int i = 0; i < 4; i++)
            if (lmd_cache_append(w, ph[i], strlen(ph[i]), &s[side][i], &err) < 0)
                fail_msg("%s", err.msg);
        for (int i = 0; i < 4; i++) {
            ct_scores_free(&s[0][i]);
            ct_scores_free(&s[1][i]);
        }
        assert_int_equal(lmd_cache_finish(w, 1, &err), 0);
    }
}

static char *read_all(const char *p) {
    char *d;
    size_t n;
    lmd_error err;
    if (lmd_read_file(p, &d, &n, &err) < 0) fail_msg("%s", err.msg);
    return d;
}

static int count_files(const char *d) {
    DIR *dd = opendir(d);
    if (!dd) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(dd)))
        if (e->d_name[0] != '.') n++;
    closedir(dd);
    return n;
}

static void test_compare_files(void **st) {
    (void)st;
    char *pa = lmd_path_join(dir, "a.h5"), *pb = lmd_path_join(dir, "b.h5");
    char *out = lmd_path_join(dir, "out");
    write_pair(pa, pb, NULL, 0);
    lmd_compare_out co;
    lmd_error err;
    if (lmd_compare(pa, pb, out, NULL, &co, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(co.n_texts, 4);
    assert_non_null(strstr(co.csv[0], "out/m-a_m-b_tiny-ds.csv"));
    assert_non_null(strstr(co.csv[1], "out/m-b_m-a_tiny-ds.csv"));
    assert_non_null(strstr(co.table[0], "out/m-a_m-b_tiny-ds.lmdt"));
    assert_int_equal(count_files(out), 4);

    char *csv = read_all(co.csv[0]);
    const char *head = ",n_tokens,avg_rank_diff,max_rank_diff,avg_clamped_rank_diff,"
                       "max_clamped_rank_diff,avg_prob_diff,max_prob_diff,avg_topk_diff,"
                       "max_topk_diff,min_rank_diff,median_rank_diff,q75_rank_diff,"
                       "top5_rank_diff,min_clamped_rank_diff,";
    assert_memory_equal(csv, head, strlen(head));
    const char *row0 = "\n0,4,23.0,53,11.75,48,-0.171875,0.25,1.0,3,-2,20.5,43.25,23.0,-2,0.5,"
                       "12.75,11.75,-0.625,-0.15625,0.015625,-0.171875,0,0.5,1.5,1.0,";
    assert_non_null(strstr(csv, row0));
    assert_non_null(strstr(csv, "\n1,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n"));
    assert_non_null(strstr(csv, "\n2,1,0.0,0,0.0,0,0.0,0.0,0.0,0,"));
    free(csv);
    csv = read_all(co.csv[1]);
    assert_non_null(strstr(csv, "\n0,4,-23.0,2,"));
    free(csv);

    lmd_table *t;
    if (lmd_table_open(co.table[0], &t, &err) < 0) fail_msg("%s", err.msg);
    const lmd_table_meta *m = lmd_table_get_meta(t);
    assert_string_equal(m->m1, "m-a");
    assert_string_equal(m->m2, "m-b");
    assert_string_equal(m->dataset_name, "tiny-ds");
    assert_string_equal(m->weights_hash1, "wa");
    assert_int_equal(m->max_clamp_rank, 50);
    assert_int_equal(m->top_k, 3);
    assert_int_equal(m->n_texts, 4);
    NEAR(lmd_table_column(t, COL(RANK, Q75))[0], 43.25);
    assert_true(isnan(lmd_table_column(t, COL(RANK, AVG))[1]));
    NEAR(lmd_table_column(t, COL(RANK, TOP5))[3], 4);
    size_t len;
    const char *text = lmd_table_text(t, 3, &len);
    assert_int_equal(len, strlen("text, \"three\"\twith tab"));
    assert_memory_equal(text, "text, \"three\"\twith tab", len);
    text = lmd_table_text(t, 1, &len);
    assert_int_equal(len, 0);
    char *cp = lmd_table_cache_path(t, 1);
    assert_non_null(strstr(cp, "b.h5"));
    free(cp);
    lmd_table_close(t);

    /* forked workers give the same files */
    char *csv1 = read_all(co.csv[0]), *tab1 = NULL;
    size_t tlen1, tlen2;
    assert_int_equal(lmd_read_file(co.table[1], &tab1, &tlen1, &err), 0);
    lmd_compare_opts ow = {.force = 1, .workers = 3};
    lmd_compare_out cw;
    if (lmd_compare(pa, pb, out, &ow, &cw, &err) < 0) fail_msg("%s", err.msg);
    char *csv2 = read_all(cw.csv[0]), *tab2 = NULL;
    assert_int_equal(lmd_read_file(cw.table[1], &tab2, &tlen2, &err), 0);
    assert_string_equal(csv1, csv2);
    assert_int_equal(tlen1, tlen2);
    assert_memory_equal(tab1, tab2, tlen1);
    free(csv1);
    free(csv2);
    free(tab1);
    free(tab2);
    lmd_compare_out_free(&cw);

    /* existing outputs are kept unless forced */
    lmd_compare_out co2;
    assert_int_equal(lmd_compare(pa, pb, out, NULL, &co2, &err), -1);
    assert_non_null(strstr(err.msg, "exists"));
    lmd_compare_opts o = {.force = 1, .max_clamp_rank = 10};
    assert_int_equal(lmd_compare(pa, pb, out, &o, &co2, &err), 0);
    csv = read_all(co2.csv[0]);
    assert_non_null(strstr(csv, "\n0,4,23.0,53,1.75,8,")); /* clamped at 10: [1,-2,0,8] */
    free(csv);
    assert_int_equal(count_files(out), 4);
    lmd_compare_out_free(&co);
    lmd_compare_out_free(&co2);
    free(pa);
    free(pb);
    free(out);
}

static void test_not_comparable(void **st) {
    (void)st;
    char *pa = lmd_path_join(dir, "c.h5"), *pb = lmd_path_join(dir, "d.h5");
    char *out = lmd_path_join(dir, "out-bad");
    lmd_compare_out co;
    lmd_error err;
    write_pair(pa, pb, "another", 0);
    assert_int_equal(lmd_compare(pa, pb, out, NULL, &co, &err), -1);
    assert_non_null(strstr(err.msg, "different datasets"));
    write_pair(pa, pb, NULL, 1);
    assert_int_equal(lmd_compare(pa, pb, out, NULL, &co, &err), -1);
    assert_non_null(strstr(err.msg, "text 0, token 2: id 3"));
    assert_non_null(strstr(err.msg, "but 9"));
    assert_int_equal(count_files(out), 0); /* created, but empty */
    /* one cache with itself: one model name */
    assert_int_equal(lmd_compare(pa, pa, out, NULL, &co, &err), -1);
    assert_non_null(strstr(err.msg, "model named 'm-a'"));
    free(pa);
    free(pb);
    free(out);
}

/* A disk that fills up (RLIMIT_FSIZE) leaves no file and no temporary. */
static void test_disk_full(void **st) {
    (void)st;
    char *pa = lmd_path_join(dir, "e.h5"), *pb = lmd_path_join(dir, "f.h5");
    char *out = lmd_path_join(dir, "out-full");
    write_pair(pa, pb, NULL, 0);
    assert_int_equal(lmd_mkdirs(out, NULL), 0);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {2000, 2000};
        setrlimit(RLIMIT_FSIZE, &rl);
        lmd_compare_out co;
        lmd_error err;
        int rc = lmd_compare(pa, pb, out, NULL, &co, &err);
        _exit(rc == -1 && strstr(err.msg, "File too large") ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(count_files(out), 0);
    free(pa);
    free(pb);
    free(out);
}

int main(void) {
    dir = tu_tmpdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columns),       cmocka_unit_test(test_row_by_hand),
        cmocka_unit_test(test_compare_files), cmocka_unit_test(test_not_comparable),
        cmocka_unit_test(test_disk_full),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0 && !rc) rc = 1;
    free(dir);
    return rc;
}
