/* test_tokenizer_llama.c - SentencePiece-style and Llama-3/Qwen2-style
 * tokenizers: the 46 llama-spm reference vectors through tokenizer.model
 * (read directly) and through the tokenizer.json that tools/spm_to_json.py
 * makes of it, the two giving one hash; byte fallback, Metaspace, the
 * normalizers, the decoders, added tokens and BOS; the byte-level split
 * regexes of Llama-3 and Qwen2 against Python's `regex` module; hashes that
 * change with every rule; and the errors for bad or unsupported files. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"
#include "testutil.h"
#include "tokenize/tok_internal.h"
#include "tokenize/tokenizer.h"

/* ------------------------------------------------------------- helpers */

#pragma GCC diagnostic ignored "-Wunused-function"

static char *shared(const char *rel) {
    tu_require_shared();
    char *p = tu_shared_path(rel);
    assert_non_null(p);
    return p;
}

static lmd_tokenizer *json_tok(const char *json) {
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tokenizer_from_json(json, strlen(json), "test.json", &t, &err) < 0)
        fail_msg("from_json: %s", err.msg);
    return t;
}

/* The error message of a tokenizer.json that must be refused. */
static void json_refused(const char *json, const char *needle) {
    lmd_tokenizer *t = NULL;
    lmd_error err;
    err.msg[0] = 0;
    assert_int_equal(lmd_tokenizer_from_json(json, strlen(json), "test.json", &t, &err), -1);
    assert_null(t);
    if (!strstr(err.msg, needle) || !strstr(err.msg, "test.json"))
        fail_msg("error \"%s\" does not name test.json and \"%s\"", err.msg, needle);
}

static void write_file(const char *dir, const char *name, const char *data, size_t len) {
    char *p = lmd_path_join(dir, name);
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
    free(p);
}

static char *slurp(const char *path, size_t *len) {
    char *data;
    lmd_error err;
    if (lmd_read_file(path, &data, len, &err) < 0) fail_msg("%s", err.msg);
    return data;
}

static void expect_ids(const lmd_tokenizer *t, const char *text, size_t len, const int32_t *want,
                       size_t nw) {
    int32_t *ids;
    size_t n;
    lmd_error err;
    if (lmd_tokenize(t, text, len, &ids, &n, &err) < 0) fail_msg("tokenize: %s", err.msg);
    int same = n == nw && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
    if (!same) {
        fprintf(stderr, "text \"%.*s\":\n  got ", (int)len, text);
        for (size_t i = 0; i < n; i++)
            fprintf(stderr, " %d", (int)ids[i]);
        fprintf(stderr, "\n  want");
        for (size_t i = 0; i < nw; i++)
            fprintf(stderr, " %d", (int)want[i]);
        fprintf(stderr, "\n");
    }
    free(ids);
    assert_true(same);
}

#define EXPECT(t, text, ...)                                                                       \
    do {                                                                                           \
        static const int32_t want_[] = {__VA_ARGS__};                                              \
        expect_ids(t, text, strlen(text), want_, sizeof want_ / sizeof *want_);                    \
    } while (0)

static void expect_none(const lmd_tokenizer *t, const char *text) {
    expect_ids(t, text, strlen(text), NULL, 0);
}

static void expect_decode(const lmd_tokenizer *t, const int32_t *ids, size_t n, const char *want) {
    size_t len;
    char *s = lmd_detokenize(t, ids, n, &len);
    assert_non_null(s);
    if (len != strlen(want) || memcmp(s, want, len) != 0)
        fail_msg("decoded \"%s\", want \"%s\"", s, want);
    free(s);
}

static void expect_bytes(const lmd_tokenizer *t, int32_t id, const char *want, size_t wn) {
    const char *b;
    size_t n = lmd_token_bytes(t, id, &b);
    assert_int_equal(n, wn);
    assert_memory_equal(b, want, n);
}

/* ---------------------------------------------------- the Llama-2 model */

static lmd_tokenizer *llama_model(void) {
    char *p = shared("fixtures/tokenizers/llama2/tokenizer.model");
    size_t len;
    char *data = slurp(p, &len);
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tokenizer_from_spm(data, len, p, NULL, &t, &err) < 0) fail_msg("%s", err.msg);
    free(data);
    free(p);
    return t;
}

