/* fuzz_config.c - libFuzzer target: the input is the text of a config.json
 * placed beside the weights and tokenizer of a test model (tiny-llama,
 * tiny-neox, tiny-a, tiny-phi3, tiny-gemma3, tiny-mixtral or tiny-bert, chosen
 * by the input's first byte; folder
 * $LMD_FUZZ_MODELS, default tests/models).  Loading must succeed or fail
 * with a message; whatever loads must score a short text, and every
 * log-probability must be finite and <= 0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lmdiff.h"

#define N_DIRS 7
static char fuzz_dirs[N_DIRS][256];

static const char *fuzz_files[] = {
    "model.safetensors",     "tokenizer.json",          "vocab.json", "merges.txt",
    "tokenizer_config.json", "special_tokens_map.json", "config.json"};
#define N_LINKED 6 /* all but config.json */

static void cleanup(void) {
    for (int d = 0; d < N_DIRS; d++) {
        for (size_t i = 0; i < sizeof fuzz_files / sizeof *fuzz_files; i++) {
            char p[1024];
            snprintf(p, sizeof p, "%.255s/%.64s", fuzz_dirs[d], fuzz_files[i]);
            unlink(p);
        }
        rmdir(fuzz_dirs[d]);
    }
}

static void link_files(const char *src, const char *dst) {
    for (size_t i = 0; i < N_LINKED; i++) {
        char a[1200], b[1200];
        snprintf(a, sizeof a, "%.1024s/%.64s", src, fuzz_files[i]);
        snprintf(b, sizeof b, "%.1024s/%.64s", dst, fuzz_files[i]);
        if (access(a, R_OK) == 0 && symlink(a, b) != 0) abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *models = getenv("LMD_FUZZ_MODELS");
    if (!models) models = LMD_SOURCE_DIR "/tests/models";
    static const char *names[N_DIRS] = {"tiny-llama",  "tiny-neox",    "tiny-a",   "tiny-phi3",
                                        "tiny-gemma3", "tiny-mixtral", "tiny-bert"};
    for (int i = 0; i < N_DIRS; i++) {
        snprintf(fuzz_dirs[i], sizeof fuzz_dirs[i], "/tmp/lmd-fuzz-config-%d-%d", (int)getpid(), i);
        char src[1024];
        snprintf(src, sizeof src, "%.900s/%.64s", models, names[i]);
        if (mkdir(fuzz_dirs[i], 0700) != 0) abort();
        link_files(src, fuzz_dirs[i]);
    }
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const char *dir = fuzz_dirs[data[0] % N_DIRS];
    char path[512];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(data + 1, 1, size - 1, f);
    fclose(f);
    lmd_model *m = NULL;
    lmd_error err;
    if (lmd_model_load(dir, &m, &err) < 0) {
        if (m || !memchr(err.msg, 0, sizeof err.msg) || !err.msg[0]) abort();
        return 0;
    }
    lmd_scores s;
    lmd_score_opts o = {.top_k = 3, .n_threads = 1};
    if (lmd_score_text(m, "Hello world, hello.", 19, &o, &s, &err) == 0) {
        for (size_t i = 0; i < s.n; i++)
            if (!(s.logprob[i] <= 1e-6) || !isfinite(s.logprob[i])) abort();
        lmd_scores_free(&s);
    }
    lmd_model_free(m);
    return 0;
}
