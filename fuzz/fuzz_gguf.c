/* fuzz_gguf.c - libFuzzer target: the GGUF container parser must accept or
 * reject any byte string without reading out of bounds; every tensor it
 * accepts lies inside the buffer; what is read from the metadata of an
 * accepted file (the model config, the tokenizer) must be refused cleanly or
 * built.  Seed corpus: fuzz/seeds/gguf/. */
#include <stdint.h>
#include <stdlib.h>

#include "model/format/gguf.h"
#include "model/format/gguf_model.h"
#include "tokenize/tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lmd_gguf g;
    lmd_error err;
    if (lmd_gguf_parse(data, size, "fuzz.gguf", &g, &err) < 0) return 0;
    for (size_t i = 0; i < g.n_tensors; i++) {
        const lmd_gguf_tensor *t = &g.tensors[i];
        if (t->data < data || t->data + t->nbytes > data + size) abort();
        volatile uint8_t sink = 0;
        if (t->nbytes) sink ^= t->data[t->nbytes - 1];
        (void)sink;
    }
    cJSON *cfg = NULL;
    if (lmd_gguf_model_config(&g, &cfg, &err) == 0) cJSON_Delete(cfg);
    lmd_tokenizer *tok = NULL;
    if (lmd_tokenizer_from_gguf(&g, &tok, &err) == 0) {
        int32_t *ids = NULL;
        size_t n;
        if (lmd_tokenize(tok, "Hello world", 11, &ids, &n, &err) == 0) free(ids);
        lmd_tokenizer_free(tok);
    }
    lmd_gguf_close(&g);
    return 0;
}
