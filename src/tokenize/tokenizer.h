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
