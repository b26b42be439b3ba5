/* test_mlm.c - masked LMs (BERT, DistilBERT, RoBERTa) against the float64
 * reference tools/reference/mlmref.py, by pseudo-likelihood:
 *   - the C tokenizer gives the reference's ids;
 *   - |log p(C) - log p(ref)| <= 1e-4 and |H(C) - H(ref)| <= 1e-4 nats
 *     (the worst seen is printed; it is ~1e-6);
 *   - the C rank lies in the reference's [rank_lo, rank_hi] (ties within
 *     1e-5), top-k ids equal modulo such ties;
 *   - the same with one copy per forward batch and with 64-token batches.
 * Plus: the refusal of checkpoints without an MLM head, the model info, and
 * the last-layer-at-one-row forward against the full forward. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "model/model.h"
#include "testutil.h"

#define TOL_LOGPROB 1e-4
#define TOL_ENTROPY 1e-4
#define TIE 1e-5
#define MAXC 64

static double worst_seen = 0;

static double ref_topk_lp(const cJSON *topk, int32_t id, int *found) {
    *found = 0;
    for (const cJSON *e = topk->child; e; e = e->next)
        if ((int32_t)cJSON_GetArrayItem(e, 0)->valuedouble == id) {
            *found = 1;
            return cJSON_GetArrayItem(e, 1)->valuedouble;
        }
    return 0;
}

static void check_scores(const char *dir, size_t c, const lmd_scores *s, const cJSON *tokens) {
    for (size_t i = 0; i < s->n; i++) {
        const cJSON *r = cJSON_GetArrayItem(tokens, (int)i);
        double lp = cJSON_GetObjectItem(r, "logprob")->valuedouble;
        double h = cJSON_GetObjectItem(r, "entropy")->valuedouble;
        int lo = (int)cJSON_GetObjectItem(r, "rank_lo")->valuedouble;
        int hi = (int)cJSON_GetObjectItem(r, "rank_hi")->valuedouble;
        const cJSON *topk = cJSON_GetObjectItem(r, "topk");
        double dlp = fabs(s->logprob[i] - lp), dh = fabs((double)s->entropy[i] - h);
        if (dlp > worst_seen) worst_seen = dlp;
        if (dlp > TOL_LOGPROB || !(fabs(log((double)s->prob[i]) - lp) <= TOL_LOGPROB + 1e-6))
            fail_msg("%s: text %zu token %zu: logprob %.9g vs reference %.9g", dir, c, i,
                     s->logprob[i], lp);
        if (dh > TOL_ENTROPY)
            fail_msg("%s: text %zu token %zu: entropy %.9g vs reference %.9g", dir, c, i,
                     (double)s->entropy[i], h);
        if (s->rank[i] < lo || s->rank[i] > hi)
            fail_msg("%s: text %zu token %zu: rank %d outside the reference's [%d, %d]", dir, c, i,
                     s->rank[i], lo, hi);
        for (int j = 0; j < s->k; j++) {
            int32_t cid = s->topk_ids[i * (size_t)s->k + j];
            const cJSON *rj = cJSON_GetArrayItem(topk, j);
            int32_t rid = (int32_t)cJSON_GetArrayItem(rj, 0)->valuedouble;
            double rlp = cJSON_GetArrayItem(rj, 1)->valuedouble;
            if (fabs(log((double)s->topk_prob[i * (size_t)s->k + j]) - rlp) > TOL_LOGPROB + 1e-6)
                fail_msg("%s: text %zu token %zu: top-%d prob differs", dir, c, i, j + 1);
            if (cid == rid) continue;
            int found;
            double clp = ref_topk_lp(topk, cid, &found);
            if (!found || fabs(clp - rlp) > TIE)
                fail_msg("%s: text %zu token %zu: top-%d id %d, reference %d (not a tie)", dir, c,
                         i, j + 1, cid, rid);
        }
    }
}

static void check_model(const char *dir, const char *golden_path) {
    char *data;
    size_t len;
    lmd_error err;
    if (lmd_read_file(golden_path, &data, &len, &err) < 0) fail_msg("%s", err.msg);
    lmd_model *m;
    if (lmd_model_load(dir, &m, &err) < 0) fail_msg("%s", err.msg);
    lmd_model_info info;
    lmd_model_get_info(m, &info);
    assert_int_equal(info.masked_lm, 1);
    const lmd_tokenizer *tok = lmd_model_tokenizer(m);
    cJSON *docs[MAXC];
    int32_t *ids[MAXC];
    size_t ns[MAXC], nc = 0, total = 0;
    for (char *line = strtok(data, "\n"); line && nc < MAXC; line = strtok(NULL, "\n")) {
        cJSON *doc = cJSON_Parse(line);
        assert_non_null(doc);
        docs[nc] = doc;
        const char *text = cJSON_GetObjectItem(doc, "text")->valuestring;
        if (lmd_tokenize(tok, text, strlen(text), &ids[nc], &ns[nc], &err) < 0)
            fail_msg("%s", err.msg);
        const cJSON *rid = cJSON_GetObjectItem(doc, "ids");
        if ((size_t)cJSON_GetArraySize(rid) != ns[nc])
            fail_msg("%s: text %zu: C gives %zu tokens, the reference %d", dir, nc, ns[nc],
                     cJSON_GetArraySize(rid));
        for (size_t i = 0; i < ns[nc]; i++)
            if (ids[nc][i] != (int32_t)cJSON_GetArrayItem(rid, (int)i)->valuedouble)
                fail_msg("%s: text %zu: token %zu differs", dir, nc, i);
        total += ns[nc];
        nc++;
    }
    assert_true(nc > 0);
    const int32_t *idp[MAXC];
    for (size_t i = 0; i < nc; i++)
        idp[i] = ids[i];
    /* all texts at once (default batches), one copy per batch, 64-token
     * batches (several copies of a text and of different texts together) */
    lmd_score_opts opts[] = {
        {.top_k = 10}, {.top_k = 10, .max_batch_tokens = 1}, {.top_k = 10, .max_batch_tokens = 64}};
    worst_seen = 0;
    for (size_t o = 0; o < sizeof opts / sizeof opts[0]; o++) {
        lmd_scores sc[MAXC];
        if (lmd_score_ids(m, idp, ns, nc, &opts[o], sc, &err) < 0) fail_msg("%s", err.msg);
        for (size_t c = 0; c < nc; c++) {
            assert_int_equal(sc[c].n, ns[c]);
            check_scores(dir, c, &sc[c], cJSON_GetObjectItem(docs[c], "tokens"));
            lmd_scores_free(&sc[c]);
        }
    }
    printf("  %s: %zu texts, %zu tokens; worst |dlogp| %.2e\n", dir, nc, total, worst_seen);
    for (size_t c = 0; c < nc; c++) {
        free(ids[c]);
        cJSON_Delete(docs[c]);
    }
    lmd_model_free(m);
    free(data);
}

