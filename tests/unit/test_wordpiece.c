/* test_wordpiece.c - the WordPiece tokenizer of BERT: the 46 reference
 * vectors of bert-base-uncased (llama.cpp's bert-bge test, ids from Hugging
 * Face tokenizers) through tokenizer.json and through vocab.txt, the hash of
 * both forms, hand-made edge cases (accents, CJK, control characters, long
 * words, punctuation), the decoder, the frame, and the errors. */
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

/* The bert-base-uncased folder, or NULL (the test then skips). */
static char *bert_dir(void) {
    char *p = tu_shared_path("fixtures/tokenizers/bert-base-uncased");
    if (p && access(p, R_OK) != 0) {
        free(p);
        p = NULL;
    }
    if (!p) printf("SKIP: ../shared/fixtures/tokenizers/bert-base-uncased is absent\n");
    return p;
}

/* The id of a vocabulary string. */
static int32_t id_of(const lmd_tokenizer *t, const char *raw) {
    int32_t id = lmd_tokenizer_token_id(t, raw, strlen(raw));
    if (id < 0) fail_msg("\"%s\" is not in the vocabulary", raw);
    return id;
}

/* ------------------------------------------------- the reference vectors */

static void run_vectors(const lmd_tokenizer *t) {
    tu_vectors v;
    tu_read_vectors(&v, "bert-bge");
    for (size_t i = 0; i < v.n; i++)
        tu_expect_ids(t, v.text[i], v.text_len[i], v.ids[i], v.n_ids[i]);
    tu_vectors_free(&v);
}

static void test_vectors_tokenizer_json(void **st) {
    (void)st;
    char *dir = bert_dir();
    if (!dir) skip();
    lmd_tokenizer *t = tu_load_tokenizer(dir); /* tokenizer.json is preferred */
    run_vectors(t);
    lmd_tokenizer_free(t);
    free(dir);
}

static void test_vectors_vocab_txt(void **st) {
    (void)st;
    char *dir = bert_dir();
    if (!dir) skip();
    char *tmp = tu_tmpdir();
    tu_copy_file(dir, tmp, "vocab.txt"); /* no tokenizer_config.json: BertTokenizer's defaults */
    lmd_tokenizer *tv = tu_load_tokenizer(tmp);
    run_vectors(tv);
    lmd_tokenizer *tj = tu_load_tokenizer(dir);
    char hj[65], hv[65];
    lmd_tokenizer_hash(tj, hj);
    lmd_tokenizer_hash(tv, hv);
    assert_string_equal(hj, hv); /* the two forms tokenize the same way */
    assert_true(lmd_tokenizers_compatible(tj, tv));
    assert_int_equal(lmd_tokenizer_vocab_size(tv), 30522);

    /* the frame and the mask of both forms: [CLS]=101 ... [SEP]=102, [MASK]=103 */
    lmd_tokenizer *both[2] = {tj, tv};
    for (int k = 0; k < 2; k++) {
        const int32_t *pre, *post;
        size_t np, nq;
        lmd_tokenizer_frame(both[k], &pre, &np, &post, &nq);
        assert_int_equal(np, 1);
        assert_int_equal(nq, 1);
        assert_int_equal(pre[0], 101);
        assert_int_equal(post[0], 102);
        assert_int_equal(lmd_tokenizer_mask(both[k]), 103);
        assert_int_equal(lmd_tokenizer_bos(both[k]), -1);
    }

    /* tokenizer_config.json with the real file's settings changes nothing;
     * do_lower_case=false does (and changes the hash) */
    tu_write_str(tmp, "tokenizer_config.json",
                 "{\"do_lower_case\": true, \"tokenize_chinese_chars\": true, \"strip_accents\": "
                 "null, \"mask_token\": \"[MASK]\", \"tokenizer_class\": \"BertTokenizer\"}");
    lmd_tokenizer *t2 = tu_load_tokenizer(tmp);
    char h2[65];
    lmd_tokenizer_hash(t2, h2);
    assert_string_equal(h2, hj);
    lmd_tokenizer_free(t2);
    tu_write_str(tmp, "tokenizer_config.json", "{\"do_lower_case\": false}");
    t2 = tu_load_tokenizer(tmp);
    lmd_tokenizer_hash(t2, h2);
    assert_string_not_equal(h2, hj);
    TU_EXPECT(t2, "Hello", 100);         /* "Hello" is not in the uncased vocabulary */
    TU_EXPECT(t2, "hello é", 7592, 100); /* no accent stripping either */
    lmd_tokenizer_free(t2);
    tu_write_str(tmp, "tokenizer_config.json",
                 "{\"do_lower_case\": false, \"strip_accents\": true}");
    t2 = tu_load_tokenizer(tmp);
    TU_EXPECT(t2, "Hello é", 100, 1041); /* é -> e, but no lowercase */
    lmd_tokenizer_free(t2);
    tu_write_str(tmp, "tokenizer_config.json", "{\"strip_accents\": false}");
    t2 = tu_load_tokenizer(tmp);
    TU_EXPECT(t2, "Hello é", 7592, 100); /* lowercase, but é kept (and unknown) */
    TU_EXPECT(t2, "Hello e", 7592, 1041);
    lmd_tokenizer_hash(t2, h2);
    assert_string_not_equal(h2, hj);
    lmd_tokenizer_free(t2);
    tu_write_str(tmp, "tokenizer_config.json", "{\"tokenize_chinese_chars\": false}");
    t2 = tu_load_tokenizer(tmp);
    TU_EXPECT(t2, "我想", 100); /* one piece, not two */
    lmd_tokenizer_free(t2);

    lmd_tokenizer_free(tj);
    lmd_tokenizer_free(tv);
    tu_rm_dir(tmp);
    free(dir);
}

