/* test_tokenizer.c - the byte-level BPE tokenizer: the 46 GPT-2 reference
 * vectors through both file forms, decoding round trips, the vocabulary hash,
 * added tokens and their flags, small hand-built tokenizers, and the errors
 * for bad input and unsupported files. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ------------------------------------------------- the GPT-2 vectors */

static void check_vectors(const lmd_tokenizer *t) {
    tu_vectors v;
    tu_read_vectors(&v, "gpt-2");
    for (size_t i = 0; i < v.n; i++) {
        tu_expect_ids(t, v.text[i], v.text_len[i], v.ids[i], v.n_ids[i]);
        /* decoding gives the text back */
        size_t len;
        char *back = lmd_detokenize(t, v.ids[i], v.n_ids[i], &len);
        assert_non_null(back);
        assert_int_equal(len, v.text_len[i]);
        assert_memory_equal(back, v.text[i], len);
        assert_int_equal(back[len], 0);
        free(back);
    }
    tu_vectors_free(&v);
}

static void test_vectors_tokenizer_json(void **st) {
    (void)st;
    char *dir = shared("fixtures/tokenizers/gpt2");
    lmd_tokenizer *t = tu_load_tokenizer(dir);
    assert_int_equal(lmd_tokenizer_vocab_size(t), 50257);
    check_vectors(t);
    lmd_tokenizer_free(t);
    free(dir);
}

/* A folder with only vocab.json + merges.txt of the same GPT-2. */
static char *gpt2_vocab_merges_dir(void) {
    char *src = shared("fixtures/tokenizers/gpt2");
    char *dir = tu_tmpdir();
    assert_non_null(dir);
    tu_copy_file(src, dir, "vocab.json");
    tu_copy_file(src, dir, "merges.txt");
    free(src);
    return dir;
}

static void test_vectors_vocab_merges(void **st) {
    (void)st;
    char *dir = gpt2_vocab_merges_dir();
    lmd_tokenizer *t = tu_load_tokenizer(dir);
    assert_int_equal(lmd_tokenizer_vocab_size(t), 50257);
    check_vectors(t);
    lmd_tokenizer_free(t);
    tu_rm_dir(dir);
}

static void test_gpt2_details(void **st) {
    (void)st;
    char *dir = shared("fixtures/tokenizers/gpt2");
    lmd_tokenizer *t = tu_load_tokenizer(dir);
    free(dir);
    /* added tokens are split out of the text even without special tokens */
    TU_EXPECT(t, "Hello<|endoftext|> world", 15496, 50256, 995);
    TU_EXPECT(t, "<|endoftext|><|endoftext|>", 50256, 50256);
    /* an incomplete one is ordinary text */
    int32_t *ids;
    size_t n;
    lmd_error err;
    assert_int_equal(lmd_tokenize(t, "<|endoftext|", 12, &ids, &n, &err), 0);
    assert_true(n > 2);
    for (size_t i = 0; i < n; i++)
        assert_int_not_equal(ids[i], 50256);
    char *back = lmd_detokenize(t, ids, n, NULL);
    assert_string_equal(back, "<|endoftext|");
    free(back);
    free(ids);
    assert_int_equal(lmd_tokenizer_bos(t), 50256);
    assert_string_equal(lmd_token_raw(t, 18435), "\xc4\xa0Hello");
    assert_string_equal(lmd_token_raw(t, 50256), "<|endoftext|>");
    assert_null(lmd_token_raw(t, 50257));
    assert_null(lmd_token_raw(t, -1));
    const char *b;
    assert_int_equal(lmd_token_bytes(t, 18435, &b), 6);
    assert_memory_equal(b, " Hello", 6);
    assert_int_equal(lmd_token_bytes(t, 99999, &b), 0);
    assert_int_equal(lmd_tokenizer_token_id(t, "\xc4\xa0Hello", 7), 18435);
    assert_int_equal(lmd_tokenizer_token_id(t, "<|endoftext|>", 13), 50256);
    assert_int_equal(lmd_tokenizer_token_id(t, "no such token", 13), -1);
    /* 127 is the first half of "Ä" (0xC3): shown escaped */
    char *d = lmd_token_display(t, 127);
    assert_string_equal(d, "\\xC3");
    free(d);
    d = lmd_token_display(t, 18435);
    assert_string_equal(d, " Hello");
    free(d);
    /* the two halves decode to the character again */
    size_t len;
    char *s = lmd_detokenize(t, (const int32_t[]){127, 226}, 2, &len);
    assert_string_equal(s, "\xc3\x84");
    free(s);
    /* unknown ids decode to nothing */
    s = lmd_detokenize(t, (const int32_t[]){-5, 15496, 77777}, 3, &len);
    assert_string_equal(s, "Hello");
    free(s);
    lmd_tokenizer_set_bos(t, 0);
    assert_int_equal(lmd_tokenizer_bos(t), 0);
    lmd_tokenizer_set_bos(t, 1 << 20); /* unknown: ignored */
    assert_int_equal(lmd_tokenizer_bos(t), 0);
    lmd_tokenizer_free(t);
}

