/* tokcache.c - a compact binary form of a loaded tokenizer, cached on disk
 * so that short texts do not pay for parsing tokenizer.json and building its
 * tables (docs/tokenizer.md, "Binary cache").
 *
 * The file is the finished struct lmd_tokenizer followed by its arrays,
 * each as a length and the raw elements, with a header that states the
 * struct sizes and a checksum of the payload.  It is read back into fresh
 * allocations and validated field by field before use: every string offset
 * lies in the arena, every id in the vocabulary, every hash table has an
 * empty slot, every enum is in range; the regular expressions are compiled
 * again from their source.  A file that fails any check is ignored (and
 * replaced), never trusted.
 *
 * The key is the SHA-256 of the tokenizer files of the folder (name, size,
 * bytes) and of the running binary's identity (size, mtime, inode of
 * /proc/self/exe), so that a rebuilt lmdiff, whose tokenizer code may have
 * changed, never reads an older build's file.  Location:
 * $XDG_CACHE_HOME/lmdiff, else ~/.cache/lmdiff; LMDIFF_TOKENIZER_CACHE=0
 * turns the cache off. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/atomic.h"
#include "tokenize/tok_internal.h"

/* A change of the struct must come with a change of this file (and of
 * LMD_TOKCACHE_MAGIC): the sizes are part of the header, and this check
 * fails the build first.  Any new field that holds an offset, an id or a
 * pointer needs its fix-up and check below. */
_Static_assert(sizeof(struct lmd_tokenizer) == 4584, "tokcache.c: lmd_tokenizer changed");
_Static_assert(sizeof(lmd_pretok_step) == 40, "tokcache.c: lmd_pretok_step changed");
_Static_assert(sizeof(lmd_added_tok) == 48, "tokcache.c: lmd_added_tok changed");

#define LMD_TOKCACHE_MAGIC "LMDTOK01"

typedef struct tc_header {
    char magic[8];
    uint32_t sizes[8]; /* struct sizes of this build */
    uint64_t payload_len, checksum;
} tc_header;

static void tc_sizes(uint32_t s[8]) {
    s[0] = sizeof(struct lmd_tokenizer), s[1] = sizeof(lmd_str_entry);
    s[2] = sizeof(lmd_merge_slot), s[3] = sizeof(lmd_added_tok), s[4] = sizeof(lmd_pretok_step);
    s[5] = sizeof(lmd_norm_step), s[6] = sizeof(lmd_tok_slot), s[7] = 0x01020304u;
}

/* 64-bit checksum of the payload (multiply-xor over 8-byte words): catches
 * truncation and corruption; validation below catches the rest. */
static uint64_t tc_checksum(const unsigned char *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
    }
    for (; i < n; i++)
        h = (h ^ p[i]) * 0x100000001B3ull;
    return h;
}

void lmd_tokcache_seal(void *data, size_t len) {
    if (len < sizeof(tc_header)) return;
    tc_header h;
    memcpy(&h, data, sizeof h);
    h.payload_len = len - sizeof h;
    h.checksum = tc_checksum((const unsigned char *)data + sizeof h, len - sizeof h);
    memcpy(data, &h, sizeof h);
}

/* ------------------------------------------------------------------ write */

static int tc_section(lmd_buf *b, const void *p, size_t nbytes) {
    uint64_t n = nbytes;
    static const char zero[8] = {0};
    if (lmd_buf_put(b, &n, 8) < 0 || (nbytes && lmd_buf_put(b, p, nbytes) < 0)) return -1;
    return lmd_buf_put(b, zero, (8 - nbytes % 8) % 8);
}

static size_t tc_map_slots(const lmd_strmap *m) {
    return m->slot ? m->mask + 1 : 0;
}

