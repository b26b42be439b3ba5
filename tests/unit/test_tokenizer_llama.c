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

static char *shared(const char *rel) {
    tu_require_shared();
    char *p = tu_shared_path(rel);
    assert_non_null(p);
    return p;
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

static char *slurp(const char *path, size_t *len) {
    char *data;
    lmd_error err;
    if (lmd_read_file(path, &data, len, &err) < 0) fail_msg("%s", err.msg);
    return data;
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

/* The 46 llama-spm texts give the reference ids, and decode back. */
static void check_llama_vectors(const lmd_tokenizer *t) {
    tu_require_shared();
    tu_vectors v;
    tu_read_vectors(&v, "llama-spm");
    for (size_t i = 0; i < v.n; i++) {
        tu_expect_ids(t, v.text[i], v.text_len[i], v.ids[i], v.n_ids[i]);
        size_t len;
        char *back = lmd_detokenize(t, v.ids[i], v.n_ids[i], &len);
        assert_non_null(back);
        if (len != v.text_len[i] || memcmp(back, v.text[i], len) != 0)
            fail_msg("vector %zu decodes to \"%s\"", i, back);
        free(back);
    }
    tu_vectors_free(&v);
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

/* Byte fallback, token bytes, display, BOS and frame with the real model. */
static void test_llama_details(void **st) {
    (void)st;
    lmd_tokenizer *t = llama_model();
    assert_int_equal(lmd_tokenizer_vocab_size(t), 32000);
    assert_int_equal(lmd_tokenizer_bos(t), 1);
    assert_string_equal(lmd_token_raw(t, 1), "<s>");
    const int32_t *pre, *post;
    size_t npre, npost;
    lmd_tokenizer_frame(t, &pre, &npre, &post, &npost);
    assert_int_equal(npre, 1);
    assert_int_equal(pre[0], 1);
    assert_int_equal(npost, 0);
    assert_int_equal(lmd_tokenizer_mask(t), -1);

    /* "▁hello" is " hello", <0x0A> is "\n" */
    int32_t hello = lmd_tokenizer_token_id(t, "\xE2\x96\x81hello", 8);
    assert_true(hello > 0);
    expect_bytes(t, hello, " hello", 6);
    assert_string_equal(lmd_token_raw(t, 13), "<0x0A>");
    expect_bytes(t, 13, "\n", 1);
    expect_bytes(t, 3, "\0", 1);         /* <0x00> */
    char *d = lmd_token_display(t, 243); /* <0xF0>, not UTF-8 on its own */
    assert_string_equal(d, "\\xF0");
    free(d);

    /* a character missing from the vocabulary falls back to its bytes */
    TU_EXPECT(t, "\xF0\x9F\xA6\x99", 29871, 243, 162, 169, 156); /* 🦙 */
    static const int32_t llama[] = {243, 162, 169, 156};
    expect_decode(t, llama, 4, "\xF0\x9F\xA6\x99");
    /* bytes that are not UTF-8 decode to U+FFFD each (ByteFallback) */
    const int32_t broken[] = {243, 162, hello};
    expect_decode(t, broken, 3, "\xEF\xBF\xBD\xEF\xBF\xBD hello");
    /* the decoder strips the one leading space of the text */
    const int32_t two[] = {hello, hello};
    expect_decode(t, two, 2, "hello hello");
    TU_EXPECT(t, "hello", hello);
    TU_EXPECT(t, "\n", 29871, 13);
    TU_EXPECT_NONE(t, "");
    /* added tokens are split out before the normalizer, so the text after
     * <s> gets its own "▁" (as Hugging Face's legacy Llama tokenizer) */
    TU_EXPECT(t, "<s>hello</s>", 1, hello, 2);
    TU_EXPECT(t, "hello<s>hello", hello, 1, hello);
    lmd_tokenizer_free(t);
}

/* The ▁-run shortcut of bpe.c (split_spiece) gives the ids that BPE over the
 * whole piece gives, on real prose and on the vectors. */
static void test_spiece_split_exact(void **st) {
    (void)st;
    lmd_tokenizer *t = llama_model();
    assert_true(t->split_spiece);
    static const char *const corpora[] = {"corpora/austen-emma-paragraphs.txt",
                                          "corpora/devils-dictionary.txt"};
    size_t total = 0;
    for (size_t c = 0; c < 2; c++) {
        char *p = shared(corpora[c]);
        size_t len;
        char *text = slurp(p, &len);
        if (len > 150000) len = 150000;
        while (len && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--; /* whole characters */
        int32_t *a, *b;
        size_t na, nb;
        lmd_error err;
        t->split_spiece = 1;
        assert_int_equal(lmd_tokenize(t, text, len, &a, &na, &err), 0);
        t->split_spiece = 0;
        assert_int_equal(lmd_tokenize(t, text, len, &b, &nb, &err), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na * sizeof *a);
        total += na;
        free(a);
        free(b);
        free(text);
        free(p);
    }
    t->split_spiece = 1;
    assert_true(total > 50000);
    lmd_tokenizer_free(t);
}

/* lmd_tokenizer_load on a folder with only tokenizer.model, and the
 * tokenizer_config.json options. */
static void test_folder_model_only(void **st) {
    (void)st;
    char *model = shared("fixtures/tokenizers/llama2/tokenizer.model");
    size_t len;
    char *data = slurp(model, &len);
    char *dir = tu_tmpdir();
    tu_write_file(dir, "tokenizer.model", data, len);
    lmd_tokenizer *t = NULL, *u = NULL;
    lmd_error err;
    if (lmd_tokenizer_load(dir, &t, &err) < 0) fail_msg("%s", err.msg);
    check_llama_vectors(t);
    assert_int_equal(lmd_tokenizer_bos(t), 1);
    char h1[65], h2[65];
    lmd_tokenizer_hash(t, h1);

    /* legacy false: Metaspace with prepend_scheme first, no normalizer */
    static const char cfg[] = "{\"legacy\": false, \"add_bos_token\": false, "
                              "\"add_eos_token\": true, \"bos_token\": \"<s>\"}";
    tu_write_file(dir, "tokenizer_config.json", cfg, sizeof cfg - 1);
    if (lmd_tokenizer_load(dir, &u, &err) < 0) fail_msg("%s", err.msg);
    lmd_tokenizer_hash(u, h2);
    assert_string_not_equal(h1, h2);
    int32_t hello = lmd_tokenizer_token_id(t, "\xE2\x96\x81hello", 8);
    int32_t hello_nb = lmd_tokenizer_token_id(t, "hello", 5);
    assert_true(hello_nb > 0);
    TU_EXPECT(t, " hello", 29871, hello);              /* legacy: "▁▁hello" */
    TU_EXPECT(u, " hello", hello);                     /* Metaspace: "▁hello", no second ▁ */
    TU_EXPECT(u, "hello<s>hello", hello, 1, hello_nb); /* "first": only at the start */
    const int32_t *pre, *post;
    size_t npre, npost;
    lmd_tokenizer_frame(u, &pre, &npre, &post, &npost);
    assert_int_equal(npre, 0);
    assert_int_equal(npost, 1);
    assert_int_equal(post[0], 2);
    assert_int_equal(lmd_tokenizer_bos(u), 1);
    lmd_tokenizer_free(u);

    /* the converter's --no-legacy output is the same tokenizer */
    char *tool = tu_src_path("tools/spm_to_json.py");
    char *tj = lmd_path_join(dir, "conv.json");
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s' --no-legacy -o '%s'", tool, model, tj);
    assert_int_equal(system(cmd), 0);
    size_t jl;
    char *js = slurp(tj, &jl);
    if (lmd_tokenizer_from_json(js, jl, tj, &u, &err) < 0) fail_msg("%s", err.msg);
    char h3[65];
    lmd_tokenizer_hash(u, h3);
    assert_string_equal(h2, h3);
    TU_EXPECT(u, "hello<s>hello", hello, 1, hello_nb);
    lmd_tokenizer_free(u);
    free(js);
    unlink(tj);
    free(tj);
    free(tool);

    /* a bad option is an error naming tokenizer_config.json */
    tu_write_file(dir, "tokenizer_config.json", "{\"legacy\": 3}", 13);
    assert_int_equal(lmd_tokenizer_load(dir, &u, &err), -1);
    assert_non_null(strstr(err.msg, "tokenizer_config.json"));
    assert_non_null(strstr(err.msg, "legacy"));

    char *p = lmd_path_join(dir, "tokenizer_config.json");
    unlink(p);
    free(p);
    p = lmd_path_join(dir, "tokenizer.model");
    unlink(p);
    free(p);
    rmdir(dir);
    free(dir);
    free(data);
    free(model);
    lmd_tokenizer_free(t);
}

/* A folder with a Llama tokenizer.json: tokenizer_config.json's
 * add_bos_token / add_eos_token rebuild the frame for LlamaTokenizer (as
 * transformers' LlamaTokenizerFast does); otherwise the post_processor's. */
static void test_llama_json_folder(void **st) {
    (void)st;
    char *dir = tu_tmpdir();
    convert_llama(dir);
    struct {
        const char *config;
        size_t npre, npost;
    } cases[] = {
        {NULL, 1, 0},
        {"{\"tokenizer_class\": \"LlamaTokenizer\", \"add_eos_token\": true}", 1, 1},
        {"{\"tokenizer_class\": \"LlamaTokenizerFast\", \"add_bos_token\": false}", 0, 0},
        {"{\"tokenizer_class\": \"PreTrainedTokenizerFast\", \"add_bos_token\": false}", 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *cp = lmd_path_join(dir, "tokenizer_config.json");
        unlink(cp);
        if (cases[i].config)
            tu_write_file(dir, "tokenizer_config.json", cases[i].config, strlen(cases[i].config));
        lmd_tokenizer *t = NULL;
        lmd_error err;
        if (lmd_tokenizer_load(dir, &t, &err) < 0) fail_msg("%s", err.msg);
        const int32_t *pre, *post;
        size_t npre, npost;
        lmd_tokenizer_frame(t, &pre, &npre, &post, &npost);
        assert_int_equal(npre, cases[i].npre);
        assert_int_equal(npost, cases[i].npost);
        if (npre) assert_int_equal(pre[0], 1);
        if (npost) assert_int_equal(post[0], 2);
        assert_int_equal(lmd_tokenizer_bos(t), 1);
        TU_EXPECT(t, "Hello", 15043);
        lmd_tokenizer_free(t);
        unlink(cp);
        free(cp);
    }
    tu_write_file(dir, "tokenizer_config.json",
                  "{\"tokenizer_class\": \"LlamaTokenizer\", \"bos_token\": \"<nope>\"}", 60);
    lmd_tokenizer *t = NULL;
    lmd_error err;
    assert_int_equal(lmd_tokenizer_load(dir, &t, &err), -1);
    assert_non_null(strstr(err.msg, "bos_token"));
    char *cp = lmd_path_join(dir, "tokenizer_config.json"),
         *tp = lmd_path_join(dir, "tokenizer.json");
    unlink(cp);
    unlink(tp);
    rmdir(dir);
    free(cp);
    free(tp);
    free(dir);
}

/* A Llama-3-shaped tokenizer.json: Split + ByteLevel without its regex,
 * ignore_merges, <|begin_of_text|> in a TemplateProcessing. */
static void test_llama3_shape(void **st) {
    (void)st;
    cJSON *v = cJSON_CreateObject();
    for (int b = 0; b < 256; b++) {
        char u[3] = {0};
        lmd_byte_to_utf8((uint8_t)b, u);
        cJSON_AddNumberToObject(v, u, b);
    }
    cJSON_AddNumberToObject(v, "he", 256);
    cJSON_AddNumberToObject(v, "ll", 257);
    cJSON_AddNumberToObject(v, "hell", 258);
    cJSON_AddNumberToObject(v, "hello", 259);
    cJSON_AddNumberToObject(v, "\xC4\xA0hello", 260); /* "Ġhello", reachable only whole */
    char *vs = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    lmd_buf b = {0};
    lmd_buf_printf(
        &b,
        "{\"added_tokens\": [{\"id\": 300, \"content\": \"<|begin_of_text|>\", \"special\": "
        "true, \"normalized\": false}, {\"id\": 301, \"content\": \"<|end_of_text|>\", "
        "\"special\": true, \"normalized\": false}], \"normalizer\": null, \"pre_tokenizer\": "
        "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": "
        "{\"Regex\": \"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|"
        "\\\\p{N}{1,3}| "
        "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|"
        "\\\\s+\"}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", "
        "\"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": false}]}, "
        "\"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\", "
        "\"add_prefix_space\": true, \"trim_offsets\": false, \"use_regex\": true}, {\"type\": "
        "\"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<|begin_of_text|>\", "
        "\"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [], "
        "\"special_tokens\": {\"<|begin_of_text|>\": {\"id\": \"<|begin_of_text|>\", \"ids\": "
        "[300], \"tokens\": [\"<|begin_of_text|>\"]}}}]}, \"decoder\": {\"type\": \"ByteLevel\", "
        "\"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true}, \"model\": "
        "{\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, "
        "\"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, \"fuse_unk\": false, "
        "\"byte_fallback\": false, \"ignore_merges\": true, \"vocab\": %s, \"merges\": [\"h e\", "
        "\"l l\", \"he ll\", \"hell o\"]}}",
        vs);
    free(vs);
    lmd_buf_put(&b, "", 1);
    lmd_tokenizer *t = tu_tok_json(b.data);
    assert_int_equal(lmd_tokenizer_bos(t), 300);
    TU_EXPECT(t, "hello", 259);
    TU_EXPECT(t, " hello", 260); /* ignore_merges: the whole piece is a token */
    TU_EXPECT(t, "<|begin_of_text|>HELLO'S 1234", 300, 'H', 'E', 'L', 'L', 'O', '\'', 'S', ' ', '1',
              '2', '3', '4');
    char canon_has[] = "ignore_merges 1";
    size_t cl;
    char *c = lmd_tokenizer_canonical(t, &cl);
    assert_non_null(strstr(c, canon_has));
    free(c);
    lmd_tokenizer_free(t);
    lmd_buf_free(&b);
}

/* ------------------------------------------- tokenizer.model errors */

/* A protobuf writer, for hand-made models. */
static void pb_varint(lmd_buf *b, uint64_t v) {
    do {
        unsigned char c = (unsigned char)(v & 0x7F);
        v >>= 7;
        if (v) c |= 0x80;
        lmd_buf_put(b, &c, 1);
    } while (v);
}

static void pb_bytes(lmd_buf *b, unsigned num, const void *p, size_t n) {
    pb_varint(b, (uint64_t)num << 3 | 2);
    pb_varint(b, n);
    lmd_buf_put(b, p, n);
}

static void pb_int(lmd_buf *b, unsigned num, uint64_t v) {
    pb_varint(b, (uint64_t)num << 3);
    pb_varint(b, v);
}

static void pb_piece(lmd_buf *b, const char *s, float score, int type) {
    lmd_buf m = {0};
    pb_bytes(&m, 1, s, strlen(s));
    uint32_t bits;
    memcpy(&bits, &score, 4);
    unsigned char f[5] = {2 << 3 | 5, (unsigned char)bits, (unsigned char)(bits >> 8),
                          (unsigned char)(bits >> 16), (unsigned char)(bits >> 24)};
    lmd_buf_put(&m, f, 5);
    pb_int(&m, 3, (uint64_t)type);
    pb_bytes(b, 1, m.data, m.len);
    lmd_buf_free(&m);
}

/* A small BPE model: <unk> <s> </s>, ▁ a b, ▁a, ab, ▁ab; model_type and the
 * normalizer flags as given. */
static void small_model(lmd_buf *b, int model_type, int remove_ws, int charsmap) {
    b->len = 0;
    pb_piece(b, "<unk>", 0, 2);
    pb_piece(b, "<s>", 0, 3);
    pb_piece(b, "</s>", 0, 3);
    pb_piece(b, "\xE2\x96\x81", -1, 1);
    pb_piece(b, "a", -2, 1);
    pb_piece(b, "b", -3, 1);
    pb_piece(b,
             "\xE2\x96\x81"
             "a",
             -4, 1);
    pb_piece(b, "ab", -5, 1);
    pb_piece(b,
             "\xE2\x96\x81"
             "ab",
             -6, 1);
    lmd_buf ts = {0}, ns = {0};
    pb_int(&ts, 3, (uint64_t)model_type);
    pb_int(&ts, 41, 1);
    pb_bytes(b, 2, ts.data, ts.len);
    pb_bytes(&ns, 1, "identity", 8);
    if (charsmap) pb_bytes(&ns, 2, "\x01\x02\x03", 3);
    pb_int(&ns, 4, (uint64_t)remove_ws);
    pb_bytes(b, 3, ns.data, ns.len);
    lmd_buf_free(&ts);
    lmd_buf_free(&ns);
}

static void spm_refused(const lmd_buf *b, const char *needle) {
    lmd_tokenizer *t = NULL;
    lmd_error err;
    err.msg[0] = 0;
    assert_int_equal(lmd_tokenizer_from_spm(b->data, b->len, "x/tokenizer.model", NULL, &t, &err),
                     -1);
    assert_null(t);
    if (!strstr(err.msg, needle) || !strstr(err.msg, "x/tokenizer.model"))
        fail_msg("error \"%s\" does not name the file and \"%s\"", err.msg, needle);
}

static void test_spm_small_and_errors(void **st) {
    (void)st;
    lmd_buf b = {0};
    small_model(&b, 2, 0, 0);
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tokenizer_from_spm(b.data, b.len, "x/tokenizer.model", NULL, &t, &err) < 0)
        fail_msg("%s", err.msg);
    /* merges by score: "▁ a" (-4) before "a b" (-5) before "▁a b" (-6) */
    TU_EXPECT(t, "ab", 8); /* ▁ab */
    TU_EXPECT(t, "ab ab", 8, 8);
    TU_EXPECT(t, "ba", 3, 5, 4); /* ▁ b a: "▁ b" is no merge */
    TU_EXPECT(t, "c", 3, 0);     /* no byte_fallback: unk */
    TU_EXPECT(t, "ccé", 3, 0);   /* fuse_unk */
    assert_int_equal(lmd_tokenizer_bos(t), 1);
    lmd_tokenizer_free(t);

    small_model(&b, 1, 0, 0);
    spm_refused(&b, "unigram");
    small_model(&b, 2, 1, 0);
    spm_refused(&b, "remove_extra_whitespaces");
    small_model(&b, 2, 0, 1);
    spm_refused(&b, "precompiled_charsmap");
    /* every truncation of a good model is refused or loads, never crashes;
     * truncated inside a field it is refused */
    small_model(&b, 2, 0, 0);
    for (size_t n = 0; n < b.len; n++) {
        t = NULL;
        if (lmd_tokenizer_from_spm(b.data, n, "x/tokenizer.model", NULL, &t, &err) == 0)
            lmd_tokenizer_free(t);
        else
            assert_non_null(strstr(err.msg, "x/tokenizer.model"));
    }
    lmd_buf_free(&b);
    lmd_buf junk = {0};
    lmd_buf_puts(&junk, "{\"model\": {}}");
    spm_refused(&junk, "not a SentencePiece model");
    junk.len = 0;
    pb_varint(&junk, 1 << 3 | 2);
    pb_varint(&junk, 1000000);
    spm_refused(&junk, "runs past the end");
    junk.len = 0;
    lmd_buf_put(&junk, "\x0b\x0c", 2); /* a group */
    spm_refused(&junk, "wire type");
    junk.len = 0;
    for (int i = 0; i < 11; i++)
        lmd_buf_put(&junk, "\xff", 1);
    spm_refused(&junk, "varint");
    junk.len = 0;
    pb_piece(&junk, "a", 0, 1);
    pb_piece(&junk, "a", 0, 1);
    lmd_buf ts = {0};
    pb_int(&ts, 3, 2);
    pb_bytes(&junk, 2, ts.data, ts.len);
    lmd_buf ns = {0};
    pb_int(&ns, 4, 0);
    pb_bytes(&junk, 3, ns.data, ns.len);
    spm_refused(&junk, "appears twice");
    /* a piece so long that deriving its merges would take minutes */
    junk.len = 0;
    char *huge = malloc(20001);
    memset(huge, 'a', 20000);
    huge[20000] = 0;
    pb_piece(&junk, "<unk>", 0, 2);
    pb_piece(&junk, huge, 0, 1);
    free(huge);
    lmd_buf ts2 = {0}, ns2 = {0};
    pb_int(&ts2, 3, 2);
    pb_bytes(&junk, 2, ts2.data, ts2.len);
    pb_int(&ns2, 4, 0);
    pb_bytes(&junk, 3, ns2.data, ns2.len);
    lmd_buf_free(&ts2);
    lmd_buf_free(&ns2);
    spm_refused(&junk, "too long");
    lmd_buf_free(&ts);
    lmd_buf_free(&ns);
    lmd_buf_free(&junk);
}

/* ----------------------------------------- small tokenizer.json files */

/* A text vocabulary: <unk> ▁ a b ▁a ▁b ab ▁ab, <0x63> (c), <x> added. */
static char *text_json(const char *normalizer, const char *pretok, const char *decoder,
                       const char *model_extra, const char *added) {
    static const char head[] =
        "{\"model\": {\"type\": \"BPE\", \"unk_token\": \"<unk>\", %s \"vocab\": {\"<unk>\": 0, "
        "\"\xE2\x96\x81\": 1, \"a\": 2, \"b\": 3, \"\xE2\x96\x81"
        "a\": 4, \"\xE2\x96\x81"
        "b\": 5, \"ab\": 6, \"\xE2\x96\x81"
        "ab\": 7, \"<0x63>\": 8, \"<x>\": 9}, "
        "\"merges\": [\"\xE2\x96\x81 a\", \"\xE2\x96\x81 b\", \"a b\", \"\xE2\x96\x81"
        "a b\"]},"
        " \"normalizer\": %s, \"pre_tokenizer\": %s, \"decoder\": %s, \"added_tokens\": [%s]}";
    size_t n = sizeof head + strlen(normalizer) + strlen(pretok) + strlen(decoder) +
               strlen(model_extra) + strlen(added);
    char *j = malloc(n);
    snprintf(j, n, head, model_extra, normalizer, pretok, decoder, added);
    return j;
}

#define X_ADDED "{\"id\": 9, \"content\": \"<x>\", \"special\": true, \"normalized\": false}"
#define LLAMA_NORM                                                                                 \
    "{\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Prepend\", \"prepend\": "             \
    "\"\xE2\x96\x81\"}, {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, \"content\": "   \
    "\"\xE2\x96\x81\"}]}"
#define LLAMA_DEC                                                                                  \
    "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Replace\", \"pattern\": {\"String\": "   \
    "\"\xE2\x96\x81\"}, \"content\": \" \"}, {\"type\": \"ByteFallback\"}, {\"type\": "            \
    "\"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}]}"

static lmd_tokenizer *text_tok(const char *normalizer, const char *pretok, const char *decoder,
                               const char *model_extra, const char *added) {
    char *j = text_json(normalizer, pretok, decoder, model_extra, added);
    lmd_tokenizer *t = tu_tok_json(j);
    free(j);
    return t;
}

static char *meta(const char *scheme, int split) {
    char *s = malloc(200);
    snprintf(s, 200,
             "{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", \"prepend_scheme\": "
             "\"%s\", \"split\": %s}",
             scheme, split ? "true" : "false");
    return s;
}

static void test_metaspace(void **st) {
    (void)st;
    char *m = meta("always", 1);
    lmd_tokenizer *t = text_tok("null", m, "null", "", X_ADDED);
    TU_EXPECT(t, "ab ab", 7, 7);
    TU_EXPECT(t, " ab", 7);           /* starts with a space: no second ▁ */
    TU_EXPECT(t, "a  b", 4, 1, 5);    /* split before each ▁ */
    TU_EXPECT(t, "ab<x>ab", 7, 9, 7); /* always: every piece */
    lmd_tokenizer_free(t);
    free(m);
    m = meta("first", 1);
    t = text_tok("null", m, "null", "", X_ADDED);
    TU_EXPECT(t, "ab<x>ab", 7, 9, 6); /* first: only the piece at the start */
    TU_EXPECT(t, "<x>ab", 9, 6);
    lmd_tokenizer_free(t);
    free(m);
    m = meta("never", 0);
    t = text_tok("null", m, "null", "", X_ADDED);
    TU_EXPECT(t, "ab<x>ab", 6, 9, 6);
    TU_EXPECT(t, "a b", 2, 5); /* one piece "a▁b": merges run across the ▁ */
    lmd_tokenizer_free(t);
    free(m);
    /* the older form: add_prefix_space true = always */
    t = text_tok("null",
                 "{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", "
                 "\"add_prefix_space\": true}",
                 "{\"type\": \"Metaspace\", \"replacement\": \"\xE2\x96\x81\", "
                 "\"add_prefix_space\": true}",
                 "", X_ADDED);
    TU_EXPECT(t, "ab<x>ab", 7, 9, 7);
    static const int32_t ids[] = {7, 5, 9, 7};
    expect_decode(t, ids, 4, "ab b<x> ab"); /* Metaspace decoder: ▁ -> space, first stripped */
    lmd_tokenizer_free(t);
}

static void test_normalizers_and_decoders(void **st) {
    (void)st;
    /* Llama-2's Prepend + Replace, with an added token normalized=true that
     * is matched in the normalized text */
    lmd_tokenizer *t =
        text_tok(LLAMA_NORM, "null", LLAMA_DEC, "\"byte_fallback\": true, \"fuse_unk\": true,",
                 X_ADDED ", {\"id\": 10, \"content\": \"b\xE2\x96\x81"
                         "a\", \"normalized\": true}");
    TU_EXPECT(t, "ab", 7);
    TU_EXPECT(t, "a b", 4, 5);
    TU_EXPECT(t, "ab<x>b", 7, 9, 5);
    TU_EXPECT(t, "b a", 10); /* "▁b▁a": the token matches by its normalized content "▁b▁a" */
    TU_EXPECT(t, "c", 1, 8);                /* byte fallback: <0x63> */
    TU_EXPECT(t, "\xC3\xA9", 1, 0);         /* é: no <0xC3>, so unk */
    TU_EXPECT(t, "\xC3\xA9\xC3\xA9", 1, 0); /* fused */
    TU_EXPECT(t,
              "\xC3\xA9"
              "c",
              1, 8, 0); /* Hugging Face adds the byte token before the pending unk */
    TU_EXPECT_NONE(t, "");
    expect_bytes(t, 7, " ab", 3);
    expect_bytes(t, 8, "c", 1);
    static const int32_t ids[] = {7, 4, 8, 9};
    expect_decode(t, ids, 4, "ab ac<x>");
    lmd_tokenizer_free(t);

    /* without fuse_unk, one unk per character */
    t = text_tok(LLAMA_NORM, "null", LLAMA_DEC, "\"byte_fallback\": true,", X_ADDED);
    TU_EXPECT(t, "\xC3\xA9\xC3\xA9", 1, 0, 0);
    lmd_tokenizer_free(t);

    /* ignore_merges: a piece that is a token is taken whole */
    t = text_tok(LLAMA_NORM, "null", LLAMA_DEC, "\"ignore_merges\": true,", X_ADDED);
    TU_EXPECT(t, "ab", 7);
    lmd_tokenizer_free(t);

    /* NFC, NFD */
    t = text_tok("{\"type\": \"NFC\"}", "null", "null", "",
                 "{\"id\": 10, \"content\": \"\xC3\xA9\", \"normalized\": true}");
    TU_EXPECT(t, "e\xCC\x81", 10); /* e + combining acute, composed to é */
    lmd_tokenizer_free(t);
    t = text_tok("{\"type\": \"NFD\"}", "null", "null", "",
                 "{\"id\": 10, \"content\": \"\xC3\xA9\", \"normalized\": true}");
    /* the token's content is normalized too (NFD), so both forms match it */
    TU_EXPECT(t, "\xC3\xA9", 10);
    TU_EXPECT(t, "e\xCC\x81", 10);
    lmd_tokenizer_free(t);
}

static void test_refused(void **st) {
    (void)st;
    struct {
        const char *norm, *pretok, *dec, *needle;
    } bad[] = {
        {"{\"type\": \"Lowercase\"}", "null", "null", "Lowercase"},
        {"{\"type\": \"Replace\", \"pattern\": {\"Regex\": \" +\"}, \"content\": \"x\"}", "null",
         "null", "Regex"},
        {"null", "{\"type\": \"Metaspace\", \"prepend_scheme\": \"sometimes\"}", "null",
         "sometimes"},
        {"null", "{\"type\": \"Metaspace\", \"replacement\": \"ab\"}", "null", "one-character"},
        {"null", "{\"type\": \"Whitespace\"}", "null", "Whitespace"},
        {"null",
         "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Metaspace\"}, {\"type\": "
         "\"ByteLevel\"}]}",
         "null", "both Metaspace and ByteLevel"},
        {"null", "null", "{\"type\": \"WordPiece\"}", "WordPiece"},
        {"null", "null", "{\"type\": \"Strip\", \"content\": \" \", \"start\": 1, \"stop\": 0}",
         "before Fuse"},
        {"null", "null",
         "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"Fuse\"}, {\"type\": \"Replace\", "
         "\"pattern\": {\"String\": \"a\"}, \"content\": \"b\"}]}",
         "after Fuse"},
        {"null", "null", "{\"type\": \"ByteLevel\"}", "ByteLevel"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *j = text_json(bad[i].norm, bad[i].pretok, bad[i].dec, "", X_ADDED);
        json_refused(j, bad[i].needle);
        free(j);
    }
}

/* Every rule is in the hash: tokenizers that differ in one rule never share
 * a hash. */
static void test_hash_covers_rules(void **st) {
    (void)st;
    const char *norms[] = {"null", LLAMA_NORM, "{\"type\": \"NFC\"}", "{\"type\": \"NFKC\"}",
                           "{\"type\": \"Prepend\", \"prepend\": \"\xE2\x96\x81\"}"};
    char *m1 = meta("always", 1), *m2 = meta("first", 1), *m3 = meta("never", 1),
         *m4 = meta("first", 0);
    const char *pretoks[] = {"null", m1, m2, m3, m4};
    const char *decs[] = {"null", LLAMA_DEC,
                          "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"ByteFallback\"}]}",
                          "{\"type\": \"Metaspace\", \"prepend_scheme\": \"never\"}",
                          "{\"type\": \"Metaspace\", \"prepend_scheme\": \"always\"}"};
    const char *models[] = {"", "\"byte_fallback\": true,", "\"fuse_unk\": true,",
                            "\"ignore_merges\": true,"};
    char hashes[64][65];
    size_t n = 0;
    for (size_t a = 0; a < 5; a++) { /* one rule changed at a time */
        lmd_tokenizer *t = text_tok(norms[a], "null", "null", "", X_ADDED);
        lmd_tokenizer_hash(t, hashes[n++]);
        lmd_tokenizer_free(t);
    }
    for (size_t b = 1; b < 5; b++) {
        lmd_tokenizer *t = text_tok("null", pretoks[b], "null", "", X_ADDED);
        lmd_tokenizer_hash(t, hashes[n++]);
        lmd_tokenizer_free(t);
    }
    for (size_t d = 1; d < 5; d++) {
        lmd_tokenizer *t = text_tok("null", "null", decs[d], "", X_ADDED);
        lmd_tokenizer_hash(t, hashes[n++]);
        lmd_tokenizer_free(t);
    }
    for (size_t k = 1; k < 4; k++) {
        lmd_tokenizer *t = text_tok("null", "null", "null", models[k], X_ADDED);
        lmd_tokenizer_hash(t, hashes[n++]);
        lmd_tokenizer_free(t);
    }
    /* the added token normalized or not (with a normalizer it matters) */
    lmd_tokenizer *t = text_tok(LLAMA_NORM, "null", "null", "",
                                "{\"id\": 9, \"content\": \"<x>\", \"normalized\": true}");
    lmd_tokenizer_hash(t, hashes[n++]); /* (variant 1 is the same with normalized false) */
    lmd_tokenizer_free(t);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (strcmp(hashes[i], hashes[j]) == 0)
                fail_msg("variants %zu and %zu share a hash", i, j);
    assert_int_equal(n, 17);
    free(m1);
    free(m2);
    free(m3);
    free(m4);
}

/* ------------------------------ Llama-3 / Qwen2 split vs Python regex */

/* A byte-level tokenizer with a Split step (the pattern, JSON-escaped). */
static lmd_tokenizer *split_tok(const char *pat_json, const char *normalizer) {
    cJSON *v = cJSON_CreateObject();
    for (int b = 0; b < 256; b++) {
        char u[3] = {0};
        lmd_byte_to_utf8((uint8_t)b, u);
        cJSON_AddNumberToObject(v, u, b);
    }
    char *vs = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    lmd_buf b = {0};
    lmd_buf_printf(&b,
                   "{\"model\": {\"type\": \"BPE\", \"vocab\": %s, \"merges\": []}, "
                   "\"normalizer\": %s, \"pre_tokenizer\": {\"type\": \"Sequence\", "
                   "\"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": \"%s\"}, "
                   "\"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", "
                   "\"add_prefix_space\": false, \"use_regex\": false}]}, \"decoder\": "
                   "{\"type\": \"ByteLevel\"}}",
                   vs, normalizer, pat_json);
    free(vs);
    lmd_buf_put(&b, "", 1);
    lmd_tokenizer *t = tu_tok_json(b.data);
    lmd_buf_free(&b);
    return t;
}

static void collect_piece(void *ctx, const char *s, size_t n) {
    cJSON *arr = ctx;
    char *c = malloc(n + 1);
    memcpy(c, s, n);
    c[n] = 0;
    cJSON_AddItemToArray(arr, cJSON_CreateString(c));
    free(c);
}

/* Deterministic random texts from characters that exercise the classes. */
static void random_texts(cJSON *texts, size_t count) {
    static const char *const alpha[] = {"a",
                                        "Z",
                                        "s",
                                        "S",
                                        "t",
                                        "T",
                                        "d",
                                        "l",
                                        "L",
                                        "m",
                                        "r",
                                        "e",
                                        "v",
                                        "\xC5\xBF" /* ſ */,
                                        "\xC3\xA9",
                                        "\xC3\x9F",
                                        "\xC4\xB0",
                                        "\xD0\x9A",
                                        "\xD1\x8F",
                                        "\xE4\xB8\xAD",
                                        "\xE6\x96\x87",
                                        "\xE3\x82\xA2",
                                        "\xED\x95\x9C",
                                        "0",
                                        "7",
                                        "\xD9\xA3" /* ٣ */,
                                        "\xC2\xB2",
                                        "\xC2\xBD",
                                        "\xE2\x85\xAB" /* Ⅻ */,
                                        " ",
                                        " ",
                                        " ",
                                        "\t",
                                        "\n",
                                        "\n",
                                        "\r",
                                        "\x0b",
                                        "\x0c",
                                        "\xC2\xA0",
                                        "\xE3\x80\x80",
                                        "\xE2\x80\xA8",
                                        "\xC2\x85",
                                        "\xE1\xA0\x8E" /* U+180E */,
                                        "'",
                                        "'",
                                        "\"",
                                        ".",
                                        ",",
                                        "!",
                                        "-",
                                        "_",
                                        "@",
                                        "\xF0\x9F\xA6\x99",
                                        "\xF0\x9F\x98\x80",
                                        "\xCC\x81" /* combining acute */,
                                        "\xE2\x80\x8D",
                                        "\xCA\xBC",
                                        "\xE2\x80\x99",
                                        "$",
                                        "1"};
    size_t na = sizeof alpha / sizeof *alpha;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    char buf[512];
    for (size_t i = 0; i < count; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        size_t len = (size_t)(x >> 59); /* 0..31 characters */
        size_t o = 0;
        for (size_t k = 0; k < len; k++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            const char *c = alpha[(x >> 33) % na];
            memcpy(buf + o, c, strlen(c));
            o += strlen(c);
        }
        buf[o] = 0;
        cJSON_AddItemToArray(texts, cJSON_CreateString(buf));
    }
}

static void add_vector_texts(cJSON *texts, const char *base) {
    tu_vectors v;
    tu_read_vectors(&v, base);
    for (size_t i = 0; i < v.n; i++) {
        char *c = malloc(v.text_len[i] + 1);
        memcpy(c, v.text[i], v.text_len[i]);
        c[v.text_len[i]] = 0;
        cJSON_AddItemToArray(texts, cJSON_CreateString(c));
        free(c);
    }
    tu_vectors_free(&v);
}

/* Our pieces for each text against tools/reference/pretok_split.py. */
static void check_split(const char *pattern, const char *pat_json, const char *name) {
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("SKIP: /usr/bin/python3 (with python3-regex) is needed\n");
        exit(77);
    }
    cJSON *req = cJSON_CreateObject(), *texts = cJSON_CreateArray();
    cJSON_AddStringToObject(req, "pattern", pattern);
    add_vector_texts(texts, "llama-spm");
    add_vector_texts(texts, "gpt-2");
    random_texts(texts, 3000);
    cJSON_AddItemToObject(req, "texts", texts);
    char *dir = tu_tmpdir();
    char *in = lmd_path_join(dir, "req.json"), *out = lmd_path_join(dir, "resp.json");
    char *js = cJSON_PrintUnformatted(req);
    tu_write_file(dir, "req.json", js, strlen(js));
    free(js);
    char *tool = tu_src_path("tools/reference/pretok_split.py"), cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' < '%s' > '%s'", tool, in, out);
    assert_int_equal(system(cmd), 0);
    size_t rl;
    char *resp = slurp(out, &rl);
    cJSON *want = cJSON_ParseWithLength(resp, rl);
    assert_non_null(want);
    assert_int_equal(cJSON_GetArraySize(want), cJSON_GetArraySize(texts));
    lmd_tokenizer *t = split_tok(pat_json, "null");
    size_t i = 0, n_pieces = 0;
    const cJSON *w = want->child;
    for (const cJSON *x = texts->child; x; x = x->next, w = w->next, i++) {
        cJSON *got = cJSON_CreateArray();
        lmd_error err;
        const char *s = x->valuestring;
        if (lmd_tokenizer_pretokenize(t, s, strlen(s), collect_piece, got, &err) < 0)
            fail_msg("%s", err.msg);
        if (!cJSON_Compare(got, w, 1)) {
            char *g = cJSON_PrintUnformatted(got), *e = cJSON_PrintUnformatted(w);
            fail_msg("%s, text %zu \"%s\":\n got  %s\n want %s", name, i, s, g, e);
        }
        n_pieces += (size_t)cJSON_GetArraySize(got);
        cJSON_Delete(got);
    }
    printf("%s: %zu texts, %zu pieces, all as Python's regex splits them\n", name, i, n_pieces);
    lmd_tokenizer_free(t);
    cJSON_Delete(want);
    cJSON_Delete(req);
    free(resp);
    unlink(in);
    unlink(out);
    rmdir(dir);
    free(in);
    free(out);
    free(dir);
    free(tool);
}

static void test_split_llama3(void **st) {
    (void)st;
    check_split(
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}| "
        "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+",
        "Llama-3");
}

