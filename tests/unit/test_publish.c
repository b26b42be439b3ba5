/* test_publish.c - files published whole or not at all (base/atomic.h):
 * lmd_publish and lmd_sync_parent report a failed fsync or rename with the
 * file's name and the system's reason and leave nothing at the destination;
 * the GGUF writer, which writes through lmd_atomic, reports a write that the
 * system refuses (a file-size limit: "File too large") the same way. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomic.h"
#include "model/format/gguf_write.h"
#include "testutil.h"

static char *dir;

static char *in_dir(const char *name) {
    return lmd_path_join(dir, name);
}

/* The number of entries of dir other than . and .. */
static int n_entries(const char *d) {
    DIR *h = opendir(d);
    assert_non_null(h);
    int n = 0;
    for (struct dirent *e; (e = readdir(h));)
        n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(h);
    return n;
}

static void expect_msg(const lmd_error *err, const char *a, const char *b) {
    if (!strstr(err->msg, a) || !strstr(err->msg, b))
        fail_msg("message '%s' lacks '%s' or '%s'", err->msg, a, b);
}

static void test_publish_ok(void **st) {
    (void)st;
    tu_write_str(dir, "ok.tmp", "whole");
    char *tmp = in_dir("ok.tmp"), *path = in_dir("ok.txt");
    lmd_error err;
    if (lmd_publish(tmp, path, &err) < 0) fail_msg("%s", err.msg);
    char *data;
    size_t len;
    assert_int_equal(lmd_read_file(path, &data, &len, &err), 0);
    assert_string_equal(data, "whole");
    assert_int_equal(access(tmp, F_OK), -1);
    free(data);
    unlink(path);
    free(tmp);
    free(path);
}

/* The destination's folder vanished: the rename fails, the temporary goes. */
static void test_publish_folder_gone(void **st) {
    (void)st;
    tu_write_str(dir, "a.tmp", "data");
    char *tmp = in_dir("a.tmp"), *path = in_dir("gone/a.txt");
    lmd_error err;
    assert_int_equal(lmd_publish(tmp, path, &err), -1);
    expect_msg(&err, path, strerror(ENOENT));
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(n_entries(dir), 0);
    free(tmp);
    free(path);
}

/* The destination is a folder with files in it: it stays as it was. */
static void test_publish_onto_folder(void **st) {
    (void)st;
    char *path = in_dir("taken");
    assert_int_equal(mkdir(path, 0755), 0);
    tu_write_str(path, "inside", "x");
    tu_write_str(dir, "b.tmp", "data");
    char *tmp = in_dir("b.tmp");
    lmd_error err;
    assert_int_equal(lmd_publish(tmp, path, &err), -1);
    expect_msg(&err, path, strerror(EISDIR));
    assert_int_equal(access(tmp, F_OK), -1);
    assert_int_equal(n_entries(path), 1);
    char *inside = in_dir("taken/inside");
    unlink(inside);
    rmdir(path);
    free(inside);
    free(tmp);
    free(path);
}

/* The file to fsync is not there (removed by someone else): reported, and
 * nothing appears at the destination. */
static void test_publish_tmp_gone(void **st) {
    (void)st;
    char *tmp = in_dir("c.tmp"), *path = in_dir("c.txt");
    lmd_error err;
    assert_int_equal(lmd_publish(tmp, path, &err), -1);
    expect_msg(&err, tmp, strerror(ENOENT));
    assert_int_equal(access(path, F_OK), -1);
    free(tmp);
    free(path);
}

static void test_sync_parent_gone(void **st) {
    (void)st;
    char *path = in_dir("nowhere/x.h5");
    lmd_error err;
    assert_int_equal(lmd_sync_parent(path, &err), -1);
    expect_msg(&err, path, strerror(ENOENT));
    free(path);
}

/* A write the system refuses half way (RLIMIT_FSIZE: EFBIG, as a full disk
 * gives ENOSPC): the GGUF writer names the file and the reason, and leaves
 * neither the file nor its temporary. */
static void test_gguf_write_refused(void **st) {
    (void)st;
    enum { N = 1 << 16 };
    float *w = calloc(N, sizeof *w);
    assert_non_null(w);
    lmd_gguf_w *g = lmd_gguf_w_new();
    lmd_gguf_w_str(g, "general.architecture", "gpt2");
    lmd_gguf_w_tensor(g, "w", 0 /* F32 */, 1, (const uint64_t[]){N}, w, N * sizeof *w);
    char *path = in_dir("big.gguf");
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 64 * 1024;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    lmd_error err;
    int rc = lmd_gguf_w_write(g, path, &err);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, prev);
    assert_int_equal(rc, -1);
    expect_msg(&err, path, strerror(EFBIG));
    assert_int_equal(n_entries(dir), 0);
    /* and without the limit the same file is written */
    if (lmd_gguf_w_write(g, path, &err) < 0) fail_msg("%s", err.msg);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(sb.st_size > (off_t)(N * sizeof *w));
    assert_int_equal(n_entries(dir), 1);
    unlink(path);
    lmd_gguf_w_free(g);
    free(path);
    free(w);
}

int main(void) {
    dir = tu_tmpdir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_ok),          cmocka_unit_test(test_publish_folder_gone),
        cmocka_unit_test(test_publish_onto_folder), cmocka_unit_test(test_publish_tmp_gone),
        cmocka_unit_test(test_sync_parent_gone),    cmocka_unit_test(test_gguf_write_refused),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rmdir(dir);
    free(dir);
    return rc;
}
