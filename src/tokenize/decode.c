/* decode.c - ids -> text, and the small accessors of lmd_tokenizer. */
#include <stdlib.h>
#include <string.h>

#include "tokenize/tok_internal.h"

int32_t lmd_tokenizer_vocab_size(const lmd_tokenizer *tok) { return tok ? tok->n_ids : 0; }

static const lmd_tok_slot *lmd_slot(const lmd_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_ids || !tok->slots[id].kind) return NULL;
    return &tok->slots[id];
}

const char *lmd_token_raw(const lmd_tokenizer *tok, int32_t id) {
    const lmd_tok_slot *s = lmd_slot(tok, id);
    return s ? lmd_tok_str(tok, s->raw_off) : NULL;
}

size_t lmd_token_bytes(const lmd_tokenizer *tok, int32_t id, const char **bytes) {
    const lmd_tok_slot *s = lmd_slot(tok, id);
    if (!s) {
        if (bytes) *bytes = "";
        return 0;
    }
    if (bytes) *bytes = lmd_tok_str(tok, s->bytes_off);
    return s->bytes_len;
}

/* The WordPiece decoder (or none): the first token is its raw string
 * (cleaned up), every other one its bytes (" hello", "ing"). */
static char *lmd_detokenize_wp(const lmd_tokenizer *tok, const int32_t *ids, size_t n,
                               size_t *len) {
    lmd_buf b = {0};
    int first = 1, rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const lmd_tok_slot *s = lmd_slot(tok, ids[i]);
        if (!s) continue;
        if (first && tok->decoder == LMD_DEC_WORDPIECE && tok->dec_cleanup)
            rc = lmd_wp_cleanup(lmd_tok_str(tok, s->raw_off), s->raw_len, &b);
        else if (first)
            rc = lmd_buf_put(&b, lmd_tok_str(tok, s->raw_off), s->raw_len);
        else
            rc = lmd_buf_put(&b, lmd_tok_str(tok, s->bytes_off), s->bytes_len);
        first = 0;
    }
    if (rc == 0) rc = lmd_buf_put(&b, "", 1);
    if (rc < 0) {
        lmd_buf_free(&b);
        return NULL;
    }
    if (len) *len = b.len - 1;
    return b.data;
}

/* Appends a run of <0xNN> byte tokens as Hugging Face's ByteFallback decoder
 * does: the bytes when they are valid UTF-8, otherwise U+FFFD per byte. */
static int lmd_put_byte_run(lmd_buf *out, const char *run, size_t n) {
    if (lmd_utf8_check(run, n) == n) return lmd_buf_put(out, run, n);
    for (size_t i = 0; i < n; i++)
        if (lmd_buf_put(out, "\xEF\xBF\xBD", 3) < 0) return -1;
    return 0;
}

char *lmd_detokenize(const lmd_tokenizer *tok, const int32_t *ids, size_t n, size_t *len) {
    if (tok && (tok->decoder == LMD_DEC_WORDPIECE || tok->decoder == LMD_DEC_NONE))
        return lmd_detokenize_wp(tok, ids, n, len);
    lmd_buf out = {0}, run = {0};
    int rc = lmd_buf_put(&out, "", 0);
    for (size_t i = 0; i < n && rc == 0; i++) {
        const lmd_tok_slot *s = lmd_slot(tok, ids[i]);
        if (!s) continue; /* unknown ids decode to nothing */
        const char *b = lmd_tok_str(tok, s->bytes_off);
        if (s->byte_tok) {
            rc = lmd_buf_put(&run, b, s->bytes_len);
            continue;
        }
        if (run.len) rc = lmd_put_byte_run(&out, run.data, run.len);
        run.len = 0;
        if (rc == 0) rc = lmd_buf_put(&out, b, s->bytes_len);
    }
    if (rc == 0 && run.len) rc = lmd_put_byte_run(&out, run.data, run.len);
    lmd_buf_free(&run);
    if (rc == 0) rc = lmd_buf_put(&out, "", 1);
    if (rc < 0) {
        lmd_buf_free(&out);
        return NULL;
    }
    size_t skip = 0; /* the decoder's Strip / Metaspace: leading spaces */
    while (tok && skip < tok->dec_strip && skip + 1 < out.len && out.data[skip] == ' ') skip++;
    if (skip) memmove(out.data, out.data + skip, out.len - skip);
    if (len) *len = out.len - 1 - skip;
    return out.data;
}

char *lmd_token_display(const lmd_tokenizer *tok, int32_t id) {
    const char *b;
    size_t n = lmd_token_bytes(tok, id, &b);
    char *out = malloc(4 * n + 1); /* "\xNN" is the worst case, 4 per byte */
    if (!out) return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        int l = lmd_utf8_seq_len((const unsigned char *)b + i, n - i);
        if (l > 0) {
            memcpy(out + o, b + i, (size_t)l);
            o += (size_t)l;
            i += (size_t)l;
        } else {
            static const char hex[] = "0123456789ABCDEF";
            unsigned char c = (unsigned char)b[i++];
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    out[o] = 0;
    return out;
}

int32_t lmd_tokenizer_bos(const lmd_tokenizer *tok) { return tok ? tok->bos : -1; }

void lmd_tokenizer_set_bos(lmd_tokenizer *tok, int32_t id) {
    if (lmd_slot(tok, id)) tok->bos = id;
}

void lmd_tokenizer_hash(const lmd_tokenizer *tok, char hex[65]) {
    if (!tok) {
        memset(hex, 0, 65);
        return;
    }
    memcpy(hex, tok->hash, 65);
}

int lmd_tokenizers_compatible(const lmd_tokenizer *a, const lmd_tokenizer *b) {
    if (!a || !b) return 0;
    return a == b || (a->hash[0] && strcmp(a->hash, b->hash) == 0);
}