int lmd_tokcache_write(const lmd_tokenizer *t, lmd_buf *out) {
    lmd_buf b = {0};
    tc_header h = {0};
    memcpy(h.magic, LMD_TOKCACHE_MAGIC, 8);
    tc_sizes(h.sizes);
    struct lmd_tokenizer copy = *t;
    /* pointers mean nothing in a file: a regex is marked present by 1 */
    int rc = lmd_buf_put(&b, &h, sizeof h) < 0 ? -1 : 0;
    rc = rc || lmd_buf_put(&b, &copy, sizeof copy) < 0;
    rc = rc || tc_section(&b, t->arena.data, t->arena.len) < 0;
    rc = rc || tc_section(&b, t->vocab.e, t->vocab.n * sizeof *t->vocab.e) < 0;
    rc = rc || tc_section(&b, t->vocab.slot, tc_map_slots(&t->vocab) * 8) < 0;
    rc = rc || tc_section(&b, t->merges.slot,
                          (t->merges.slot ? t->merges.mask + 1 : 0) * sizeof *t->merges.slot) < 0;
    rc = rc || tc_section(&b, t->added, t->n_added * sizeof *t->added) < 0;
    for (size_t i = 0; !rc && i < t->n_steps; i++) {
        lmd_pretok_step s = t->steps[i];
        s.re = s.re ? (pcre2_code *)1 : NULL;
        rc = lmd_buf_put(&b, &s, sizeof s) < 0; /* steps: written one by one */
    }
    rc = rc || tc_section(&b, t->norms, t->n_norms * sizeof *t->norms) < 0;
    rc = rc || tc_section(&b, t->dec_repl, t->n_dec_repl * sizeof *t->dec_repl) < 0;
    rc = rc || tc_section(&b, t->slots, (size_t)t->n_ids * sizeof *t->slots) < 0;
    rc = rc || tc_section(&b, t->added_order, t->n_added * sizeof *t->added_order) < 0;
    rc = rc || tc_section(&b, t->whole.e, t->whole.n * sizeof *t->whole.e) < 0;
    rc = rc || tc_section(&b, t->whole.slot, tc_map_slots(&t->whole) * 8) < 0;
    rc = rc || tc_section(&b, t->frame_pre, t->n_frame_pre * sizeof(int32_t)) < 0;
    rc = rc || tc_section(&b, t->frame_post, t->n_frame_post * sizeof(int32_t)) < 0;
    if (rc) {
        lmd_buf_free(&b);
        return -1;
    }
    lmd_tokcache_seal(b.data, b.len);
    *out = b;
    return 0;
}

/* ------------------------------------------------------------------- read */

typedef struct tc_reader {
    const unsigned char *p;
    size_t n, at;
} tc_reader;

/* The next section into a fresh allocation of exactly `want` bytes (+ extra
 * zeroed bytes); NULL with *ok = 0 on a size mismatch. */
static void *tc_take(tc_reader *r, size_t want, size_t extra, int *ok) {
    uint64_t n;
    if (!*ok || r->n - r->at < 8) return *ok = 0, NULL;
    memcpy(&n, r->p + r->at, 8);
    r->at += 8;
    size_t padded = want + (8 - want % 8) % 8;
    if (n != want || r->n - r->at < padded) return *ok = 0, NULL;
    if (want + extra == 0) return NULL;
    void *m = calloc(1, want + extra);
    if (!m) return *ok = 0, NULL;
    memcpy(m, r->p + r->at, want);
    r->at += padded;
    return m;
}

/* a string of the arena: off + len + its NUL inside */
static int tc_str(const lmd_tokenizer *t, size_t off, uint32_t len) {
    return off < t->arena.len && len < t->arena.len - off && t->arena.data[off + len] == 0;
}

static int tc_id(const lmd_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids;
}

static int tc_map(const lmd_tokenizer *t, const lmd_strmap *m) {
    if (!m->slot) return m->n == 0 && !m->e;
    size_t size = m->mask + 1;
    if (size & m->mask || m->n >= size) return 0; /* a power of two with an empty slot */
    for (size_t i = 0; i < size; i++)
        if (m->slot[i] && ((uint32_t)m->slot[i] == 0 || (uint32_t)m->slot[i] - 1 >= m->n)) return 0;
    for (size_t i = 0; i < m->n; i++)
        if (!tc_str(t, m->e[i].off, m->e[i].len) || !tc_id(t, m->e[i].id)) return 0;
    return 1;
}

static int tc_norms(const lmd_tokenizer *t, const lmd_norm_step *s, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (s[i].kind < LMD_NORM_BERT || s[i].kind > LMD_NORM_NFKD) return 0;
        if ((s[i].kind == LMD_NORM_PREPEND || s[i].kind == LMD_NORM_REPLACE) &&
            (!tc_str(t, s[i].a_off, s[i].a_len) || !tc_str(t, s[i].b_off, s[i].b_len)))
            return 0;
    }
    return 1;
}

