/* gguf_convert.h - a Hugging Face model folder written as a GGUF file
 * (gguf_convert.c; `lmdiff convert`). */
#ifndef LMD_GGUF_CONVERT_H
#define LMD_GGUF_CONVERT_H

#include "base/base.h"
#include "model/safetensors.h"

/* Writes the model of `dir` to `out` with its matrices as `type` (LMD_F32,
 * LMD_F16, LMD_BF16, LMD_Q8_0 or LMD_Q4_0). */
int lmd_gguf_convert(const char *dir, const char *out, lmd_dtype type, lmd_error *err);

#endif
