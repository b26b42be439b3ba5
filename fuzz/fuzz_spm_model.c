/* fuzz_spm_model.c - libFuzzer target: the input is a SentencePiece
 * tokenizer.model.  It must load or be refused with a message that names the
 * file; what loads is used to encode (byte fallback included), decode,
 * display and hash a few texts. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tokenize/tok_internal.h"

static const char *const lmd_texts[] = {"Hello world",
                                        " two  spaces ",
                                        "\xF0\x9F\xA6\x99 emoji",
                                        "<s>special</s><unk>",
                                        "",
                                        "\xC3\xA9t\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87\n\t"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lmd_tokenizer *t = NULL;
    lmd_error err;
    lmd_spm_options o = lmd_spm_options_default();
    o.legacy = size & 1; /* both front ends */
    if (lmd_tokenizer_from_spm((const char *)data, size, "fuzz/tokenizer.model", &o, &t, &err) <
        0) {
        if (t || !strstr(err.msg, "fuzz/tokenizer.model")) abort();
        return 0;
    }
    for (size_t k = 0; k < sizeof lmd_texts / sizeof *lmd_texts; k++) {
        int32_t *ids;
        size_t n;
        if (lmd_tokenize(t, lmd_texts[k], strlen(lmd_texts[k]), &ids, &n, &err) < 0) continue;
        for (size_t i = 0; i < n; i++) {
            if (ids[i] < 0 || ids[i] >= lmd_tokenizer_vocab_size(t)) abort();
            char *d = lmd_token_display(t, ids[i]);
            if (!d) abort();
            free(d);
        }
        size_t len;
        char *back = lmd_detokenize(t, ids, n, &len);
        if (!back || strlen(back) > len) abort(); /* (len may count NUL bytes) */
        free(back);
        free(ids);
    }
    char hex[65];
    lmd_tokenizer_hash(t, hex);
    if (strlen(hex) != 64) abort();
    lmd_tokenizer_free(t);
    return 0;
}
