/* safetensors.c - parses safetensors headers (8-byte little-endian length,
 * JSON table of tensors, raw data) and the sharded index.  Every offset,
 * shape and dtype is validated against the file so that a truncated or
 * hostile file gives an error, never an out-of-bounds read. */
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HEADER (256u << 20) /* 256 MiB of JSON is far beyond any real model */

static int dtype_of(const char *s, lmd_dtype *dt, size_t *esize) {
    static const struct {
        const char *name;
        lmd_dtype dt;
        size_t size;
    } table[] = {
        {"F32", LMD_F32, 4},        {"F16", LMD_F16, 2},        {"BF16", LMD_BF16, 2},
        {"F64", LMD_DTYPE_OTHER, 8}, {"I64", LMD_DTYPE_OTHER, 8}, {"I32", LMD_DTYPE_OTHER, 4},
        {"I16", LMD_DTYPE_OTHER, 2}, {"I8", LMD_DTYPE_OTHER, 1},  {"U8", LMD_DTYPE_OTHER, 1},
        {"BOOL", LMD_DTYPE_OTHER, 1}, {"U16", LMD_DTYPE_OTHER, 2}, {"U32", LMD_DTYPE_OTHER, 4},
        {"U64", LMD_DTYPE_OTHER, 8}, {"F8_E4M3", LMD_DTYPE_OTHER, 1}, {"F8_E5M2", LMD_DTYPE_OTHER, 1},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(s, table[i].name)) {
            *dt = table[i].dt;
            *esize = table[i].size;
            return 0;
        }
    return -1;
}

void lmd_st_free_tensors(lmd_tensor *t, size_t n) {
    if (!t) return;
    for (size_t i = 0; i < n; i++) free(t[i].name);
    free(t);
}

static int cmp_begin(const void *a, const void *b) {
    const lmd_tensor *x = a, *y = b;
    return x->data < y->data ? -1 : x->data > y->data ? 1 : 0;
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const lmd_tensor *)a)->name, ((const lmd_tensor *)b)->name);
}

