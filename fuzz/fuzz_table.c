/* fuzz_table.c - libFuzzer target: the input is a comparison table (.lmdt,
 * table.c), which search and the server map and read in place.  It must
 * open or be refused with a message that names the file.  What opens must
 * give every column value and every text from inside the file, and a
 * search of it (every order, a few columns) must build a histogram whose
 * counts add up and a JSON document that parses. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/corpus.h"
#include "fuzz_file.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_init("table", ".lmdt");
    return 0;
}

static void search_one(const lmd_table *t, int col, lmd_order order) {
    lmd_search_opts o = {.column = col, .order = order, .top = 3, .bins = 4};
    lmd_search_result r;
    lmd_error err;
    if (lmd_search(t, &o, &r, &err) < 0) return;
    uint64_t sum = 0;
    for (int b = 0; b < r.bins; b++)
        sum += r.counts[b];
    if (sum != r.n_values || r.n_values + r.n_null != r.n_texts || r.n_hits > 3) abort();
    for (size_t i = 0; i < r.n_hits; i++)
        if (r.hits[i].index >= r.n_texts || isnan(r.hits[i].value)) abort();
    lmd_buf b = {0};
    lmd_corpus_json_ctx ctx = {0};
    if (lmd_search_json(&b, t, &r, &ctx, &err) == 0) {
        cJSON *j = cJSON_ParseWithLength(b.data, b.len);
        if (!j) abort();
        cJSON_Delete(j);
    }
    lmd_buf_free(&b);
    lmd_search_result_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_file_write(data, size);
    lmd_table *t;
    lmd_error err;
    if (lmd_table_open(fuzz_path, &t, &err) < 0) {
        fuzz_file_refused(&err);
        return 0;
    }
    const lmd_table_meta *m = lmd_table_get_meta(t);
    volatile double sink = 0;
    for (int c = 0; c < LMD_N_COLUMNS; c++) {
        const double *col = lmd_table_column(t, c);
        for (uint64_t i = 0; i < m->n_texts; i++)
            sink += col[i];
    }
    uint64_t total = 0;
    for (uint64_t i = 0; i < m->n_texts; i++) {
        size_t len;
        const char *s = lmd_table_text(t, i, &len);
        if (!s || len > size) abort();
        total += len;
        if (len) sink += (unsigned char)s[len - 1];
    }
    if (total > size) abort(); /* the texts lie inside the file */
    for (int w = 0; w < 2; w++)
        free(lmd_table_cache_path(t, w));
    static const int cols[] = {0, 1, 4, 25, LMD_N_COLUMNS - 1};
    for (size_t c = 0; c < sizeof cols / sizeof *cols; c++)
        for (int o = LMD_ORDER_ABS; o <= LMD_ORDER_ABS_ASC; o++)
            search_one(t, cols[c], (lmd_order)o);
    lmd_table_close(t);
    return 0;
}
