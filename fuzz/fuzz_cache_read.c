/* fuzz_cache_read.c - libFuzzer target: the input is an analysis cache
 * (HDF5, cache_read.c), read twice: through its read index (when it has a
 * valid one) and through HDF5 only (LMD_CACHE_NO_INDEX).  It must open or
 * be refused with a message that names the file; an input whose digest
 * (cache_digest.c) does not match is refused before HDF5 reads it.  Every text of what opens
 * (the first 64) must read or be refused: ids >= 0, ranks >= 1, n tokens in
 * every array, and each id's vocabulary string, when there is one, must be
 * NUL-terminated. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/corpus.h"
#include "fuzz_file.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init("cache", ".h5");
    return 0;
}

static void check_text(lmd_cache *c, const lmd_cache_text *t) {
    const lmd_scores *s = &t->s;
    volatile size_t sink = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->ids[i] < 0 || s->rank[i] < 1) abort();
        sink += (size_t)s->prob[i] + (size_t)(s->entropy[i] != s->entropy[i]);
        sink += (size_t)(s->logprob[i] > 0);
        const char *v = lmd_cache_vocab(c, s->ids[i]);
        if (v) sink += strlen(v);
    }
    for (size_t i = 0; i < s->n * (size_t)s->k; i++) {
        if (s->topk_ids[i] < 0) abort();
        if (s->topk_prob) sink += (size_t)(s->topk_prob[i] > 1);
    }
    if (t->phrase) sink += strlen(t->phrase) <= t->phrase_len;
}

static void read_all(int no_index) {
    if (no_index)
        setenv("LMD_CACHE_NO_INDEX", "1", 1);
    else
        unsetenv("LMD_CACHE_NO_INDEX");
    lmd_cache *c;
    lmd_error err;
    if (lmd_cache_open(fuzz_path, &c, &err) < 0) {
        fuzz_file_refused(&err);
        return;
    }
    const lmd_cache_info *in = lmd_cache_get_info(c);
    if (!in->dataset_name || !in->dataset_checksum || !in->vocab_hash || !in->model_name) abort();
    uint64_t n = in->n_texts < 64 ? in->n_texts : 64;
    for (uint64_t i = 0; i < n; i++) {
        lmd_cache_text t;
        int flags = (i & 1) ? LMD_CACHE_NO_TOPK_PROBS : LMD_CACHE_PHRASE;
        if (lmd_cache_read_text(c, i, flags, &t, &err) < 0) {
            fuzz_file_refused(&err);
            continue;
        }
        check_text(c, &t);
        lmd_cache_text_free(&t);
    }
    lmd_cache_close(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_file_write(data, size);
    read_all(0);
    read_all(1);
    return 0;
}
