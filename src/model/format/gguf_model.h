/* gguf_model.h - a GGUF file read as a model folder (gguf_model.c). */
#ifndef LMD_GGUF_MODEL_H
#define LMD_GGUF_MODEL_H

#include <cjson/cJSON.h>

#include "model/format/gguf.h"
#include "model/safetensors.h"

/* The config.json a GGUF's metadata stands for (architectures, sizes,
 * rope, bos_token_id, tie_word_embeddings): a new cJSON object. */
int lmd_gguf_model_config(const lmd_gguf *g, cJSON **cfg, lmd_error *err);

/* The GGUF's tensors under Hugging Face names and shapes (q/k rows of
 * llama-family files marked for un-permuting).  On success the set owns the
 * file's mapping (g->map is cleared); g must still be closed, and its
 * metadata stays readable while the set is open. */
int lmd_gguf_model_tensors(lmd_gguf *g, const cJSON *cfg, lmd_st_set *set, lmd_error *err);

/* ---- the other way (`lmdiff convert`, gguf_convert.c) */

/* How the converter reorders a tensor (lmd_tensor.perm_head, .transposed). */
typedef struct lmd_gguf_reorder {
    int perm_head, transposed;
} lmd_gguf_reorder;

/* The GGUF architecture of a Hugging Face class ("llama" for
 * LlamaForCausalLM), or NULL. */
const char *lmd_gguf_arch_of(const char *hf_class);
/* The GGUF name of a Hugging Face tensor name (into out) and how the
 * converter reorders it; 0 when the tensor has no GGUF counterpart (buffers
 * like attn.bias), 1 when found.  head: the head size. */
int lmd_gguf_name_of(const char *gguf_arch, const char *hf_name, int head, char *out, size_t cap,
                     lmd_gguf_reorder *how);
/* The <arch>.* keys of the config.json values the table knows (integers as
 * u32, numbers as f32). */
struct lmd_gguf_w;
int lmd_gguf_write_keys(const char *gguf_arch, const cJSON *cfg, struct lmd_gguf_w *w,
                        lmd_error *err);

#endif
