/* test_tokenizer_frame.c - lmd_tokenizer_frame and lmd_tokenizer_mask: the
 * post_processor of tokenizer.json (BertProcessing, RobertaProcessing,
 * TemplateProcessing, ByteLevel, Sequence), the mask token, and the errors
 * for what is not supported. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "testutil.h"
#include "tokenize/tok_internal.h"
#include "tokenize/tokenizer.h"

/* Ġhello by merges, ids 261..265 */
static const char *const rob_extra[] = {"\xc4\xa0h", "\xc4\xa0he", "ll", "\xc4\xa0hell",
                                        "\xc4\xa0hello"};
static const char *const rob_merges[] = {"\xc4\xa0 h", "\xc4\xa0h e", "l l", "\xc4\xa0he ll",
                                         "\xc4\xa0hell o"};

/* A byte-level tokenizer.json in RoBERTa's style: <s>=0 <pad>=1 </s>=2
 * <unk>=3, the 256 byte characters from 4 on, <mask>=260 (lstrip, as in
 * roberta-base), Ġhello and its parts; post_processor is JSON text (NULL:
 * none).  The other fields are those of roberta-base's tokenizer.json. */
static char *roberta_like(const char *post_processor) {
    cJSON *vocab = cJSON_CreateObject();
    static const char *const sp[] = {"<s>", "<pad>", "</s>", "<unk>"};
    for (int i = 0; i < 4; i++)
        cJSON_AddNumberToObject(vocab, sp[i], i);
    for (int b = 0; b < 256; b++) {
        char u[3] = {0};
        lmd_byte_to_utf8((uint8_t)b, u);
        cJSON_AddNumberToObject(vocab, u, 4 + b);
    }
    cJSON_AddNumberToObject(vocab, "<mask>", 260);
    for (int i = 0; i < 5; i++)
        cJSON_AddNumberToObject(vocab, rob_extra[i], 261 + i);
    cJSON *model = cJSON_CreateObject();
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddNullToObject(model, "unk_token");
    cJSON_AddStringToObject(model, "continuing_subword_prefix", "");
    cJSON_AddStringToObject(model, "end_of_word_suffix", "");
    cJSON_AddFalseToObject(model, "fuse_unk");
    cJSON_AddFalseToObject(model, "byte_fallback");
    cJSON_AddItemToObject(model, "vocab", vocab);
    cJSON *merges = cJSON_CreateArray();
    for (int i = 0; i < 5; i++)
        cJSON_AddItemToArray(merges, cJSON_CreateString(rob_merges[i]));
    cJSON_AddItemToObject(model, "merges", merges);
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(
        root, "added_tokens",
        cJSON_Parse("[{\"id\":0,\"content\":\"<s>\",\"special\":true},"
                    "{\"id\":1,\"content\":\"<pad>\",\"special\":true},"
                    "{\"id\":2,\"content\":\"</s>\",\"special\":true},"
                    "{\"id\":3,\"content\":\"<unk>\",\"special\":true},"
                    "{\"id\":260,\"content\":\"<mask>\",\"special\":true,\"lstrip\":true,"
                    "\"normalized\":false}]"));
    cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddItemToObject(root, "pre_tokenizer",
                          cJSON_Parse("{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                                      "\"trim_offsets\":true,\"use_regex\":true}"));
    cJSON_AddItemToObject(root, "post_processor",
                          post_processor ? cJSON_Parse(post_processor) : cJSON_CreateNull());
    assert_true(!post_processor ||
                !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(root, "post_processor")));
    cJSON_AddItemToObject(root, "decoder",
                          cJSON_Parse("{\"type\":\"ByteLevel\",\"add_prefix_space\":true,"
                                      "\"trim_offsets\":true,\"use_regex\":true}"));
    cJSON_AddItemToObject(root, "model", model);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static lmd_tokenizer *load_pp(const char *pp) {
    char *js = roberta_like(pp);
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tokenizer_from_json(js, strlen(js), "rob.json", &t, &err) < 0)
        fail_msg("from_json: %s", err.msg);
    free(js);
    return t;
}

