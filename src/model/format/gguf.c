/* gguf.c - the GGUF container (see gguf.h).  Layout, all little-endian:
 * "GGUF", u32 version, u64 tensor count, u64 metadata count; the metadata
 * (string key, u32 type, value; strings are u64 length + bytes; arrays are
 * u32 element type + u64 count + elements); the tensor infos (string name,
 * u32 n_dims, u64 dims[n_dims], u32 ggml type, u64 offset); padding to the
 * alignment (general.alignment, default 32); the data section. */
#include "model/format/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COUNT ((uint64_t)1 << 24) /* tensors or keys: far beyond any real file */
#define MAX_NAME 256                  /* ggml allows 64 bytes; be lenient but bounded */
#define MAX_DEPTH 4                   /* nested arrays */

typedef struct rd {
    const uint8_t *buf;
    size_t len, pos;
    const char *name;
    lmd_error *err;
} rd;

static int bad(rd *r, const char *field, const char *why) {
    return lmd_fail(r->err, "%s: offset %zu: %s: %s", r->name, r->pos, field, why);
}

static int need(rd *r, size_t n, const char *field) {
    if (r->len - r->pos < n) return bad(r, field, "runs past the end of the file");
    return 0;
}

static uint64_t le(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int rd_u32(rd *r, uint32_t *v, const char *field) {
    if (need(r, 4, field) < 0) return -1;
    *v = (uint32_t)le(r->buf + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int rd_u64(rd *r, uint64_t *v, const char *field) {
    if (need(r, 8, field) < 0) return -1;
    *v = le(r->buf + r->pos, 8);
    r->pos += 8;
    return 0;
}

static int rd_str(rd *r, const char **s, size_t *n, const char *field) {
    uint64_t len;
    if (rd_u64(r, &len, field) < 0) return -1;
    if (len > r->len - r->pos) {
        r->pos -= 8;
        return bad(r, field, "string length runs past the end of the file");
    }
    *s = (const char *)r->buf + r->pos;
    *n = (size_t)len;
    r->pos += (size_t)len;
    return 0;
}

/* The size of a fixed-size value type; 0 for strings and arrays, -1 unknown. */
static int scalar_size(uint32_t t) {
    static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < sizeof sz / sizeof *sz ? sz[t] : -1;
}

static int skip_value(rd *r, uint32_t type, int depth, const char *field);

static int skip_array(rd *r, int depth, const char *field, uint32_t *et, uint64_t *n) {
    if (depth >= MAX_DEPTH) return bad(r, field, "arrays nested too deeply");
    if (rd_u32(r, et, field) < 0 || rd_u64(r, n, field) < 0) return -1;
    int sz = scalar_size(*et);
    if (sz < 0) {
        r->pos -= 12;
        return bad(r, field, "unknown array element type");
    }
    if (sz > 0) {
        if (*n > (r->len - r->pos) / (size_t)sz) {
            r->pos -= 8;
            return bad(r, field, "array length runs past the end of the file");
        }
        r->pos += (size_t)*n * (size_t)sz;
        if (*et == LMD_GGUF_BOOL)
            for (uint64_t i = 0; i < *n; i++)
                if (r->buf[r->pos - *n + i] > 1) return bad(r, field, "a bool is neither 0 nor 1");
        return 0;
    }
    /* strings or arrays: each at least 8 bytes, which bounds the loop */
    if (*n > (r->len - r->pos) / 8) {
        r->pos -= 8;
        return bad(r, field, "array length runs past the end of the file");
    }
    for (uint64_t i = 0; i < *n; i++)
        if (skip_value(r, *et, depth + 1, field) < 0) return -1;
    return 0;
}

static int skip_value(rd *r, uint32_t type, int depth, const char *field) {
    int sz = scalar_size(type);
    if (sz < 0) return bad(r, field, "unknown value type");
    if (sz > 0) {
        if (need(r, (size_t)sz, field) < 0) return -1;
        if (type == LMD_GGUF_BOOL && r->buf[r->pos] > 1)
            return bad(r, field, "a bool is neither 0 nor 1");
        r->pos += (size_t)sz;
        return 0;
    }
    if (type == LMD_GGUF_STRING) {
        const char *s;
        size_t n;
        return rd_str(r, &s, &n, field);
    }
    uint32_t et;
    uint64_t n;
    return skip_array(r, depth, field, &et, &n);
}

static int read_kv(rd *r, lmd_gguf_kv *kv) {
    char field[96];
    snprintf(field, sizeof field, "metadata key");
    if (rd_str(r, &kv->key, &kv->key_len, field) < 0) return -1;
    if (kv->key_len == 0 || kv->key_len > 65535) return bad(r, field, "empty or too long");
    snprintf(field, sizeof field, "value of %.*s", (int)(kv->key_len > 64 ? 64 : kv->key_len),
             kv->key);
    if (rd_u32(r, &kv->type, field) < 0) return -1;
    kv->n = 1;
    if (kv->type == LMD_GGUF_ARRAY) {
        size_t at = r->pos;
        if (skip_array(r, 0, field, &kv->elem_type, &kv->n) < 0) return -1;
        kv->data = r->buf + at + 12;
        return 0;
    }
    kv->data = r->buf + r->pos;
    return skip_value(r, kv->type, 0, field);
}

/* ggml types: name, elements per block, bytes per block, lmdiff's dtype. */
static const struct {
    const char *name;
    int blck, size;
    lmd_dtype dt;
} ggml_types[] = {
    [0] = {"F32", 1, 4, LMD_F32},
    [1] = {"F16", 1, 2, LMD_F16},
    [2] = {"Q4_0", 32, 18, LMD_Q4_0},
    [3] = {"Q4_1", 32, 20, LMD_Q4_1},
    [6] = {"Q5_0", 32, 22, LMD_Q5_0},
    [7] = {"Q5_1", 32, 24, LMD_Q5_1},
    [8] = {"Q8_0", 32, 34, LMD_Q8_0},
    [9] = {"Q8_1", 32, 36, LMD_DTYPE_OTHER},
    [10] = {"Q2_K", 256, 84, LMD_Q2_K},
    [11] = {"Q3_K", 256, 110, LMD_Q3_K},
    [12] = {"Q4_K", 256, 144, LMD_Q4_K},
    [13] = {"Q5_K", 256, 176, LMD_Q5_K},
    [14] = {"Q6_K", 256, 210, LMD_Q6_K},
    [15] = {"Q8_K", 256, 292, LMD_DTYPE_OTHER},
    [16] = {"IQ2_XXS", 256, 66, LMD_DTYPE_OTHER},
    [17] = {"IQ2_XS", 256, 74, LMD_DTYPE_OTHER},
    [18] = {"IQ3_XXS", 256, 98, LMD_DTYPE_OTHER},
    [19] = {"IQ1_S", 256, 50, LMD_DTYPE_OTHER},
    [20] = {"IQ4_NL", 32, 18, LMD_IQ4_NL},
    [21] = {"IQ3_S", 256, 110, LMD_DTYPE_OTHER},
    [22] = {"IQ2_S", 256, 82, LMD_DTYPE_OTHER},
    [23] = {"IQ4_XS", 256, 136, LMD_DTYPE_OTHER},
    [24] = {"I8", 1, 1, LMD_DTYPE_OTHER},
    [25] = {"I16", 1, 2, LMD_DTYPE_OTHER},
    [26] = {"I32", 1, 4, LMD_DTYPE_OTHER},
    [27] = {"I64", 1, 8, LMD_DTYPE_OTHER},
    [28] = {"F64", 1, 8, LMD_DTYPE_OTHER},
    [29] = {"IQ1_M", 256, 56, LMD_DTYPE_OTHER},
    [30] = {"BF16", 1, 2, LMD_BF16},
    [34] = {"TQ1_0", 256, 54, LMD_DTYPE_OTHER},
    [35] = {"TQ2_0", 256, 66, LMD_DTYPE_OTHER},
    [39] = {"MXFP4", 32, 17, LMD_DTYPE_OTHER},
};
#define N_GGML_TYPES (sizeof ggml_types / sizeof *ggml_types)

static int known_type(uint32_t t) {
    return t < N_GGML_TYPES && ggml_types[t].name;
}

lmd_dtype lmd_ggml_dtype(uint32_t t) {
    return known_type(t) ? ggml_types[t].dt : LMD_DTYPE_OTHER;
}

const char *lmd_ggml_type_name(uint32_t t) {
    static __thread char buf[24];
    if (known_type(t)) return ggml_types[t].name;
    snprintf(buf, sizeof buf, "type %u", t);
    return buf;
}

static int read_tensor(rd *r, lmd_gguf_tensor *t) {
    char field[128] = "tensor name";
    if (rd_str(r, &t->name, &t->name_len, field) < 0) return -1;
    if (t->name_len == 0 || t->name_len > MAX_NAME) return bad(r, field, "empty or too long");
    if (memchr(t->name, 0, t->name_len)) return bad(r, field, "contains a NUL byte");
    snprintf(field, sizeof field, "tensor %.*s", (int)t->name_len, t->name);
    uint32_t nd;
    if (rd_u32(r, &nd, field) < 0) return -1;
    if (nd < 1 || nd > 4) return bad(r, field, "n_dimensions is not 1 to 4");
    t->ndim = (int)nd;
    uint64_t numel = 1;
    for (int i = 0; i < 4; i++)
        t->ne[i] = 1;
    for (uint32_t i = 0; i < nd; i++) {
        if (rd_u64(r, &t->ne[i], field) < 0) return -1;
        if (t->ne[i] == 0 || t->ne[i] > ((uint64_t)1 << 40) ||
            numel > ((uint64_t)1 << 40) / t->ne[i])
            return bad(r, field, "a dimension is zero or implausibly large");
        numel *= t->ne[i];
    }
    if (rd_u32(r, &t->type, field) < 0) return -1;
    if (!known_type(t->type)) {
        r->pos -= 4;
        return bad(r, field, "unknown ggml type");
    }
    uint64_t blck = (uint64_t)ggml_types[t->type].blck;
    if (t->ne[0] % blck)
        return bad(r, field, "the first dimension is not a multiple of the type's block size");
    t->nbytes = (size_t)(numel / blck * (uint64_t)ggml_types[t->type].size);
    return rd_u64(r, &t->offset, field);
}

int lmd_gguf_parse(const uint8_t *buf, size_t len, const char *name, lmd_gguf *g, lmd_error *err) {
    memset(g, 0, sizeof *g);
    rd r = {buf, len, 0, name, err};
    if (len < 4 || memcmp(buf, "GGUF", 4))
        return lmd_fail(err, "%s: not a GGUF file (no \"GGUF\" magic at offset 0)", name);
    r.pos = 4;
    uint64_t nt, nkv;
    if (rd_u32(&r, &g->version, "version") < 0) return -1;
    if (g->version != 2 && g->version != 3) {
        r.pos = 4;
        return bad(&r, "version",
                   g->version == 1 ? "version 1 is not supported (2 and 3 are)" : "not 2 or 3");
    }
    if (rd_u64(&r, &nt, "tensor_count") < 0 || rd_u64(&r, &nkv, "metadata_kv_count") < 0) return -1;
    if (nt > MAX_COUNT || nt > len / 32) {
        r.pos = 8;
        return bad(&r, "tensor_count", "implausibly large for the file");
    }
    if (nkv > MAX_COUNT || nkv > len / 12) {
        r.pos = 16;
        return bad(&r, "metadata_kv_count", "implausibly large for the file");
    }
    g->kv = calloc(nkv ? nkv : 1, sizeof *g->kv);
    g->tensors = calloc(nt ? nt : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) {
        lmd_gguf_close(g);
        return lmd_fail(err, "%s: out of memory", name);
    }
    g->alignment = 32;
    if (!(g->path = strdup(name))) {
        lmd_gguf_close(g);
        return lmd_fail(err, "%s: out of memory", name);
    }
    for (uint64_t i = 0; i < nkv; i++, g->n_kv++) {
        size_t at = r.pos;
        if (read_kv(&r, &g->kv[i]) < 0) goto fail;
        const lmd_gguf_kv *kv = &g->kv[i];
        for (size_t j = 0; j < i; j++)
            if (g->kv[j].key_len == kv->key_len && !memcmp(g->kv[j].key, kv->key, kv->key_len)) {
                r.pos = at;
                bad(&r, "metadata key", "repeated");
                goto fail;
            }
        if (kv->key_len == 17 && !memcmp(kv->key, "general.alignment", 17)) {
            uint32_t a = kv->type == LMD_GGUF_U32 ? (uint32_t)le(kv->data, 4) : 0;
            if (!a || (a & (a - 1)) || a > 65536) {
                r.pos = at;
                bad(&r, "general.alignment", "not a power of two u32 up to 65536");
                goto fail;
            }
            g->alignment = a;
        }
    }
    for (uint64_t i = 0; i < nt; i++, g->n_tensors++)
        if (read_tensor(&r, &g->tensors[i]) < 0) goto fail;
    size_t data_off = (r.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (data_off > len && nt) {
        bad(&r, "data section", "starts past the end of the file");
        goto fail;
    }
    for (size_t i = 0; i < g->n_tensors; i++) {
        lmd_gguf_tensor *t = &g->tensors[i];
        char field[128];
        snprintf(field, sizeof field, "tensor %.*s", (int)t->name_len, t->name);
        r.pos = data_off;
        if (t->offset % g->alignment) {
            bad(&r, field, "data offset is not a multiple of the alignment");
            goto fail;
        }
        if (t->offset > len - data_off || t->nbytes > len - data_off - t->offset) {
            bad(&r, field, "data runs past the end of the file");
            goto fail;
        }
        t->data = buf + data_off + t->offset;
        for (size_t j = 0; j < i; j++)
            if (g->tensors[j].name_len == t->name_len &&
                !memcmp(g->tensors[j].name, t->name, t->name_len)) {
                bad(&r, field, "the name is repeated");
                goto fail;
            }
    }
    return 0;
fail:
    lmd_gguf_close(g);
    return -1;
}

int lmd_gguf_open(const char *path, lmd_gguf *g, lmd_error *err) {
    lmd_map map;
    if (lmd_map_file(path, &map, err) < 0) return -1;
    if (lmd_gguf_parse(map.data, map.len, path, g, err) < 0) {
        lmd_unmap(&map);
        return -1;
    }
    g->map = map;
    return 0;
}

void lmd_gguf_close(lmd_gguf *g) {
    if (g->map.data) lmd_unmap(&g->map);
    free(g->kv);
    free(g->tensors);
    free(g->path);
    memset(g, 0, sizeof *g);
}

int lmd_gguf_is_file(const char *path) {
    size_t n = strlen(path);
    return n > 5 && !strcmp(path + n - 5, ".gguf");
}

const lmd_gguf_kv *lmd_gguf_find(const lmd_gguf *g, const char *key) {
    size_t n = strlen(key);
    for (size_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key_len == n && !memcmp(g->kv[i].key, key, n)) return &g->kv[i];
    return NULL;
}

const lmd_gguf_tensor *lmd_gguf_find_tensor(const lmd_gguf *g, const char *name) {
    size_t n = strlen(name);
    for (size_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].name_len == n && !memcmp(g->tensors[i].name, name, n))
            return &g->tensors[i];
    return NULL;
}

/* A scalar of a numeric type as a double; *is_int when an integer type. */
static double num_at(uint32_t type, const uint8_t *p, int *is_int) {
    union {
        uint32_t u;
        float f;
    } f32;
    union {
        uint64_t u;
        double f;
    } f64;
    *is_int = 1;
    switch (type) {
    case LMD_GGUF_U8:
        return p[0];
    case LMD_GGUF_I8:
        return (int8_t)p[0];
    case LMD_GGUF_U16:
        return (double)le(p, 2);
    case LMD_GGUF_I16:
        return (int16_t)le(p, 2);
    case LMD_GGUF_U32:
        return (double)le(p, 4);
    case LMD_GGUF_I32:
        return (int32_t)le(p, 4);
    case LMD_GGUF_U64:
        return (double)le(p, 8);
    case LMD_GGUF_I64:
        return (double)(int64_t)le(p, 8);
    case LMD_GGUF_BOOL:
        return p[0];
    case LMD_GGUF_F32:
        *is_int = 0;
        f32.u = (uint32_t)le(p, 4);
        return f32.f;
    case LMD_GGUF_F64:
        *is_int = 0;
        f64.u = le(p, 8);
        return f64.f;
    default:
        *is_int = -1;
        return 0;
    }
}

double lmd_gguf_arr_num(const lmd_gguf_kv *kv, uint64_t i) {
    int is_int;
    return num_at(kv->elem_type, kv->data + i * (uint64_t)scalar_size(kv->elem_type), &is_int);
}

static const char *where(const lmd_gguf *g) {
    return g->path ? g->path : "gguf";
}

int lmd_gguf_int(const lmd_gguf *g, const char *key, int64_t def, int64_t *out, lmd_error *err) {
    const lmd_gguf_kv *kv = lmd_gguf_find(g, key);
    *out = def;
    if (!kv) return 0;
    int is_int;
    double v = num_at(kv->type, kv->data, &is_int);
    if (is_int != 1 || kv->type == LMD_GGUF_BOOL || v > 9.0e15 || v < -9.0e15)
        return lmd_fail(err, "%s: metadata %s must be an integer", where(g), key);
    if (kv->type == LMD_GGUF_I64)
        *out = (int64_t)le(kv->data, 8);
    else
        *out = (int64_t)v;
    return 0;
}

int lmd_gguf_float(const lmd_gguf *g, const char *key, double def, double *out, lmd_error *err) {
    const lmd_gguf_kv *kv = lmd_gguf_find(g, key);
    *out = def;
    if (!kv) return 0;
    int is_int;
    double v = num_at(kv->type, kv->data, &is_int);
    if (is_int < 0 || kv->type == LMD_GGUF_BOOL)
        return lmd_fail(err, "%s: metadata %s must be a number", where(g), key);
    *out = v;
    return 0;
}

int lmd_gguf_bool(const lmd_gguf *g, const char *key, int def, int *out, lmd_error *err) {
    const lmd_gguf_kv *kv = lmd_gguf_find(g, key);
    *out = def;
    if (!kv) return 0;
    if (kv->type != LMD_GGUF_BOOL)
        return lmd_fail(err, "%s: metadata %s must be a bool", where(g), key);
    *out = kv->data[0] != 0;
    return 0;
}

int lmd_gguf_str(const lmd_gguf *g, const char *key, const char **s, size_t *len, lmd_error *err) {
    const lmd_gguf_kv *kv = lmd_gguf_find(g, key);
    *s = NULL;
    *len = 0;
    if (!kv) return 0;
    if (kv->type != LMD_GGUF_STRING)
        return lmd_fail(err, "%s: metadata %s must be a string", where(g), key);
    *len = (size_t)le(kv->data, 8);
    *s = (const char *)kv->data + 8;
    return 0;
}

int lmd_gguf_array(const lmd_gguf *g, const char *key, uint32_t elem_type, const lmd_gguf_kv **kv,
                   lmd_error *err) {
    *kv = lmd_gguf_find(g, key);
    if (*kv && ((*kv)->type != LMD_GGUF_ARRAY || (*kv)->elem_type != elem_type)) {
        *kv = NULL;
        return lmd_fail(err, "%s: metadata %s must be an array of %s", where(g), key,
                        elem_type == LMD_GGUF_STRING ? "strings" : "numbers of another type");
    }
    return 0;
}

int lmd_gguf_strings(const lmd_gguf *g, const lmd_gguf_kv *kv, const char ***s, uint64_t **len,
                     lmd_error *err) {
    *s = malloc((kv->n ? kv->n : 1) * sizeof **s);
    *len = malloc((kv->n ? kv->n : 1) * sizeof **len);
    if (!*s || !*len) {
        free(*s), free(*len);
        *s = NULL, *len = NULL;
        return lmd_fail(err, "%s: out of memory", where(g));
    }
    const uint8_t *p = kv->data; /* bounds were checked by the parser */
    for (uint64_t i = 0; i < kv->n; i++) {
        (*len)[i] = le(p, 8);
        (*s)[i] = (const char *)p + 8;
        p += 8 + (*len)[i];
    }
    return 0;
}
