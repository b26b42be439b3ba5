/* hash.c - the canonical text of a tokenizer, whose SHA-256 is
 * lmd_tokenizer_hash.  The text describes only what decides the ids of a text
 * and the bytes of an id, in a form that does not depend on which files the
 * tokenizer came from.  The format is specified in docs/tokenizer.md; change
 * the version line whenever it changes. */
#include <stdlib.h>
#include <string.h>

#include "tokenize/tok_internal.h"

#define LMD_HASH_VERSION "lmdiff-vocab-v1"

/* A string as "<byte length>:<bytes>", so that any byte may appear in it. */
static int lmd_put_str(lmd_buf *b, const char *s, size_t len) {
    if (lmd_buf_printf(b, "%zu:", len) < 0) return -1;
    return lmd_buf_put(b, s, len);
}

typedef struct lmd_rank_pair {
    uint32_t rank;
    int32_t a, b;
} lmd_rank_pair;

static int lmd_rank_cmp(const void *x, const void *y) {
    uint32_t a = ((const lmd_rank_pair *)x)->rank, b = ((const lmd_rank_pair *)y)->rank;
    return a < b ? -1 : a > b;
}

static int lmd_added_id_cmp(const void *x, const void *y) {
    int32_t a = (*(const lmd_added_tok *const *)x)->id, b = (*(const lmd_added_tok *const *)y)->id;
    return a < b ? -1 : a > b;
}

/* "normalizer none", or the count and one line per step. */
static int lmd_put_normalizer(const lmd_tokenizer *t, lmd_buf *b) {
    if (!t->n_norms) return lmd_buf_puts(b, "normalizer none\n");
    if (lmd_buf_printf(b, "normalizer %zu\n", t->n_norms) < 0) return -1;
    for (size_t i = 0; i < t->n_norms; i++) {
        const lmd_norm_step *op = &t->norms[i];
        static const char *const forms[] = {"nfc", "nfd", "nfkc", "nfkd"};
        int rc;
        if (op->kind == LMD_NORM_BERT) {
            rc = lmd_buf_printf(b, "norm bert clean_text %d chinese %d strip_accents %d lowercase %d",
                                op->clean_text, op->chinese, op->strip_accents, op->lowercase);
        } else if (op->kind == LMD_NORM_PREPEND) {
            rc = lmd_buf_puts(b, "norm prepend ");
            if (rc == 0) rc = lmd_put_str(b, lmd_tok_str(t, op->a_off), op->a_len);
        } else if (op->kind == LMD_NORM_REPLACE) {
            rc = lmd_buf_puts(b, "norm replace ");
            if (rc == 0) rc = lmd_put_str(b, lmd_tok_str(t, op->a_off), op->a_len);
            if (rc == 0) rc = lmd_buf_puts(b, " ");
            if (rc == 0) rc = lmd_put_str(b, lmd_tok_str(t, op->b_off), op->b_len);
        } else {
            rc = lmd_buf_printf(b, "norm %s", forms[(op->kind - LMD_NORM_NFC) & 3]);
        }
        if (rc < 0 || lmd_buf_puts(b, "\n") < 0) return -1;
    }
    return 0;
}

/* The decoder of a text vocabulary: replacements in order, <0xNN> byte
 * tokens, leading spaces stripped from a decoded text. */
static int lmd_put_text_bytes(const lmd_tokenizer *t, lmd_buf *b) {
    if (lmd_buf_printf(b, "bytes text byte_fallback %d strip %u replace %zu\n",
                       t->dec_byte_fallback ? 1 : 0, (unsigned)t->dec_strip, t->n_dec_repl) < 0)
        return -1;
    for (size_t i = 0; i < t->n_dec_repl; i++) {
        const lmd_norm_step *op = &t->dec_repl[i];
        if (lmd_buf_puts(b, "r ") < 0 || lmd_put_str(b, lmd_tok_str(t, op->a_off), op->a_len) < 0 ||
            lmd_buf_puts(b, " ") < 0 || lmd_put_str(b, lmd_tok_str(t, op->b_off), op->b_len) < 0 ||
            lmd_buf_puts(b, "\n") < 0)
            return -1;
    }
    return 0;
}

