/* test_gguf.c - the GGUF container reader: files built byte by byte here
 * (independently of gguf_write.c) with metadata of every value type are read
 * back; every truncation of a valid file and every kind of malformed field is
 * refused with a message naming the file, the offset and the field; the
 * writer's files read back identically; a rope_freqs.weight tensor becomes
 * the config's "rope_freqs", or is refused when malformed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "model/format/gguf.h"
#include "model/format/gguf_model.h"
#include "model/format/gguf_write.h"
#include "testutil.h"

typedef struct bb {
    uint8_t d[4096];
    size_t n;
} bb;

static void le(bb *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        b->d[b->n++] = (uint8_t)(v >> (8 * i));
}
static void zeros(bb *b, size_t n) {
    memset(b->d + b->n, 0, n);
    b->n += n;
}
static void str(bb *b, const char *s) {
    le(b, strlen(s), 8);
    memcpy(b->d + b->n, s, strlen(s));
    b->n += strlen(s);
}
static void kv_head(bb *b, const char *k, uint32_t type) {
    str(b, k);
    le(b, type, 4);
}
static void header(bb *b, uint32_t version, uint64_t nt, uint64_t nkv) {
    memcpy(b->d, "GGUF", 4);
    b->n = 4;
    le(b, version, 4);
    le(b, nt, 8);
    le(b, nkv, 8);
}
static void pad32(bb *b) {
    while (b->n % 32)
        b->d[b->n++] = 0;
}

/* A valid file: 14 keys (one of every scalar type, a string, arrays of
 * numbers, strings and arrays), two tensors (F32 [3], Q8_0 [32 x 2]). */
static void valid(bb *b) {
    header(b, 3, 2, 14);
    kv_head(b, "u8", LMD_GGUF_U8), le(b, 200, 1);
    kv_head(b, "i8", LMD_GGUF_I8), le(b, (uint8_t)-5, 1);
    kv_head(b, "u16", LMD_GGUF_U16), le(b, 60000, 2);
    kv_head(b, "i16", LMD_GGUF_I16), le(b, (uint16_t)-300, 2);
    kv_head(b, "u32", LMD_GGUF_U32), le(b, 4000000000u, 4);
    kv_head(b, "i32", LMD_GGUF_I32), le(b, (uint32_t)-70000, 4);
    kv_head(b, "f32", LMD_GGUF_F32), le(b, 0x3FC00000, 4); /* 1.5 */
    kv_head(b, "bool", LMD_GGUF_BOOL), le(b, 1, 1);
    kv_head(b, "u64", LMD_GGUF_U64), le(b, 1ull << 40, 8);
    kv_head(b, "i64", LMD_GGUF_I64), le(b, (uint64_t) - (1ll << 40), 8);
    kv_head(b, "f64", LMD_GGUF_F64), le(b, 0xC004000000000000ull, 8); /* -2.5 */
    kv_head(b, "general.name", LMD_GGUF_STRING), str(b, "tiny");
    kv_head(b, "strs", LMD_GGUF_ARRAY), le(b, LMD_GGUF_STRING, 4), le(b, 2, 8), str(b, "a"),
        str(b, "bc");
    kv_head(b, "nested", LMD_GGUF_ARRAY), le(b, LMD_GGUF_ARRAY, 4), le(b, 1, 8),
        le(b, LMD_GGUF_I32, 4), le(b, 2, 8), le(b, 7, 4), le(b, 8, 4);
    str(b, "t.f32"), le(b, 1, 4), le(b, 3, 8), le(b, 0, 4), le(b, 0, 8);
    str(b, "t.q8"), le(b, 2, 4), le(b, 32, 8), le(b, 2, 8), le(b, 8, 4), le(b, 32, 8);
    pad32(b);
    for (int i = 0; i < 32 + 68; i++)
        b->d[b->n++] = (uint8_t)i;
}

