/* gguf_write.h - a GGUF v3 writer (gguf_write.c): metadata of the common
 * types, tensors given as their stored bytes (ggml types, ggml dimension
 * order: ne[0] innermost).  Used by `lmdiff convert` and the tests.
 * Errors (out of memory) are remembered and reported by the final write. */
#ifndef LMD_GGUF_WRITE_H
#define LMD_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "model/format/gguf.h"

typedef struct lmd_gguf_w lmd_gguf_w;

lmd_gguf_w *lmd_gguf_w_new(void);
void lmd_gguf_w_free(lmd_gguf_w *w);

void lmd_gguf_w_u32(lmd_gguf_w *w, const char *key, uint32_t v);
void lmd_gguf_w_i32(lmd_gguf_w *w, const char *key, int32_t v);
void lmd_gguf_w_f32(lmd_gguf_w *w, const char *key, float v);
void lmd_gguf_w_bool(lmd_gguf_w *w, const char *key, int v);
void lmd_gguf_w_str(lmd_gguf_w *w, const char *key, const char *v);
/* An array of strings (len NULL: NUL-terminated) or of F32/I32 numbers. */
void lmd_gguf_w_strs(lmd_gguf_w *w, const char *key, const char *const *s, const size_t *len,
                     size_t n);
void lmd_gguf_w_nums(lmd_gguf_w *w, const char *key, uint32_t elem_type, const void *v, size_t n);
/* A tensor; data must stay valid until the write. */
void lmd_gguf_w_tensor(lmd_gguf_w *w, const char *name, uint32_t ggml_type, int ndim,
                       const uint64_t *ne, const void *data, size_t nbytes);

/* The header, metadata, tensor infos and padding up to the data section
 * (appended to out), and the size of the data section. */
int lmd_gguf_w_header(const lmd_gguf_w *w, lmd_buf *out, size_t *data_bytes, lmd_error *err);
/* Writes the file (through a temporary, fsync'ed and renamed when complete;
 * a failure names PATH and the system's reason and leaves PATH as it was). */
int lmd_gguf_w_write(const lmd_gguf_w *w, const char *path, lmd_error *err);

#endif