static void expect_pp_error(const char *pp, const char *needle) {
    char *js = roberta_like(pp);
    lmd_tokenizer *t = NULL;
    lmd_error err = {0};
    int rc = lmd_tokenizer_from_json(js, strlen(js), "rob.json", &t, &err);
    free(js);
    if (rc == 0) {
        lmd_tokenizer_free(t);
        fail_msg("post_processor %s loaded; expected an error with \"%s\"", pp, needle);
    }
    assert_null(t);
    if (!strstr(err.msg, "rob.json") || !strstr(err.msg, needle))
        fail_msg("error \"%s\" lacks \"rob.json\" or \"%s\"", err.msg, needle);
}

static void expect_frame(const lmd_tokenizer *t, const int32_t *pre, size_t n_pre,
                         const int32_t *post, size_t n_post) {
    const int32_t *a, *b;
    size_t na, nb;
    lmd_tokenizer_frame(t, &a, &na, &b, &nb);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(na, n_pre);
    assert_int_equal(nb, n_post);
    for (size_t i = 0; i < na; i++)
        assert_int_equal(a[i], pre[i]);
    for (size_t i = 0; i < nb; i++)
        assert_int_equal(b[i], post[i]);
}

static void test_processors(void **st) {
    (void)st;
    lmd_tokenizer *t = load_pp(NULL);
    expect_frame(t, NULL, 0, NULL, 0);
    assert_int_equal(lmd_tokenizer_mask(t), 260); /* the added "<mask>" */
    lmd_tokenizer_free(t);

    t = load_pp("{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",0],"
                "\"trim_offsets\":true,\"add_prefix_space\":false}");
    expect_frame(t, (int32_t[]){0}, 1, (int32_t[]){2}, 1);
    lmd_tokenizer_free(t);

    t = load_pp("{\"type\":\"BertProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",0]}");
    expect_frame(t, (int32_t[]){0}, 1, (int32_t[]){2}, 1);
    lmd_tokenizer_free(t);

    t = load_pp("{\"type\":\"ByteLevel\",\"trim_offsets\":false}");
    expect_frame(t, NULL, 0, NULL, 0);
    lmd_tokenizer_free(t);

    /* Llama-3 style: ByteLevel then a template with only a prefix; a special
     * token with two ids; the pair template is not used */
    t = load_pp("{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\"},"
                "{\"type\":\"TemplateProcessing\",\"single\":["
                "{\"SpecialToken\":{\"id\":\"B\",\"type_id\":0}},"
                "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
                "\"pair\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                "{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}],"
                "\"special_tokens\":{\"B\":{\"id\":\"B\",\"ids\":[0,3],"
                "\"tokens\":[\"<s>\",\"<unk>\"]}}}]}");
    expect_frame(t, (int32_t[]){0, 3}, 2, NULL, 0);
    lmd_tokenizer_free(t);

    /* BERT's template: [CLS] $A [SEP] */
    t = load_pp("{\"type\":\"TemplateProcessing\",\"single\":["
                "{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},"
                "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                "{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}},"
                "{\"SpecialToken\":{\"id\":\"[PAD]\",\"type_id\":0}}],"
                "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[0],\"tokens\":[\"<s>\"]},"
                "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[2],\"tokens\":[\"</s>\"]},"
                "\"[PAD]\":{\"id\":\"[PAD]\",\"ids\":[1],\"tokens\":[\"<pad>\"]}}}");
    expect_frame(t, (int32_t[]){0}, 1, (int32_t[]){2, 1}, 2);
    lmd_tokenizer_free(t);

    /* lmd_tokenize never adds the frame */
    t = load_pp("{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",0]}");
    int32_t *ids;
    size_t n;
    lmd_error err;
    assert_int_equal(lmd_tokenize(t, "a<mask>", 7, &ids, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 4 + 'a');
    assert_int_equal(ids[1], 260);
    free(ids);
    lmd_tokenizer_free(t);

    /* NULL tokenizer */
    const int32_t *a;
    size_t na = 7;
    lmd_tokenizer_frame(NULL, &a, &na, NULL, NULL);
    assert_int_equal(na, 0);
    assert_int_equal(lmd_tokenizer_mask(NULL), -1);
}

