/* test_dataset.c - dataset files: the header, the original's body rules,
 * checksums (against values from Python's hashlib), errors, saving. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/corpus.h"
#include "testutil.h"

static char *dir;

static char *write_file(const char *name, const char *content, size_t len) {
    char *p = lmd_path_join(dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fwrite(content, 1, len, f);
    fclose(f);
    return p;
}
#define WRITE(name, lit) write_file(name, lit, sizeof lit - 1)

static lmd_dataset *load_ok(const char *path, int verify) {
    lmd_dataset *ds = NULL;
    lmd_error err;
    if (lmd_dataset_load(path, verify, &ds, &err) < 0) fail_msg("%s", err.msg);
    return ds;
}

static void test_header_and_body(void **st) {
    (void)st;
    char *p = WRITE("h.txt",
                    "---\n"
                    "checksum: 26c60a61d01db5836ca70fefd44a6a016620413c8ef5f259a6c5612d4f79d3b8\n"
                    "name: greetings\n"
                    "type: machine_generated\n"
                    "author: 'Me: you'\n"
                    "tags:\n- a\n- b\n"
                    "---\n\n\nhello\n\n\n\nworld\n\n");
    lmd_dataset *ds = load_ok(p, 1);
    assert_string_equal(ds->meta.name, "greetings");
    assert_string_equal(ds->meta.type, "machine_generated");
    assert_int_equal(ds->n_texts, 2);
    assert_string_equal(ds->texts[0], "hello");
    assert_string_equal(ds->texts[1], "world");
    assert_string_equal(ds->checksum,
                        "26c60a61d01db5836ca70fefd44a6a016620413c8ef5f259a6c5612d4f79d3b8");
    assert_int_equal(ds->meta.n_extra, 2);
    assert_string_equal(ds->meta.extra_keys[0], "author");
    assert_string_equal(ds->meta.extra_yaml[0], "author: 'Me: you'");
    assert_string_equal(ds->meta.extra_keys[1], "tags");
    assert_string_equal(ds->meta.extra_yaml[1], "tags:\n- a\n- b");
    lmd_dataset_free(ds);
    free(p);
}

/* strip of the whole body (Unicode white space), interior white-space-only
 * lines kept, CRLF and lone CR as line breaks, a BOM dropped */
static void test_plain_file_rules(void **st) {
    (void)st;
    char *p = WRITE("my-corpus.v2.txt", "\xEF\xBB\xBF \t\r\n  First text.\r\nSecond  text\r  \n"
                                        "\tthird \xE2\x80\x83\n \n\n");
    lmd_dataset *ds = load_ok(p, 1);
    assert_string_equal(ds->meta.name, "my-corpus.v2");
    assert_string_equal(ds->meta.type, "human_created");
    assert_null(ds->meta.checksum);
    assert_int_equal(ds->meta.has_header, 0);
    assert_int_equal(ds->n_texts, 4);
    assert_string_equal(ds->texts[0], "First text.");
    assert_string_equal(ds->texts[1], "Second  text");
    assert_string_equal(ds->texts[2], "  ");
    assert_string_equal(ds->texts[3], "\tthird"); /* U+2003 at the end is stripped */
    assert_string_equal(ds->checksum,
                        "58276f31a0bef4e18c6ac7bc9da5b32ac6b45be2ab84a45ed40c9b5a0a5f76bd");
    lmd_dataset_free(ds);
    free(p);
}

