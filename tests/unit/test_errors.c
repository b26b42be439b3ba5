/* test_errors.c - every lmd_error carries a code next to its message
 * (issue 11 §4): the helpers set it, a prefix keeps it, and the library's
 * obvious failures (missing file, unsupported architecture, a text of 0
 * tokens) say what kind they are. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "testutil.h"

static void test_fail_helpers(void **state) {
    (void)state;
    lmd_error err = {0};
    assert_int_equal(lmd_fail(&err, "plain %d", 1), -1);
    assert_int_equal(err.code, LMD_ERR_FAILED);
    assert_string_equal(err.msg, "plain 1");
    assert_int_equal(lmd_fail_code(&err, LMD_ERR_BUSY, "held by pid %d", 42), -1);
    assert_int_equal(err.code, LMD_ERR_BUSY);
    lmd_err_prefix(&err, "x.h5");
    assert_string_equal(err.msg, "x.h5: held by pid 42");
    assert_int_equal(err.code, LMD_ERR_BUSY); /* a prefix keeps the kind */
    assert_int_equal(lmd_fail_code(NULL, LMD_ERR_IO, "no error struct"), -1);
    assert_string_equal(lmd_error_code_name(LMD_ERR_NOT_FOUND), "NOT_FOUND");
    assert_string_equal(lmd_error_code_name((lmd_error_code)999), "FAILED");
    assert_int_equal(lmd_errno_code(ENOENT), LMD_ERR_NOT_FOUND);
    assert_int_equal(lmd_errno_code(ENOMEM), LMD_ERR_NO_MEMORY);
    assert_int_equal(lmd_errno_code(ENOSPC), LMD_ERR_IO);
}

static void test_files(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char *missing = lmd_path_join(dir, "nope.txt");
    char *data;
    size_t len;
    lmd_error err = {0};
    assert_int_equal(lmd_read_file(missing, &data, &len, &err), -1);
    assert_int_equal(err.code, LMD_ERR_NOT_FOUND);
    assert_non_null(strstr(err.msg, "nope.txt"));
    assert_int_equal(lmd_read_file(dir, &data, &len, &err), -1); /* a folder: the read fails */
    assert_int_equal(err.code, LMD_ERR_IO);
    lmd_map map;
    assert_int_equal(lmd_map_file(missing, &map, &err), -1);
    assert_int_equal(err.code, LMD_ERR_NOT_FOUND);
    assert_int_equal(lmd_map_file(dir, &map, &err), -1);
    assert_int_equal(err.code, LMD_ERR_BAD_INPUT);
    free(missing);
    free(dir);
}

static void test_models_and_texts(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    lmd_model *m = NULL;
    lmd_error err = {0};
    tu_write_str(dir, "config.json", "{\"model_type\": \"falcon\"}");
    assert_int_equal(lmd_model_load(dir, &m, &err), -1);
    assert_int_equal(err.code, LMD_ERR_UNSUPPORTED);
    char *none = lmd_path_join(dir, "no-such-model");
    assert_int_equal(lmd_model_load(none, &m, &err), -1);
    assert_int_equal(err.code, LMD_ERR_NOT_FOUND);
    char *tiny = tu_src_path("tests/models/tiny-a");
    assert_int_equal(lmd_model_load(tiny, &m, &err), 0);
    lmd_scores s;
    assert_int_equal(lmd_score_text(m, "", 0, NULL, &s, &err), -1);
    assert_int_equal(err.code, LMD_ERR_BAD_INPUT);
    assert_string_equal(err.msg, "the text is empty");
    lmd_score_opts o = LMD_SCORE_OPTS_INIT;
    assert_int_equal(o.top_k, 10);
    assert_int_equal(lmd_score_text(m, "Hi", 2, &o, &s, &err), 0);
    assert_true(s.n >= 1 && s.k == 10);
    lmd_scores_free(&s);
    assert_int_equal(lmd_scores_alloc(&s, 3, 2, &err), 0);
    assert_true(s.n == 3 && s.k == 2 && s.topk_ids[5] == 0);
    lmd_scores_free(&s);
    lmd_model_free(m);
    free(tiny);
    free(none);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fail_helpers),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_models_and_texts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