/* transformers' BertTokenizerFast re-applies do_lower_case & co. of
 * tokenizer_config.json over tokenizer.json's BertNormalizer */
static void test_config_over_json(void **st) {
    (void)st;
    char *dir = bert_dir();
    if (!dir) skip();
    lmd_tokenizer *ref = tu_load_tokenizer(dir);
    char href[65], h[65];
    lmd_tokenizer_hash(ref, href);
    char *tmp = tu_tmpdir();
    tu_copy_file(dir, tmp, "tokenizer.json");
    static const struct {
        const char *config;
        int same; /* tokenizes as tokenizer.json says */
    } cases[] = {
        {"{\"tokenizer_class\": \"BertTokenizer\"}", 1}, /* the defaults agree */
        {"{\"tokenizer_class\": \"BertTokenizer\", \"do_lower_case\": true, "
         "\"strip_accents\": null, \"tokenize_chinese_chars\": true}",
         1},
        {"{\"do_lower_case\": false}", 1}, /* no class: tokenizer.json alone */
        {"{\"tokenizer_class\": \"GPT2Tokenizer\", \"do_lower_case\": false}", 1},
        {"{\"tokenizer_class\": \"BertTokenizerFast\", \"do_lower_case\": false}", 0},
        {"{\"tokenizer_class\": \"DistilBertTokenizer\", \"strip_accents\": false}", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tu_write_str(tmp, "tokenizer_config.json", cases[i].config);
        lmd_tokenizer *t = tu_load_tokenizer(tmp);
        lmd_tokenizer_hash(t, h);
        if ((strcmp(h, href) == 0) != cases[i].same) fail_msg("config %s", cases[i].config);
        if (i == 4) TU_EXPECT(t, "Hello hello", 100, 7592);
        if (i == 5) TU_EXPECT(t, "H\xc3\xa9llo", 100); /* lowercase, é kept: unknown */
        lmd_tokenizer_free(t);
    }
    /* the same as vocab.txt with that config */
    tu_copy_file(dir, tmp, "vocab.txt");
    lmd_tokenizer *tj = tu_load_tokenizer(tmp);
    char *p = lmd_path_join(tmp, "tokenizer.json");
    unlink(p);
    free(p);
    lmd_tokenizer *tv = tu_load_tokenizer(tmp);
    assert_true(lmd_tokenizers_compatible(tj, tv));
    lmd_tokenizer_free(tj);
    lmd_tokenizer_free(tv);
    /* tiniest-bert's files agree with each other */
    char *tb = tu_shared_path("fixtures/hf-models/tiniest-bert");
    lmd_tokenizer *t = tu_load_tokenizer(tb);
    lmd_tokenizer_hash(t, h);
    assert_string_equal(h, href);
    lmd_tokenizer_free(t);
    free(tb);
    lmd_tokenizer_free(ref);
    tu_rm_dir(tmp);
    free(dir);
}

/* ------------------------------------------------- edge cases, bert-base-uncased */

static void test_edge_cases(void **st) {
    (void)st;
    char *dir = bert_dir();
    if (!dir) skip();
    lmd_tokenizer *t = tu_load_tokenizer(dir);
    int32_t hello = id_of(t, "hello"), comma = id_of(t, ","), bang = id_of(t, "!");
    int32_t cafe = id_of(t, "cafe"), unk = id_of(t, "[UNK]");
    TU_EXPECT_NONE(t, "");
    TU_EXPECT_NONE(t, " \t\n\r ");
    TU_EXPECT(t, "Hello", hello);
    TU_EXPECT(t, "HELLO,hello!", hello, comma, hello, bang);
    /* accents: NFD + Mn removed, precomposed or combining; upper case too */
    TU_EXPECT(t, "café", cafe);
    TU_EXPECT(t, "cafe\xcc\x81", cafe);
    TU_EXPECT(t, "CAFÉ", cafe);
    /* U+0130: NFD gives I + U+0307 (Mn, dropped), then lowercase; without
     * accent stripping the full lowercase mapping i + U+0307 applies */
    TU_EXPECT(t, "\xc4\xb0", id_of(t, "i"));
    /* control and format characters vanish; other white space separates */
    TU_EXPECT(t, "hel\x01lo", hello);
    TU_EXPECT(t, "hel\xe2\x80\x8blo", hello);             /* U+200B ZERO WIDTH SPACE is Cf */
    TU_EXPECT(t, "hel\xef\xbf\xbdlo", hello);             /* U+FFFD */
    TU_EXPECT(t, "hello\xc2\xa0hello", hello, hello);     /* U+00A0 */
    TU_EXPECT(t, "hello\xe3\x80\x80hello", hello, hello); /* U+3000 */
    /* CJK ideographs are words of their own, kana is not */
    TU_EXPECT(t, "天天", id_of(t, "天"), id_of(t, "天"));
    /* punctuation: ASCII symbols and Unicode P*; each its own piece */
    TU_EXPECT(t, "!!!", bang, bang, bang);
    TU_EXPECT(t, "$+", id_of(t, "$"), id_of(t, "+"));
    TU_EXPECT(t, "\xe2\x80\x94", id_of(t, "—")); /* U+2014 EM DASH, Pd */
    TU_EXPECT(t,
              "a\xc2\xbf"
              "b",
              id_of(t, "a"), id_of(t, "¿"), id_of(t, "b"));
    /* a word of 100 characters is split, of 101 is [UNK] */
    char w[202];
    memset(w, 'a', 100);
    w[100] = 0;
    int32_t *ids;
    size_t n;
    lmd_error err;
    assert_int_equal(lmd_tokenize(t, w, 100, &ids, &n, &err), 0);
    assert_true(n > 1);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(ids[i], unk);
    free(ids);
    memset(w, 'a', 101);
    assert_int_equal(lmd_tokenize(t, w, 101, &ids, &n, &err), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], unk);
    free(ids);
    /* ...counted in characters, not bytes: 60 two-byte characters */
    for (int i = 0; i < 60; i++)
        memcpy(w + 2 * i, "\xc3\xa6", 2); /* æ */
    assert_int_equal(lmd_tokenize(t, w, 120, &ids, &n, &err), 0);
    assert_true(n >= 1);
    assert_int_not_equal(ids[0], unk);
    free(ids);
    /* a word that cannot be covered is one [UNK], its neighbours are not */
    TU_EXPECT(t, "hello \xf0\x9f\xa6\x99\xf0\x9f\xa6\x99 hello", hello, unk, hello);
    /* special tokens are split out before normalization, in any context */
    TU_EXPECT(t, "[CLS]hello[SEP]", 101, hello, 102);
    TU_EXPECT(t, "[MASK]", 103);
    TU_EXPECT(t, "[mask]", id_of(t, "["), id_of(t, "mask"), id_of(t, "]"));
    /* invalid UTF-8 is refused */
    assert_int_equal(lmd_tokenize(t, "a\xff", 2, &ids, &n, &err), -1);
    assert_non_null(strstr(err.msg, "UTF-8"));
    lmd_tokenizer_free(t);
    free(dir);
}

