/* bpe.c - byte-pair encoding of one pre-tokenized piece, as Hugging Face's
 * BPE model does it: start from one symbol per byte, then repeatedly merge the
 * adjacent pair of lowest rank (leftmost first among equal ranks).  A binary
 * heap of candidate pairs keeps this O(n log n) in the length of the piece. */
#include <stdlib.h>
#include <string.h>

#include "tokenize/tok_internal.h"

int lmd_idvec_push(lmd_idvec *v, int32_t id) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *p = realloc(v->v, cap * sizeof *p);
        if (!p) return -1;
        v->v = p;
        v->cap = cap;
    }
    v->v[v->n++] = id;
    return 0;
}

void lmd_bpe_scratch_free(lmd_bpe_scratch *sc) {
    free(sc->sym);
    free(sc->prev);
    free(sc->next);
    free(sc->heap);
    free(sc->mapped);
    memset(sc, 0, sizeof *sc);
}

static int lmd_scratch_reserve(lmd_bpe_scratch *sc, size_t n) {
    if (n <= sc->cap) return 0;
    size_t cap = sc->cap ? sc->cap : 64;
    while (cap < n) cap *= 2;
    int32_t *a = realloc(sc->sym, cap * sizeof *a);
    if (!a) return -1;
    sc->sym = a;
    a = realloc(sc->prev, cap * sizeof *a);
    if (!a) return -1;
    sc->prev = a;
    a = realloc(sc->next, cap * sizeof *a);
    if (!a) return -1;
    sc->next = a;
    uint64_t *h = realloc(sc->heap, 2 * cap * sizeof *h);
    if (!h) return -1;
    sc->heap = h;
    sc->heap_cap = 2 * cap;
    sc->cap = cap;
    return 0;
}

/* Min-heap of (rank << 32 | position). */
static void lmd_heap_push(uint64_t *h, size_t *n, uint64_t x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= x) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static uint64_t lmd_heap_pop(uint64_t *h, size_t *n) {
    uint64_t top = h[0], x = h[--*n];
    size_t i = 0, m = *n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= m) break;
        if (c + 1 < m && h[c + 1] < h[c]) c++;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    if (m) h[i] = x;
    return top;
}

/* Pushes the pair starting at symbol i, when it is a merge.  The heap never
 * holds more than 2n entries: n-1 initial pairs plus at most two per merge,
 * and there are at most n-1 merges. */
static void lmd_push_pair(const lmd_tokenizer *t, lmd_bpe_scratch *sc, size_t *hn, int32_t i) {
    if (i < 0) return;
    int32_t j = sc->next[i];
    if (j < 0) return;
    const lmd_merge_slot *m = lmd_mergemap_get(&t->merges, sc->sym[i], sc->sym[j]);
    if (m && *hn < sc->heap_cap) lmd_heap_push(sc->heap, hn, (uint64_t)m->rank << 32 | (uint32_t)i);
}

/* Short pieces (almost all words): the pairs' ranks in an array, scanned
 * for the lowest (leftmost on ties) on each merge.  Same result as the heap,
 * fewer lookups. */
#define LMD_BPE_SHORT 48

static void lmd_bpe_short(const lmd_tokenizer *t, int32_t *sym, size_t m) {
    uint32_t rank[LMD_BPE_SHORT];
    int32_t merged[LMD_BPE_SHORT];
    for (size_t i = 0; i + 1 < m; i++) {
        const lmd_merge_slot *mg = lmd_mergemap_get(&t->merges, sym[i], sym[i + 1]);
        rank[i] = mg ? mg->rank : UINT32_MAX;
        merged[i] = mg ? mg->new_id : -1;
    }
    while (m > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < m; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == UINT32_MAX) break;
        sym[best] = merged[best];
        /* drop symbol best+1 and pair best (its pair is now best, best+2) */
        for (size_t i = best + 1; i + 1 < m; i++) sym[i] = sym[i + 1];
        for (size_t i = best; i + 2 < m; i++) {
            rank[i] = rank[i + 1];
            merged[i] = merged[i + 1];
        }
        m--;
        for (size_t i = best ? best - 1 : 0; i <= best && i + 1 < m; i++) {
            const lmd_merge_slot *mg = lmd_mergemap_get(&t->merges, sym[i], sym[i + 1]);
            rank[i] = mg ? mg->rank : UINT32_MAX;
            merged[i] = mg ? mg->new_id : -1;
        }
    }
    sym[m] = -1; /* end marker for the caller */
}

static int lmd_bpe_part(const lmd_tokenizer *t, const unsigned char *s, size_t n,
                        lmd_bpe_scratch *sc, lmd_idvec *out, lmd_error *err);

