/* fuzz_tokcache.c - libFuzzer target: the input is a tokenizer cache file
 * (src/tokenize/tokcache.c) whose checksum is made to match, so that the
 * fuzzer reaches the validation behind it.  Whatever loads must encode,
 * decode, display and hash a few strings without crashing, with every id in
 * the vocabulary.  Seed corpus: a cache written by lmdiff, e.g.
 * $XDG_CACHE_HOME/lmdiff/tok-*.bin. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tokenize/tok_internal.h"

static const char *const texts[] = {"Hello world",
                                    " 's 'll  \t\n\n  x!!",
                                    "<|endoftext|>abc<s>",
                                    "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80 123",
                                    "",
                                    "[CLS] ##ing [MASK]"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    lmd_tokcache_seal(copy, size);
    lmd_tokenizer *t = NULL;
    lmd_error err;
    int rc = lmd_tokcache_read(copy, size, &t, &err);
    free(copy);
    if (rc < 0) {
        if (t || !memchr(err.msg, 0, sizeof err.msg)) abort();
        return 0;
    }
    int32_t nv = lmd_tokenizer_vocab_size(t);
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int32_t *ids;
        size_t n, len;
        if (lmd_tokenize(t, texts[i], strlen(texts[i]), &ids, &n, &err) < 0) continue;
        for (size_t k = 0; k < n; k++) {
            if (ids[k] < 0 || ids[k] >= nv) abort();
            free(lmd_token_display(t, ids[k]));
        }
        free(lmd_detokenize(t, ids, n, &len));
        free(ids);
    }
    char hex[65];
    lmd_tokenizer_hash(t, hex);
    lmd_tokenizer_free(t);
    return 0;
}