static int tc_valid(const lmd_tokenizer *t) {
    if (t->n_ids < 0 || t->n_ids > LMD_TOK_MAX_ID || t->arena.len == 0) return 0;
    if (!tc_map(t, &t->vocab) || !tc_map(t, &t->whole)) return 0;
    if (t->merges.slot) {
        size_t size = t->merges.mask + 1;
        if (size & t->merges.mask || t->merges.n >= size) return 0;
        for (size_t i = 0; i < size; i++)
            if (t->merges.slot[i].key && !tc_id(t, t->merges.slot[i].new_id)) return 0;
    } else if (t->merges.n) {
        return 0;
    }
    for (int32_t i = 0; i < t->n_ids; i++) {
        const lmd_tok_slot *s = &t->slots[i];
        if (s->kind & ~(LMD_SLOT_VOCAB | LMD_SLOT_ADDED)) return 0;
        if (s->kind &&
            (!tc_str(t, s->raw_off, s->raw_len) || !tc_str(t, s->bytes_off, s->bytes_len)))
            return 0;
    }
    for (size_t i = 0; i < t->n_added; i++) {
        const lmd_added_tok *a = &t->added[i];
        if (!tc_id(t, a->id) || !tc_str(t, a->off, a->len) ||
            !tc_str(t, a->match_off, a->match_len) || a->match_len == 0 ||
            t->added_order[i] >= t->n_added)
            return 0;
    }
    for (int p = 0; p < 2; p++)
        for (int c = 0; c <= 256; c++)
            if (t->bucket[p][c] > t->n_added || (c && t->bucket[p][c] < t->bucket[p][c - 1]))
                return 0;
    for (size_t i = 0; i < t->n_steps; i++) {
        const lmd_pretok_step *s = &t->steps[i];
        if (s->kind < LMD_STEP_SPLIT_REGEX || s->kind > LMD_STEP_METASPACE ||
            s->prepend > LMD_PREPEND_NEVER)
            return 0;
        if (s->kind != LMD_STEP_PREFIX_SPACE && !tc_str(t, s->src_off, s->src_len)) return 0;
    }
    if (!tc_norms(t, t->norms, t->n_norms) || !tc_norms(t, t->dec_repl, t->n_dec_repl)) return 0;
    if (t->model != LMD_MODEL_BPE && t->model != LMD_MODEL_WORDPIECE) return 0;
    if (t->decoder < LMD_DEC_BYTELEVEL || t->decoder > LMD_DEC_TEXT) return 0;
    if ((t->model == LMD_MODEL_WORDPIECE && !tc_str(t, t->wp_prefix_off, t->wp_prefix_len)) ||
        (t->decoder == LMD_DEC_WORDPIECE && !tc_str(t, t->dec_prefix_off, t->dec_prefix_len)) ||
        (t->has_unk && !tc_str(t, t->unk_off, t->unk_len)))
        return 0;
    for (int b = 0; b < 256; b++)
        if ((t->byte_id[b] != -1 && !tc_id(t, t->byte_id[b])) ||
            (t->fallback_id[b] != -1 && !tc_id(t, t->fallback_id[b])))
            return 0;
    if ((t->unk_id < -2 || (t->unk_id >= 0 && !tc_id(t, t->unk_id))) ||
        (t->bos != -1 && !tc_id(t, t->bos)) || (t->mask_id != -1 && !tc_id(t, t->mask_id)))
        return 0;
    for (size_t i = 0; i < t->n_frame_pre; i++)
        if (!tc_id(t, t->frame_pre[i])) return 0;
    for (size_t i = 0; i < t->n_frame_post; i++)
        if (!tc_id(t, t->frame_post[i])) return 0;
    if (t->hash[64] != 0 || strspn(t->hash, "0123456789abcdef") != 64) return 0;
    return 1;
}

/* Compiles the regular expressions again from their sources. */
static int tc_compile(lmd_tokenizer *t, const uint8_t *had_re, lmd_error *err) {
    for (size_t i = 0; i < t->n_steps; i++) {
        if (!had_re[i]) continue;
        lmd_pretok_step *s = &t->steps[i];
        s->re = lmd_regex_compile(lmd_tok_str(t, s->src_off), s->src_len,
                                  s->kind == LMD_STEP_SPLIT_LITERAL, err);
        if (!s->re) return -1;
    }
    if (t->any_single_word && !(t->word_re = lmd_tok_word_re()))
        return lmd_fail(err, "cannot compile the word-character class");
    return 0;
}