/* A JSON number that is a non-negative integer exactly representable. */
static int json_u64(const cJSON *v, uint64_t *out) {
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    if (!(d >= 0) || d > 9007199254740992.0 || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

int lmd_st_parse(const uint8_t *buf, size_t len, const char *name, lmd_tensor **tensors,
                 size_t *n_tensors, lmd_error *err) {
    *tensors = NULL;
    *n_tensors = 0;
    if (len < 8) return lmd_fail(err, "%s: not a safetensors file (%zu bytes, too short)", name, len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | buf[i];
    if (hlen > len - 8)
        return lmd_fail(err, "%s: header length %llu runs past the end of the file (%zu bytes)",
                        name, (unsigned long long)hlen, len);
    if (hlen > MAX_HEADER)
        return lmd_fail(err, "%s: header length %llu is implausibly large", name,
                        (unsigned long long)hlen);
    const char *hjson = (const char *)buf + 8;
    if (hlen == 0 || hjson[0] != '{')
        return lmd_fail(err, "%s: not a safetensors file (the header is not a JSON object)", name);
    cJSON *root = cJSON_ParseWithLength(hjson, (size_t)hlen);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return lmd_fail(err, "%s: the safetensors header is not valid JSON", name);
    }
    const uint8_t *data = buf + 8 + hlen;
    size_t data_len = len - 8 - (size_t)hlen;

    size_t cap = (size_t)cJSON_GetArraySize(root);
    lmd_tensor *t = calloc(cap ? cap : 1, sizeof *t);
    if (!t) {
        cJSON_Delete(root);
        return lmd_fail(err, "%s: out of memory", name);
    }
    size_t n = 0;
    int rc = 0;
    for (cJSON *e = root->child; e; e = e->next) {
        if (!e->string) continue;
        if (!strcmp(e->string, "__metadata__")) continue;
        const char *tn = e->string;
        if (!cJSON_IsObject(e)) {
            rc = lmd_fail(err, "%s: tensor %s: entry is not an object", name, tn);
            break;
        }
        cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
        cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
        cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
        if (!cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
            cJSON_GetArraySize(offs) != 2) {
            rc = lmd_fail(err, "%s: tensor %s: needs dtype, shape and data_offsets [begin, end]",
                          name, tn);
            break;
        }
        lmd_tensor *x = &t[n];
        size_t esize;
        if (dtype_of(dt->valuestring, &x->dtype, &esize) < 0) {
            rc = lmd_fail(err, "%s: tensor %s: unknown dtype '%s'", name, tn, dt->valuestring);
            break;
        }
        snprintf(x->dtype_name, sizeof x->dtype_name, "%s", dt->valuestring);
        int nd = cJSON_GetArraySize(shape);
        if (nd > LMD_MAX_DIMS) {
            rc = lmd_fail(err, "%s: tensor %s: %d dimensions (at most %d)", name, tn, nd,
                          LMD_MAX_DIMS);
            break;
        }
        x->ndim = nd;
        uint64_t numel = 1;
        int bad = 0;
        for (int d = 0; d < nd; d++) {
            uint64_t v;
            if (json_u64(cJSON_GetArrayItem(shape, d), &v) < 0 || v > (1ull << 40)) {
                bad = 1;
                break;
            }
            x->shape[d] = (int64_t)v;
            if (v && numel > UINT64_MAX / v / 8) {
                bad = 1;
                break;
            }
            numel *= v;
        }
        if (bad) {
            rc = lmd_fail(err, "%s: tensor %s: invalid shape", name, tn);
            break;
        }
        uint64_t b, en;
        if (json_u64(cJSON_GetArrayItem(offs, 0), &b) < 0 ||
            json_u64(cJSON_GetArrayItem(offs, 1), &en) < 0 || b > en) {
            rc = lmd_fail(err, "%s: tensor %s: invalid data_offsets", name, tn);
            break;
        }
        if (en > data_len) {
            rc = lmd_fail(err,
                          "%s: tensor %s: data_offsets [%llu, %llu] run past the end of the data "
                          "(%zu bytes; is the file truncated?)",
                          name, tn, (unsigned long long)b, (unsigned long long)en, data_len);
            break;
        }
        if (en - b != numel * esize) {
            rc = lmd_fail(err, "%s: tensor %s: %llu bytes of data but shape and dtype need %llu",
                          name, tn, (unsigned long long)(en - b),
                          (unsigned long long)(numel * esize));
            break;
        }
        x->name = strdup(tn);
        if (!x->name) {
            rc = lmd_fail(err, "%s: out of memory", name);
            break;
        }
        x->numel = (int64_t)numel;
        x->data = data + b;
        x->nbytes = (size_t)(en - b);
        n++;
    }
    cJSON_Delete(root);
    if (rc == 0 && n > 1) {
        /* overlapping data ranges mean a corrupt or hostile file */
        qsort(t, n, sizeof *t, cmp_begin);
        for (size_t i = 1; i < n; i++)
            if (t[i].data < t[i - 1].data + t[i - 1].nbytes) {
                rc = lmd_fail(err, "%s: tensors %s and %s overlap in the data section", name,
                              t[i - 1].name, t[i].name);
                break;
            }
        if (rc == 0) {
            qsort(t, n, sizeof *t, cmp_name);
            for (size_t i = 1; i < n; i++)
                if (!strcmp(t[i].name, t[i - 1].name)) {
                    rc = lmd_fail(err, "%s: tensor %s appears twice", name, t[i].name);
                    break;
                }
        }
    }
    if (rc < 0) {
        lmd_st_free_tensors(t, n);
        return -1;
    }
    *tensors = t;
    *n_tensors = n;
    return 0;
}

static int add_file(lmd_st_set *set, const char *path, lmd_error *err) {
    int i = set->n_files;
    lmd_map *maps = realloc(set->maps, (size_t)(i + 1) * sizeof *maps);
    if (!maps) return lmd_fail(err, "out of memory");
    set->maps = maps;
    char **files = realloc(set->files, (size_t)(i + 1) * sizeof *files);
    if (!files) return lmd_fail(err, "out of memory");
    set->files = files;
    set->files[i] = strdup(path);
    if (!set->files[i]) return lmd_fail(err, "out of memory");
    if (lmd_map_file(path, &set->maps[i], err) < 0) {
        free(set->files[i]);
        return -1;
    }
    set->n_files = i + 1;
    lmd_tensor *t;
    size_t n;
    if (lmd_st_parse(set->maps[i].data, set->maps[i].len, path, &t, &n, err) < 0) return -1;
    lmd_tensor *all = realloc(set->tensors, (set->n_tensors + n) * sizeof *all + 1);
    if (!all) {
        lmd_st_free_tensors(t, n);
        return lmd_fail(err, "out of memory");
    }
    set->tensors = all;
    for (size_t k = 0; k < n; k++) t[k].file = i;
    memcpy(all + set->n_tensors, t, n * sizeof *t);
    set->n_tensors += n;
    free(t); /* names now owned by set->tensors */
    return 0;
}

int lmd_st_open_dir(const char *dir, lmd_st_set *set, lmd_error *err) {
    memset(set, 0, sizeof *set);
    char *single = lmd_path_join(dir, "model.safetensors");
    char *index = lmd_path_join(dir, "model.safetensors.index.json");
    int rc = 0;
    if (!single || !index) {
        rc = lmd_fail(err, "out of memory");
    } else if (lmd_file_exists(single)) {
        rc = add_file(set, single, err);
    } else if (lmd_file_exists(index)) {
        char *json;
        size_t len;
        if (lmd_read_file(index, &json, &len, err) < 0) {
            rc = -1;
        } else {
            cJSON *root = cJSON_ParseWithLength(json, len);
            cJSON *wm = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
            if (!cJSON_IsObject(wm)) {
                rc = lmd_fail(err, "%s: %s", index,
                              root ? "no \"weight_map\" object" : "not valid JSON");
            } else {
                /* each distinct shard once, in order of first mention */
                for (cJSON *e = wm->child; e && rc == 0; e = e->next) {
                    if (!cJSON_IsString(e) || strchr(e->valuestring, '/') ||
                        !strcmp(e->valuestring, "..")) {
                        rc = lmd_fail(err, "%s: weight_map entry %s is not a file name", index,
                                      e->string ? e->string : "?");
                        break;
                    }
                    char *p = lmd_path_join(dir, e->valuestring);
                    if (!p) {
                        rc = lmd_fail(err, "out of memory");
                        break;
                    }
                    int seen = 0;
                    for (int f = 0; f < set->n_files; f++)
                        if (!strcmp(set->files[f], p)) seen = 1;
                    if (!seen) rc = add_file(set, p, err);
                    free(p);
                }
                if (rc == 0) {
                    /* every tensor the index names must be in the shard it names */
                    for (cJSON *e = wm->child; e && rc == 0; e = e->next) {
                        size_t k;
                        for (k = 0; k < set->n_tensors; k++)
                            if (!strcmp(set->tensors[k].name, e->string)) break;
                        if (k == set->n_tensors)
                            rc = lmd_fail(err, "%s: tensor %s is listed in the index but missing from %s",
                                          index, e->string, e->valuestring);
                    }
                }
            }
            cJSON_Delete(root);
            free(json);
        }
    } else {
        rc = lmd_fail(err, "%s: no model.safetensors or model.safetensors.index.json "
                           "(only safetensors weights are supported)", dir);
    }
    free(single);
    free(index);
    if (rc == 0) {
        qsort(set->tensors, set->n_tensors, sizeof *set->tensors, cmp_name);
        for (size_t i = 1; i < set->n_tensors; i++)
            if (!strcmp(set->tensors[i].name, set->tensors[i - 1].name)) {
                rc = lmd_fail(err, "%s: tensor %s appears in two shards", dir, set->tensors[i].name);
                break;
            }
    }
    if (rc < 0) lmd_st_close(set);
    return rc;
}

void lmd_st_close(lmd_st_set *set) {
    lmd_st_free_tensors(set->tensors, set->n_tensors);
    for (int i = 0; i < set->n_files; i++) {
        lmd_unmap(&set->maps[i]);
        free(set->files[i]);
    }
    free(set->maps);
    free(set->files);
    memset(set, 0, sizeof *set);
}

const lmd_tensor *lmd_st_find(const lmd_st_set *set, const char *name) {
    size_t lo = 0, hi = set->n_tensors;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(set->tensors[mid].name, name);
        if (c == 0) return &set->tensors[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

void lmd_f16_to_f32(const void *src, float *dst, size_t n) {
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++) {
        uint16_t h16;
        memcpy(&h16, s + 2 * i, 2);
        uint32_t h = h16;
        uint32_t sign = (h & 0x8000u) << 16, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
        if (exp == 0) {
            if (mant == 0) {
                bits = sign;
            } else { /* subnormal: renormalise */
                int e = -1;
                do {
                    e++;
                    mant <<= 1;
                } while (!(mant & 0x400));
                bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3FF) << 13);
            }
        } else if (exp == 31) {
            bits = sign | 0x7F800000u | (mant << 13);
        } else {
            bits = sign | ((exp + 112) << 23) | (mant << 13);
        }
        memcpy(&dst[i], &bits, 4);
    }
}

void lmd_bf16_to_f32(const void *src, float *dst, size_t n) {
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++) {
        uint16_t b16;
        memcpy(&b16, s + 2 * i, 2);
        uint32_t bits = (uint32_t)b16 << 16;
        memcpy(&dst[i], &bits, 4);
    }
}