static void test_empty_and_invalid(void **st) {
    (void)st;
    char *dir = shared("fixtures/tokenizers/gpt2");
    lmd_tokenizer *t = tu_load_tokenizer(dir);
    free(dir);
    int32_t *ids = NULL;
    size_t n = 99;
    lmd_error err;
    assert_int_equal(lmd_tokenize(t, "", 0, &ids, &n, &err), 0);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(lmd_tokenize(t, NULL, 0, &ids, &n, &err), 0);
    assert_int_equal(n, 0);
    free(ids);
    err.msg[0] = 0;
    assert_int_equal(lmd_tokenize(t,
                                  "ab\xff"
                                  "cd",
                                  5, &ids, &n, &err),
                     -1);
    assert_null(ids);
    assert_non_null(strstr(err.msg, "UTF-8"));
    assert_non_null(strstr(err.msg, "offset 2"));
    /* a truncated sequence at the end, and a surrogate */
    assert_int_equal(lmd_tokenize(t, "abc\xe2\x82", 5, &ids, &n, &err), -1);
    assert_non_null(strstr(err.msg, "offset 3"));
    assert_int_equal(lmd_tokenize(t, "\xed\xa0\x80", 3, &ids, &n, &err), -1);
    assert_non_null(strstr(err.msg, "offset 0"));
    /* a NUL byte is an ordinary character (byte 0 -> id 188) */
    tu_expect_ids(t, "a\0b", 3, (const int32_t[]){64, 188, 65}, 3);
    lmd_tokenizer_free(t);
}

/* ------------------------------------------------------------ hashes */

