/* tokenizer.h - internal entry points of the byte-level BPE tokenizer that
 * other parts of liblmdiff (the model loader, the fuzz targets) use beyond the
 * public API in lmdiff.h.  See docs/tokenizer.md for what is supported. */
#ifndef LMD_TOKENIZER_H
#define LMD_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "lmdiff.h"

/* Builds a tokenizer from the bytes of a tokenizer.json (len bytes, need not
 * be NUL-terminated).  name_for_errors names the file in error messages (NULL:
 * "tokenizer.json").  BOS is the id of "<|endoftext|>" when present. */
int lmd_tokenizer_from_json(const char *json, size_t len, const char *name_for_errors,
                            lmd_tokenizer **out, lmd_error *err);

/* Builds a tokenizer from the bytes of a vocab.json and a merges.txt (GPT-2
 * style, ByteLevel without a prefix space, "<|endoftext|>" as the special
 * token when it is in the vocabulary).  The names are for error messages. */
int lmd_tokenizer_from_vocab_merges(const char *vocab_json, size_t vocab_len,
                                    const char *vocab_name, const char *merges_txt,
                                    size_t merges_len, const char *merges_name,
                                    lmd_tokenizer **out, lmd_error *err);

/* What tokenizer_config.json says about a SentencePiece model (transformers'
 * LlamaTokenizer options).  lmd_spm_options_default: legacy 1,
 * add_prefix_space -1 (the model's add_dummy_prefix), add_bos 1, add_eos 0. */
typedef struct lmd_spm_options {
    int legacy;           /* 1: Prepend + Replace normalizer; 0: Metaspace "first" */
    int add_prefix_space; /* -1: the model's add_dummy_prefix; 0/1 overrides it */
    int add_bos, add_eos; /* the post-processor's frame */
} lmd_spm_options;
lmd_spm_options lmd_spm_options_default(void);

/* Builds a tokenizer from the bytes of a SentencePiece tokenizer.model (BPE
 * models only; unigram ones are refused), as Hugging Face's LlamaConverter
 * turns it into a tokenizer.json (docs/tokenizer.md).  BOS is the model's
 * bos piece.  opts NULL: the defaults. */
int lmd_tokenizer_from_spm(const char *data, size_t len, const char *name_for_errors,
                           const lmd_spm_options *opts, lmd_tokenizer **out, lmd_error *err);

/* A tokenizer from a GGUF file's tokenizer.ggml.* metadata (load_gguf.c):
 * from an open file, or from a path. */
struct lmd_gguf;
int lmd_tokenizer_from_gguf(const struct lmd_gguf *g, lmd_tokenizer **out, lmd_error *err);
int lmd_tokenizer_load_gguf(const char *path, lmd_tokenizer **out, lmd_error *err);
/* Writes the tokenizer.ggml.* keys of a GPT-2-style byte-level BPE
 * tokenizer (export_gguf.c); other tokenizers are refused. */
struct lmd_gguf_w;
int lmd_tokenizer_to_gguf(const lmd_tokenizer *tok, struct lmd_gguf_w *w, lmd_error *err);

/* The pieces the normalizer and the pre-tokenizer make of a text (no added
 * tokens are split out), each as its bytes, for tests: the callback gets
 * each piece in order.  0, or -1 with err filled. */
int lmd_tokenizer_pretokenize(const lmd_tokenizer *tok, const char *text, size_t len,
                              void (*piece)(void *ctx, const char *s, size_t n), void *ctx,
                              lmd_error *err);

/* Sets the BOS id (config.json's bos_token_id).  Ids the tokenizer does not
 * know are ignored.  Call it before the tokenizer is shared between threads. */
void lmd_tokenizer_set_bos(lmd_tokenizer *tok, int32_t id);

/* The id of a raw vocabulary string or added token ("Ġhello",
 * "<|endoftext|>"), or -1. */
int32_t lmd_tokenizer_token_id(const lmd_tokenizer *tok, const char *raw, size_t len);

/* The canonical text that lmd_tokenizer_hash hashes (docs/tokenizer.md),
 * malloc'ed, length in *len; NULL when out of memory.  For debugging and
 * tests. */
char *lmd_tokenizer_canonical(const lmd_tokenizer *tok, size_t *len);

#endif
