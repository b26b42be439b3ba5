/* safetensors.h - reader for the safetensors format (one file, or the shards
 * of a model.safetensors.index.json), with every header field checked. */
#ifndef LMD_SAFETENSORS_H
#define LMD_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"

/* The block-quantized types come from GGUF files (gguf.c, quant.c). */
typedef enum {
    LMD_F32,
    LMD_F16,
    LMD_BF16,
    LMD_Q8_0,
    LMD_Q4_0,
    LMD_Q4_1,
    LMD_Q5_0,
    LMD_Q5_1,
    LMD_Q2_K,
    LMD_Q3_K,
    LMD_Q4_K,
    LMD_Q5_K,
    LMD_Q6_K,
    LMD_IQ4_NL,
    LMD_DTYPE_OTHER
} lmd_dtype;

#define LMD_MAX_DIMS 8

typedef struct lmd_tensor {
    char *name;
    lmd_dtype dtype;
    char dtype_name[16];
    int ndim;
    int64_t shape[LMD_MAX_DIMS];
    int64_t numel;
    const uint8_t *data; /* into the file's mapping */
    size_t nbytes;
    int file; /* index into lmd_st_set.files */
    /* GGUF only: how llama.cpp's converter reordered the rows (shape[0])
     * of this tensor; lmd_perm_row (quant.h) undoes it.  0: not at all;
     * D > 0: Llama q/k, row h*D + j*D/2 + i (j < 2, i < D/2) is stored as
     * row h*D + 2*i + j; -D < 0: GPT-NeoX fused qkv, row h*3D + p*D + i is
     * stored as row p*rows/3 + h*D + i. */
    int perm_head;
    /* GGUF only: 1 when the data is stored as [shape[1] x shape[0]] (GPT-2's
     * Conv1D weights, which the converter transposes). */
    int transposed;
} lmd_tensor;

typedef struct lmd_st_set {
    lmd_map *maps;
    char **files; /* paths, for error messages */
    int n_files;
    lmd_tensor *tensors; /* sorted by name */
    size_t n_tensors;
} lmd_st_set;

/* Parses one safetensors file held in memory (buf, len): fills tensors (data
 * pointers into buf).  `name` is used in messages.  Used by the fuzz target. */
int lmd_st_parse(const uint8_t *buf, size_t len, const char *name, lmd_tensor **tensors,
                 size_t *n_tensors, lmd_error *err);

/* Opens the weights of a model folder: model.safetensors, or the shards listed
 * in model.safetensors.index.json. */
int lmd_st_open_dir(const char *dir, lmd_st_set *set, lmd_error *err);
void lmd_st_close(lmd_st_set *set);
void lmd_st_free_tensors(lmd_tensor *t, size_t n);

/* Finds a tensor by exact name (binary search); NULL when absent. */
const lmd_tensor *lmd_st_find(const lmd_st_set *set, const char *name);

/* Converts n elements of an F16/BF16/F32 buffer to f32. */
/* src need not be aligned. */
void lmd_f16_to_f32(const void *src, float *dst, size_t n);
void lmd_bf16_to_f32(const void *src, float *dst, size_t n);



/* ---- writing (tests, benchmarks, tools) ---- */
typedef struct lmd_st_out {
    const char *name;
    const char *dtype; /* "F32", "F16", "BF16", or anything for tests */
    int ndim;
    int64_t shape[LMD_MAX_DIMS];
    const void *data;
    size_t nbytes;
} lmd_st_out;

/* Writes a safetensors file (header padded to 8 bytes). */
int lmd_st_write(const char *path, const lmd_st_out *t, size_t n, lmd_error *err);
#endif
