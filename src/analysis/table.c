/* table.c - the binary per-text table (.lmdt) that compare writes and
 * search and the server read in place (mmap), so that nothing parses CSV
 * text.  Layout (little-endian; docs/corpus.md):
 *
 *   0   "LMDTABLE"          magic
 *   8   u32 version = 3 (2: before the kl columns, 1: before the segment
 *       columns)
 *   12  u32 0x01020304      byte-order check
 *   16  u64 n_texts
 *   24  u32 n_cols
 *   28  u32 json_len
 *   32  JSON header (names, hashes, cache paths, column names), zero
 *       padded to a multiple of 8
 *   ..  f64 [n_cols][n_texts]  column-major, NaN where a text has no value
 *   ..  u64 [n_texts + 1]      text offsets into the blob
 *   ..  the texts' UTF-8 bytes
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis/corpus.h"

#define MAGIC "LMDTABLE"
#define VERSION 3
#define BOM 0x01020304u
#define HEAD 32

struct lmd_table {
    lmd_map map;
    char *path;
    lmd_table_meta meta;
    const double *cols;
    const uint64_t *offs;
    const char *blob;
    double *no_kl; /* lmd_table_drop_kl: n NaNs that the kl columns read as */
};

static int add_str(cJSON *o, const char *k, const char *v) {
    return v ? cJSON_AddStringToObject(o, k, v) != NULL : cJSON_AddNullToObject(o, k) != NULL;
}

int lmd_table_write(FILE *f, const lmd_table_meta *m, const double *const *cols,
                    const char *text_blob, const uint64_t *offs, lmd_error *err) {
    cJSON *h = cJSON_CreateObject();
    int ok = h != NULL;
    ok = ok && add_str(h, "lmdiff_version", LMD_VERSION);
    ok = ok && add_str(h, "m1", m->m1) && add_str(h, "m2", m->m2);
    ok = ok && add_str(h, "dataset_name", m->dataset_name);
    ok = ok && add_str(h, "dataset_checksum", m->dataset_checksum);
    ok = ok && add_str(h, "vocab_hash", m->vocab_hash);
    ok = ok && add_str(h, "cache1", m->cache1) && add_str(h, "cache2", m->cache2);
    ok = ok && add_str(h, "weights_hash1", m->weights_hash1);
    ok = ok && add_str(h, "weights_hash2", m->weights_hash2);
    ok = ok && cJSON_AddNumberToObject(h, "max_clamp_rank", m->max_clamp_rank);
    ok = ok && cJSON_AddNumberToObject(h, "top_k", m->top_k);
    ok = ok && cJSON_AddBoolToObject(h, "segments", m->segments);
    ok = ok && add_str(h, "kl", m->kl);
    ok = ok && cJSON_AddBoolToObject(h, "kl_reverse", m->kl_reverse);
    cJSON *names = ok ? cJSON_AddArrayToObject(h, "columns") : NULL;
    for (int c = 0; names && c < LMD_N_COLUMNS; c++)
        ok = ok && cJSON_AddItemToArray(names, cJSON_CreateString(lmd_column_name(c)));
    char *json = ok && names ? cJSON_PrintUnformatted(h) : NULL;
    cJSON_Delete(h);
    if (!json) return lmd_fail(err, "out of memory");
    uint32_t jl = (uint32_t)strlen(json), version = VERSION, bom = BOM, nc = LMD_N_COLUMNS;
    uint64_t n = m->n_texts;
    fwrite(MAGIC, 1, 8, f);
    fwrite(&version, 4, 1, f);
    fwrite(&bom, 4, 1, f);
    fwrite(&n, 8, 1, f);
    fwrite(&nc, 4, 1, f);
    fwrite(&jl, 4, 1, f);
    fwrite(json, 1, jl, f);
    static const char zeros[8] = {0};
    fwrite(zeros, 1, (8 - jl % 8) % 8, f);
    free(json);
    for (int c = 0; c < LMD_N_COLUMNS; c++)
        fwrite(cols[c], sizeof(double), (size_t)n, f);
    fwrite(offs, sizeof *offs, (size_t)n + 1, f);
    fwrite(text_blob ? text_blob : "", 1, (size_t)offs[n], f);
    return 0; /* write errors: the stream's error flag, reported by the caller's sync */
}