/* lmd_token_bytes / display / detokenize: "##" pieces join their word */
static void test_decode(void **st) {
    (void)st;
    char *dir = bert_dir();
    if (!dir) skip();
    lmd_tokenizer *t = tu_load_tokenizer(dir);
    int32_t *ids;
    size_t n;
    lmd_error err;
    const char *text = "Tokenization isn't hard, is it? Don't [MASK] it.";
    assert_int_equal(lmd_tokenize(t, text, strlen(text), &ids, &n, &err), 0);
    lmd_buf joined = {0};
    for (size_t i = 0; i < n; i++) {
        const char *b;
        size_t len = lmd_token_bytes(t, ids[i], &b);
        const char *raw = lmd_token_raw(t, ids[i]);
        if (strncmp(raw, "##", 2) == 0) {
            assert_int_equal(len, strlen(raw) - 2);
            assert_memory_equal(b, raw + 2, len);
        }
        lmd_buf_put(&joined, b, len);
    }
    lmd_buf_put(&joined, "", 1);
    /* the pieces concatenated read as text (HF decoder's cleanup per token:
     * no space before . , ? !) */
    assert_string_equal(joined.data, " tokenization isn ' t hard, is it? don ' t [MASK] it.");
    size_t dl;
    char *d = lmd_detokenize(t, ids, n, &dl);
    /* the first token has no space in front */
    assert_string_equal(d, "tokenization isn ' t hard, is it? don ' t [MASK] it.");
    assert_int_equal(dl, strlen(d));
    free(d);
    char *disp = lmd_token_display(t, id_of(t, "##ization"));
    assert_string_equal(disp, "ization");
    free(disp);
    disp = lmd_token_display(t, id_of(t, "hello"));
    assert_string_equal(disp, " hello");
    free(disp);
    /* a first token that is a continuation piece keeps its prefix (HF) */
    int32_t one = id_of(t, "##ing");
    d = lmd_detokenize(t, &one, 1, NULL);
    assert_string_equal(d, "##ing");
    free(d);
    free(ids);
    lmd_buf_free(&joined);
    lmd_tokenizer_free(t);
    free(dir);
}