/* Runs tools/spm_to_json.py on the Llama-2 model into dir/tokenizer.json. */
static void convert_llama(const char *dir) {
    char *model = shared("fixtures/tokenizers/llama2/tokenizer.model");
    char *tool = tu_src_path("tools/spm_to_json.py");
    char *out = lmd_path_join(dir, "tokenizer.json");
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("SKIP: /usr/bin/python3 is needed to run tools/spm_to_json.py\n");
        exit(77);
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' -o '%s'", tool, model, out);
    assert_int_equal(system(cmd), 0);
    free(model);
    free(tool);
    free(out);
}

static lmd_tokenizer *llama_json(void) {
    char *dir = tu_tmpdir();
    convert_llama(dir);
    char *p = lmd_path_join(dir, "tokenizer.json");
    size_t len;
    char *data = slurp(p, &len);
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tokenizer_from_json(data, len, p, &t, &err) < 0) fail_msg("%s", err.msg);
    free(data);
    unlink(p);
    rmdir(dir);
    free(p);
    free(dir);
    return t;
}

typedef struct vectors {
    char *inp, *out;
    size_t n;
    const char *text[64];
    size_t text_len[64];
    const char *ids_line[64];
} vectors;

static void read_vectors(vectors *v, const char *base) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/tokenizer-vectors/%s.inp", base);
    char *pi = shared(rel);
    snprintf(rel, sizeof rel, "fixtures/tokenizer-vectors/%s.out", base);
    char *po = shared(rel);
    size_t li, lo;
    v->inp = slurp(pi, &li);
    v->out = slurp(po, &lo);
    free(pi);
    free(po);
    static const char marker[] = "\n__ggml_vocab_test__\n";
    v->n = 0;
    char *s = v->inp;
    for (char *m; (m = strstr(s, marker)) != NULL; s = m + sizeof marker - 1) {
        assert_true(v->n < 64);
        v->text[v->n] = s;
        v->text_len[v->n] = (size_t)(m - s);
        v->n++;
    }
    assert_int_equal(*s, 0);
    size_t lines = 0;
    for (char *l = v->out; *l;) {
        char *nl = strchr(l, '\n');
        assert_non_null(nl);
        *nl = 0;
        assert_true(lines < 64);
        v->ids_line[lines++] = l;
        l = nl + 1;
    }
    assert_int_equal(v->n, 46);
    assert_int_equal(lines, v->n);
}

/* The 46 llama-spm texts give the reference ids, and decode back. */
static void check_llama_vectors(const lmd_tokenizer *t) {
    vectors v;
    read_vectors(&v, "llama-spm");
    for (size_t i = 0; i < v.n; i++) {
        int32_t want[256];
        size_t nw = 0;
        for (char *p = (char *)v.ids_line[i], *e; *p; p = e) {
            long x = strtol(p, &e, 10);
            if (e == p) break;
            assert_true(nw < 256);
            want[nw++] = (int32_t)x;
        }
        expect_ids(t, v.text[i], v.text_len[i], want, nw);
        size_t len;
        char *back = lmd_detokenize(t, want, nw, &len);
        assert_non_null(back);
        if (len != v.text_len[i] || memcmp(back, v.text[i], len) != 0)
            fail_msg("vector %zu decodes to \"%s\"", i, back);
        free(back);
    }
    free(v.inp);
    free(v.out);
}

static void test_vectors_model(void **st) {
    (void)st;
    lmd_tokenizer *t = llama_model();
    check_llama_vectors(t);
    lmd_tokenizer_free(t);
}

static void test_vectors_converted_json(void **st) {
    (void)st;
    lmd_tokenizer *t = llama_json();
    check_llama_vectors(t);
    lmd_tokenizer_free(t);
}

/* tokenizer.model and its conversion describe one tokenizer: one hash. */
static void test_model_json_same_hash(void **st) {
    (void)st;
    lmd_tokenizer *a = llama_model(), *b = llama_json();
    char ha[65], hb[65];
    lmd_tokenizer_hash(a, ha);
    lmd_tokenizer_hash(b, hb);
    if (strcmp(ha, hb) != 0) {
        size_t la, lb;
        char *ca = lmd_tokenizer_canonical(a, &la), *cb = lmd_tokenizer_canonical(b, &lb);
        size_t i = 0;
        while (i < la && i < lb && ca[i] == cb[i])
            i++;
        fail_msg("hashes differ; canonical texts differ at byte %zu: \"%.60s\" vs \"%.60s\"", i,
                 ca + i, cb + i);
    }
    assert_true(lmd_tokenizers_compatible(a, b));
    lmd_tokenizer_free(a);
    lmd_tokenizer_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_model),
        cmocka_unit_test(test_vectors_converted_json),
        cmocka_unit_test(test_model_json_same_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
