/* fuzz_tokenizer_json.c - libFuzzer target: the input is the text of a
 * tokenizer.json.  Whatever loads must encode, decode, display and hash a few
 * strings without crashing, and decoding an encoding must stay within the
 * vocabulary. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmdiff.h"
#include "tokenize/tokenizer.h"

static const char *const lmd_fuzz_texts[] = {
    "Hello world", " 's 'll  \t\n\n  x!!", "<|endoftext|>abc<|endoftext|", "\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80 123 4567",
    "", "a", "   ", "\xe1\xa0\x8e!\xc2\x85 ab<m>cd",
    "[CLS] Caf\xc3\xa9, na\xc3\xafve \xe5\xa4\xa9\xe5\xa4\xa9 ##ing [MASK]\x01\xe2\x80\x8b.",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tokenizer_from_json((const char *)data, size, "fuzz.json", &t, &err) < 0) {
        if (t || !memchr(err.msg, 0, sizeof err.msg) || !strstr(err.msg, "fuzz.json")) abort();
        return 0;
    }
    int32_t nv = lmd_tokenizer_vocab_size(t);
    for (size_t i = 0; i < sizeof lmd_fuzz_texts / sizeof *lmd_fuzz_texts; i++) {
        int32_t *ids;
        size_t n;
        if (lmd_tokenize(t, lmd_fuzz_texts[i], strlen(lmd_fuzz_texts[i]), &ids, &n, &err) < 0) continue;
        for (size_t k = 0; k < n; k++) {
            if (ids[k] < 0 || ids[k] >= nv || !lmd_token_raw(t, ids[k])) abort();
            free(lmd_token_display(t, ids[k]));
        }
        size_t len;
        free(lmd_detokenize(t, ids, n, &len));
        free(ids);
    }
    char hex[65];
    lmd_tokenizer_hash(t, hex);
    if (strlen(hex) != 64 || !lmd_tokenizers_compatible(t, t)) abort();
    size_t clen;
    free(lmd_tokenizer_canonical(t, &clen));
    lmd_tokenizer_free(t);
    return 0;
}