int lmd_tokcache_read(const void *data, size_t len, lmd_tokenizer **out, lmd_error *err) {
    *out = NULL;
    tc_header h;
    uint32_t sizes[8];
    tc_sizes(sizes);
    if (len < sizeof h + sizeof(struct lmd_tokenizer)) return lmd_fail(err, "too short");
    memcpy(&h, data, sizeof h);
    const unsigned char *p = (const unsigned char *)data + sizeof h;
    if (memcmp(h.magic, LMD_TOKCACHE_MAGIC, 8) || memcmp(h.sizes, sizes, sizeof sizes))
        return lmd_fail(err, "not a tokenizer cache of this build");
    if (h.payload_len != len - sizeof h || h.checksum != tc_checksum(p, len - sizeof h))
        return lmd_fail(err, "checksum mismatch");
    lmd_tokenizer *t = malloc(sizeof *t);
    uint8_t *had_re = NULL;
    if (!t) return lmd_fail(err, "out of memory");
    memcpy(t, p, sizeof *t);
    /* whether the hash tables had slots, from the pointers as written */
    int vslot = t->vocab.slot != NULL, wslot = t->whole.slot != NULL,
        mslot = t->merges.slot != NULL;
    /* every pointer is replaced before anything can fail */
    t->arena.data = NULL, t->vocab.e = NULL, t->vocab.slot = NULL, t->merges.slot = NULL;
    t->added = NULL, t->steps = NULL, t->norms = NULL, t->dec_repl = NULL, t->slots = NULL;
    t->added_order = NULL, t->word_re = NULL, t->whole.e = NULL, t->whole.slot = NULL;
    t->frame_pre = NULL, t->frame_post = NULL;
    size_t n_steps = t->n_steps;
    t->n_steps = 0; /* until their regexes exist */
    tc_reader r = {p, len - sizeof h, sizeof *t};
    int ok = 1;
    /* counts that size allocations must be sane before they are used */
    if (t->n_ids < 0 || t->n_ids > LMD_TOK_MAX_ID || t->vocab.n > r.n || t->whole.n > r.n ||
        t->n_added > r.n || n_steps > r.n || t->n_norms > r.n || t->n_dec_repl > r.n ||
        t->n_frame_pre > r.n || t->n_frame_post > r.n || t->vocab.mask > r.n ||
        t->whole.mask > r.n || t->merges.mask > r.n)
        ok = 0;
    t->arena.data = tc_take(&r, ok ? t->arena.len : 0, 1, &ok);
    t->arena.cap = t->arena.len + 1;
    t->vocab.e = tc_take(&r, t->vocab.n * sizeof *t->vocab.e, 0, &ok);
    t->vocab.cap_e = t->vocab.n;
    t->vocab.slot = tc_take(&r, (vslot ? t->vocab.mask + 1 : 0) * 8, 0, &ok);
    t->merges.slot = tc_take(&r, (mslot ? t->merges.mask + 1 : 0) * sizeof *t->merges.slot, 0, &ok);
    t->added = tc_take(&r, t->n_added * sizeof *t->added, 0, &ok);
    t->cap_added = t->n_added;
    if (ok && n_steps) {
        size_t nb = n_steps * sizeof *t->steps;
        t->steps = calloc(n_steps, sizeof *t->steps);
        had_re = calloc(n_steps, 1);
        if (!t->steps || !had_re || r.n - r.at < nb) ok = 0;
        for (size_t i = 0; ok && i < n_steps; i++) {
            memcpy(&t->steps[i], r.p + r.at + i * sizeof *t->steps, sizeof *t->steps);
            had_re[i] = t->steps[i].re != NULL;
            t->steps[i].re = NULL;
        }
        r.at += ok ? nb : 0;
        if (ok) t->n_steps = n_steps;
    }
    t->norms = tc_take(&r, t->n_norms * sizeof *t->norms, 0, &ok);
    t->dec_repl = tc_take(&r, t->n_dec_repl * sizeof *t->dec_repl, 0, &ok);
    t->slots = tc_take(&r, (size_t)(ok ? t->n_ids : 0) * sizeof *t->slots, 0, &ok);
    t->added_order = tc_take(&r, t->n_added * sizeof *t->added_order, sizeof *t->added_order, &ok);
    t->whole.e = tc_take(&r, t->whole.n * sizeof *t->whole.e, 0, &ok);
    t->whole.cap_e = t->whole.n;
    t->whole.slot = tc_take(&r, (wslot ? t->whole.mask + 1 : 0) * 8, 0, &ok);
    t->frame_pre = tc_take(&r, t->n_frame_pre * sizeof(int32_t), 0, &ok);
    t->frame_post = tc_take(&r, t->n_frame_post * sizeof(int32_t), 0, &ok);
    if (!ok || r.at != r.n || !tc_valid(t)) {
        free(had_re);
        lmd_tokenizer_free(t);
        return lmd_fail(err, "malformed tokenizer cache");
    }
    if (tc_compile(t, had_re, err) < 0) {
        free(had_re);
        lmd_tokenizer_free(t);
        return -1;
    }
    free(had_re);
    *out = t;
    return 0;
}

