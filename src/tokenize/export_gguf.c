/* export_gguf.c - a tokenizer as GGUF metadata (tokenizer.ggml.*), for
 * `lmdiff convert`: byte-level BPE tokenizers whose pre-tokenizer is
 * GPT-2's (model "gpt2", pre "gpt-2": tokens by id, merges by rank,
 * token_type 3 for special added tokens and 4 for the other added ones,
 * BOS/EOS).  Others are refused: SentencePiece tokenizers would need the
 * pieces' scores, which lmdiff does not keep. */
#include <stdlib.h>
#include <string.h>

#include "model/format/gguf_write.h"
#include "tokenize/tok_internal.h"

static int is_gpt2_bpe(const lmd_tokenizer *t) {
    return t->model == LMD_MODEL_BPE && !t->text_vocab && t->n_norms == 0 && t->n_steps == 1 &&
           t->steps[0].kind == LMD_STEP_SPLIT_REGEX &&
           t->steps[0].src_len == sizeof LMD_GPT2_PATTERN - 1 &&
           !memcmp(t->arena.data + t->steps[0].src_off, LMD_GPT2_PATTERN,
                   sizeof LMD_GPT2_PATTERN - 1) &&
           t->n_frame_pre == 0 && t->n_frame_post == 0;
}

typedef struct ranked {
    uint32_t rank;
    int32_t a, b;
} ranked;

static int by_rank(const void *x, const void *y) {
    const ranked *p = x, *q = y;
    return p->rank < q->rank ? -1 : p->rank > q->rank;
}

int lmd_tokenizer_to_gguf(const lmd_tokenizer *t, lmd_gguf_w *w, lmd_error *err) {
    if (!is_gpt2_bpe(t))
        return lmd_fail(err, "the tokenizer is not GPT-2's byte-level BPE (no normalizer, "
                             "GPT-2's pre-tokenizer, no added frame): GGUF export supports "
                             "only that form");
    const size_t n = (size_t)t->n_ids;
    const char **s = calloc(n ? n : 1, sizeof *s);
    size_t *len = calloc(n ? n : 1, sizeof *len);
    int32_t *type = calloc(n ? n : 1, sizeof *type);
    ranked *m = calloc(t->merges.n ? t->merges.n : 1, sizeof *m);
    char **ms = calloc(t->merges.n ? t->merges.n : 1, sizeof *ms);
    int rc = -1;
    if (!s || !len || !type || !m || !ms) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const lmd_tok_slot *sl = &t->slots[i];
        if (!sl->kind) {
            lmd_fail(err, "token id %zu is unused: GGUF needs a dense vocabulary", i);
            goto done;
        }
        s[i] = t->arena.data + sl->raw_off;
        len[i] = sl->raw_len;
        type[i] = 1;
    }
    for (size_t i = 0; i < t->n_added; i++)
        type[t->added[i].id] = t->added[i].special ? 3 : 4;
    size_t nm = 0;
    for (size_t i = 0; t->merges.slot && i <= t->merges.mask; i++) {
        const lmd_merge_slot *ms_ = &t->merges.slot[i];
        if (!ms_->key) continue;
        const uint64_t k = ms_->key - 1;
        m[nm++] = (ranked){ms_->rank, (int32_t)(k >> 32), (int32_t)(uint32_t)k};
    }
    qsort(m, nm, sizeof *m, by_rank);
    for (size_t i = 0; i < nm; i++) {
        const lmd_tok_slot *a = &t->slots[m[i].a], *b = &t->slots[m[i].b];
        if (!(ms[i] = malloc((size_t)a->raw_len + b->raw_len + 2))) {
            lmd_fail(err, "out of memory");
            goto done;
        }
        memcpy(ms[i], t->arena.data + a->raw_off, a->raw_len);
        ms[i][a->raw_len] = ' ';
        memcpy(ms[i] + a->raw_len + 1, t->arena.data + b->raw_off, b->raw_len);
        ms[i][a->raw_len + 1 + b->raw_len] = 0;
    }
    lmd_gguf_w_str(w, "tokenizer.ggml.model", "gpt2");
    lmd_gguf_w_str(w, "tokenizer.ggml.pre", "gpt-2");
    lmd_gguf_w_strs(w, "tokenizer.ggml.tokens", s, len, n);
    lmd_gguf_w_nums(w, "tokenizer.ggml.token_type", LMD_GGUF_I32, type, n);
    lmd_gguf_w_strs(w, "tokenizer.ggml.merges", (const char *const *)ms, NULL, nm);
    if (t->bos >= 0) lmd_gguf_w_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)t->bos);
    lmd_gguf_w_bool(w, "tokenizer.ggml.add_bos_token", 0);
    rc = 0;
done:
    for (size_t i = 0; ms && i < t->merges.n; i++)
        free(ms[i]);
    free(ms);
    free(m);
    free(type);
    free(len);
    free(s);
    return rc;
}