static void check_named(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/models/%s", name);
    char *dir = tu_src_path(rel);
    snprintf(rel, sizeof rel, "tests/golden/%s.jsonl", name);
    char *golden = tu_src_path(rel);
    check_model(dir, golden);
    free(dir);
    free(golden);
}

static void test_bert(void **state) {
    (void)state;
    check_named("tiny-bert");
}
static void test_distilbert(void **state) {
    (void)state;
    check_named("tiny-distilbert");
}
static void test_roberta(void **state) {
    (void)state;
    check_named("tiny-roberta");
}

/* The demo BERT pair (demo/models, trained by tools/demo/train_bert.py) against
 * golden files from the training code's own float64 forward: ties the masked-LM
 * engine to trained weights and a real WordPiece vocabulary. */
static void check_demo(const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "demo/models/%s", name);
    char *dir = tu_src_path(rel);
    snprintf(rel, sizeof rel, "tests/golden/demo-%s.jsonl", name);
    char *golden = tu_src_path(rel);
    check_model(dir, golden);
    free(dir);
    free(golden);
}
static void test_demo_bert(void **state) {
    (void)state;
    check_demo("bert-base");
    check_demo("bert-kjv");
}

static void test_tiniest_bert(void **state) {
    (void)state;
    char *dir = tu_shared_path("fixtures/hf-models/tiniest-bert");
    if (!dir) {
        printf("SKIP: ../shared is absent; tiniest-bert (saved by HF transformers) not checked\n");
        skip();
    }
    char *golden = tu_src_path("tests/golden/tiniest-bert.jsonl");
    check_model(dir, golden);
    free(dir);
    free(golden);
}