#define B(c) (4 + (c)) /* the id of a byte's token */

/* RoBERTa: byte-level BPE without a prefix space, <s> ... </s>, <mask> that
 * absorbs the space before it. */
static void roberta_checks(const lmd_tokenizer *t) {
    TU_EXPECT(t, " hello", 265);
    TU_EXPECT(t, "hello", B('h'), B('e'), 263, B('o'));
    TU_EXPECT(t, "a <mask>", B('a'), 260);
    TU_EXPECT(t, "a<mask> hello", B('a'), 260, 265);
    TU_EXPECT(t, "<s> hello</s>", 0, 265, 2);
    expect_frame(t, (int32_t[]){0}, 1, (int32_t[]){2}, 1);
    assert_int_equal(lmd_tokenizer_mask(t), 260);
    const char *b;
    assert_int_equal(lmd_token_bytes(t, 265, &b), 6);
    assert_memory_equal(b, " hello", 6);
    int32_t ids[] = {0, 265, 260, 2};
    char *d = lmd_detokenize(t, ids, 4, NULL);
    assert_string_equal(d, "<s> hello<mask></s>");
    free(d);
}

static void test_roberta_json(void **st) {
    (void)st;
    lmd_tokenizer *t = load_pp("{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2],"
                               "\"cls\":[\"<s>\",0],\"trim_offsets\":true,"
                               "\"add_prefix_space\":false}");
    roberta_checks(t);
    lmd_tokenizer_free(t);
}

/* The same as vocab.json + merges.txt with a RobertaTokenizer config: the
 * defaults of RobertaTokenizer give the same specials and frame. */
static void test_roberta_vocab_merges(void **st) {
    (void)st;
    char *js = roberta_like(NULL);
    cJSON *root = cJSON_Parse(js);
    cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    char *vocab = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(model, "vocab"));
    char *dir = tu_tmpdir();
    assert_non_null(dir);
    char *pv = lmd_path_join(dir, "vocab.json"), *pm = lmd_path_join(dir, "merges.txt");
    char *pc = lmd_path_join(dir, "tokenizer_config.json");
    FILE *f = fopen(pv, "wb");
    fputs(vocab, f);
    fclose(f);
    f = fopen(pm, "wb");
    fputs("#version: 0.2\n", f);
    for (int i = 0; i < 5; i++)
        fprintf(f, "%s\n", rob_merges[i]);
    fclose(f);
    static const char *const configs[] = {
        "{\"tokenizer_class\": \"RobertaTokenizer\"}",
        /* a plain-string mask_token is made lstrip by RobertaTokenizer */
        "{\"tokenizer_class\": \"RobertaTokenizerFast\", \"mask_token\": \"<mask>\"}"};
    for (int c = 0; c < 2; c++) {
        f = fopen(pc, "wb");
        fputs(configs[c], f);
        fclose(f);
        lmd_tokenizer *t = NULL;
        lmd_error err;
        if (lmd_tokenizer_load(dir, &t, &err) < 0) fail_msg("%s", err.msg);
        roberta_checks(t);
        lmd_tokenizer_free(t);
    }
    /* without the class: GPT-2's rules, no frame, "<mask>" is plain text */
    f = fopen(pc, "wb");
    fputs("{}", f);
    fclose(f);
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tokenizer_load(dir, &t, &err) < 0) fail_msg("%s", err.msg);
    expect_frame(t, NULL, 0, NULL, 0);
    assert_int_equal(lmd_tokenizer_mask(t), -1);
    TU_EXPECT(t, "<s>", B('<'), B('s'), B('>'));
    lmd_tokenizer_free(t);
    remove(pv);
    remove(pm);
    remove(pc);
    remove(dir);
    free(pv);
    free(pm);
    free(pc);
    free(dir);
    free(vocab);
    cJSON_Delete(root);
    free(js);
}

