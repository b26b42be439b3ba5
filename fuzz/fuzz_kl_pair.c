/* fuzz_kl_pair.c - libFuzzer target: the input is a KL pair file (.kl,
 * kl_pair.c), which compare, search and the server map and read in place.
 * It must open or be refused with a message that names the file; what opens
 * must give every text's values of both directions from inside the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/kl.h"

static char path[64];

static void cleanup(void) {
    unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    snprintf(path, sizeof path, "/tmp/lmd-fuzz-kl-%d.kl", (int)getpid());
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    lmd_kl_pair *p;
    lmd_error err;
    if (lmd_kl_pair_open(path, &p, &err) < 0) {
        if (!memchr(err.msg, 0, sizeof err.msg) || !strstr(err.msg, path)) abort();
        return 0;
    }
    volatile float sink = 0;
    uint64_t total = 0;
    const uint64_t n = lmd_kl_pair_n_texts(p);
    for (uint64_t i = 0; i <= n; i++)
        for (int d = 0; d < 2; d++) {
            size_t m;
            const float *k = lmd_kl_pair_text(p, i, d, &m);
            if (i == n ? k != NULL || m : !k && m) abort();
            for (size_t t = 0; t < m; t++)
                sink += k[t];
            total += m;
        }
    if (total * sizeof(float) > size) abort(); /* the values lie inside the file */
    (void)lmd_kl_pair_matches(p, "a", "b", "c");
    lmd_kl_pair_close(p);
    return 0;
}