static void expect_refusal(const char *name, const char *needle) {
    char rel[256];
    snprintf(rel, sizeof rel, "tests/models/%s", name);
    char *dir = tu_src_path(rel);
    lmd_model *m = NULL;
    lmd_error err = {0};
    assert_int_equal(lmd_model_load(dir, &m, &err), -1);
    assert_null(m);
    if (!strstr(err.msg, needle)) fail_msg("%s: message lacks \"%s\": %s", name, needle, err.msg);
    free(dir);
}

static void test_headless_refused(void **state) {
    (void)state;
    expect_refusal("tiny-bert-cls", "has no masked-LM head");
    expect_refusal("tiny-bert-nohead", "no masked-LM head");
}

static void test_info(void **state) {
    (void)state;
    static const struct {
        const char *name, *arch;
        int masked, ctx;
    } want[] = {{"tiny-bert", "BertForMaskedLM", 1, 64},
                {"tiny-distilbert", "DistilBertForMaskedLM", 1, 64},
                {"tiny-roberta", "RobertaForMaskedLM", 1, 22}, /* 24 - pad 1 - 1 */
                {"tiny-a", "GPT2LMHeadModel", 0, 64}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "tests/models/%s", want[i].name);
        char *dir = tu_src_path(rel);
        lmd_model *m;
        lmd_error err;
        if (lmd_model_load(dir, &m, &err) < 0) fail_msg("%s", err.msg);
        lmd_model_info info;
        lmd_model_get_info(m, &info);
        assert_string_equal(info.arch, want[i].arch);
        assert_int_equal(info.masked_lm, want[i].masked);
        assert_int_equal(info.n_ctx, want[i].ctx);
        if (want[i].masked && strcmp(want[i].name, "tiny-roberta")) {
            /* every stored tensor is a parameter, the tied decoder counted
             * once (tiny-roberta stores its decoder bias twice, as HF does) */
            int64_t sum = 0;
            for (size_t t = 0; t < m->st.n_tensors; t++)
                sum += m->st.tensors[t].numel;
            assert_int_equal(info.n_params, sum);
        }
        lmd_model_free(m);
        free(dir);
    }
}

/* The forward that runs the last layer at one row per sequence gives the
 * rows of the full forward. */
static void test_forward_sel(void **state) {
    (void)state;
    char *dir = tu_src_path("tests/models/tiny-bert");
    lmd_model *m;
    lmd_error err;
    if (lmd_model_load(dir, &m, &err) < 0) fail_msg("%s", err.msg);
    const int d = m->info.n_embd;
    int32_t a[40], b[7];
    for (int i = 0; i < 40; i++)
        a[i] = (i * 37 + 5) % 550;
    for (int i = 0; i < 7; i++)
        b[i] = (i * 91 + 3) % 550;
    lmd_seq seqs[2] = {{a, 40}, {b, 7}};
    int sel[2] = {39, 0};
    float *full = malloc(47 * (size_t)d * sizeof *full), *one = malloc(2 * (size_t)d * sizeof *one);
    assert_int_equal(m->ops->forward(m, seqs, 2, full, &err), 0);
    assert_int_equal(lmd_bert_forward_sel(m, seqs, 2, sel, one, &err), 0);
    double worst = 0;
    for (int s = 0; s < 2; s++) {
        const float *r = full + (size_t)(s == 0 ? 39 : 40) * d;
        for (int i = 0; i < d; i++) {
            double e = fabs((double)r[i] - (double)one[(size_t)s * d + i]);
            if (e > worst) worst = e;
        }
    }
    if (worst > 1e-5) fail_msg("forward_sel differs from forward by %g", worst);
    /* a selected row outside its sequence is an error, not a crash */
    sel[1] = 7;
    assert_int_equal(lmd_bert_forward_sel(m, seqs, 2, sel, one, &err), -1);
    free(full);
    free(one);
    lmd_model_free(m);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bert),
        cmocka_unit_test(test_distilbert),
        cmocka_unit_test(test_roberta),
        cmocka_unit_test(test_tiniest_bert),
        cmocka_unit_test(test_demo_bert),
        cmocka_unit_test(test_headless_refused),
        cmocka_unit_test(test_info),
        cmocka_unit_test(test_forward_sel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