/* ------------------------------------------------- hand-made tokenizers */

/* A tiny WordPiece tokenizer.json; normalizer, decoder and the model's extra
 * fields are JSON text. */
static char *wp_json(const char *normalizer, const char *model_extra, const char *decoder) {
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"added_tokens\": [{\"id\": 0, \"content\": \"[UNK]\", \"special\": true, "
             "\"normalized\": false}, {\"id\": 5, \"content\": \"[MASK]\", \"special\": true, "
             "\"normalized\": false}, {\"id\": 12, \"content\": \"<Hi>\", \"special\": false, "
             "\"normalized\": true}],"
             "\"normalizer\": %s, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
             "\"post_processor\": {\"type\": \"BertProcessing\", \"sep\": [\"[SEP]\", 2], "
             "\"cls\": [\"[CLS]\", 1]},"
             "\"decoder\": %s,"
             "\"model\": {\"type\": \"WordPiece\", %s \"vocab\": {\"[UNK]\": 0, \"[CLS]\": 1, "
             "\"[SEP]\": 2, \"ba\": 3, \"##na\": 4, \"[MASK]\": 5, \"n\": 6, \"##a\": 7, \"a\": 8, "
             "\"<hx>\": 9, \"!\": 10, \"na\": 11}}}",
             normalizer, decoder, model_extra);
    return buf;
}

