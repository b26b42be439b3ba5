/* fuzz_spans.c - libFuzzer target: token byte spans and segments.  Encodes
 * the input with the real GPT-2, Llama-2 (tokenizer.model) and
 * bert-base-uncased tokenizers (../shared/fixtures/tokenizers, or
 * $LMD_FUZZ_TOKENIZERS), with and without spans.  The ids must be the same;
 * every span must lie in the text with starts that never decrease; GPT-2's
 * spans must tile the text with each token's own bytes; and the segments of
 * every pair must cover the text, each holding at least one token of each
 * model (when both have tokens) and every token exactly once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/segments.h"
#include "base/base.h"
#include "tokenize/tok_internal.h"

static lmd_tokenizer *lmd_fz_tok[3];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *env = getenv("LMD_FUZZ_TOKENIZERS");
    const char *roots[] = {env, "../shared/fixtures/tokenizers",
                           LMD_SOURCE_DIR "/../shared/fixtures/tokenizers"};
    const char *names[] = {"gpt2", "llama2", "bert-base-uncased"};
    lmd_error err = {0};
    for (size_t r = 0; r < 3; r++) {
        if (!roots[r]) continue;
        int ok = 1;
        for (int i = 0; i < 3 && ok; i++) {
            char *d = lmd_path_join(roots[r], names[i]);
            ok = d && lmd_tokenizer_load(d, &lmd_fz_tok[i], &err) == 0;
            free(d);
        }
        if (ok) return 0;
    }
    fprintf(stderr, "fuzz_spans: cannot load the tokenizers: %s\n", err.msg);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *s = (const char *)data;
    if (lmd_utf8_check(s, size) < size) return 0;
    int32_t *ids[3];
    lmd_span *sp[3];
    size_t n[3];
    lmd_error err;
    for (int t = 0; t < 3; t++) {
        int32_t *plain;
        size_t np;
        if (lmd_tokenize(lmd_fz_tok[t], s, size, &plain, &np, &err) < 0) abort();
        if (lmd_tokenize_spans(lmd_fz_tok[t], s, size, &ids[t], &sp[t], &n[t], &err) < 0) abort();
        if (np != n[t] || memcmp(plain, ids[t], np * sizeof *plain) != 0) abort();
        free(plain);
        size_t pos = 0;
        for (size_t i = 0; i < n[t]; i++) {
            if (sp[t][i].start > sp[t][i].end || sp[t][i].end > size) abort();
            if (i && sp[t][i].start < sp[t][i - 1].start) abort();
            if (t == 0) {
                const char *b;
                size_t bl = lmd_token_bytes(lmd_fz_tok[0], ids[0][i], &b);
                if (sp[0][i].start != pos || sp[0][i].end - pos != bl || memcmp(b, s + pos, bl))
                    abort();
                pos = sp[0][i].end;
            }
        }
        if (t == 0 && pos != size) abort();
    }
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++) {
            lmd_segments sg;
            if (lmd_segments_align(sp[a], n[a], sp[b], n[b], size, &sg, &err) < 0) abort();
            if (size && (sg.n == 0 || sg.at[0] != 0)) abort();
            if (sg.at[sg.n] != size || sg.first[0][sg.n] != n[a] || sg.first[1][sg.n] != n[b])
                abort();
            for (size_t j = 0; j < sg.n; j++) {
                if (sg.at[j] >= sg.at[j + 1]) abort();
                for (int m = 0; m < 2; m++) {
                    size_t nm = m ? n[b] : n[a];
                    if (sg.first[m][j] > sg.first[m][j + 1]) abort();
                    if (nm && sg.first[m][j] == sg.first[m][j + 1]) abort();
                }
            }
            if (a == b && sg.n != 0 && n[a] && sg.n > n[a]) abort();
            lmd_segments_free(&sg);
        }
    for (int t = 0; t < 3; t++) {
        free(ids[t]);
        free(sp[t]);
    }
    return 0;
}
