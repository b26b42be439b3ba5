/* maps.c - the two open-addressing hash tables of the tokenizer: vocabulary
 * string -> id, and merge pair -> (rank, merged id). */
#include <stdlib.h>
#include <string.h>

#include "tokenize/tok_internal.h"

uint32_t lmd_str_hash(const char *s, size_t len) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, folded to 32 bits */
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return (uint32_t)(h ^ (h >> 32));
}

static int lmd_strmap_grow(lmd_strmap *m) {
    size_t cap = m->slot ? (m->mask + 1) * 2 : 1024;
    uint64_t *slot = calloc(cap, sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < m->n; i++) {
        size_t j = m->e[i].hash & (cap - 1);
        while (slot[j]) j = (j + 1) & (cap - 1);
        slot[j] = (uint64_t)m->e[i].hash << 32 | (uint32_t)(i + 1);
    }
    free(m->slot);
    m->slot = slot;
    m->mask = cap - 1;
    return 0;
}

const lmd_str_entry *lmd_strmap_get(const lmd_strmap *m, const char *arena, const char *s,
                                    size_t len) {
    if (!m->slot) return NULL;
    uint32_t h = lmd_str_hash(s, len);
    for (size_t j = h & m->mask;; j = (j + 1) & m->mask) {
        uint64_t k = m->slot[j];
        if (!k) return NULL;
        if ((uint32_t)(k >> 32) != h) continue;
        const lmd_str_entry *e = &m->e[(uint32_t)k - 1];
        if (e->len == len && memcmp(arena + e->off, s, len) == 0) return e;
    }
}

int lmd_strmap_put(lmd_strmap *m, const char *arena, size_t off, uint32_t len, int32_t id) {
    if (lmd_strmap_get(m, arena, arena + off, len)) return 1;
    if (m->n >= UINT32_MAX - 1) return -1;
    if (!m->slot || (m->n + 1) * 2 > m->mask + 1) {
        if (lmd_strmap_grow(m) < 0) return -1;
    }
    if (m->n == m->cap_e) {
        size_t cap = m->cap_e ? m->cap_e * 2 : 1024;
        lmd_str_entry *e = realloc(m->e, cap * sizeof *e);
        if (!e) return -1;
        m->e = e;
        m->cap_e = cap;
    }
    lmd_str_entry *e = &m->e[m->n];
    e->off = off;
    e->len = len;
    e->hash = lmd_str_hash(arena + off, len);
    e->id = id;
    size_t j = e->hash & m->mask;
    while (m->slot[j]) j = (j + 1) & m->mask;
    m->slot[j] = (uint64_t)e->hash << 32 | (uint32_t)(++m->n);
    return 0;
}

void lmd_strmap_free(lmd_strmap *m) {
    free(m->e);
    free(m->slot);
    memset(m, 0, sizeof *m);
}

static int lmd_mergemap_grow(lmd_mergemap *m) {
    size_t cap = m->slot ? (m->mask + 1) * 2 : 1024;
    lmd_merge_slot *slot = calloc(cap, sizeof *slot);
    if (!slot) return -1;
    if (m->slot) {
        for (size_t i = 0; i <= m->mask; i++) {
            if (!m->slot[i].key) continue;
            size_t j = lmd_merge_hash(m->slot[i].key, cap - 1);
            while (slot[j].key) j = (j + 1) & (cap - 1);
            slot[j] = m->slot[i];
        }
    }
    free(m->slot);
    m->slot = slot;
    m->mask = cap - 1;
    return 0;
}

int lmd_mergemap_put(lmd_mergemap *m, int32_t a, int32_t b, uint32_t rank, int32_t new_id) {
    if (!m->slot || (m->n + 1) * 2 > m->mask + 1) {
        if (lmd_mergemap_grow(m) < 0) return -1;
    }
    uint64_t key = lmd_merge_key(a, b);
    size_t j = lmd_merge_hash(key, m->mask);
    while (m->slot[j].key && m->slot[j].key != key) j = (j + 1) & m->mask;
    if (!m->slot[j].key) m->n++;
    m->slot[j].key = key;
    m->slot[j].rank = rank;
    m->slot[j].new_id = new_id;
    return 0;
}

void lmd_mergemap_free(lmd_mergemap *m) {
    free(m->slot);
    memset(m, 0, sizeof *m);
}