int lmd_tok_canonical(const lmd_tokenizer *t, lmd_buf *b) {
    if (lmd_buf_puts(b, LMD_HASH_VERSION "\n") < 0) return -1;
    if (lmd_put_normalizer(t, b) < 0) return -1;
    if (lmd_buf_printf(b, "pre_tokenizer %zu\n", t->n_steps) < 0) return -1;
    for (size_t i = 0; i < t->n_steps; i++) {
        const lmd_pretok_step *st = &t->steps[i];
        if (st->kind == LMD_STEP_PREFIX_SPACE || st->kind == LMD_STEP_BERT) {
            if (lmd_buf_puts(b, st->kind == LMD_STEP_BERT ? "step bert\n" : "step prefix-space\n") < 0)
                return -1;
            continue;
        }
        if (st->kind == LMD_STEP_METASPACE) {
            static const char *const scheme[] = {"always", "first", "never"};
            if (lmd_buf_puts(b, "step metaspace ") < 0 ||
                lmd_put_str(b, lmd_tok_str(t, st->src_off), st->src_len) < 0 ||
                lmd_buf_printf(b, " prepend %s split %d\n", scheme[st->prepend % 3],
                               st->split ? 1 : 0) < 0)
                return -1;
            continue;
        }
        if (lmd_buf_puts(b, st->kind == LMD_STEP_SPLIT_REGEX ? "step split-regex " : "step split-literal ") < 0 ||
            lmd_put_str(b, lmd_tok_str(t, st->src_off), st->src_len) < 0)
            return -1;
        /* Isolated, not inverted: the line as it always was */
        if ((st->behavior || st->invert) &&
            lmd_buf_printf(b, " behavior %d invert %d", st->behavior, st->invert) < 0)
            return -1;
        if (lmd_buf_puts(b, "\n") < 0) return -1;
    }
    int rc = 0;
    if (t->decoder == LMD_DEC_BYTELEVEL) rc = lmd_buf_puts(b, "bytes gpt2\n");
    else if (t->decoder == LMD_DEC_NONE) rc = lmd_buf_puts(b, "bytes space-joined\n");
    else if (t->decoder == LMD_DEC_TEXT) rc = lmd_put_text_bytes(t, b);
    else if (lmd_buf_puts(b, "bytes wordpiece prefix ") < 0 ||
             lmd_put_str(b, lmd_tok_str(t, t->dec_prefix_off), t->dec_prefix_len) < 0 ||
             lmd_buf_printf(b, " cleanup %d\n", t->dec_cleanup) < 0)
        rc = -1;
    if (rc < 0) return -1;
    if (lmd_buf_puts(b, t->model == LMD_MODEL_WORDPIECE ? "model wordpiece unk " : "model bpe unk ") < 0)
        return -1;
    if (t->has_unk ? lmd_put_str(b, lmd_tok_str(t, t->unk_off), t->unk_len) : lmd_buf_puts(b, "none"))
        return -1;
    if (t->model == LMD_MODEL_WORDPIECE) {
        if (lmd_buf_puts(b, " prefix ") < 0 ||
            lmd_put_str(b, lmd_tok_str(t, t->wp_prefix_off), t->wp_prefix_len) < 0 ||
            lmd_buf_printf(b, " max_chars %zu\n", t->wp_max_chars) < 0)
            return -1;
    } else {
        if (lmd_buf_printf(b, " fuse_unk %d ignore_merges %d", t->fuse_unk ? 1 : 0,
                           t->ignore_merges ? 1 : 0) < 0)
            return -1;
        /* (written only when set, so that the text of GPT-2 style tokenizers
         * stays as it was) */
        if (t->byte_fallback && lmd_buf_puts(b, " byte_fallback 1") < 0) return -1;
        if (lmd_buf_puts(b, "\n") < 0) return -1;
    }

    size_t n_vocab = 0;
    for (int32_t id = 0; id < t->n_ids; id++) n_vocab += (t->slots[id].kind & LMD_SLOT_VOCAB) != 0;
    if (lmd_buf_printf(b, "tokens %zu\n", n_vocab) < 0) return -1;
    for (int32_t id = 0; id < t->n_ids; id++) {
        const lmd_tok_slot *s = &t->slots[id];
        if (!(s->kind & LMD_SLOT_VOCAB)) continue;
        if (lmd_buf_printf(b, "t %d ", (int)id) < 0 ||
            lmd_put_str(b, lmd_tok_str(t, s->raw_off), s->raw_len) < 0 || lmd_buf_puts(b, "\n") < 0)
            return -1;
    }

    lmd_rank_pair *m = malloc((t->merges.n + 1) * sizeof *m);
    if (!m) return -1;
    size_t k = 0;
    for (size_t i = 0; t->merges.slot && i <= t->merges.mask; i++) {
        const lmd_merge_slot *s = &t->merges.slot[i];
        if (!s->key) continue;
        uint64_t key = s->key - 1;
        m[k++] = (lmd_rank_pair){s->rank, (int32_t)(key >> 32), (int32_t)(uint32_t)key};
    }
    qsort(m, k, sizeof *m, lmd_rank_cmp);
    rc = lmd_buf_printf(b, "merges %zu\n", k);
    for (size_t i = 0; i < k && rc == 0; i++) rc = lmd_buf_printf(b, "m %d %d\n", (int)m[i].a, (int)m[i].b);
    free(m);
    if (rc < 0) return -1;

    /* Added tokens by id; "special" and (with a single pass) "normalized" do
     * not change any id, so they are left out. */
    if (lmd_buf_printf(b, "added %zu\n", t->n_added) < 0) return -1;
    const lmd_added_tok **by_id = malloc((t->n_added + 1) * sizeof *by_id);
    if (!by_id) return -1;
    for (size_t i = 0; i < t->n_added; i++) by_id[i] = &t->added[i];
    qsort(by_id, t->n_added, sizeof *by_id, lmd_added_id_cmp);
    rc = 0;
    for (size_t i = 0; i < t->n_added && rc == 0; i++) {
        const lmd_added_tok *a = by_id[i];
        rc = lmd_buf_printf(b, "a %d pass %d lstrip %d rstrip %d single_word %d ", (int)a->id,
                            lmd_tok_added_pass(t, a), a->lstrip ? 1 : 0, a->rstrip ? 1 : 0,
                            a->single_word ? 1 : 0);
        if (rc == 0) rc = lmd_put_str(b, lmd_tok_str(t, a->off), a->len);
        if (rc == 0) rc = lmd_buf_puts(b, "\n");
    }
    free(by_id);
    if (rc < 0) return -1;
    return lmd_buf_puts(b, "end\n");
}

char *lmd_tokenizer_canonical(const lmd_tokenizer *tok, size_t *len) {
    lmd_buf b = {0};
    if (!tok || lmd_tok_canonical(tok, &b) < 0) {
        lmd_buf_free(&b);
        return NULL;
    }
    if (len) *len = b.len;
    return b.data;
}
