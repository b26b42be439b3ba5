/* fuzz_shards.c - libFuzzer target for the shard split (src/analysis/
 * shard.c): the first byte picks N (1..16), the rest is a dataset file.  When
 * the dataset reader accepts it, shards 1..N must start at multiples of 64
 * texts (or at the end), be contiguous and cover every text exactly once;
 * and "K/N" specs must parse back only when well-formed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/corpus.h"

static void check_spec(const uint8_t *data, size_t size) {
    char s[32];
    size_t n = size < sizeof s - 1 ? size : sizeof s - 1;
    memcpy(s, data, n);
    s[n] = 0;
    uint32_t k, m;
    if (lmd_shard_parse(s, &k, &m) == 0) {
        if (k < 1 || k > m || m > LMD_MAX_SHARDS) abort();
        char *name = lmd_shard_file_name("x.h5", k, m);
        if (!name || !strstr(name, ".shard-")) abort();
        free(name);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    check_spec(data, size);
    uint32_t n = 1 + data[0] % 16;
    char path[] = "/tmp/fuzz-shards-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    int bad = write(fd, data + 1, size - 1) != (ssize_t)(size - 1);
    close(fd);
    lmd_dataset_reader *r = NULL;
    lmd_dataset_summary sum;
    lmd_error err;
    if (!bad && lmd_dataset_open(path, &r, &err) == 0 && lmd_dataset_scan(r, 0, &sum, &err) == 0) {
        uint64_t next = 0;
        for (uint32_t k = 1; k <= n; k++) {
            uint64_t first, count;
            if (lmd_shard_range(r, sum.n_texts, k, n, &first, &count, &err) < 0) abort();
            if (first != next || (count && first % LMD_SHARD_BLOCK)) abort();
            next = first + count;
        }
        if (next != sum.n_texts) abort();
    }
    if (r) lmd_dataset_close(r);
    unlink(path);
    return 0;
}
