/* testutil.c - see testutil.h. */
#include "testutil.h"

#include "base/base.h"
#include "lmdiff.h"
#include "tokenize/tokenizer.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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

lmd_tokenizer *tu_load_tokenizer(const char *dir) {
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tokenizer_load(dir, &t, &err) < 0) fail_msg("load %s: %s", dir, err.msg);
    return t;
}

void tu_expect_load_error(const char *dir, const char *needle1, const char *needle2) {
    lmd_tokenizer *t = (lmd_tokenizer *)1;
    lmd_error err;
    err.msg[0] = 0;
    assert_int_equal(lmd_tokenizer_load(dir, &t, &err), -1);
    assert_null(t);
    if (!strstr(err.msg, needle1) || (needle2 && !strstr(err.msg, needle2)))
        fail_msg("error \"%s\" lacks \"%s\" / \"%s\"", err.msg, needle1, needle2 ? needle2 : "");
}

void tu_rm_dir(char *dir) {
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = lmd_path_join(dir, e->d_name);
        unlink(p);
        free(p);
    }
    if (d) closedir(d);
    rmdir(dir);
    free(dir);
}

double tu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------ golden files */

static double num(const cJSON *o, const char *name) {
    return cJSON_GetObjectItem(o, name)->valuedouble;
}

void tu_golden_read(tu_golden *g, const char *path, const lmd_tokenizer *tok, const char *what) {
    size_t len;
    lmd_error err;
    memset(g, 0, sizeof *g);
    if (lmd_read_file(path, &g->data, &len, &err) < 0) fail_msg("%s", err.msg);
    for (char *line = strtok(g->data, "\n"); line && g->n < TU_GOLDEN_MAX;
         line = strtok(NULL, "\n")) {
        size_t c = g->n++;
        cJSON *doc = g->doc[c] = cJSON_Parse(line);
        assert_non_null(doc);
        const char *text = cJSON_GetObjectItem(doc, "text")->valuestring;
        if (lmd_tokenize(tok, text, strlen(text), &g->ids[c], &g->n_ids[c], &err) < 0)
            fail_msg("%s", err.msg);
        const cJSON *ref = cJSON_GetObjectItem(doc, "ids");
        if ((size_t)cJSON_GetArraySize(ref) != g->n_ids[c])
            fail_msg("%s: text %zu: C gives %zu tokens, the reference %d", what, c, g->n_ids[c],
                     cJSON_GetArraySize(ref));
        for (size_t i = 0; i < g->n_ids[c]; i++)
            if (g->ids[c][i] != (int32_t)cJSON_GetArrayItem(ref, (int)i)->valuedouble)
                fail_msg("%s: text %zu: token %zu differs", what, c, i);
    }
    assert_true(g->n > 0);
}

void tu_golden_free(tu_golden *g) {
    for (size_t c = 0; c < g->n; c++) {
        free(g->ids[c]);
        cJSON_Delete(g->doc[c]);
    }
    free(g->data);
    memset(g, 0, sizeof *g);
}

const cJSON *tu_golden_token(const tu_golden *g, size_t c, size_t i, int *lo, int *hi) {
    const cJSON *r = cJSON_GetArrayItem(cJSON_GetObjectItem(g->doc[c], "tokens"), (int)i);
    *lo = (int)num(r, "rank_lo");
    *hi = (int)num(r, "rank_hi");
    return r;
}

/* The reference's log p of id in its top-k list; *found 0 when not there. */
static double ref_topk_lp(const cJSON *topk, int32_t id, int *found) {
    *found = 0;
    for (const cJSON *e = topk->child; e; e = e->next)
        if ((int32_t)cJSON_GetArrayItem(e, 0)->valuedouble == id) {
            *found = 1;
            return cJSON_GetArrayItem(e, 1)->valuedouble;
        }
    return 0;
}

/* Top-k of token i: probabilities within the tolerance, ids equal but for ties. */
static void check_topk(const lmd_scores *s, size_t i, const cJSON *topk, const char *what,
                       size_t c) {
    for (int j = 0; j < s->k; j++) {
        int32_t cid = s->topk_ids[i * (size_t)s->k + j];
        const cJSON *rj = cJSON_GetArrayItem(topk, j);
        int32_t rid = (int32_t)cJSON_GetArrayItem(rj, 0)->valuedouble;
        double rlp = cJSON_GetArrayItem(rj, 1)->valuedouble;
        if (fabs(log((double)s->topk_prob[i * (size_t)s->k + j]) - rlp) > TU_GOLDEN_TOL + 1e-6)
            fail_msg("%s: text %zu token %zu: top-%d prob differs", what, c, i, j + 1);
        if (cid == rid) continue;
        int found;
        double clp = ref_topk_lp(topk, cid, &found);
        if (!found || fabs(clp - rlp) > TU_GOLDEN_TIE)
            fail_msg("%s: text %zu token %zu: top-%d id %d, reference %d (not a tie)", what, c, i,
                     j + 1, cid, rid);
    }
}

