/* testutil.c - see testutil.h. */
#include "testutil.h"

#include "base/base.h"
#include "tokenize/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

char *tu_src_path(const char *rel) {
    const char *src = getenv("LMD_SRC");
    return join(src ? src : LMD_SOURCE_DIR, rel);
}

char *tu_shared_path(const char *rel) {
    const char *sh = getenv("LMD_SHARED");
    struct stat st;
    if (!sh || stat(sh, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return join(sh, rel);
}

void tu_require_shared(void) {
    char *p = tu_shared_path("fixtures");
    struct stat st;
    if (!p || stat(p, &st) != 0) {
        printf("SKIP: ../shared/fixtures is absent; this test needs it\n");
        exit(77);
    }
    free(p);
}

char *tu_tmpdir(void) {
    char tmpl[] = "/tmp/lmdiff-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void tu_write_file(const char *dir, const char *name, const char *data, size_t len) {
    char *p = lmd_path_join(dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    free(p);
}

void tu_write_str(const char *dir, const char *name, const char *data) {
    tu_write_file(dir, name, data, strlen(data));
}

void tu_copy_file(const char *from_dir, const char *to_dir, const char *name) {
    char *p = lmd_path_join(from_dir, name), *data;
    size_t len;
    lmd_error err;
    if (lmd_read_file(p, &data, &len, &err) < 0) fail_msg("%s", err.msg);
    tu_write_file(to_dir, name, data, len);
    free(data);
    free(p);
}

lmd_tokenizer *tu_tok_json(const char *json) {
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tokenizer_from_json(json, strlen(json), "test.json", &t, &err) < 0)
        fail_msg("from_json: %s", err.msg);
    return t;
}

static char *read_vector_file(const char *base, const char *ext) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/tokenizer-vectors/%s.%s", base, ext);
    char *p = tu_shared_path(rel), *data;
    if (!p) fail_msg("../shared is absent (%s)", rel);
    size_t len;
    lmd_error err;
    if (lmd_read_file(p, &data, &len, &err) < 0) fail_msg("%s", err.msg);
    free(p);
    return data;
}

void tu_read_vectors(tu_vectors *v, const char *base) {
    memset(v, 0, sizeof *v);
    v->inp = read_vector_file(base, "inp");
    v->out = read_vector_file(base, "out");
    static const char marker[] = "\n__ggml_vocab_test__\n";
    char *s = v->inp;
    for (char *m; (m = strstr(s, marker)) != NULL; s = m + sizeof marker - 1) {
        assert_true(v->n < 64);
        v->text[v->n] = s;
        v->text_len[v->n] = (size_t)(m - s);
        v->n++;
    }
    assert_int_equal(*s, 0); /* nothing after the last marker */
    size_t lines = 0;
    for (char *l = v->out; *l; lines++) {
        char *nl = strchr(l, '\n');
        assert_non_null(nl);
        *nl = 0;
        assert_true(lines < 64);
        size_t cap = 16, n = 0;
        int32_t *ids = malloc(cap * sizeof *ids);
        for (char *q = l, *e; *q; q = e) {
            long x = strtol(q, &e, 10);
            if (e == q) break;
            if (n == cap) ids = realloc(ids, (cap *= 2) * sizeof *ids);
            assert_non_null(ids);
            ids[n++] = (int32_t)x;
        }
        v->ids[lines] = ids;
        v->n_ids[lines] = n;
        l = nl + 1;
    }
    assert_int_equal(v->n, 46);
    assert_int_equal(lines, v->n);
}

void tu_vectors_free(tu_vectors *v) {
    for (size_t i = 0; i < 64; i++)
        free(v->ids[i]);
    free(v->inp);
    free(v->out);
    memset(v, 0, sizeof *v);
}

static void append_ids(char *buf, size_t cap, const int32_t *ids, size_t n) {
    for (size_t i = 0; i < n && strlen(buf) + 16 < cap; i++)
        snprintf(buf + strlen(buf), cap - strlen(buf), " %d", (int)ids[i]);
}

void tu_expect_ids(const struct lmd_tokenizer *t, const char *text, size_t len, const int32_t *want,
                   size_t n_want) {
    int32_t *ids;
    size_t n;
    lmd_error err;
    if (lmd_tokenize(t, text, len, &ids, &n, &err) < 0) fail_msg("tokenize: %s", err.msg);
    if (n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0)) {
        free(ids);
        return;
    }
    char got[600] = "", exp[600] = "";
    append_ids(got, sizeof got, ids, n);
    append_ids(exp, sizeof exp, want, n_want);
    free(ids);
    fail_msg("text \"%.*s\": got [%s ] want [%s ]", (int)len, text, got, exp);
}