static void test_empty_body(void **st) {
    (void)st;
    char *p = WRITE("e.txt", "---\nname: empty\n---\n\n  \n");
    lmd_dataset *ds = load_ok(p, 1);
    assert_int_equal(ds->n_texts, 0);
    assert_string_equal(ds->checksum,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    lmd_dataset_free(ds);
    free(p);
}

static void expect_error(const char *name, const char *content, int verify, const char *needle) {
    char *p = write_file(name, content, strlen(content));
    lmd_dataset *ds = NULL;
    lmd_error err = {0};
    assert_int_equal(lmd_dataset_load(p, verify, &ds, &err), -1);
    assert_null(ds);
    if (!strstr(err.msg, needle)) fail_msg("'%s' does not mention '%s'", err.msg, needle);
    if (!strstr(err.msg, name)) fail_msg("'%s' does not name the file", err.msg);
    free(p);
}

static void test_errors(void **st) {
    (void)st;
    expect_error("unclosed.txt", "---\nname: x\ntext\n", 1, "never closed");
    expect_error("yaml.txt", "---\nname: [x\n---\ntext\n", 1, "broken YAML");
    expect_error("notmap.txt", "---\n- a\n- b\n---\ntext\n", 1, "not a YAML mapping");
    expect_error("type.txt", "---\nname: x\ntype: gift_from_above\n---\ntext\n", 1,
                 "gift_from_above");
    expect_error("dup.txt", "---\nname: x\nname: y\n---\ntext\n", 1, "twice");
    expect_error("sum.txt", "---\nchecksum: abc\nname: x\n---\ntext\n", 1, "wrong checksum");
    expect_error("utf8.txt", "ok\nbad \xC3\x28 byte\n", 1, "line 2: invalid UTF-8");
    /* the wrong checksum is accepted without verification */
    char *p = WRITE("sum2.txt", "---\nchecksum: abc\nname: x\n---\ntext\n");
    lmd_dataset *ds = load_ok(p, 0);
    assert_string_equal(ds->meta.checksum, "abc");
    assert_int_equal(ds->n_texts, 1);
    lmd_dataset_free(ds);
    free(p);
}

static void test_nul_in_file(void **st) {
    (void)st;
    char *p = write_file("nul2.txt", "ok\nnul\0byte\n", 12);
    lmd_dataset *ds = NULL;
    lmd_error err;
    assert_int_equal(lmd_dataset_load(p, 1, &ds, &err), -1);
    assert_non_null(strstr(err.msg, "line 2: a NUL byte at column 4"));
    free(p);
}

static void test_stream_rewind(void **st) {
    (void)st;
    char *p = WRITE("s.txt", "a\nb\n\nc\n");
    lmd_dataset_reader *r;
    lmd_error err;
    assert_int_equal(lmd_dataset_open(p, &r, &err), 0);
    lmd_dataset_summary sum;
    assert_int_equal(lmd_dataset_scan(r, 1, &sum, &err), 0);
    assert_int_equal(sum.n_texts, 3);
    assert_int_equal(sum.n_bytes, 3);
    assert_string_equal(sum.checksum,
                        "ea7fb08b7a2dc4619ffb7c7bb38d95a2047935fa165d71b12efd3852a2e6d0cc");
    const char *t;
    size_t n;
    assert_int_equal(lmd_dataset_next(r, &t, &n, &err), 1);
    assert_string_equal(t, "a");
    assert_int_equal(lmd_dataset_next(r, &t, &n, &err), 1);
    assert_string_equal(t, "b");
    assert_int_equal(lmd_dataset_position(r), 2);
    lmd_dataset_close(r);
    free(p);
}

static void test_save_roundtrip(void **st) {
    (void)st;
    char *p = WRITE("in.txt", "---\nname: old\nzeta: 1\nauthor: 'Me: you'\n---\nhello\nworld\n");
    lmd_dataset *ds = load_ok(p, 1);
    free(ds->meta.name);
    ds->meta.name = strdup("123");
    char *out = lmd_path_join(dir, "out.txt");
    lmd_error err;
    if (lmd_dataset_save(ds, out, &err) < 0) fail_msg("%s", err.msg);
    char *data;
    size_t len;
    assert_int_equal(lmd_read_file(out, &data, &len, &err), 0);
    /* what the original (PyYAML, sort_keys) writes for these keys */
    assert_string_equal(
        data, "---\n"
              "author: 'Me: you'\n"
              "checksum: 26c60a61d01db5836ca70fefd44a6a016620413c8ef5f259a6c5612d4f79d3b8\n"
              "name: \"123\"\n"
              "type: human_created\n"
              "zeta: 1\n"
              "---\n\nhello\nworld");
    free(data);
    lmd_dataset *back = load_ok(out, 1);
    assert_string_equal(back->meta.name, "123");
    assert_int_equal(back->n_texts, 2);
    assert_string_equal(back->checksum, ds->checksum);
    lmd_dataset_free(back);
    /* texts that would not read back are refused, and nothing is written */
    free(ds->texts[0]);
    ds->texts[0] = strdup(" hello");
    ds->lens[0] = 6;
    char *out2 = lmd_path_join(dir, "out2.txt");
    assert_int_equal(lmd_dataset_save(ds, out2, &err), -1);
    assert_non_null(strstr(err.msg, "white space"));
    assert_int_equal(access(out2, F_OK), -1);
    lmd_dataset_free(ds);
    free(p);
    free(out);
    free(out2);
}

static void test_helpers(void **st) {
    (void)st;
    char *s = lmd_path_stem("/a/b/mrpc_1+2.txt");
    assert_string_equal(s, "mrpc_1+2");
    free(s);
    s = lmd_path_stem("noext");
    assert_string_equal(s, "noext");
    free(s);
    s = lmd_file_safe_name("lysandre/arxiv");
    assert_string_equal(s, "lysandre__SLASH__arxiv");
    free(s);
    char b[40];
    lmd_fmt_double(b, 1.0);
    assert_string_equal(b, "1.0");
    lmd_fmt_double(b, -0.25);
    assert_string_equal(b, "-0.25");
    lmd_fmt_double(b, 0.1);
    assert_string_equal(b, "0.1");
    lmd_fmt_double(b, 1e-5);
    assert_string_equal(b, "1e-05");
    lmd_fmt_double(b, 1.0 / 3);
    assert_string_equal(b, "0.3333333333333333");
}

/* A full disk while an atomic file is written: the message is the
 * system's (the write's errno), not stdio's "Input/output error" of a later
 * flush, and neither the temporary nor the final file is left. */
static void test_atomic_disk_full(void **st) {
    (void)st;
    int full = open("/dev/full", O_WRONLY);
    if (full < 0) skip();
    char *p = lmd_path_join(dir, "full.csv");
    lmd_atomic a;
    lmd_error err;
    assert_int_equal(lmd_atomic_open(&a, p, &err), 0);
    char *tmp = strdup(a.tmp);
    assert_true(dup2(full, a.fd) == a.fd); /* the temporary's writes now hit a full disk */
    close(full);
    for (int i = 0; i < 20000; i++)
        fprintf(a.f, "%d,a line of a table\n", i);
    fflush(a.f); /* as writers that check ferror() do: stdio drops the failed buffer */
    assert_int_equal(lmd_atomic_commit(&a, &err), -1);
    assert_non_null(strstr(err.msg, "No space left on device"));
    assert_non_null(strstr(err.msg, p));
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(access(p, F_OK), -1);
    free(tmp);
    free(p);
}

int main(void) {
    dir = tu_tmpdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_body),  cmocka_unit_test(test_plain_file_rules),
        cmocka_unit_test(test_empty_body),       cmocka_unit_test(test_errors),
        cmocka_unit_test(test_nul_in_file),      cmocka_unit_test(test_stream_rewind),
        cmocka_unit_test(test_save_roundtrip),   cmocka_unit_test(test_helpers),
        cmocka_unit_test(test_atomic_disk_full),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) rc = rc ? rc : 1;
    free(dir);
    return rc;
}