static lmd_tokenizer *from_json(const char *js) {
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tokenizer_from_json(js, strlen(js), "wp.json", &t, &err) < 0)
        fail_msg("from_json: %s", err.msg);
    return t;
}

static void expect_json_error(const char *js, const char *needle) {
    lmd_tokenizer *t = NULL;
    lmd_error err = {0};
    if (lmd_tokenizer_from_json(js, strlen(js), "wp.json", &t, &err) == 0) {
        lmd_tokenizer_free(t);
        fail_msg("loaded; expected an error with \"%s\"", needle);
    }
    if (!strstr(err.msg, "wp.json") || !strstr(err.msg, needle))
        fail_msg("error \"%s\" lacks \"wp.json\" or \"%s\"", err.msg, needle);
}

static const char bert_norm[] = "{\"type\": \"BertNormalizer\", \"clean_text\": true, "
                                "\"handle_chinese_chars\": true, \"strip_accents\": null, "
                                "\"lowercase\": true}";
static const char wp_dec[] = "{\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\": true}";

static void test_small_wordpiece(void **st) {
    (void)st;
    lmd_tokenizer *t = from_json(wp_json(bert_norm, "", wp_dec));
    TU_EXPECT(t, "banana", 3, 4, 4);
    TU_EXPECT(t, "BANANA!", 3, 4, 4, 10);
    TU_EXPECT(t, "nanana", 11, 4, 4);
    TU_EXPECT(t, "ban", 0); /* "##n" is not in the vocabulary: the word is [UNK] */
    TU_EXPECT(t, "na ban na", 11, 0, 11);
    TU_EXPECT(t, "[MASK]ba", 5, 3);
    /* a normalized added token matches in the normalized text */
    TU_EXPECT(t, "<HI>", 12);
    TU_EXPECT(t, "<hi>", 12);
    TU_EXPECT(t, "x<Hi>", 0, 12);
    const int32_t *pre, *post;
    size_t np, nq;
    lmd_tokenizer_frame(t, &pre, &np, &post, &nq);
    assert_int_equal(np, 1);
    assert_int_equal(pre[0], 1);
    assert_int_equal(post[0], 2);
    assert_int_equal(lmd_tokenizer_mask(t), 5);
    char h1[65], h2[65];
    lmd_tokenizer_hash(t, h1);
    lmd_tokenizer_free(t);

    /* every setting that changes ids or bytes changes the hash */
    const char *variants[][3] = {
        {"{\"type\": \"BertNormalizer\", \"lowercase\": false}", "", wp_dec},
        {"{\"type\": \"BertNormalizer\", \"strip_accents\": false}", "", wp_dec},
        {"{\"type\": \"BertNormalizer\", \"clean_text\": false}", "", wp_dec},
        {"{\"type\": \"BertNormalizer\", \"handle_chinese_chars\": false}", "", wp_dec},
        {"null", "", wp_dec},
        {bert_norm, "\"max_input_chars_per_word\": 5,", wp_dec},
        {bert_norm, "\"continuing_subword_prefix\": \"++\",", wp_dec},
        {bert_norm, "\"unk_token\": \"[CLS]\",", wp_dec},
        {bert_norm, "", "{\"type\": \"WordPiece\", \"prefix\": \"##\", \"cleanup\": false}"},
        {bert_norm, "", "{\"type\": \"WordPiece\", \"prefix\": \"#\"}"},
        {bert_norm, "", "null"},
    };
    for (size_t v = 0; v < sizeof variants / sizeof *variants; v++) {
        t = from_json(wp_json(variants[v][0], variants[v][1], variants[v][2]));
        lmd_tokenizer_hash(t, h2);
        if (strcmp(h1, h2) == 0) fail_msg("variant %zu has the same hash", v);
        lmd_tokenizer_free(t);
    }
    /* defaults spelled out give the same hash */
    t = from_json(
        wp_json("{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"BertNormalizer\"}]}",
                "\"unk_token\": \"[UNK]\", \"continuing_subword_prefix\": \"##\", "
                "\"max_input_chars_per_word\": 100,",
                "{\"type\": \"WordPiece\"}"));
    lmd_tokenizer_hash(t, h2);
    assert_string_equal(h1, h2);
    lmd_tokenizer_free(t);

    /* max_input_chars_per_word */
    t = from_json(wp_json(bert_norm, "\"max_input_chars_per_word\": 5,", wp_dec));
    TU_EXPECT(t, "banan", 0);
    TU_EXPECT(t, "banana", 0);
    TU_EXPECT(t, "bana", 3, 4);
    lmd_tokenizer_free(t);
    /* another prefix */
    t = from_json(wp_json(bert_norm, "\"continuing_subword_prefix\": \"\",", wp_dec));
    TU_EXPECT(t, "banana", 3, 11, 11);
    lmd_tokenizer_free(t);
    /* no normalizer: case matters, [UNK] for "BA" */
    t = from_json(wp_json("null", "", wp_dec));
    TU_EXPECT(t, "BA ba", 0, 3);
    lmd_tokenizer_free(t);
    /* decoder: cleanup off, and none */
    t = from_json(wp_json(bert_norm, "", "{\"type\": \"WordPiece\", \"cleanup\": false}"));
    const char *b;
    size_t len = lmd_token_bytes(t, 10, &b);
    assert_int_equal(len, 2);
    assert_memory_equal(b, " !", 2);
    lmd_tokenizer_free(t);
    t = from_json(wp_json(bert_norm, "", "null"));
    len = lmd_token_bytes(t, 4, &b);
    assert_int_equal(len, 5);
    assert_memory_equal(b, " ##na", 5);
    lmd_tokenizer_free(t);
}