void tu_golden_check(const tu_golden *g, size_t c, const lmd_scores *s, const char *what,
                     double worst[2]) {
    assert_int_equal(s->n, g->n_ids[c]);
    for (size_t i = 0; i < s->n; i++) {
        int lo, hi;
        const cJSON *r = tu_golden_token(g, c, i, &lo, &hi);
        double lp = num(r, "logprob"), h = num(r, "entropy");
        double dlp = fabs(s->logprob[i] - lp), dh = fabs((double)s->entropy[i] - h);
        if (dlp > worst[0]) worst[0] = dlp;
        if (dh > worst[1]) worst[1] = dh;
        if (dlp > TU_GOLDEN_TOL || !(fabs(log((double)s->prob[i]) - lp) <= TU_GOLDEN_TOL + 1e-6))
            fail_msg("%s: text %zu token %zu: logprob %.9g vs reference %.9g", what, c, i,
                     s->logprob[i], lp);
        if (dh > TU_GOLDEN_TOL)
            fail_msg("%s: text %zu token %zu: entropy %.9g vs reference %.9g", what, c, i,
                     (double)s->entropy[i], h);
        if (s->rank[i] < lo || s->rank[i] > hi)
            fail_msg("%s: text %zu token %zu: rank %d outside the reference's [%d, %d]", what, c, i,
                     s->rank[i], lo, hi);
        check_topk(s, i, cJSON_GetObjectItem(r, "topk"), what, c);
    }
}

void tu_golden_run(void (*check)(const char *dir, const char *golden), const char *dir_prefix,
                   const char *golden_prefix, const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s%s", dir_prefix, name);
    char *dir = tu_src_path(rel);
    snprintf(rel, sizeof rel, "tests/golden/%s%s.jsonl", golden_prefix, name);
    char *golden = tu_src_path(rel);
    check(dir, golden);
    free(dir);
    free(golden);
}

void tu_golden_run_shared(void (*check)(const char *dir, const char *golden), const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/hf-models/%s", name);
    char *dir = tu_shared_path(rel);
    if (!dir) {
        printf("SKIP: ../shared is absent; %s (saved by HF transformers) not checked\n", name);
        skip();
    }
    snprintf(rel, sizeof rel, "tests/golden/%s.jsonl", name);
    char *golden = tu_src_path(rel);
    check(dir, golden);
    free(dir);
    free(golden);
}

lmd_model *tu_test_model(const char *name, const lmd_model_opts *o) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/models/%s", name);
    char *dir = tu_src_path(rel);
    lmd_model *m;
    lmd_error err;
    if (lmd_model_load_opts(dir, o, &m, &err) < 0) fail_msg("%s", err.msg);
    free(dir);
    return m;
}

void tu_random_ids(uint32_t seed, int V, int n, const size_t *lens, int32_t **ids) {
    uint32_t x = seed;
    for (int t = 0; t < n; t++) {
        ids[t] = malloc((lens[t] ? lens[t] : 1) * sizeof **ids);
        assert_non_null(ids[t]);
        for (size_t i = 0; i < lens[t]; i++) {
            x = x * 1664525u + 1013904223u;
            ids[t][i] = (int32_t)((x >> 8) % (uint32_t)V);
        }
    }
}

void tu_score_random(lmd_model *m, uint32_t seed, int n, const size_t *lens, lmd_scores *s) {
    lmd_model_info info;
    lmd_model_get_info(m, &info);
    int32_t **ids = calloc((size_t)n, sizeof *ids);
    assert_non_null(ids);
    tu_random_ids(seed, info.vocab_size, n, lens, ids);
    lmd_error err;
    lmd_score_opts so = {.top_k = 5};
    if (lmd_score_ids(m, (const int32_t *const *)ids, lens, (size_t)n, &so, s, &err) < 0)
        fail_msg("%s", err.msg);
    for (int t = 0; t < n; t++)
        free(ids[t]);
    free(ids);
}

void tu_expect_same_scores(lmd_scores *a, lmd_scores *b, int n) {
    for (int t = 0; t < n; t++) {
        assert_int_equal(a[t].n, b[t].n);
        assert_memory_equal(a[t].logprob, b[t].logprob, a[t].n * sizeof(double));
        assert_memory_equal(a[t].entropy, b[t].entropy, a[t].n * sizeof(float));
        assert_memory_equal(a[t].rank, b[t].rank, a[t].n * sizeof(int32_t));
        assert_memory_equal(a[t].topk_ids, b[t].topk_ids, a[t].n * 5 * sizeof(int32_t));
        assert_memory_equal(a[t].topk_prob, b[t].topk_prob, a[t].n * 5 * sizeof(float));
        lmd_scores_free(&a[t]), lmd_scores_free(&b[t]);
    }
}