static char *dup_str(const cJSON *h, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, k);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

void lmd_table_meta_free(lmd_table_meta *m) {
    free(m->m1);
    free(m->m2);
    free(m->dataset_name);
    free(m->dataset_checksum);
    free(m->vocab_hash);
    free(m->cache1);
    free(m->cache2);
    free(m->weights_hash1);
    free(m->weights_hash2);
    free(m->kl);
    memset(m, 0, sizeof *m);
}

void lmd_table_close(lmd_table *t) {
    if (!t) return;
    lmd_unmap(&t->map);
    lmd_table_meta_free(&t->meta);
    free(t->path);
    free(t->no_kl);
    free(t);
}

int lmd_table_open(const char *path, lmd_table **out, lmd_error *err) {
    *out = NULL;
    lmd_table *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path))) {
        free(t);
        return lmd_fail(err, "out of memory");
    }
    if (lmd_map_file(path, &t->map, err) < 0) {
        lmd_table_close(t);
        return -1;
    }
    const uint8_t *d = t->map.data;
    size_t len = t->map.len;
    uint32_t version, bom, nc, jl;
    uint64_t n;
    if (len < HEAD || memcmp(d, MAGIC, 8)) {
        lmd_table_close(t);
        return lmd_fail(err, "%s: not an lmdiff table (no LMDTABLE signature)", path);
    }
    memcpy(&version, d + 8, 4);
    memcpy(&bom, d + 12, 4);
    memcpy(&n, d + 16, 8);
    memcpy(&nc, d + 24, 4);
    memcpy(&jl, d + 28, 4);
    const char *why = NULL;
    if (bom != BOM)
        why = "written on a machine of the other byte order";
    else if (version != VERSION)
        why = "written by another lmdiff version (table version; 'lmdiff compare --force' "
              "remakes it)";
    else if (nc != LMD_N_COLUMNS)
        why = "written by another lmdiff version (column count)";
    size_t cols_at = HEAD + ((size_t)jl + 7) / 8 * 8;
    if (!why && (jl > len || cols_at > len || n > (len - cols_at) / 8 / (nc + 1)))
        why = "truncated or damaged (sizes do not fit the file)";
    size_t offs_at = cols_at + (size_t)nc * (size_t)n * 8, blob_at = offs_at + ((size_t)n + 1) * 8;
    if (!why && blob_at > len) why = "truncated or damaged (sizes do not fit the file)";
    if (why) {
        lmd_table_close(t);
        return lmd_fail(err, "%s: %s", path, why);
    }
    t->cols = (const double *)(d + cols_at);
    t->offs = (const uint64_t *)(d + offs_at);
    t->blob = (const char *)(d + blob_at);
    size_t blob_len = len - blob_at;
    for (uint64_t i = 0; i <= n && !why; i++)
        if (t->offs[i] > blob_len || (i && t->offs[i] < t->offs[i - 1]) || (i == 0 && t->offs[0]))
            why = "damaged (text offsets out of order)";
    if (!why && t->offs[n] != blob_len) why = "truncated or damaged (text bytes)";
    cJSON *h = why ? NULL : cJSON_ParseWithLength((const char *)d + HEAD, jl);
    if (!why && !cJSON_IsObject(h)) why = "damaged (header is not JSON)";
    const cJSON *names = h ? cJSON_GetObjectItemCaseSensitive(h, "columns") : NULL;
    if (!why && cJSON_GetArraySize(names) != LMD_N_COLUMNS)
        why = "written by another lmdiff version (columns differ)";
    for (int c = 0; !why && c < LMD_N_COLUMNS; c++) {
        const cJSON *s = cJSON_GetArrayItem(names, c);
        if (!cJSON_IsString(s) || strcmp(s->valuestring, lmd_column_name(c)))
            why = "written by another lmdiff version (columns differ)";
    }
    if (!why) {
        lmd_table_meta *m = &t->meta;
        m->m1 = dup_str(h, "m1");
        m->m2 = dup_str(h, "m2");
        m->dataset_name = dup_str(h, "dataset_name");
        m->dataset_checksum = dup_str(h, "dataset_checksum");
        m->vocab_hash = dup_str(h, "vocab_hash");
        m->cache1 = dup_str(h, "cache1");
        m->cache2 = dup_str(h, "cache2");
        m->weights_hash1 = dup_str(h, "weights_hash1");
        m->weights_hash2 = dup_str(h, "weights_hash2");
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(h, "max_clamp_rank");
        m->max_clamp_rank = cJSON_IsNumber(v) ? v->valueint : LMD_DEFAULT_MAX_CLAMP;
        v = cJSON_GetObjectItemCaseSensitive(h, "top_k");
        m->top_k = cJSON_IsNumber(v) ? v->valueint : 0;
        m->segments = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "segments"));
        m->kl = dup_str(h, "kl"); /* a file name beside the table, never a path */
        m->kl_reverse = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(h, "kl_reverse"));
        m->n_texts = n;
        if (m->kl && (strchr(m->kl, '/') || !strcmp(m->kl, ".") || !strcmp(m->kl, "..")))
            why = "damaged (its KL pair file name is a path)";
        if (!m->m1 || !m->m2 || !m->dataset_name || !m->dataset_checksum)
            why = "damaged (header lacks the model or dataset names)";
    }
    cJSON_Delete(h);
    if (why) {
        lmd_table_close(t);
        return lmd_fail(err, "%s: %s", path, why);
    }
    *out = t;
    return 0;
}

