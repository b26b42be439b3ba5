/* fuzz_spm_encode.c - libFuzzer target: encodes the input with the real
 * Llama-2 tokenizer.model (path in $LMD_FUZZ_SPM_MODEL, default
 * ../shared/fixtures/tokenizers/llama2/tokenizer.model).  Invalid UTF-8 must
 * be refused; valid UTF-8 without added tokens (<s>, </s>, <unk>) must decode
 * back to itself (unless it holds a ▁, which decodes to a space) and give the
 * ids of a plain reference: "▁" + the text with
 * spaces as "▁", one symbol per character (its <0xNN> byte tokens when the
 * character is not in the vocabulary), then the lowest-ranked leftmost
 * merge until none is left. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tokenize/tok_internal.h"

static lmd_tokenizer *lmd_fuzz_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *path = getenv("LMD_FUZZ_SPM_MODEL");
    const char *tries[] = {path, "../shared/fixtures/tokenizers/llama2/tokenizer.model",
                           LMD_SOURCE_DIR "/../shared/fixtures/tokenizers/llama2/tokenizer.model"};
    lmd_error err = {0};
    for (size_t i = 0; i < 3; i++) {
        char *data;
        size_t len;
        if (!tries[i] || lmd_read_file(tries[i], &data, &len, &err) < 0) continue;
        int rc = lmd_tokenizer_from_spm(data, len, tries[i], NULL, &lmd_fuzz_tok, &err);
        free(data);
        if (rc == 0) return 0;
    }
    fprintf(stderr, "fuzz_spm_encode: cannot load tokenizer.model: %s\n", err.msg);
    abort();
}

static size_t lmd_ref(const lmd_tokenizer *t, const char *s, size_t n, int32_t *sym) {
    size_t m = 0;
    for (size_t i = 0; i < n;) {
        int l = lmd_utf8_seq_len((const unsigned char *)s + i, n - i);
        const lmd_str_entry *e = lmd_strmap_get(&t->vocab, t->arena.data, s + i, (size_t)l);
        if (e) {
            sym[m++] = e->id;
        } else {
            for (int b = 0; b < l; b++)
                sym[m++] = t->fallback_id[(unsigned char)s[i + b]];
        }
        i += (size_t)l;
    }
    for (;;) {
        size_t best = SIZE_MAX;
        uint32_t best_rank = UINT32_MAX;
        int32_t best_id = -1;
        for (size_t i = 0; i + 1 < m; i++) {
            const lmd_merge_slot *mg = lmd_mergemap_get(&t->merges, sym[i], sym[i + 1]);
            if (mg && mg->rank < best_rank) best = i, best_rank = mg->rank, best_id = mg->new_id;
        }
        if (best == SIZE_MAX) return m;
        sym[best] = best_id;
        memmove(sym + best + 1, sym + best + 2, (m - best - 2) * sizeof *sym);
        m--;
    }
}

static int lmd_has(const uint8_t *d, size_t n, const char *s) {
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(d + i, s, k) == 0) return 1;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const lmd_tokenizer *t = lmd_fuzz_tok;
    int32_t *ids;
    size_t n;
    lmd_error err;
    int valid = lmd_utf8_check((const char *)data, size) == size;
    int rc = lmd_tokenize(t, (const char *)data, size, &ids, &n, &err);
    if (!valid) {
        if (rc == 0 || !strstr(err.msg, "UTF-8")) abort();
        return 0;
    }
    if (rc < 0) abort();
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= lmd_tokenizer_vocab_size(t)) abort();
    if (!lmd_has(data, size, "<s>") && !lmd_has(data, size, "</s>") &&
        !lmd_has(data, size, "<unk>")) {
        size_t len;
        char *back = lmd_detokenize(t, ids, n, &len);
        /* (a ▁ of the text decodes to a space, as in Hugging Face) */
        if (!back || (!lmd_has(data, size, "\xE2\x96\x81") &&
                      (len != size || memcmp(back, data, size) != 0)))
            abort();
        free(back);
        if (size) {
            /* the normalized text, then the reference BPE */
            char *norm = malloc(3 * size + 3);
            size_t m = 0;
            memcpy(norm, "\xE2\x96\x81", 3);
            m = 3;
            for (size_t i = 0; i < size; i++) {
                if (data[i] == ' ') {
                    memcpy(norm + m, "\xE2\x96\x81", 3);
                    m += 3;
                } else {
                    norm[m++] = (char)data[i];
                }
            }
            int32_t *sym = malloc((m + 1) * 4 * sizeof *sym);
            size_t k = lmd_ref(t, norm, m, sym);
            if (k != n || memcmp(sym, ids, n * sizeof *ids) != 0) abort();
            free(sym);
            free(norm);
        }
    }
    free(ids);
    return 0;
}