static void test_hash_two_forms(void **st) {
    (void)st;
    char *dir1 = shared("fixtures/tokenizers/gpt2");
    char *dir2 = gpt2_vocab_merges_dir();
    lmd_tokenizer *a = tu_load_tokenizer(dir1), *b = tu_load_tokenizer(dir2);
    char ha[65], hb[65];
    lmd_tokenizer_hash(a, ha);
    lmd_tokenizer_hash(b, hb);
    assert_int_equal(strlen(ha), 64);
    assert_string_equal(ha, hb);
    assert_true(lmd_tokenizers_compatible(a, b));
    /* the same through lmd_tokenizer_from_vocab_merges */
    {
        char *pv = lmd_path_join(dir1, "vocab.json"), *pm = lmd_path_join(dir1, "merges.txt");
        char *v = NULL, *mm = NULL;
        size_t vl = 0, mml = 0;
        lmd_error e;
        if (lmd_read_file(pv, &v, &vl, &e) < 0 || lmd_read_file(pm, &mm, &mml, &e) < 0)
            fail_msg("%s", e.msg);
        lmd_tokenizer *f;
        if (lmd_tokenizer_from_vocab_merges(v, vl, pv, mm, mml, pm, &f, &e) < 0)
            fail_msg("%s", e.msg);
        char hf[65];
        lmd_tokenizer_hash(f, hf);
        assert_string_equal(hf, ha);
        assert_int_equal(lmd_tokenizer_bos(f), 50256);
        lmd_tokenizer_free(f);
        free(v);
        free(mm);
        free(pv);
        free(pm);
    }
    /* the hash is the SHA-256 of the canonical text */
    size_t len;
    char *canon = lmd_tokenizer_canonical(a, &len);
    assert_non_null(canon);
    assert_memory_equal(canon, "lmdiff-vocab-v1\n", 16);
    char hc[65];
    lmd_sha256_hex(canon, len, hc);
    assert_string_equal(hc, ha);
    free(canon);

    /* one merge different: swap the first two merges */
    char *p = lmd_path_join(dir2, "merges.txt"), *m;
    size_t ml;
    lmd_error err;
    if (lmd_read_file(p, &m, &ml, &err) < 0) fail_msg("%s", err.msg);
    assert_memory_equal(m, "#version: 0.2\n\xc4\xa0 t\n\xc4\xa0 a\n", 24);
    memcpy(m + 14, "\xc4\xa0 a\n\xc4\xa0 t\n", 10);
    tu_write_file(dir2, "merges.txt", m, ml);
    lmd_tokenizer *c = tu_load_tokenizer(dir2);
    char hcm[65];
    lmd_tokenizer_hash(c, hcm);
    assert_string_not_equal(hcm, ha);
    assert_false(lmd_tokenizers_compatible(a, c));
    lmd_tokenizer_free(c);

    /* drop the last merge */
    size_t cut = ml - 1;
    while (cut > 0 && m[cut - 1] != '\n')
        cut--;
    memcpy(m + 14, "\xc4\xa0 t\n\xc4\xa0 a\n", 10);
    tu_write_file(dir2, "merges.txt", m, ml);
    c = tu_load_tokenizer(dir2);
    lmd_tokenizer_hash(c, hcm);
    assert_string_equal(hcm, ha); /* restored: equal again */
    lmd_tokenizer_free(c);
    tu_write_file(dir2, "merges.txt", m, cut);
    c = tu_load_tokenizer(dir2);
    lmd_tokenizer_hash(c, hcm);
    assert_string_not_equal(hcm, ha);
    lmd_tokenizer_free(c);
    free(m);
    free(p);

    lmd_tokenizer_free(a);
    lmd_tokenizer_free(b);
    free(dir1);
    tu_rm_dir(dir2);
}

/* ByteLevel(use_regex) and Sequence[Split(GPT-2 regex), ByteLevel(no regex)]
 * are the same tokenizer: same ids, same hash. */
