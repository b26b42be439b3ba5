/* fuzz_wordpiece.c - libFuzzer target: encodes the input with the real
 * bert-base-uncased tokenizer (folder in $LMD_FUZZ_BERT, default
 * ../shared/fixtures/tokenizers/bert-base-uncased), read both from its
 * tokenizer.json and from its vocab.txt; the two must give the same ids.
 * Invalid UTF-8 must be refused.  Every id must be known, display and decode.
 * The normalizer's ASCII shortcut must agree with its general path.
 * When the text holds no special token, the ids must equal a plain
 * reference: normalize, split on white space and punctuation, then greedy
 * longest match trying every end (no length bound). */
#define _GNU_SOURCE /* memmem */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "tokenize/tok_internal.h"

static lmd_tokenizer *lmd_fz_json, *lmd_fz_txt;

static int lmd_fz_load(const char *dir) {
    lmd_error err;
    if (lmd_tokenizer_load(dir, &lmd_fz_json, &err) < 0) return -1;
    char *v = lmd_path_join(dir, "vocab.txt"), *data;
    size_t len;
    int rc = lmd_read_file(v, &data, &len, &err);
    if (rc == 0) {
        rc = lmd_tok_from_vocab_txt(data, len, v, NULL, NULL, NULL, NULL, &lmd_fz_txt, &err);
        free(data);
    }
    free(v);
    if (rc < 0) fprintf(stderr, "fuzz_wordpiece: %s\n", err.msg);
    return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *dir = getenv("LMD_FUZZ_BERT");
    if (dir ? lmd_fz_load(dir) == 0
            : (lmd_fz_load("../shared/fixtures/tokenizers/bert-base-uncased") == 0 ||
               lmd_fz_load(LMD_SOURCE_DIR "/../shared/fixtures/tokenizers/bert-base-uncased") == 0))
        return 0;
    fprintf(stderr, "fuzz_wordpiece: cannot load bert-base-uncased\n");
    abort();
}

/* Reference WordPiece of one piece. */
static void lmd_ref_word(const lmd_tokenizer *t, const char *s, size_t n, lmd_idvec *out) {
    size_t chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += ((unsigned char)s[i] & 0xC0) != 0x80;
    size_t mark = out->n;
    if (chars > t->wp_max_chars) goto unk;
    char *buf = malloc(n + t->wp_prefix_len + 1);
    if (!buf) abort();
    for (size_t start = 0; start < n;) {
        int32_t id = -1;
        size_t end;
        for (end = n; end > start; end--) {
            if (end < n && ((unsigned char)s[end] & 0xC0) == 0x80) continue;
            size_t off = start > 0 ? t->wp_prefix_len : 0;
            memcpy(buf, lmd_tok_str(t, t->wp_prefix_off), off);
            memcpy(buf + off, s + start, end - start);
            const lmd_str_entry *e =
                lmd_strmap_get(&t->vocab, t->arena.data, buf, off + end - start);
            if (e) {
                id = e->id;
                break;
            }
        }
        if (id < 0) {
            free(buf);
            out->n = mark;
            goto unk;
        }
        if (lmd_idvec_push(out, id) < 0) abort();
        start = end;
    }
    free(buf);
    return;
unk:
    if (lmd_idvec_push(out, t->unk_id) < 0) abort();
}

static void lmd_ref_encode(const lmd_tokenizer *t, const char *s, size_t n, lmd_idvec *out) {
    lmd_buf b = {0};
    if (lmd_tok_normalize(t, s, n, &b) < 0) abort();
    size_t start = 0;
    for (size_t i = 0; i < b.len;) {
        uint32_t cp;
        int l = lmd_utf8_decode((const unsigned char *)b.data + i, b.len - i, &cp);
        int ws = lmd_is_white_space(cp), p = !ws && lmd_is_bert_punct(cp);
        if (ws || p) {
            if (i > start) lmd_ref_word(t, b.data + start, i - start, out);
            if (p) lmd_ref_word(t, b.data + i, (size_t)l, out);
            start = i + (size_t)l;
        }
        i += (size_t)l;
    }
    if (b.len > start) lmd_ref_word(t, b.data + start, b.len - start, out);
    lmd_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    int32_t *a = NULL, *b = NULL;
    size_t na, nb;
    lmd_error err;
    int valid = lmd_utf8_check(text, size) == size;
    int ra = lmd_tokenize(lmd_fz_json, text, size, &a, &na, &err);
    int rb = lmd_tokenize(lmd_fz_txt, text, size, &b, &nb, &err);
    if (ra != rb || (ra == 0) != valid) abort();
    if (ra < 0) return 0;
    if (na != nb || memcmp(a, b, na * sizeof *a) != 0) abort();
    int32_t nv = lmd_tokenizer_vocab_size(lmd_fz_json);
    for (size_t k = 0; k < na; k++) {
        if (a[k] < 0 || a[k] >= nv || !lmd_token_raw(lmd_fz_json, a[k])) abort();
        char *d = lmd_token_display(lmd_fz_json, a[k]);
        if (!d || lmd_utf8_check(d, strlen(d)) != strlen(d)) abort();
        free(d);
    }
    size_t len;
    char *dec = lmd_detokenize(lmd_fz_json, a, na, &len);
    if (!dec || lmd_utf8_check(dec, len) != len) abort();
    free(dec);
    /* the ASCII shortcut of the normalizer against its general path */
    lmd_buf n1 = {0}, n2 = {0};
    if (lmd_tok_normalize(lmd_fz_json, text, size, &n1) < 0 ||
        lmd_tok_norm_bert_general(&lmd_fz_json->norms[0], text, size, &n2) < 0 ||
        n1.len != n2.len || (n1.len && memcmp(n1.data, n2.data, n1.len) != 0))
        abort();
    lmd_buf_free(&n1);
    lmd_buf_free(&n2);
    int has_special = 0;
    for (size_t i = 0; i < lmd_fz_json->n_added; i++) {
        const lmd_added_tok *x = &lmd_fz_json->added[i];
        if (x->len <= size && memmem(text, size, lmd_tok_str(lmd_fz_json, x->off), x->len))
            has_special = 1;
    }
    if (!has_special) {
        lmd_idvec ref = {0};
        lmd_ref_encode(lmd_fz_json, text, size, &ref);
        if (ref.n != na || (na && memcmp(ref.v, a, na * sizeof *a) != 0)) abort();
        free(ref.v);
    }
    free(a);
    free(b);
    return 0;
}