static void test_processor_errors(void **st) {
    (void)st;
    expect_pp_error("{\"type\":\"Magic\"}", "post_processor Magic is not supported");
    expect_pp_error("{\"sep\":[\"</s>\",2]}", "no type");
    expect_pp_error("[1]", "not an object");
    expect_pp_error("{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2]}", "\"cls\"");
    expect_pp_error("{\"type\":\"BertProcessing\",\"sep\":[\"</s>\",\"2\"],\"cls\":[\"<s>\",0]}",
                    "\"sep\"");
    expect_pp_error("{\"type\":\"BertProcessing\",\"sep\":[\"</s>\",9999],\"cls\":[\"<s>\",0]}",
                    "id 9999");
    expect_pp_error("{\"type\":\"Sequence\",\"processors\":["
                    "{\"type\":\"BertProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",0]},"
                    "{\"type\":\"RobertaProcessing\",\"sep\":[\"</s>\",2],\"cls\":[\"<s>\",0]}]}",
                    "more than one");
    expect_pp_error("{\"type\":\"TemplateProcessing\",\"single\":["
                    "{\"SpecialToken\":{\"id\":\"X\",\"type_id\":0}},"
                    "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],\"special_tokens\":{}}",
                    "\"X\"");
    expect_pp_error("{\"type\":\"TemplateProcessing\",\"single\":["
                    "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
                    "{\"Sequence\":{\"id\":\"B\",\"type_id\":0}}],\"special_tokens\":{}}",
                    "exactly once");
    expect_pp_error("{\"type\":\"TemplateProcessing\",\"single\":[],\"special_tokens\":{}}",
                    "no sequence A");
    expect_pp_error("{\"type\":\"TemplateProcessing\",\"single\":\"$A\",\"special_tokens\":{}}",
                    "\"single\"");
}

/* tokenizer_config.json's mask_token overrides the default */
static void test_mask_from_config(void **st) {
    (void)st;
    char *dir = tu_tmpdir();
    assert_non_null(dir);
    char *js = roberta_like(NULL);
    char *p = lmd_path_join(dir, "tokenizer.json");
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    fputs(js, f);
    fclose(f);
    char *pc = lmd_path_join(dir, "tokenizer_config.json");
    f = fopen(pc, "wb");
    assert_non_null(f);
    fputs("{\"mask_token\": {\"content\": \"<pad>\"}}", f);
    fclose(f);
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tokenizer_load(dir, &t, &err) < 0) fail_msg("%s", err.msg);
    assert_int_equal(lmd_tokenizer_mask(t), 1);
    lmd_tokenizer_free(t);
    remove(p);
    remove(pc);
    remove(dir);
    free(p);
    free(pc);
    free(js);
    free(dir);
}

/* GPT-2's real tokenizer.json has a ByteLevel post-processor: no frame, no
 * mask. */
static void test_gpt2(void **st) {
    (void)st;
    char *dir = tu_shared_path("fixtures/tokenizers/gpt2");
    if (!dir) {
        free(dir);
        skip();
    }
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tokenizer_load(dir, &t, &err) < 0) fail_msg("%s", err.msg);
    expect_frame(t, NULL, 0, NULL, 0);
    assert_int_equal(lmd_tokenizer_mask(t), -1);
    lmd_tokenizer_free(t);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_processors),       cmocka_unit_test(test_processor_errors),
        cmocka_unit_test(test_roberta_json),     cmocka_unit_test(test_roberta_vocab_merges),
        cmocka_unit_test(test_mask_from_config), cmocka_unit_test(test_gpt2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
