/* test_safetensors.c - the safetensors reader accepts valid files and
 * rejects every kind of broken header with a message naming the problem. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/safetensors.h"
#include "testutil.h"

/* Builds a file image: 8-byte length, the header text, then `data_len` bytes. */
static uint8_t *image(const char *header, size_t data_len, size_t *len) {
    size_t h = strlen(header);
    *len = 8 + h + data_len;
    uint8_t *b = calloc(1, *len);
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    for (size_t i = 0; i < data_len; i++) b[8 + h + i] = (uint8_t)i;
    return b;
}

static void expect_error(const char *header, size_t data_len, const char *needle) {
    size_t len;
    uint8_t *b = image(header, data_len, &len);
    lmd_tensor *t = NULL;
    size_t n = 99;
    lmd_error err = {0};
    int rc = lmd_st_parse(b, len, "x.safetensors", &t, &n, &err);
    if (rc != -1 || !strstr(err.msg, needle) || !strstr(err.msg, "x.safetensors"))
        fail_msg("header %s: rc %d, message '%s', wanted '%s'", header, rc, err.msg, needle);
    assert_null(t);
    assert_int_equal(n, 0);
    free(b);
}

static void test_valid(void **state) {
    (void)state;
    size_t len;
    uint8_t *b = image("{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[8,32]},"
                       "\"a\":{\"dtype\":\"F16\",\"shape\":[4],\"data_offsets\":[0,8]}}",
                       32, &len);
    lmd_tensor *t;
    size_t n;
    lmd_error err;
    assert_int_equal(lmd_st_parse(b, len, "ok", &t, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].name, "a"); /* sorted by name */
    assert_int_equal(t[0].dtype, LMD_F16);
    assert_int_equal(t[1].ndim, 2);
    assert_int_equal(t[1].shape[1], 3);
    assert_int_equal(t[1].numel, 6);
    size_t hlen = len - 8 - 32;
    assert_ptr_equal(t[1].data, b + 8 + hlen + 8);
    lmd_st_free_tensors(t, n);
    free(b);
}

static void test_broken(void **state) {
    (void)state;
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8,
                 "run past the end");
    expect_error("{\"a\":{\"dtype\":\"Q4\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
                 "unknown dtype 'Q4'");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,16]}}", 16,
                 "shape and dtype need 20");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                 16, "overlap");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16,
                 "invalid shape");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,0]}}", 16,
                 "invalid data_offsets");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16, "data_offsets");
    expect_error("{\"a\":", 0, "not valid JSON");
    expect_error("[1,2]", 0, "not a JSON object");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                 "\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16,32]}}",
                 32, "appears twice");
}

static void test_header_length(void **state) {
    (void)state;
    uint8_t b[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
    lmd_tensor *t;
    size_t n;
    lmd_error err;
    assert_int_equal(lmd_st_parse(b, sizeof b, "big", &t, &n, &err), -1);
    assert_non_null(strstr(err.msg, "runs past the end of the file"));
    assert_int_equal(lmd_st_parse(b, 5, "tiny", &t, &n, &err), -1);
    assert_non_null(strstr(err.msg, "too short"));
}

static void test_conversions(void **state) {
    (void)state;
    /* F16: 1.0 = 0x3C00, -2.0 = 0xC000, 65504 = 0x7BFF, smallest subnormal 0x0001 = 2^-24 */
    uint16_t h[] = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0000, 0x7C00};
    float f[6];
    lmd_f16_to_f32(h, f, 6);
    assert_true(f[0] == 1.0f && f[1] == -2.0f && f[2] == 65504.0f);
    assert_true(f[3] == 0x1p-24f && f[4] == 0.0f && f[5] > 1e38f);
    /* BF16: the top half of the f32 pattern; 1.5 = 0x3FC0 */
    uint16_t bf[] = {0x3FC0, 0xBF80};
    lmd_bf16_to_f32(bf, f, 2);
    assert_true(f[0] == 1.5f && f[1] == -1.0f);
}

static void test_write_roundtrip(void **state) {
    (void)state;
    char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    float w[6] = {1, 2, 3, 4, 5, 6};
    lmd_st_out o[] = {{"x.weight", "F32", 2, {2, 3}, w, sizeof w}};
    lmd_error err;
    assert_int_equal(lmd_st_write(path, o, 1, &err), 0);
    lmd_st_set set;
    assert_int_equal(lmd_st_open_dir(dir, &set, &err), 0);
    const lmd_tensor *t = lmd_st_find(&set, "x.weight");
    assert_non_null(t);
    assert_memory_equal(t->data, w, sizeof w);
    assert_null(lmd_st_find(&set, "y"));
    lmd_st_close(&set);
    remove(path);
    /* an empty folder: the message names what was looked for */
    assert_int_equal(lmd_st_open_dir(dir, &set, &err), -1);
    assert_non_null(strstr(err.msg, "model.safetensors"));
    rmdir(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),        cmocka_unit_test(test_broken),
        cmocka_unit_test(test_header_length), cmocka_unit_test(test_conversions),
        cmocka_unit_test(test_write_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
