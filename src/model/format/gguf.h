/* gguf.h - reader of llama.cpp's GGUF container (versions 2 and 3), written
 * from the published specification (ggml docs/gguf.md): header, metadata
 * key/values of every type, tensor infos, alignment, and the data section,
 * which stays in the file's mapping.  Every field is checked against the
 * file; a malformed one is refused with the file, the offset and the field
 * named. */
#ifndef LMD_GGUF_H
#define LMD_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "model/safetensors.h"

/* Metadata value types (gguf_metadata_value_type). */
enum {
    LMD_GGUF_U8 = 0,
    LMD_GGUF_I8 = 1,
    LMD_GGUF_U16 = 2,
    LMD_GGUF_I16 = 3,
    LMD_GGUF_U32 = 4,
    LMD_GGUF_I32 = 5,
    LMD_GGUF_F32 = 6,
    LMD_GGUF_BOOL = 7,
    LMD_GGUF_STRING = 8,
    LMD_GGUF_ARRAY = 9,
    LMD_GGUF_U64 = 10,
    LMD_GGUF_I64 = 11,
    LMD_GGUF_F64 = 12,
};

typedef struct lmd_gguf_kv {
    const char *key; /* into the mapping, key_len bytes, not NUL-terminated */
    size_t key_len;
    uint32_t type;       /* LMD_GGUF_* */
    uint32_t elem_type;  /* arrays: the element type */
    uint64_t n;          /* arrays: the element count; else 1 */
    const uint8_t *data; /* the value (arrays: the first element) */
} lmd_gguf_kv;

typedef struct lmd_gguf_tensor {
    const char *name; /* into the mapping, name_len bytes */
    size_t name_len;
    int ndim;
    uint64_t ne[4];  /* ggml order: ne[0] is the innermost (contiguous) dimension */
    uint32_t type;   /* ggml_type */
    uint64_t offset; /* from the start of the data section */
    const uint8_t *data;
    size_t nbytes;
} lmd_gguf_tensor;

typedef struct lmd_gguf {
    lmd_map map; /* owned unless the buffer was given to lmd_gguf_parse */
    char *path;
    uint32_t version;
    size_t alignment;
    lmd_gguf_kv *kv;
    size_t n_kv;
    lmd_gguf_tensor *tensors;
    size_t n_tensors;
} lmd_gguf;

/* Parses a GGUF held in memory (the fuzz target; lmd_gguf_open maps a file). */
int lmd_gguf_parse(const uint8_t *buf, size_t len, const char *name, lmd_gguf *g, lmd_error *err);
int lmd_gguf_open(const char *path, lmd_gguf *g, lmd_error *err);
void lmd_gguf_close(lmd_gguf *g);

/* 1 when the path names a GGUF file (ends in ".gguf", or starts with "GGUF"). */
int lmd_gguf_is_file(const char *path);

const lmd_gguf_kv *lmd_gguf_find(const lmd_gguf *g, const char *key);
const lmd_gguf_tensor *lmd_gguf_find_tensor(const lmd_gguf *g, const char *name);

/* Typed access to a key: absent keys give the default (0 returned); a
 * present key of the wrong type is an error naming it.  Any integer type is
 * accepted by _int when the value fits; _float takes F32/F64 and integers. */
int lmd_gguf_int(const lmd_gguf *g, const char *key, int64_t def, int64_t *out, lmd_error *err);
int lmd_gguf_float(const lmd_gguf *g, const char *key, double def, double *out, lmd_error *err);
int lmd_gguf_bool(const lmd_gguf *g, const char *key, int def, int *out, lmd_error *err);
/* A string key: *s points into the mapping (not NUL-terminated), NULL when
 * absent. */
int lmd_gguf_str(const lmd_gguf *g, const char *key, const char **s, size_t *len, lmd_error *err);
/* An array key with the given element type: *kv NULL when absent. */
int lmd_gguf_array(const lmd_gguf *g, const char *key, uint32_t elem_type, const lmd_gguf_kv **kv,
                   lmd_error *err);
/* The strings of a string array (validated by the parser): pointers and
 * lengths, malloc'ed. */
int lmd_gguf_strings(const lmd_gguf *g, const lmd_gguf_kv *kv, const char ***s, uint64_t **len,
                     lmd_error *err);
/* Element i of a numeric array as a double. */
double lmd_gguf_arr_num(const lmd_gguf_kv *kv, uint64_t i);

/* ggml tensor types and the dtype lmdiff reads them as (LMD_DTYPE_OTHER
 * for types it refuses); the name as ggml spells it ("Q4_K"), "type N" if
 * unknown. */
lmd_dtype lmd_ggml_dtype(uint32_t ggml_type);
const char *lmd_ggml_type_name(uint32_t ggml_type);

#endif