static void test_split_qwen2(void **st) {
    (void)st;
    check_split(
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
        "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| "
        "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+",
        "Qwen2");
}

/* Qwen2's whole front end: NFC, then the split, then byte-level BPE. */
static void test_qwen2_nfc(void **st) {
    (void)st;
    lmd_tokenizer *t = split_tok(
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}| "
        "?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+",
        "{\"type\": \"NFC\"}");
    /* e + U+0301 becomes U+00E9: two bytes C3 A9, each its byte token */
    TU_EXPECT(t, "e\xCC\x81", 0xC3, 0xA9);
    TU_EXPECT(t, "\xC3\xA9", 0xC3, 0xA9);
    lmd_tokenizer_free(t);
}
int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_model),
        cmocka_unit_test(test_vectors_converted_json),
        cmocka_unit_test(test_model_json_same_hash),
        cmocka_unit_test(test_llama_details),
        cmocka_unit_test(test_spiece_split_exact),
        cmocka_unit_test(test_folder_model_only),
        cmocka_unit_test(test_llama_json_folder),
        cmocka_unit_test(test_llama3_shape),
        cmocka_unit_test(test_spm_small_and_errors),
        cmocka_unit_test(test_metaspace),
        cmocka_unit_test(test_normalizers_and_decoders),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_hash_covers_rules),
        cmocka_unit_test(test_split_llama3),
        cmocka_unit_test(test_split_qwen2),
        cmocka_unit_test(test_qwen2_nfc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