const lmd_table_meta *lmd_table_get_meta(const lmd_table *t) {
    return &t->meta;
}
const char *lmd_table_path(const lmd_table *t) {
    return t->path;
}

const double *lmd_table_column(const lmd_table *t, int col) {
    if (col < 0 || col >= LMD_N_COLUMNS) return NULL;
    if (t->no_kl && col >= lmd_column_of(LMD_TM_KL, 0) &&
        col < lmd_column_of(LMD_TM_KL, 0) + LMD_AGG_COUNT)
        return t->no_kl;
    return t->cols + (size_t)col * (size_t)t->meta.n_texts;
}

int lmd_table_drop_kl(lmd_table *t, lmd_error *err) {
    const size_t n = (size_t)t->meta.n_texts;
    if (!t->no_kl && !(t->no_kl = malloc((n ? n : 1) * sizeof *t->no_kl)))
        return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    for (size_t i = 0; i < n; i++)
        t->no_kl[i] = NAN;
    free(t->meta.kl);
    t->meta.kl = NULL;
    return 0;
}

const char *lmd_table_text(const lmd_table *t, uint64_t i, size_t *len) {
    if (i >= t->meta.n_texts) return NULL;
    *len = (size_t)(t->offs[i + 1] - t->offs[i]);
    return t->blob + t->offs[i];
}

char *lmd_table_cache_path(const lmd_table *t, int which) {
    const char *rec = which ? t->meta.cache2 : t->meta.cache1;
    if (!rec) return NULL;
    const char *base = strrchr(rec, '/');
    base = base ? base + 1 : rec;
    const char *slash = strrchr(t->path, '/');
    lmd_buf b = {0};
    if (slash)
        lmd_buf_printf(&b, "%.*s/%s", (int)(slash - t->path), t->path, base);
    else
        lmd_buf_printf(&b, "%s", base);
    struct stat st;
    if (b.data && stat(b.data, &st) == 0 && S_ISREG(st.st_mode)) return b.data;
    lmd_buf_free(&b);
    return strdup(rec);
}