int lmd_bpe_word(const lmd_tokenizer *t, const unsigned char *s, size_t n, lmd_bpe_scratch *sc,
                 lmd_idvec *out, lmd_error *err) {
    if (n == 0) return 0;
    if (n >= INT32_MAX / 2) return lmd_fail(err, "a pre-tokenized piece is too long (%zu bytes)", n);
    if (t->ignore_merges) {
        /* A piece that is a vocabulary token as a whole is taken as it is. */
        const char *key = (const char *)s;
        size_t m = n;
        if (!t->text_vocab) {
            if (sc->mapped_cap < 2 * n) {
                char *p = realloc(sc->mapped, 2 * n);
                if (!p) return lmd_fail(err, "out of memory");
                sc->mapped = p;
                sc->mapped_cap = 2 * n;
            }
            m = 0;
            for (size_t i = 0; i < n; i++) m += (size_t)lmd_byte_to_utf8(s[i], sc->mapped + m);
            key = sc->mapped;
        }
        const lmd_str_entry *e = lmd_strmap_get(&t->vocab, t->arena.data, key, m);
        if (e) return lmd_idvec_push(out, e->id) < 0 ? lmd_fail(err, "out of memory") : 0;
    }
    if (t->split_spiece) {
        /* No token of the vocabulary holds a character other than ▁
         * followed by ▁, so no merge ever crosses the start of such a ▁ run:
         * the parts between them are encoded on their own, with the same
         * result (and mostly with one lookup in t->whole). */
        size_t start = 0;
        for (size_t i = 1; i + 3 <= n; i++) {
            if (memcmp(s + i, LMD_SPIECE, 3) != 0 || (i >= 3 && memcmp(s + i - 3, LMD_SPIECE, 3) == 0))
                continue;
            if (lmd_bpe_part(t, s + start, i - start, sc, out, err) < 0) return -1;
            start = i;
            i += 2;
        }
        return lmd_bpe_part(t, s + start, n - start, sc, out, err);
    }
    return lmd_bpe_part(t, s, n, sc, out, err);
}

static int lmd_bpe_part(const lmd_tokenizer *t, const unsigned char *s, size_t n,
                        lmd_bpe_scratch *sc, lmd_idvec *out, lmd_error *err) {
    const lmd_str_entry *w = lmd_strmap_get(&t->whole, t->arena.data, (const char *)s, n);
    if (w) return lmd_idvec_push(out, w->id) < 0 ? lmd_fail(err, "out of memory") : 0;
    if (lmd_scratch_reserve(sc, n + 1) < 0) return lmd_fail(err, "out of memory");
    int32_t *sym = sc->sym;
    size_t m = 0;
    /* The first symbols, as Hugging Face's BPE::merge_word makes them: one
     * per character (per byte for byte-level vocabularies) that is in the
     * vocabulary; otherwise its <0xNN> byte tokens (byte_fallback, when all
     * exist); otherwise unk_token, one per character or one for a run of
     * them (fuse_unk); without unk_token the character is dropped.  A pending
     * unk goes out only before the next vocabulary character or at the end,
     * so byte tokens may come before it, as in Hugging Face. */
    int unk_pending = 0;
    for (size_t i = 0; i < n;) {
        size_t l = 1;
        int32_t id;
        if (t->text_vocab) {
            int k = lmd_utf8_seq_len(s + i, n - i);
            l = k > 0 ? (size_t)k : 1;
            const lmd_str_entry *e = lmd_strmap_get(&t->vocab, t->arena.data, (const char *)s + i, l);
            id = e ? e->id : -1;
        } else {
            id = t->byte_id[s[i]];
        }
        if (id >= 0) {
            if (unk_pending) sym[m++] = t->unk_id;
            unk_pending = 0;
            sym[m++] = id;
            i += l;
            continue;
        }
        if (t->byte_fallback) {
            size_t b = 0;
            while (b < l && t->fallback_id[s[i + b]] >= 0) b++;
            if (b == l) {
                for (b = 0; b < l; b++) sym[m++] = t->fallback_id[s[i + b]];
                i += l;
                continue;
            }
        }
        i += l;
        if (t->unk_id == -1) continue;
        if (t->unk_id == -2)
            return lmd_fail(err, "the text needs unk_token \"%s\", which is not in the vocabulary",
                            lmd_tok_str(t, t->unk_off));
        if (unk_pending && !t->fuse_unk) sym[m++] = t->unk_id;
        unk_pending = 1;
    }
    if (unk_pending) sym[m++] = t->unk_id;
    if (m > 1 && m <= LMD_BPE_SHORT) {
        lmd_bpe_short(t, sym, m);
        for (size_t i = 0; i < m && sym[i] >= 0; i++)
            if (lmd_idvec_push(out, sym[i]) < 0) return lmd_fail(err, "out of memory");
        return 0;
    }
    if (m > 1) {
        for (size_t i = 0; i < m; i++) {
            sc->prev[i] = (int32_t)i - 1;
            sc->next[i] = i + 1 < m ? (int32_t)i + 1 : -1;
        }
        size_t hn = 0;
        for (size_t i = 0; i + 1 < m; i++) lmd_push_pair(t, sc, &hn, (int32_t)i);
        while (hn) {
            uint64_t top = lmd_heap_pop(sc->heap, &hn);
            int32_t i = (int32_t)(uint32_t)top;
            uint32_t rank = (uint32_t)(top >> 32);
            if (sym[i] < 0) continue; /* merged into its left neighbour */
            int32_t j = sc->next[i];
            if (j < 0) continue;
            const lmd_merge_slot *mg = lmd_mergemap_get(&t->merges, sym[i], sym[j]);
            if (!mg || mg->rank != rank) continue; /* the pair has changed */
            sym[i] = mg->new_id;
            sym[j] = -1;
            sc->next[i] = sc->next[j];
            if (sc->next[j] >= 0) sc->prev[sc->next[j]] = i;
            lmd_push_pair(t, sc, &hn, sc->prev[i]);
            lmd_push_pair(t, sc, &hn, i);
        }
    }
    for (int32_t i = 0; m > 0 && i >= 0; i = m > 1 ? sc->next[i] : -1)
        if (lmd_idvec_push(out, sym[i]) < 0) return lmd_fail(err, "out of memory");
    return 0;
}
