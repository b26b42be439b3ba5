/* test_tokcache.c - the tokenizer's binary cache (src/tokenize/tokcache.c):
 *   - write then read gives a tokenizer with the same hash, the same ids for
 *     texts that exercise added tokens, normalizers and byte fallback, and
 *     the same decoded text, for byte-level BPE, WordPiece, SentencePiece
 *     BPE and tokenizer.json folders (tests/models, ../shared fixtures);
 *   - a flipped byte fails the checksum; every truncation and many
 *     corruptions of bytes and of 8-byte words, with the checksum made to
 *     match, are refused or give a tokenizer that still works (never a
 *     crash: run under ASan);
 *   - lmd_tokenizer_load writes the file under $XDG_CACHE_HOME/lmdiff on the
 *     first load and reads it on the second; a corrupt file is replaced; a
 *     changed tokenizer file changes the key; LMDIFF_TOKENIZER_CACHE=0
 *     writes nothing. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tokenize/tok_internal.h"

static const char *const texts[] = {
    "Hello world, this is a test.", "  leading spaces\tand\ttabs\n\nnewlines",
    "<|endoftext|>special<|endoftext|> [CLS] [MASK] <s></s>",
    "Caf\xc3\xa9 na\xc3\xafve \xe5\xa4\xa9\xe5\xa4\xa9 \xf0\x9f\x98\x80 12345 ##ing", ""};

static lmd_tokenizer *load_nocache(const char *dir) {
    setenv("LMDIFF_TOKENIZER_CACHE", "0", 1);
    lmd_tokenizer *t;
    lmd_error err;
    if (lmd_tokenizer_load(dir, &t, &err) < 0) fail_msg("%s", err.msg);
    unsetenv("LMDIFF_TOKENIZER_CACHE");
    return t;
}

/* a and b tokenize and detokenize every text alike and hash alike */
static void same_tokenizer(const lmd_tokenizer *a, const lmd_tokenizer *b) {
    char ha[65], hb[65];
    lmd_tokenizer_hash(a, ha);
    lmd_tokenizer_hash(b, hb);
    assert_string_equal(ha, hb);
    assert_int_equal(lmd_tokenizer_vocab_size(a), lmd_tokenizer_vocab_size(b));
    assert_int_equal(lmd_tokenizer_bos(a), lmd_tokenizer_bos(b));
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int32_t *ia, *ib;
        size_t na, nb;
        lmd_error e;
        int ra = lmd_tokenize(a, texts[i], strlen(texts[i]), &ia, &na, &e);
        int rb = lmd_tokenize(b, texts[i], strlen(texts[i]), &ib, &nb, &e);
        assert_int_equal(ra, rb);
        if (ra < 0) continue;
        assert_int_equal(na, nb);
        if (na) assert_memory_equal(ia, ib, na * sizeof *ia);
        size_t la, lb;
        char *da = lmd_detokenize(a, ia, na, &la), *db = lmd_detokenize(b, ib, nb, &lb);
        assert_int_equal(la, lb);
        if (la) assert_memory_equal(da, db, la);
        free(da), free(db), free(ia), free(ib);
    }
}

static void roundtrip(const char *dir) {
    lmd_tokenizer *t = load_nocache(dir), *u;
    lmd_buf b = {0};
    lmd_error err;
    assert_int_equal(lmd_tokcache_write(t, &b), 0);
    if (lmd_tokcache_read(b.data, b.len, &u, &err) < 0) fail_msg("%s: %s", dir, err.msg);
    same_tokenizer(t, u);
    lmd_tokenizer_free(u);
    /* a rewrite of the read tokenizer is the same file */
    lmd_buf b2 = {0};
    lmd_tokcache_read(b.data, b.len, &u, &err);
    assert_int_equal(lmd_tokcache_write(u, &b2), 0);
    assert_int_equal(b.len, b2.len);
    lmd_tokenizer_free(u);
    lmd_buf_free(&b2);
    lmd_buf_free(&b);
    lmd_tokenizer_free(t);
}

static const char *const model_dirs[] = {"tests/models/tiny-a",       "tests/models/tiny-llama",
                                         "tests/models/tiny-bert",    "tests/models/tiny-llama3",
                                         "tests/models/tiny-roberta", "demo/models/gpt-base"};

static void test_roundtrip(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof model_dirs / sizeof *model_dirs; i++) {
        char *d = tu_src_path(model_dirs[i]);
        roundtrip(d);
        free(d);
    }
    static const char *const shared[] = {"fixtures/tokenizers/gpt2",
                                         "fixtures/tokenizers/bert-base-uncased",
                                         "fixtures/tokenizers/llama2"};
    for (size_t i = 0; i < 3; i++) {
        char *d = tu_shared_path(shared[i]);
        if (d) roundtrip(d);
        free(d);
    }
}

/* A damaged file must be refused or still give a working tokenizer. */
static void try_damaged(const char *data, size_t len) {
    lmd_tokenizer *u;
    lmd_error err;
    if (lmd_tokcache_read(data, len, &u, &err) < 0) return;
    int32_t *ids;
    size_t n, l;
    if (lmd_tokenize(u, texts[3], strlen(texts[3]), &ids, &n, &err) == 0) {
        free(lmd_detokenize(u, ids, n, &l));
        free(ids);
    }
    lmd_tokenizer_free(u);
}