/* ----------------------------------------------------------- the folder */

/* the files lmd_tokenizer_load may read */
static const char *const tc_files[] = {"tokenizer.json",
                                       "tokenizer_config.json",
                                       "vocab.json",
                                       "merges.txt",
                                       "tokenizer.model",
                                       "vocab.txt",
                                       "special_tokens_map.json",
                                       "added_tokens.json"};

/* The cache folder, malloc'ed, or NULL when the cache is off. */
static char *tc_dir(void) {
    const char *off = getenv("LMDIFF_TOKENIZER_CACHE");
    if (off && (!strcmp(off, "0") || !strcmp(off, "off"))) return NULL;
    const char *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (x && x[0] == '/') return lmd_path_join(x, "lmdiff");
    if (!home || home[0] != '/') return NULL;
    return lmd_path_join(home, ".cache/lmdiff");
}

int lmd_tokcache_key(const char *dir, char key[65]) {
    char *cd = tc_dir();
    key[0] = 0;
    if (!cd) return -1; /* the cache is off: no need to read the files twice */
    free(cd);
    lmd_sha256 *h = lmd_sha256_new();
    struct stat st;
    char line[256];
    if (!h) return -1;
    if (stat("/proc/self/exe", &st) != 0) {
        lmd_sha256_final_hex(h, key);
        return -1;
    }
    int n = snprintf(line, sizeof line, "lmdiff-tokcache %s %lld %lld %lld\n", LMD_TOKCACHE_MAGIC,
                     (long long)st.st_size, (long long)st.st_mtime, (long long)st.st_ino);
    lmd_sha256_update(h, line, (size_t)n);
    for (size_t i = 0; i < sizeof tc_files / sizeof *tc_files; i++) {
        char *path = lmd_path_join(dir, tc_files[i]), *data = NULL;
        size_t len = 0;
        lmd_error e;
        int have = path && lmd_file_exists(path) && lmd_read_file(path, &data, &len, &e) == 0;
        n = snprintf(line, sizeof line, "%s\t%lld\n", tc_files[i], have ? (long long)len : -1LL);
        lmd_sha256_update(h, line, (size_t)n);
        if (have) lmd_sha256_update(h, data, len);
        free(data);
        free(path);
    }
    lmd_sha256_final_hex(h, key);
    return key[0] ? 0 : -1;
}

static char *tc_path(const char *key) {
    char *d = tc_dir(), name[96];
    if (!d) return NULL;
    snprintf(name, sizeof name, "tok-%s.bin", key);
    char *p = lmd_path_join(d, name);
    free(d);
    return p;
}

int lmd_tokcache_load(const char *key, lmd_tokenizer **out) {
    *out = NULL;
    char *path = tc_path(key);
    int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    free(path);
    if (fd < 0) return 0;
    struct stat st;
    void *m = MAP_FAILED;
    if (fstat(fd, &st) == 0 && st.st_size > 0)
        m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED) return 0;
    lmd_error e;
    int rc = lmd_tokcache_read(m, (size_t)st.st_size, out, &e) == 0 ? 1 : 0;
    munmap(m, (size_t)st.st_size);
    return rc;
}

/* mkdir -p of an absolute path */
static int tc_mkdirs(const char *dir) {
    char *p = strdup(dir);
    if (!p) return -1;
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s) continue;
        char c = *s;
        *s = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            free(p);
            return -1;
        }
        if (!c) break;
        *s = c;
    }
    free(p);
    return 0;
}

void lmd_tokcache_store(const char *key, const lmd_tokenizer *t) {
    char *d = tc_dir(), *path = tc_path(key);
    lmd_buf b = {0};
    if (!d || !path || tc_mkdirs(d) < 0 || lmd_tokcache_write(t, &b) < 0) goto done;
    /* a name of its own per process and call: threads may store at once */
    static unsigned long seq;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.%ld.%lu.tmp", path, (long)getpid(),
             __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) goto done;
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w <= 0) break;
        off += (size_t)w;
    }
    /* whole and closed, or nothing: readers see the old file or the new one
     * (best effort: a cache that cannot be stored is built again next time) */
    lmd_error e;
    if (close(fd) == 0 && off == b.len)
        lmd_publish(tmp, path, &e); /* removes tmp when it fails */
    else
        unlink(tmp);
done:
    lmd_buf_free(&b);
    free(d);
    free(path);
}