static void test_sequence_pretokenizer(void **st) {
    (void)st;
    char *dir = shared("fixtures/tokenizers/gpt2");
    char *p = lmd_path_join(dir, "tokenizer.json"), *data;
    size_t len;
    lmd_error err;
    if (lmd_read_file(p, &data, &len, &err) < 0) fail_msg("%s", err.msg);
    cJSON *root = cJSON_ParseWithLength(data, len);
    assert_non_null(root);
    cJSON *seq = cJSON_Parse("{\"type\":\"Sequence\",\"pretokenizers\":["
                             "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"'s|'t|'re|'ve|'m|'ll|'d|"
                             " ?\\\\p{L}+| ?\\\\p{N}+| "
                             "?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+(?!\\\\S)|\\\\s+\"},\"behavior\":"
                             "\"Isolated\",\"invert\":false},"
                             "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":"
                             "true,\"use_regex\":false}]}");
    assert_non_null(seq);
    cJSON_ReplaceItemInObjectCaseSensitive(root, "pre_tokenizer", seq);
    char *text = cJSON_PrintUnformatted(root);
    lmd_tokenizer *a = tu_load_tokenizer(dir), *b = tu_tok_json(text);
    char ha[65], hb[65];
    lmd_tokenizer_hash(a, ha);
    lmd_tokenizer_hash(b, hb);
    assert_string_equal(ha, hb);
    check_vectors(b);

    /* add_prefix_space changes ids and hash */
    cJSON *bl = cJSON_GetArrayItem(cJSON_GetObjectItem(seq, "pretokenizers"), 1);
    cJSON_ReplaceItemInObjectCaseSensitive(bl, "add_prefix_space", cJSON_CreateTrue());
    free(text);
    text = cJSON_PrintUnformatted(root);
    lmd_tokenizer *c = tu_tok_json(text);
    lmd_tokenizer_hash(c, hb);
    assert_string_not_equal(ha, hb);
    TU_EXPECT(c, "Hello world", 18435, 995);
    TU_EXPECT(a, "Hello world", 15496, 995);
    TU_EXPECT(c, "Hello<|endoftext|>world", 18435, 50256, 995);
    lmd_tokenizer_free(c);

    /* a Split step with a pattern we cannot translate is refused */
    cJSON *sp = cJSON_GetArrayItem(cJSON_GetObjectItem(seq, "pretokenizers"), 0);
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItem(sp, "pattern"), "Regex",
                                           cJSON_CreateString("\\bfoo"));
    free(text);
    text = cJSON_PrintUnformatted(root);
    lmd_tokenizer *d = NULL;
    assert_int_equal(lmd_tokenizer_from_json(text, strlen(text), "x/tokenizer.json", &d, &err), -1);
    assert_null(d);
    assert_non_null(strstr(err.msg, "x/tokenizer.json"));
    assert_non_null(strstr(err.msg, "\\b"));
    /* and so is a behavior HF does not have (each of HF's: test_split.c) */
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItem(sp, "pattern"), "Regex",
                                           cJSON_CreateString("\\s+"));
    cJSON_ReplaceItemInObjectCaseSensitive(sp, "behavior", cJSON_CreateString("Sideways"));
    free(text);
    text = cJSON_PrintUnformatted(root);
    assert_int_equal(lmd_tokenizer_from_json(text, strlen(text), "x/tokenizer.json", &d, &err), -1);
    assert_non_null(strstr(err.msg, "Sideways"));

    free(text);
    cJSON_Delete(root);
    lmd_tokenizer_free(a);
    lmd_tokenizer_free(b);
    free(data);
    free(p);
    free(dir);
}

/* ------------------------------------------- small hand-made tokenizers */

/* A byte-level tokenizer.json: ids 0..255 are the 256 byte characters (id =
 * byte value), then `extra` tokens from 256 on; merges, added tokens and the
 * pre-tokenizer are JSON text. */
