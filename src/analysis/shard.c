/* shard.c - splitting a dataset into N contiguous shards for `analyze
 * --shard K/N`, balanced by bytes (docs/cluster.md).  The texts form blocks
 * of LMD_SHARD_BLOCK (64) texts; block j, whose first text starts at offset
 * c in the texts joined by '\n' (C bytes in all, newlines counted), belongs
 * to shard 1 + floor(c * N / C).  So every text is in exactly one shard,
 * shards are contiguous and in order, each holds about C/N bytes (to a
 * block; a shard may be empty), and shards start at block boundaries, where
 * a single run's scoring batches start too (analyze.c): a shard scores its
 * texts in the very batches a single run does, and gives the same bits.
 * The split depends only on the texts, so every task computes the same. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/corpus.h"

int lmd_shard_parse(const char *s, uint32_t *k, uint32_t *n) {
    char *end;
    unsigned long a = strtoul(s, &end, 10);
    if (end == s || *end != '/' || s[0] == '-' || s[0] == '+') return -1;
    const char *t = end + 1;
    unsigned long b = strtoul(t, &end, 10);
    if (end == t || *end || t[0] == '-' || t[0] == '+') return -1;
    if (b < 1 || b > LMD_MAX_SHARDS || a < 1 || a > b) return -1;
    *k = (uint32_t)a;
    *n = (uint32_t)b;
    return 0;
}

/* The shard of the text that starts at byte c of C (C > 0, C * n fits). */
static uint32_t shard_of(uint64_t c, uint64_t total, uint32_t n) {
    return 1 + (uint32_t)(c * n / total);
}

int lmd_shard_range(lmd_dataset_reader *r, uint64_t n_texts, uint32_t k, uint32_t n,
                    uint64_t *first, uint64_t *count, lmd_error *err) {
    *first = *count = 0;
    const char *text;
    size_t len;
    uint64_t total = 0, c = 0;
    if (lmd_dataset_rewind(r, err) < 0) return -1;
    for (uint64_t i = 0; i < n_texts; i++) {
        int got = lmd_dataset_next(r, &text, &len, err);
        if (got <= 0) return got < 0 ? -1 : lmd_fail(err, "the dataset changed while being read");
        total += len + 1;
    }
    if (total > UINT64_MAX / n)
        return lmd_fail(err, "the dataset is too large for %" PRIu32 " shards", n);
    if (lmd_dataset_rewind(r, err) < 0) return -1;
    uint64_t lo = n_texts, hi = n_texts;
    uint32_t s = 1;
    for (uint64_t i = 0; i < n_texts; i++) {
        int got = lmd_dataset_next(r, &text, &len, err);
        if (got <= 0) return got < 0 ? -1 : lmd_fail(err, "the dataset changed while being read");
        if (i % LMD_SHARD_BLOCK == 0) s = shard_of(c, total, n);
        if (s == k && lo == n_texts) lo = i;
        if (s > k) {
            hi = i;
            break;
        }
        c += len + 1;
    }
    if (lmd_dataset_rewind(r, err) < 0) return -1;
    if (lo > hi) lo = hi; /* an empty shard starts where the next one does */
    *first = lo;
    *count = hi - lo;
    return 0;
}

char *lmd_shard_file_name(const char *cache_name, uint32_t k, uint32_t n) {
    size_t l = strlen(cache_name);
    if (l > 3 && !strcmp(cache_name + l - 3, ".h5")) l -= 3;
    int w = snprintf(NULL, 0, "%" PRIu32, n);
    size_t cap = l + 2 * (size_t)w + 32;
    char *s = malloc(cap);
    if (s)
        snprintf(s, cap, "%.*s.shard-%0*" PRIu32 "-of-%" PRIu32 ".h5", (int)l, cache_name, w, k, n);
    return s;
}
