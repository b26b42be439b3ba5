/* fuzz_vocab_txt.c - libFuzzer target: a vocab.txt folder.  The input is a
 * tokenizer_config.json, a NUL byte, then a vocab.txt (without a NUL byte the
 * whole input is the vocab.txt and there is no config).  Whatever loads must
 * encode, decode, display, frame and hash a few texts without crashing; what
 * does not load must fail with an error that names a file. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lmdiff.h"
#include "tokenize/tok_internal.h"

static const char *const lmd_fuzz_texts[] = {
    "Hello, World! [CLS] x[MASK]y",
    "caf\xc3\xa9 \xe5\xa4\xa9\xe5\xa4\xa9 na\xc3\xafve",
    "",
    "##a ## a##",
    "\t\n \xc2\xa0\xe3\x80\x80 !!",
    "unaffable banana bandana",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data, *nul = memchr(s, 0, size);
    cJSON *config = NULL;
    const char *vocab = s;
    size_t vlen = size;
    if (nul) {
        config = cJSON_ParseWithLength(s, (size_t)(nul - s));
        vocab = nul + 1;
        vlen = size - (size_t)(nul - s) - 1;
    }
    lmd_tokenizer *t = NULL;
    lmd_error err;
    if (lmd_tok_from_vocab_txt(vocab, vlen, "vocab.txt", config, "tokenizer_config.json", NULL,
                               NULL, &t, &err) < 0) {
        int named = strstr(err.msg, ".json") || strstr(err.msg, "vocab.txt");
        if (t || !memchr(err.msg, 0, sizeof err.msg) || !named) abort();
        cJSON_Delete(config);
        return 0;
    }
    int32_t nv = lmd_tokenizer_vocab_size(t);
    for (size_t i = 0; i < sizeof lmd_fuzz_texts / sizeof *lmd_fuzz_texts; i++) {
        int32_t *ids;
        size_t n;
        if (lmd_tokenize(t, lmd_fuzz_texts[i], strlen(lmd_fuzz_texts[i]), &ids, &n, &err) < 0)
            abort(); /* the unk token is checked at load: encoding cannot fail */
        for (size_t k = 0; k < n; k++) {
            if (ids[k] < 0 || ids[k] >= nv || !lmd_token_raw(t, ids[k])) abort();
            free(lmd_token_display(t, ids[k]));
        }
        size_t len;
        free(lmd_detokenize(t, ids, n, &len));
        free(ids);
    }
    const int32_t *pre, *post;
    size_t np, nq;
    lmd_tokenizer_frame(t, &pre, &np, &post, &nq);
    for (size_t k = 0; k < np; k++)
        if (!lmd_token_raw(t, pre[k])) abort();
    for (size_t k = 0; k < nq; k++)
        if (!lmd_token_raw(t, post[k])) abort();
    int32_t m = lmd_tokenizer_mask(t);
    if (m >= 0 && !lmd_token_raw(t, m)) abort();
    char hex[65];
    lmd_tokenizer_hash(t, hex);
    if (strlen(hex) != 64) abort();
    lmd_tokenizer_free(t);
    cJSON_Delete(config);
    return 0;
}