static char *tiny_json(const char *const *extra, int n_extra, const char *merges, const char *added,
                       const char *pretok) {
    cJSON *vocab = cJSON_CreateObject();
    for (int b = 0; b < 256; b++) {
        char u[3] = {0};
        lmd_byte_to_utf8((uint8_t)b, u);
        cJSON_AddNumberToObject(vocab, u, b);
    }
    for (int i = 0; i < n_extra; i++)
        cJSON_AddNumberToObject(vocab, extra[i], 256 + i);
    cJSON *model = cJSON_CreateObject();
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON_AddNullToObject(model, "dropout");
    cJSON_AddItemToObject(model, "vocab", vocab);
    cJSON_AddItemToObject(model, "merges", cJSON_Parse(merges));
    cJSON *root = cJSON_CreateObject();
    cJSON_AddItemToObject(root, "added_tokens", cJSON_Parse(added ? added : "[]"));
    cJSON_AddNullToObject(root, "normalizer");
    cJSON_AddItemToObject(root, "pre_tokenizer",
                          cJSON_Parse(pretok ? pretok
                                             : "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,"
                                               "\"use_regex\":true}"));
    cJSON_AddItemToObject(root, "decoder", cJSON_Parse("{\"type\":\"ByteLevel\"}"));
    cJSON_AddItemToObject(root, "model", model);
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static void test_merges_pairs_and_strings(void **st) {
    (void)st;
    static const char *const extra[] = {"ab", "abc", "\xc4\xa0\x61"};
    char *js = tiny_json(extra, 3, "[\"a b\", \"ab c\", \"\xc4\xa0 a\"]", NULL, NULL);
    char *jp =
        tiny_json(extra, 3, "[[\"a\",\"b\"], [\"ab\",\"c\"], [\"\xc4\xa0\",\"a\"]]", NULL, NULL);
    lmd_tokenizer *s = tu_tok_json(js), *p = tu_tok_json(jp);
    TU_EXPECT(s, "abc", 257);
    TU_EXPECT(p, "abc", 257);
    TU_EXPECT(s, "abcab ab", 257, 256, ' ', 256); /* "a b" outranks "Ġ a" */
    TU_EXPECT(p, "abcab ab", 257, 256, ' ', 256);
    TU_EXPECT(p, " ac", 258, 'c');
    char hs[65], hp[65];
    lmd_tokenizer_hash(s, hs);
    lmd_tokenizer_hash(p, hp);
    assert_string_equal(hs, hp);
    assert_int_equal(lmd_tokenizer_vocab_size(s), 259);
    assert_int_equal(lmd_tokenizer_bos(s), -1); /* no <|endoftext|> */
    lmd_tokenizer_free(s);
    lmd_tokenizer_free(p);
    free(js);
    free(jp);

    /* rank order decides: with "b c" before "a b", "abc" is a + bc */
    static const char *const extra2[] = {"ab", "bc"};
    char *j1 = tiny_json(extra2, 2, "[\"b c\", \"a b\"]", NULL, NULL);
    char *j2 = tiny_json(extra2, 2, "[\"a b\", \"b c\"]", NULL, NULL);
    lmd_tokenizer *t1 = tu_tok_json(j1), *t2 = tu_tok_json(j2);
    TU_EXPECT(t1, "abc", 'a', 257);
    TU_EXPECT(t2, "abc", 256, 'c');
    TU_EXPECT(t2, "abcbc", 256, 'c', 257); /* bc at 1 is gone once ab merged */
    lmd_tokenizer_hash(t1, hs);
    lmd_tokenizer_hash(t2, hp);
    assert_string_not_equal(hs, hp);
    assert_false(lmd_tokenizers_compatible(t1, t2));
    lmd_tokenizer_free(t1);
    lmd_tokenizer_free(t2);
    free(j1);
    free(j2);

    /* a long repeated word stays exact (and fast): 4001 a's */
    static const char *const extra3[] = {"aa", "aaaa"};
    char *j3 = tiny_json(extra3, 2, "[\"a a\", \"aa aa\"]", NULL, NULL);
    lmd_tokenizer *t3 = tu_tok_json(j3);
    TU_EXPECT(t3, "aaa", 256, 'a'); /* equal ranks: the leftmost pair first */
    char *txt = malloc(4002);
    memset(txt, 'a', 4001);
    int32_t *ids;
    size_t n;
    lmd_error err;
    assert_int_equal(lmd_tokenize(t3, txt, 4001, &ids, &n, &err), 0);
    assert_int_equal(n, 1001);
    for (size_t i = 0; i < 1000; i++)
        assert_int_equal(ids[i], 257);
    assert_int_equal(ids[1000], 'a');
    free(ids);
    free(txt);
    lmd_tokenizer_free(t3);
    free(j3);
}

static void test_added_token_rules(void **st) {
    (void)st;
    static const char *const extra[] = {"<m>", "ab", "bc"};
    char *j = tiny_json(
        extra, 3, "[]",
        "[{\"id\":256,\"content\":\"<m>\",\"lstrip\":true,\"rstrip\":true,\"special\":true},"
        "{\"id\":300,\"content\":\"<n>\"},"
        "{\"id\":301,\"content\":\"<n>y\"},"
        "{\"id\":257,\"content\":\"ab\",\"single_word\":true}]",
        NULL);
    lmd_tokenizer *t = tu_tok_json(j);
    assert_int_equal(lmd_tokenizer_vocab_size(t), 302);
    TU_EXPECT(t, "a  <m>  b", 'a', 256, 'b');         /* lstrip and rstrip eat the spaces */
    TU_EXPECT(t, "a <n> b", 'a', ' ', 300, ' ', 'b'); /* id = byte value */
    TU_EXPECT(t, "<n>yz<n>", 301, 'z', 300);          /* longest first */
    TU_EXPECT(t, "ab cd", 257, 32, 'c', 'd');         /* a whole word */
    TU_EXPECT(t, "xab", 'x', 'a', 'b');               /* not a whole word */
    TU_EXPECT(t, "ab.", 257, '.');
    const char *b;
    assert_int_equal(lmd_token_bytes(t, 300, &b), 3);
    assert_memory_equal(b, "<n>", 3);
    lmd_tokenizer_free(t);
    free(j);

    /* non-normalized tokens are split out first, then the normalized ones */
    j = tiny_json(extra, 3, "[]",
                  "[{\"id\":257,\"content\":\"ab\",\"normalized\":true},"
                  "{\"id\":258,\"content\":\"bc\",\"normalized\":false}]",
                  NULL);
    t = tu_tok_json(j);
    TU_EXPECT(t, "abc", 'a', 258);
    TU_EXPECT(t, "abab", 257, 257);
    lmd_tokenizer_free(t);
    free(j);
    /* with one kind only, plain leftmost-longest */
    j = tiny_json(extra, 3, "[]",
                  "[{\"id\":257,\"content\":\"ab\",\"normalized\":false},"
                  "{\"id\":258,\"content\":\"bc\",\"normalized\":false}]",
                  NULL);
    t = tu_tok_json(j);
    TU_EXPECT(t, "abc", 257, 'c');
    lmd_tokenizer_free(t);
    free(j);
}

/* Oniguruma's \s is Unicode White_Space; PCRE2's also has U+180E, which is
 * a format character since Unicode 6.3.  "\u180E!" is one piece for Hugging
 * Face (both are [^\s\p{L}\p{N}]), so the merge across them applies. */
static void test_whitespace_class(void **st) {
    (void)st;
    char u[2][3] = {{0}};
    lmd_byte_to_utf8(0x8E, u[0]);
    lmd_byte_to_utf8(0x85, u[1]);
    char m1[32], m2[32];
    snprintf(m1, sizeof m1, "%s!", u[0]);
    snprintf(m2, sizeof m2, "%s!", u[1]);
    const char *extra[] = {m1, m2};
    char merges[128];
    snprintf(merges, sizeof merges, "[[\"%s\",\"!\"],[\"%s\",\"!\"]]", u[0], u[1]);
    char *j = tiny_json(extra, 2, merges, NULL, NULL);
    lmd_tokenizer *t = tu_tok_json(j);
    TU_EXPECT(t, "\xe1\xa0\x8e!", 0xE1, 0xA0, 256);
    /* U+0085 is white space: "!" is a piece of its own */
    TU_EXPECT(t, "\xc2\x85!", 0xC2, 0x85, '!');
    lmd_tokenizer_free(t);
    free(j);
}

/* Split steps: a literal, and a regex that can match the empty string. */
static void test_split_steps(void **st) {
    (void)st;
    static const char *const extra[] = {"ab", "ax", "\xc4\xa0\x63"};
    char *j =
        tiny_json(extra, 3, "[\"a b\", \"a x\", \"\xc4\xa0 c\"]", NULL,
                  "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
                  "\"pattern\":{\"String\":\" \"},\"behavior\":\"Isolated\",\"invert\":false},"
                  "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}");
    lmd_tokenizer *t = tu_tok_json(j);
    TU_EXPECT(t, "ab cd", 256, ' ', 'c', 'd'); /* " " is a piece of its own: no "Ġc" */
    TU_EXPECT(t, "axb", 257, 'b');
    lmd_tokenizer_free(t);
    free(j);
    j = tiny_json(extra, 3, "[\"a b\", \"a x\", \"\xc4\xa0 c\"]", NULL,
                  "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
                  "\"pattern\":{\"Regex\":\"x*\"},\"behavior\":\"Isolated\",\"invert\":false},"
                  "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}");
    t = tu_tok_json(j);
    TU_EXPECT(t, "axb", 'a', 'x', 'b');
    /* an empty match splits too (as Oniguruma's find_iter does): one piece
     * per character here */
    TU_EXPECT(t, "ab cd", 'a', 'b', ' ', 'c', 'd');
    lmd_tokenizer_free(t);
    free(j);
    /* an empty String pattern, too */
    j = tiny_json(extra, 3, "[\"a b\"]", NULL,
                  "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Split\","
                  "\"pattern\":{\"String\":\"\"},\"behavior\":\"Isolated\",\"invert\":false},"
                  "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]}");
    t = tu_tok_json(j);
    TU_EXPECT(t, "abab", 'a', 'b', 'a', 'b');
    lmd_tokenizer_free(t);
    free(j);
}

static void test_load_errors(void **st) {
    (void)st;
    char *dir = tu_tmpdir();
    assert_non_null(dir);
    tu_expect_load_error(dir, dir, "tokenizer.json");
    tu_expect_load_error(dir, "vocab.json", "merges.txt");

    tu_write_str(dir, "vocab.json", "{\"a\":0}");
    tu_expect_load_error(dir, dir, "merges.txt");

    tu_write_str(dir, "merges.txt", "#version: 0.2\na b c\n");
    tu_expect_load_error(dir, "merges.txt:2", NULL);
    tu_write_str(dir, "merges.txt", "#version: 0.2\na b\n");
    tu_expect_load_error(dir, "merges.txt", "not in the vocabulary");

    tu_write_str(dir, "vocab.json", "{\"a\": 0,");
    tu_expect_load_error(dir, "vocab.json", "invalid JSON");

    char *tj = lmd_path_join(dir, "tokenizer.json");
    tu_write_str(dir, "tokenizer.json", "{\"model\": {\"type\": \"BPE\", ");
    tu_expect_load_error(dir, tj, "invalid JSON");
    tu_write_str(dir, "tokenizer.json", "{} {}");
    tu_expect_load_error(dir, tj, "invalid JSON");
    tu_write_str(dir, "tokenizer.json", "{\"a\":\"\xff\"}");
    tu_expect_load_error(dir, tj, "UTF-8");

    static const char *const extra[] = {"ab"};
    struct {
        const char *from, *to, *needle;
    } edits[] = {
        {"\"type\":\"BPE\"", "\"type\":\"Unigram\"", "Unigram"},
        {"\"dropout\":null", "\"dropout\":0.1", "dropout"},
        {"\"dropout\":null", "\"end_of_word_suffix\":\"</w>\"", "end_of_word_suffix"},
        {"\"dropout\":null", "\"continuing_subword_prefix\":\"##\"", "continuing_subword_prefix"},
        {"\"normalizer\":null", "\"normalizer\":{\"type\":\"Precompiled\"}", "Precompiled"},
        {"\"decoder\":{\"type\":\"ByteLevel\"}", "\"decoder\":{\"type\":\"Metaspace\"}",
         "Metaspace"},
        {"\"type\":\"ByteLevel\",\"add_prefix_space\"",
         "\"type\":\"Whitespace\",\"add_prefix_space\"", "Whitespace"},
        {"\"ab\":256", "\"ab\":-3", "-3"},
        {"\"ab\":256", "\"ab\":255", "id 255"},
        {"[\"a b\"]", "[\"a b\", \"a\"]", "merge 2"},
        {"[\"a b\"]", "[\"a q\"]", "not in the vocabulary"},
        {"[]", "[{\"id\":5,\"content\":\"ab\"}]", "vocabulary gives it id 256"},
        {"\"model\"", "\"modell\"", "no model"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        char *j = tiny_json(extra, 1, "[\"a b\"]", NULL, NULL);
        char *at = strstr(j, edits[i].from);
        if (!at) fail_msg("edit %zu: \"%s\" not in %s", i, edits[i].from, j);
        lmd_buf b = {0};
        lmd_buf_put(&b, j, (size_t)(at - j));
        lmd_buf_puts(&b, edits[i].to);
        lmd_buf_puts(&b, at + strlen(edits[i].from));
        tu_write_file(dir, "tokenizer.json", b.data, b.len);
        tu_expect_load_error(dir, tj, edits[i].needle);
        lmd_buf_free(&b);
        free(j);
    }
    free(tj);
    tu_rm_dir(dir);
}

/* vocab.json + merges.txt with the optional files around them. */
static void test_vocab_merges_extras(void **st) {
    (void)st;
    char *dir = tu_tmpdir();
    assert_non_null(dir);
    cJSON *v = cJSON_CreateObject();
    for (int b = 0; b < 256; b++) {
        char u[3] = {0};
        lmd_byte_to_utf8((uint8_t)b, u);
        cJSON_AddNumberToObject(v, u, b);
    }
    cJSON_AddNumberToObject(v, "ab", 256);
    cJSON_AddNumberToObject(v, "<|endoftext|>", 257);
    char *vs = cJSON_PrintUnformatted(v);
    cJSON_Delete(v);
    tu_write_file(dir, "vocab.json", vs, strlen(vs));
    free(vs);
    tu_write_str(dir, "merges.txt", "a b\r\n\r\n"); /* no #version, CRLF, a blank line */
    tu_write_str(dir, "added_tokens.json", "{\"<new>\": 258}");
    tu_write_str(dir, "special_tokens_map.json",
                 "{\"pad_token\": {\"content\": \"ab\", \"lstrip\": true}}");
    tu_write_str(dir, "tokenizer_config.json",
                 "{\"bos_token\": {\"content\": \"<new>\"}, \"add_prefix_space\": true}");
    lmd_tokenizer *t = tu_load_tokenizer(dir);
    assert_int_equal(lmd_tokenizer_vocab_size(t), 259);
    assert_int_equal(lmd_tokenizer_bos(t), 258);
    TU_EXPECT(t, "x<new><|endoftext|>", ' ', 'x', 258, 257); /* with the prefix space */
    TU_EXPECT(t, "c   ab", ' ', 'c', 256);                   /* ab is special with lstrip */
    lmd_tokenizer_free(t);

    /* a special token without an id */
    tu_write_str(dir, "special_tokens_map.json", "{\"mask_token\": \"<mask>\"}");
    tu_expect_load_error(dir, "special_tokens_map.json", "<mask>");
    tu_write_str(dir, "special_tokens_map.json", "{\"mask_token\": ");
    tu_expect_load_error(dir, "special_tokens_map.json", "invalid JSON");
    tu_rm_dir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_tokenizer_json),
        cmocka_unit_test(test_vectors_vocab_merges),
        cmocka_unit_test(test_gpt2_details),
        cmocka_unit_test(test_empty_and_invalid),
        cmocka_unit_test(test_hash_two_forms),
        cmocka_unit_test(test_sequence_pretokenizer),
        cmocka_unit_test(test_merges_pairs_and_strings),
        cmocka_unit_test(test_added_token_rules),
        cmocka_unit_test(test_whitespace_class),
        cmocka_unit_test(test_split_steps),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_vocab_merges_extras),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
