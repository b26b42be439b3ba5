/* gguf_write.c - writes GGUF v3 files (see gguf_write.h): the metadata as it
 * is added, the tensor infos with offsets aligned to 32, then the data.  The
 * file is written through a temporary, fsync'ed and renamed (lmd_atomic),
 * so a failure never leaves a half-written PATH. */
#include "model/format/gguf_write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic.h"

#define ALIGN 32

typedef struct wtensor {
    char *name;
    uint32_t type;
    int ndim;
    uint64_t ne[4];
    const void *data;
    size_t nbytes;
} wtensor;

struct lmd_gguf_w {
    lmd_buf kv;
    uint64_t n_kv;
    wtensor *t;
    size_t n_t, cap_t;
    int oom;
};

lmd_gguf_w *lmd_gguf_w_new(void) {
    return calloc(1, sizeof(lmd_gguf_w));
}

void lmd_gguf_w_free(lmd_gguf_w *w) {
    if (!w) return;
    lmd_buf_free(&w->kv);
    for (size_t i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->t);
    free(w);
}

static void put(lmd_buf *b, const void *p, size_t n, int *oom) {
    if (lmd_buf_put(b, p, n) < 0) *oom = 1;
}

static void put_le(lmd_buf *b, uint64_t v, int n, int *oom) {
    uint8_t x[8];
    for (int i = 0; i < n; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, (size_t)n, oom);
}

static void put_str(lmd_buf *b, const char *s, size_t n, int *oom) {
    put_le(b, n, 8, oom);
    put(b, s, n, oom);
}

static void key(lmd_gguf_w *w, const char *k, uint32_t type) {
    put_str(&w->kv, k, strlen(k), &w->oom);
    put_le(&w->kv, type, 4, &w->oom);
    w->n_kv++;
}

void lmd_gguf_w_u32(lmd_gguf_w *w, const char *k, uint32_t v) {
    key(w, k, LMD_GGUF_U32);
    put_le(&w->kv, v, 4, &w->oom);
}

void lmd_gguf_w_i32(lmd_gguf_w *w, const char *k, int32_t v) {
    key(w, k, LMD_GGUF_I32);
    put_le(&w->kv, (uint32_t)v, 4, &w->oom);
}

void lmd_gguf_w_f32(lmd_gguf_w *w, const char *k, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    key(w, k, LMD_GGUF_F32);
    put_le(&w->kv, u, 4, &w->oom);
}

void lmd_gguf_w_bool(lmd_gguf_w *w, const char *k, int v) {
    key(w, k, LMD_GGUF_BOOL);
    put_le(&w->kv, v ? 1 : 0, 1, &w->oom);
}

void lmd_gguf_w_str(lmd_gguf_w *w, const char *k, const char *v) {
    key(w, k, LMD_GGUF_STRING);
    put_str(&w->kv, v, strlen(v), &w->oom);
}

void lmd_gguf_w_strs(lmd_gguf_w *w, const char *k, const char *const *s, const size_t *len,
                     size_t n) {
    key(w, k, LMD_GGUF_ARRAY);
    put_le(&w->kv, LMD_GGUF_STRING, 4, &w->oom);
    put_le(&w->kv, n, 8, &w->oom);
    for (size_t i = 0; i < n; i++)
        put_str(&w->kv, s[i], len ? len[i] : strlen(s[i]), &w->oom);
}

void lmd_gguf_w_nums(lmd_gguf_w *w, const char *k, uint32_t elem_type, const void *v, size_t n) {
    const int sz = elem_type == LMD_GGUF_F32 || elem_type == LMD_GGUF_I32 ? 4 : 0;
    if (!sz) {
        w->oom = 1;
        return;
    }
    key(w, k, LMD_GGUF_ARRAY);
    put_le(&w->kv, elem_type, 4, &w->oom);
    put_le(&w->kv, n, 8, &w->oom);
    put(&w->kv, v, n * (size_t)sz, &w->oom); /* little-endian hosts */
}

void lmd_gguf_w_tensor(lmd_gguf_w *w, const char *name, uint32_t ggml_type, int ndim,
                       const uint64_t *ne, const void *data, size_t nbytes) {
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) {
            w->oom = 1;
            return;
        }
        w->t = t;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    if (!(t->name = strdup(name))) {
        w->oom = 1;
        return;
    }
    t->type = ggml_type;
    t->ndim = ndim;
    for (int i = 0; i < ndim && i < 4; i++)
        t->ne[i] = ne[i];
    t->data = data;
    t->nbytes = nbytes;
    w->n_t++;
}

static size_t pad(size_t n) {
    return (n + ALIGN - 1) / ALIGN * ALIGN;
}

int lmd_gguf_w_header(const lmd_gguf_w *w, lmd_buf *out, size_t *data_bytes, lmd_error *err) {
    int oom = w->oom;
    put(out, "GGUF", 4, &oom);
    put_le(out, 3, 4, &oom);
    put_le(out, w->n_t, 8, &oom);
    put_le(out, w->n_kv, 8, &oom);
    put(out, w->kv.data, w->kv.len, &oom);
    size_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        put_str(out, t->name, strlen(t->name), &oom);
        put_le(out, (uint64_t)t->ndim, 4, &oom);
        for (int d = 0; d < t->ndim; d++)
            put_le(out, t->ne[d], 8, &oom);
        put_le(out, t->type, 4, &oom);
        put_le(out, off, 8, &oom);
        off = pad(off + t->nbytes);
    }
    static const uint8_t zeros[ALIGN] = {0};
    put(out, zeros, pad(out->len) - out->len, &oom);
    *data_bytes = off;
    if (oom) return lmd_fail(err, "out of memory while building a GGUF header");
    return 0;
}

int lmd_gguf_w_write(const lmd_gguf_w *w, const char *path, lmd_error *err) {
    lmd_buf h = {0};
    size_t data_bytes;
    lmd_atomic a;
    if (lmd_gguf_w_header(w, &h, &data_bytes, err) < 0 || lmd_atomic_open(&a, path, err) < 0) {
        lmd_buf_free(&h);
        return -1;
    }
    fwrite(h.data, 1, h.len, a.f);
    static const uint8_t zeros[ALIGN] = {0};
    for (size_t i = 0; i < w->n_t && !ferror(a.f); i++) {
        const wtensor *t = &w->t[i];
        fwrite(t->data, 1, t->nbytes, a.f);
        fwrite(zeros, 1, pad(t->nbytes) - t->nbytes, a.f);
    }
    lmd_buf_free(&h);
    return lmd_atomic_commit(&a, err); /* reports a failed write with its errno */
}