static void test_valid(void **state) {
    (void)state;
    bb b;
    valid(&b);
    lmd_gguf g;
    lmd_error err;
    if (lmd_gguf_parse(b.d, b.n, "x.gguf", &g, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(g.version, 3);
    assert_int_equal(g.n_kv, 14);
    int64_t i;
    double f;
    int bo;
    const struct {
        const char *k;
        int64_t v;
    } ints[] = {{"u8", 200},         {"i8", -5},      {"u16", 60000},     {"i16", -300},
                {"u32", 4000000000}, {"i32", -70000}, {"u64", 1ll << 40}, {"i64", -(1ll << 40)}};
    for (size_t k = 0; k < sizeof ints / sizeof *ints; k++) {
        assert_int_equal(lmd_gguf_int(&g, ints[k].k, 0, &i, &err), 0);
        assert_true(i == ints[k].v);
    }
    assert_int_equal(lmd_gguf_float(&g, "f32", 0, &f, &err), 0);
    assert_true(f == 1.5);
    assert_int_equal(lmd_gguf_float(&g, "f64", 0, &f, &err), 0);
    assert_true(f == -2.5);
    assert_int_equal(lmd_gguf_bool(&g, "bool", 0, &bo, &err), 0);
    assert_int_equal(bo, 1);
    assert_int_equal(lmd_gguf_int(&g, "absent", 42, &i, &err), 0);
    assert_int_equal(i, 42);
    /* wrong types are errors naming the key */
    assert_int_equal(lmd_gguf_int(&g, "f32", 0, &i, &err), -1);
    assert_non_null(strstr(err.msg, "f32"));
    assert_int_equal(lmd_gguf_bool(&g, "u8", 0, &bo, &err), -1);
    const char *s;
    size_t n;
    assert_int_equal(lmd_gguf_str(&g, "general.name", &s, &n, &err), 0);
    assert_int_equal(n, 4);
    assert_memory_equal(s, "tiny", 4);
    const lmd_gguf_kv *kv;
    assert_int_equal(lmd_gguf_array(&g, "strs", LMD_GGUF_STRING, &kv, &err), 0);
    const char **ss;
    uint64_t *sl;
    assert_int_equal(lmd_gguf_strings(&g, kv, &ss, &sl, &err), 0);
    assert_int_equal(sl[1], 2);
    assert_memory_equal(ss[1], "bc", 2);
    free(ss), free(sl);
    assert_int_equal(lmd_gguf_array(&g, "strs", LMD_GGUF_I32, &kv, &err), -1);
    assert_int_equal(lmd_gguf_array(&g, "nested", LMD_GGUF_ARRAY, &kv, &err), 0);
    assert_int_equal(kv->n, 1);
    const lmd_gguf_tensor *t = lmd_gguf_find_tensor(&g, "t.q8");
    assert_non_null(t);
    assert_int_equal(t->ne[0], 32);
    assert_int_equal(t->ne[1], 2);
    assert_int_equal(t->nbytes, 68);
    assert_true(t->data == b.d + (b.n - 100) + 32); /* mapped, not copied */
    assert_int_equal(t->data[0], 32);
    assert_int_equal(lmd_gguf_find_tensor(&g, "t.f32")->nbytes, 12);
    lmd_gguf_close(&g);
}

static void expect_error(const bb *b, const char *field, const char *why) {
    lmd_gguf g;
    lmd_error err = {0};
    int rc = lmd_gguf_parse(b->d, b->n, "x.gguf", &g, &err);
    if (rc != -1 || !strstr(err.msg, "x.gguf") || !strstr(err.msg, field) || !strstr(err.msg, why))
        fail_msg("rc %d, message '%s', wanted '%s' and '%s'", rc, err.msg, field, why);
    assert_null(g.kv);
    assert_null(g.tensors);
}

static void test_truncated(void **state) {
    (void)state;
    bb b;
    valid(&b);
    /* every proper prefix that cuts the header, metadata or infos, and the
     * data, is refused (the last byte of data is part of tensor t.q8) */
    for (size_t len = 0; len < b.n; len++) {
        lmd_gguf g;
        lmd_error err = {0};
        if (lmd_gguf_parse(b.d, len, "x.gguf", &g, &err) == 0)
            fail_msg("a %zu-byte prefix of %zu was accepted", len, b.n);
        if (!strstr(err.msg, "x.gguf")) fail_msg("prefix %zu: '%s'", len, err.msg);
        if (len >= 4 && !strstr(err.msg, "offset")) fail_msg("prefix %zu: '%s'", len, err.msg);
    }
}

static void test_malformed(void **state) {
    (void)state;
    bb b;
    header(&b, 3, 0, 0);
    b.d[0] = 'X';
    expect_error(&b, "GGUF", "magic");
    header(&b, 1, 0, 0);
    expect_error(&b, "version", "version 1");
    header(&b, 4, 0, 0);
    expect_error(&b, "offset 4: version", "not 2 or 3");
    header(&b, 2, 0, 1);
    kv_head(&b, "k", 99), le(&b, 0, 8);
    expect_error(&b, "value of k", "unknown value type");
    header(&b, 3, 0, 1);
    kv_head(&b, "k", LMD_GGUF_STRING), le(&b, 1ull << 62, 8);
    expect_error(&b, "value of k", "string length runs past the end");
    header(&b, 3, 0, 1);
    kv_head(&b, "k", LMD_GGUF_BOOL), le(&b, 2, 1);
    expect_error(&b, "value of k", "bool");
    header(&b, 3, 0, 1);
    kv_head(&b, "k", LMD_GGUF_ARRAY), le(&b, 77, 4), le(&b, 1, 8);
    expect_error(&b, "value of k", "unknown array element type");
    header(&b, 3, 0, 1);
    kv_head(&b, "k", LMD_GGUF_ARRAY), le(&b, LMD_GGUF_U32, 4), le(&b, 1ull << 40, 8);
    expect_error(&b, "value of k", "array length");
    header(&b, 3, 0, 1); /* arrays nested 5 deep */
    kv_head(&b, "k", LMD_GGUF_ARRAY);
    for (int i = 0; i < 5; i++)
        le(&b, LMD_GGUF_ARRAY, 4), le(&b, 1, 8);
    zeros(&b, 16);
    expect_error(&b, "value of k", "nested");
    header(&b, 3, 0, 2);
    kv_head(&b, "k", LMD_GGUF_U8), le(&b, 1, 1);
    kv_head(&b, "k", LMD_GGUF_U8), le(&b, 1, 1);
    expect_error(&b, "metadata key", "repeated");
    header(&b, 3, 0, 1);
    kv_head(&b, "general.alignment", LMD_GGUF_U32), le(&b, 24, 4);
    expect_error(&b, "general.alignment", "power of two");
    header(&b, 3, 1, 0);
    str(&b, "t"), le(&b, 5, 4), zeros(&b, 64);
    expect_error(&b, "tensor t", "n_dimensions");
    header(&b, 3, 1, 0);
    str(&b, "t"), le(&b, 1, 4), le(&b, 31, 8), le(&b, 2, 4), le(&b, 0, 8); /* Q4_0 */
    expect_error(&b, "tensor t", "block size");
    header(&b, 3, 1, 0);
    str(&b, "t"), le(&b, 1, 4), le(&b, 4, 8), le(&b, 200, 4), le(&b, 0, 8), zeros(&b, 32);
    expect_error(&b, "tensor t", "unknown ggml type");
    header(&b, 3, 1, 0);
    str(&b, "t"), le(&b, 1, 4), le(&b, 0, 8), le(&b, 0, 4), le(&b, 0, 8), zeros(&b, 32);
    expect_error(&b, "tensor t", "dimension is zero");
    header(&b, 3, 1, 0);
    str(&b, "t"), le(&b, 1, 4), le(&b, 1, 8), le(&b, 0, 4), le(&b, 4, 8);
    pad32(&b), zeros(&b, 64);
    expect_error(&b, "tensor t", "multiple of the alignment");
    header(&b, 3, 1, 0);
    str(&b, "t"), le(&b, 1, 4), le(&b, 64, 8), le(&b, 0, 4), le(&b, 0, 8);
    pad32(&b), zeros(&b, 64);
    expect_error(&b, "tensor t", "past the end");
    header(&b, 3, 2, 0);
    str(&b, "t"), le(&b, 1, 4), le(&b, 1, 8), le(&b, 0, 4), le(&b, 0, 8);
    str(&b, "t"), le(&b, 1, 4), le(&b, 1, 8), le(&b, 0, 4), le(&b, 32, 8);
    pad32(&b), zeros(&b, 64);
    expect_error(&b, "tensor t", "repeated");
    header(&b, 3, 1ull << 40, 0);
    expect_error(&b, "tensor_count", "implausibly large");
}

static void test_writer_round_trip(void **state) {
    (void)state;
    char dir[] = "/tmp/lmd_gguf_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/w.gguf", dir);
    lmd_gguf_w *w = lmd_gguf_w_new();
    const float v[5] = {1, -2, 3.25f, 0, 1e-8f};
    const int32_t iv[3] = {1, -1, 7};
    const char *strs[2] = {"x", "\xE2\x96\x81y"};
    uint64_t ne[2] = {5, 1};
    lmd_gguf_w_str(w, "general.architecture", "llama");
    lmd_gguf_w_u32(w, "u", 7);
    lmd_gguf_w_f32(w, "f", 0.25f);
    lmd_gguf_w_bool(w, "b", 1);
    lmd_gguf_w_i32(w, "i", -9);
    lmd_gguf_w_strs(w, "s", strs, NULL, 2);
    lmd_gguf_w_nums(w, "n", LMD_GGUF_I32, iv, 3);
    lmd_gguf_w_tensor(w, "a", 0, 2, ne, v, sizeof v);
    lmd_gguf_w_tensor(w, "b", 0, 1, ne, v, 4);
    lmd_error err;
    if (lmd_gguf_w_write(w, path, &err) < 0) fail_msg("%s", err.msg);
    lmd_gguf_w_free(w);
    lmd_gguf g;
    if (lmd_gguf_open(path, &g, &err) < 0) fail_msg("%s", err.msg);
    int64_t i;
    double f;
    assert_int_equal(lmd_gguf_int(&g, "u", 0, &i, &err), 0);
    assert_int_equal(i, 7);
    assert_int_equal(lmd_gguf_int(&g, "i", 0, &i, &err), 0);
    assert_int_equal(i, -9);
    assert_int_equal(lmd_gguf_float(&g, "f", 0, &f, &err), 0);
    assert_true(f == 0.25);
    const lmd_gguf_kv *kv;
    assert_int_equal(lmd_gguf_array(&g, "n", LMD_GGUF_I32, &kv, &err), 0);
    assert_true(lmd_gguf_arr_num(kv, 1) == -1);
    const lmd_gguf_tensor *t = lmd_gguf_find_tensor(&g, "a");
    assert_int_equal(t->nbytes, sizeof v);
    assert_memory_equal(t->data, v, sizeof v);
    assert_int_equal((uintptr_t)t->data % 32, 0);
    assert_memory_equal(lmd_gguf_find_tensor(&g, "b")->data, v, 4);
    lmd_gguf_close(&g);
    unlink(path);
    rmdir(dir);
}

/* rope_freqs.weight (llama.cpp's Llama 3.1 rope factors) becomes the config's
 * "rope_freqs"; a wrong length or a non-positive factor is refused by name. */
static int rope_freqs_config(const float *f, uint64_t n, cJSON **cfg, lmd_error *err) {
    char dir[] = "/tmp/lmd_gguf_XXXXXX", path[128];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/r.gguf", dir);
    lmd_gguf_w *w = lmd_gguf_w_new();
    static const float emb[4 * 32] = {0};
    const uint64_t ne_emb[2] = {32, 4}, ne_f[1] = {n};
    lmd_gguf_w_str(w, "general.architecture", "llama");
    lmd_gguf_w_u32(w, "llama.embedding_length", 32);
    lmd_gguf_w_u32(w, "llama.block_count", 1);
    lmd_gguf_w_u32(w, "llama.attention.head_count", 4);
    lmd_gguf_w_u32(w, "llama.feed_forward_length", 64);
    lmd_gguf_w_tensor(w, "token_embd.weight", 0, 2, ne_emb, emb, sizeof emb);
    lmd_gguf_w_tensor(w, "rope_freqs.weight", 0, 1, ne_f, f, n * sizeof *f);
    if (lmd_gguf_w_write(w, path, err) < 0) fail_msg("%s", err->msg);
    lmd_gguf_w_free(w);
    lmd_gguf g;
    if (lmd_gguf_open(path, &g, err) < 0) fail_msg("%s", err->msg);
    int rc = lmd_gguf_model_config(&g, cfg, err);
    lmd_gguf_close(&g);
    unlink(path);
    rmdir(dir);
    return rc;
}

static void test_rope_freqs(void **state) {
    (void)state;
    const float f[4] = {1, 2.5f, 8, 8}, bad[4] = {1, 0, 8, 8};
    cJSON *cfg = NULL;
    lmd_error err;
    if (rope_freqs_config(f, 4, &cfg, &err) < 0) fail_msg("%s", err.msg);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(cfg, "rope_freqs");
    assert_int_equal(cJSON_GetArraySize(a), 4);
    for (int i = 0; i < 4; i++)
        assert_true(cJSON_GetArrayItem(a, i)->valuedouble == f[i]);
    cJSON_Delete(cfg);
    assert_int_equal(rope_freqs_config(f, 3, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "rope_freqs.weight must be F32 of 4 values"));
    assert_int_equal(rope_freqs_config(bad, 4, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "rope_freqs.weight[1] = 0 is not a positive number"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_rope_freqs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