/* The BertNormalizer alone, through lmd_tok_normalize. */
static void expect_norm(const lmd_tokenizer *t, const char *in, const char *want) {
    lmd_buf b = {0};
    assert_int_equal(lmd_tok_normalize(t, in, strlen(in), &b), 0);
    lmd_buf_put(&b, "", 1);
    if (strcmp(b.data, want) != 0)
        fail_msg("normalize \"%s\": got \"%s\" want \"%s\"", in, b.data, want);
    lmd_buf_free(&b);
}

static void test_normalizer(void **st) {
    (void)st;
    lmd_tokenizer *t = from_json(wp_json(bert_norm, "", wp_dec));
    expect_norm(t,
                "a\x01"
                "b\tc\r\nd\xc2\xa0"
                "e\xef\xbf\xbd\xe2\x80\x8d"
                "f\x7f",
                "ab c  d ef");
    expect_norm(t,
                "a\xe5\xa4\xa9"
                "b\xe3\x81\x82",
                "a \xe5\xa4\xa9 b\xe3\x81\x82");                /* 天 yes, あ no */
    expect_norm(t, "\xf0\xa0\x80\x80", " \xf0\xa0\x80\x80 ");   /* U+20000 */
    expect_norm(t, "\xc3\x80\xc3\x89\xc3\x8e\xc3\x91", "aein"); /* ÀÉÎÑ */
    expect_norm(t, "\xc4\xb0", "i");
    expect_norm(t, "\xea\xb0\x80", "\xe1\x84\x80\xe1\x85\xa1"); /* 가 -> jamo (NFD) */
    /* white space that is also a control character is dropped, not a space */
    expect_norm(t,
                "a\x0b"
                "b\x0c"
                "c\xc2\x85"
                "d\x1f"
                "e\x7f",
                "abcde");
    expect_norm(t, "\xc3\xa9\x0b\xc3\xa9\xc2\x85\xc3\xa9\xe2\x80\xa8x", "eee x"); /* U+2028 is Zl */
    expect_norm(t, "Mixed \xc3\x89t\xc3\xa9 ASCII\tand \xe5\xa4\xa9!",
                "mixed ete ascii and  \xe5\xa4\xa9 !");
    expect_norm(t,
                "e\xcc\x81\xcc\xa3"
                "E\xcc\x81",
                "ee");                              /* marks after an ASCII base */
    expect_norm(t, "\xe2\x84\xaa", "k");            /* KELVIN SIGN */
    expect_norm(t, "\xef\xac\x81", "\xef\xac\x81"); /* ﬁ: NFD keeps it */
    lmd_tokenizer_free(t);
    t = from_json(wp_json("{\"type\": \"BertNormalizer\", \"strip_accents\": false}", "", wp_dec));
    expect_norm(t, "\xc4\xb0", "i\xcc\x87");                /* full lowercase */
    expect_norm(t, "\xc3\x89\xce\xa3", "\xc3\xa9\xcf\x83"); /* ÉΣ -> éσ */
    lmd_tokenizer_free(t);
    t = from_json(wp_json("{\"type\": \"BertNormalizer\", \"lowercase\": false}", "", wp_dec));
    expect_norm(t, "\xc3\x89t\xc3\xa9", "\xc3\x89t\xc3\xa9"); /* strip follows lowercase */
    lmd_tokenizer_free(t);
    t = from_json(wp_json("{\"type\": \"BertNormalizer\", \"lowercase\": false, "
                          "\"strip_accents\": true, \"clean_text\": false, "
                          "\"handle_chinese_chars\": false}",
                          "", wp_dec));
    expect_norm(t, "\xc3\x89\x01\xe5\xa4\xa9\t", "E\x01\xe5\xa4\xa9\t");
    lmd_tokenizer_free(t);
}

