/* fuzz_bpe.c - libFuzzer target: encodes the input with the real GPT-2
 * tokenizer (folder in $LMD_FUZZ_TOKENIZER, default
 * ../shared/fixtures/tokenizers/gpt2).  Valid UTF-8 must decode back to
 * itself; invalid UTF-8 must be refused.  The input, taken as one piece, is
 * also run through BPE and compared with a plain quadratic reference. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tokenize/tok_internal.h"

static lmd_tokenizer *lmd_fuzz_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = getenv("LMD_FUZZ_TOKENIZER");
    lmd_error err;
    if (dir) {
        if (lmd_tokenizer_load(dir, &lmd_fuzz_tok, &err) == 0) return 0;
    } else if (lmd_tokenizer_load("../shared/fixtures/tokenizers/gpt2", &lmd_fuzz_tok, &err) == 0 ||
               lmd_tokenizer_load(LMD_SOURCE_DIR "/../shared/fixtures/tokenizers/gpt2", &lmd_fuzz_tok,
                                  &err) == 0) {
        return 0;
    }
    fprintf(stderr, "fuzz_bpe: cannot load the tokenizer: %s\n", err.msg);
    abort();
}

/* Reference BPE: merge the lowest-ranked, leftmost pair until none is left. */
static size_t lmd_ref_bpe(const lmd_tokenizer *t, const uint8_t *s, size_t n, int32_t *sym) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (t->byte_id[s[i]] >= 0) sym[m++] = t->byte_id[s[i]];
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const lmd_tokenizer *t = lmd_fuzz_tok;
    int32_t *ids;
    size_t n;
    lmd_error err;
    int valid = lmd_utf8_check((const char *)data, size) == size;
    int rc = lmd_tokenize(t, (const char *)data, size, &ids, &n, &err);
    if (!valid) {
        if (rc == 0 || !strstr(err.msg, "UTF-8")) abort();
    } else {
        if (rc < 0) abort();
        size_t len;
        char *back = lmd_detokenize(t, ids, n, &len);
        if (!back || len != size || memcmp(back, data, size) != 0) abort();
        free(back);
        free(ids);
    }
    /* the merge loop (short path and heap path) against the reference */
    if (size > 0 && size <= 600) { /* quadratic: keep it short */
        lmd_bpe_scratch sc = {0};
        lmd_idvec v = {0};
        int32_t *ref = malloc(size * sizeof *ref);
        if (!ref || lmd_bpe_word(t, data, size, &sc, &v, &err) < 0) abort();
        size_t m = lmd_ref_bpe(t, data, size, ref);
        if (m != v.n || memcmp(ref, v.v, m * sizeof *ref) != 0) abort();
        free(ref);
        free(v.v);
        lmd_bpe_scratch_free(&sc);
    }
    return 0;
}
