/* test_server_checks.c - the server's pure checks (issue 11 §3, §4): the
 * request-body scan for NUL and lone surrogates in JSON strings, and the
 * HTTP status chosen for each library error code. */
#include <string.h>

#include "server/internal.h"
#include "testutil.h"

static int check(const char *body, char *msg) {
    msg[0] = 0;
    return lmd_json_check(body, strlen(body), msg, 256);
}

static void test_json_check(void **state) {
    (void)state;
    char msg[256];
    assert_int_equal(check("{\"text\":\"plain \\\\ \\\" \\n \\u00e9\"}", msg), 0);
    assert_int_equal(check("{\"text\":\"\\ud83d\\ude00 pair\"}", msg), 0);
    assert_int_equal(check("{\"text\":\"a\\\\u0000b\"}", msg), 0); /* an escaped backslash */
    assert_int_equal(check("{\"text\":\"\\u0000\"}", msg), -1);
    assert_non_null(strstr(msg, "\\u0000"));
    assert_int_equal(check("{\"m1\":\"tiny-a\\u0000x\"}", msg), -1);
    assert_int_equal(check("{\"text\":\"x\\ud800\"}", msg), -1);
    assert_non_null(strstr(msg, "lone high surrogate \\uD800"));
    assert_int_equal(check("{\"text\":\"x\\uD800\\u0041\"}", msg), -1);
    assert_int_equal(check("{\"text\":\"\\udfff\"}", msg), -1);
    assert_non_null(strstr(msg, "lone low surrogate \\uDFFF"));
    assert_int_equal(check("{\"text\":\"\\ud800", msg), -1); /* cut off after the high half */
    /* outside strings nothing is decoded; malformed escapes are left to cJSON */
    assert_int_equal(check("{\"text\":\"\\uZZZZ\"}", msg), 0);
    assert_int_equal(check("\\", msg), 0);
    const char raw[] = "{\"text\":\"a\0b\"}";
    assert_int_equal(lmd_json_check(raw, sizeof raw - 1, msg, sizeof msg), -1);
    assert_non_null(strstr(msg, "NUL byte at byte 10"));
}

static void test_status_of(void **state) {
    (void)state;
    assert_int_equal(lmd_http_status_of(LMD_ERR_BAD_INPUT), 422);
    assert_int_equal(lmd_http_status_of(LMD_ERR_UNSUPPORTED), 422);
    assert_int_equal(lmd_http_status_of(LMD_ERR_NOT_FOUND), 404);
    assert_int_equal(lmd_http_status_of(LMD_ERR_NO_MEMORY), 503);
    assert_int_equal(lmd_http_status_of(LMD_ERR_BUSY), 503);
    assert_int_equal(lmd_http_status_of(LMD_ERR_IO), 500);
    assert_int_equal(lmd_http_status_of(LMD_ERR_FAILED), 500);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_check),
        cmocka_unit_test(test_status_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