static void test_json_errors(void **st) {
    (void)st;
    expect_json_error(wp_json("{\"type\": \"Precompiled\"}", "", wp_dec), "normalizer Precompiled");
    expect_json_error(wp_json("{\"type\": \"Sequence\", \"normalizers\": [{\"type\": "
                              "\"BertNormalizer\"}, {\"type\": \"Lowercase\"}]}",
                              "", wp_dec),
                      "normalizer Lowercase");
    expect_json_error(wp_json("{\"type\": \"BertNormalizer\", \"lowercase\": 1}", "", wp_dec),
                      "lowercase");
    expect_json_error(wp_json(bert_norm, "", "{\"type\": \"ByteLevel\"}"), "decoder ByteLevel");
    expect_json_error(wp_json(bert_norm, "\"unk_token\": \"<unk>\",", wp_dec), "<unk>");
    expect_json_error(wp_json(bert_norm, "\"max_input_chars_per_word\": -1,", wp_dec),
                      "max_input_chars_per_word");
    expect_json_error(wp_json(bert_norm, "\"continuing_subword_prefix\": 3,", wp_dec),
                      "continuing_subword_prefix");
    /* the pre-tokenizer of a WordPiece model must be BertPreTokenizer */
    char js[4096];
    snprintf(js, sizeof js, "%s", wp_json(bert_norm, "", wp_dec));
    char *p = strstr(js, "BertPreTokenizer");
    memcpy(p, "WhitespaceSplit\"", 16);
    memset(p + 16, ' ', 1);
    expect_json_error(js, "WhitespaceSplit");
    /* and BertPreTokenizer goes with WordPiece only */
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                      "\"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}",
                      "WordPiece model only");
    /* an unsupported normalizer with BPE is refused; WordPiece decoder with
     * BPE too */
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                      "\"normalizer\": {\"type\": \"Precompiled\"}, "
                      "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
                      "normalizer Precompiled");
    expect_json_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, "
                      "\"decoder\": {\"type\": \"WordPiece\"}, "
                      "\"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
                      "decoder WordPiece");
    expect_json_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "Unigram");
}