static void test_damaged(void **state) {
    (void)state;
    char *d = tu_src_path("tests/models/tiny-llama");
    lmd_tokenizer *t = load_nocache(d);
    free(d);
    lmd_buf b = {0};
    assert_int_equal(lmd_tokcache_write(t, &b), 0);
    lmd_tokenizer_free(t);
    char *c = malloc(b.len);
    for (size_t cut = 0; cut < b.len; cut += cut < 5000 ? 1 : 97) {
        memcpy(c, b.data, cut);
        lmd_tokcache_seal(c, cut);
        try_damaged(c, cut);
    }
    uint64_t rng = 12345;
    int accepted = 0;
    for (int k = 0; k < 6000; k++) {
        memcpy(c, b.data, b.len);
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        size_t at = 56 + rng % (b.len - 56); /* past the header */
        if (k % 2) {
            c[at] ^= (char)(1 + (rng >> 40) % 255);
        } else { /* a word: lengths, offsets, ids, to something large or negative */
            static const uint64_t v[] = {0, 1, 0xFFFFFFFFu, 0x80000000u, ~0ull, 1ull << 40, 255};
            at &= ~(size_t)7;
            if (at + 8 <= b.len) memcpy(c + at, &v[(rng >> 20) % 7], 8);
        }
        lmd_tokcache_seal(c, b.len);
        lmd_tokenizer *u;
        lmd_error e;
        if (lmd_tokcache_read(c, b.len, &u, &e) == 0) accepted++, lmd_tokenizer_free(u);
        try_damaged(c, b.len);
    }
    print_message("damaged caches accepted (harmless bytes): %d of 6000\n", accepted);
    /* the checksum refuses a flipped byte of the payload */
    memcpy(c, b.data, b.len);
    c[b.len / 2] ^= 1;
    lmd_tokenizer *u;
    lmd_error err;
    assert_int_equal(lmd_tokcache_read(c, b.len, &u, &err), -1);
    free(c);
    lmd_buf_free(&b);
}

static int count_files(const char *dir) {
    DIR *d = opendir(dir);
    int n = 0;
    if (!d) return 0;
    for (struct dirent *e; (e = readdir(d));)
        n += strncmp(e->d_name, "tok-", 4) == 0;
    closedir(d);
    return n;
}

static void test_folder(void **state) {
    (void)state;
    char *tmp = tu_tmpdir(), *model = tu_tmpdir(), *src = tu_src_path("tests/models/tiny-llama");
    static const char *const files[] = {"tokenizer.json", "tokenizer_config.json",
                                        "special_tokens_map.json"};
    for (size_t i = 0; i < 3; i++)
        tu_copy_file(src, model, files[i]);
    setenv("XDG_CACHE_HOME", tmp, 1);
    char *cdir = malloc(strlen(tmp) + 16);
    sprintf(cdir, "%s/lmdiff", tmp);
    lmd_tokenizer *ref = load_nocache(model), *a, *b;
    assert_int_equal(count_files(cdir), 0);
    lmd_error err;
    assert_int_equal(lmd_tokenizer_load(model, &a, &err), 0); /* builds, writes */
    assert_int_equal(count_files(cdir), 1);
    char key[65];
    assert_int_equal(lmd_tokcache_key(model, key), 0);
    lmd_tokenizer *c;
    assert_int_equal(lmd_tokcache_load(key, &c), 1); /* the file is there and valid */
    lmd_tokenizer_free(c);
    assert_int_equal(lmd_tokenizer_load(model, &b, &err), 0); /* reads */
    same_tokenizer(ref, a);
    same_tokenizer(ref, b);
    lmd_tokenizer_free(a), lmd_tokenizer_free(b);
    /* a corrupt file is ignored and replaced */
    char name[96];
    snprintf(name, sizeof name, "tok-%s.bin", key);
    tu_write_str(cdir, name, "garbage");
    assert_int_equal(lmd_tokcache_load(key, &c), 0);
    assert_int_equal(lmd_tokenizer_load(model, &a, &err), 0);
    same_tokenizer(ref, a);
    lmd_tokenizer_free(a);
    assert_int_equal(lmd_tokcache_load(key, &c), 1);
    lmd_tokenizer_free(c);
    /* another tokenizer file: another key (the old entry is not used) */
    tu_write_str(model, "tokenizer_config.json", "{\"add_bos_token\": false}");
    char key2[65];
    assert_int_equal(lmd_tokcache_key(model, key2), 0);
    assert_string_not_equal(key, key2);
    /* off: nothing written */
    setenv("LMDIFF_TOKENIZER_CACHE", "0", 1);
    assert_int_equal(lmd_tokenizer_load(model, &a, &err), 0);
    lmd_tokenizer_free(a);
    assert_int_equal(count_files(cdir), 1);
    unsetenv("LMDIFF_TOKENIZER_CACHE");
    lmd_tokenizer_free(ref);
    free(tmp), free(model), free(src), free(cdir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_damaged),
        cmocka_unit_test(test_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
