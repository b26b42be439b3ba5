/* gguf_model.h - a GGUF file read as a model folder (gguf_model.c). */
#ifndef LMD_GGUF_MODEL_H
#define LMD_GGUF_MODEL_H

#include <cjson/cJSON.h>

#include "model/gguf.h"
#include "model/safetensors.h"

/* The config.json a GGUF's metadata stands for (architectures, sizes,
 * rope, bos_token_id, tie_word_embeddings): a new cJSON object. */
int lmd_gguf_model_config(const lmd_gguf *g, cJSON **cfg, lmd_error *err);

/* The GGUF's tensors under Hugging Face names and shapes (q/k rows of
 * llama-family files marked for un-permuting).  On success the set owns the
 * file's mapping (g->map is cleared); g must still be closed, and its
 * metadata stays readable while the set is open. */
int lmd_gguf_model_tensors(lmd_gguf *g, const cJSON *cfg, lmd_st_set *set, lmd_error *err);

#endif