/* vocab.txt folders: line ends, repeats, special tokens and errors */
static void test_vocab_txt_files(void **st) {
    (void)st;
    char *dir = tu_tmpdir();
    /* CRLF and CR line ends; "ba" repeated: the later line's id */
    tu_write_str(dir, "vocab.txt",
                 "[PAD]\r\n[UNK]\r[CLS]\n[SEP]\n[MASK]\nba\n##na\nba\nna\n!\n\xe5\xa4\xa9\n");
    lmd_tokenizer *t = tu_load_tokenizer(dir);
    TU_EXPECT(t, "Banana!", 7, 6, 6, 9);
    TU_EXPECT(t, "天na", 10, 8);
    TU_EXPECT(t, "[CLS] [PAD][MASK]", 2, 0, 4);
    assert_null(lmd_token_raw(t, 5)); /* the first "ba" line has no token */
    assert_int_equal(lmd_tokenizer_vocab_size(t), 11);
    assert_int_equal(lmd_tokenizer_mask(t), 4);
    lmd_tokenizer_free(t);

    /* other special tokens named in tokenizer_config.json */
    tu_write_str(dir, "vocab.txt", "<pad>\n<unk>\n<cls>\n<sep>\n<mask>\nba\n##na\n");
    tu_expect_load_error(dir, "vocab.txt", "[UNK]");
    tu_write_str(dir, "tokenizer_config.json",
                 "{\"unk_token\": \"<unk>\", \"cls_token\": {\"content\": \"<cls>\"}, "
                 "\"sep_token\": \"<sep>\", \"pad_token\": \"<pad>\", \"mask_token\": \"<mask>\", "
                 "\"do_lower_case\": false}");
    t = tu_load_tokenizer(dir);
    TU_EXPECT(t, "<cls>banana<mask>Ba", 2, 5, 6, 6, 4, 1);
    const int32_t *pre, *post;
    size_t np, nq;
    lmd_tokenizer_frame(t, &pre, &np, &post, &nq);
    assert_int_equal(pre[0], 2);
    assert_int_equal(post[0], 3);
    assert_int_equal(lmd_tokenizer_mask(t), 4);
    lmd_tokenizer_free(t);

    /* errors name the file */
    tu_write_str(dir, "tokenizer_config.json", "{\"do_lower_case\": \"yes\"}");
    tu_expect_load_error(dir, "tokenizer_config.json", "do_lower_case");
    tu_write_str(dir, "tokenizer_config.json", "{\"tokenizer_class\": \"MPNetTokenizer\"}");
    tu_expect_load_error(dir, "tokenizer_config.json", "MPNetTokenizer");
    tu_write_str(dir, "tokenizer_config.json",
                 "{\"unk_token\": \"<unk>\", \"cls_token\": \"<x>\"}");
    tu_expect_load_error(dir, "tokenizer_config.json", "<x>");
    tu_write_str(dir, "tokenizer_config.json", "[");
    tu_expect_load_error(dir, "tokenizer_config.json", "invalid JSON");
    char *cfg = lmd_path_join(dir, "tokenizer_config.json");
    unlink(cfg);
    free(cfg);
    tu_write_file(dir, "vocab.txt", "[UNK]\n\xff\n", 8);
    tu_expect_load_error(dir, "vocab.txt", "UTF-8");
    tu_write_str(dir, "vocab.txt", "");
    tu_expect_load_error(dir, "vocab.txt", "empty");
    tu_rm_dir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_tokenizer_json),
        cmocka_unit_test(test_vectors_vocab_txt),
        cmocka_unit_test(test_config_over_json),
        cmocka_unit_test(test_edge_cases),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_small_wordpiece),
        cmocka_unit_test(test_normalizer),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_vocab_txt_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
