/* fuzz_dataset.c - libFuzzer target: the input is a dataset file (YAML front
 * matter, one text per line; dataset.c).  It must open or be refused with a
 * message that names the file.  What opens must stream the same texts as
 * lmd_dataset_load reads (count and checksum), every text valid UTF-8 with
 * no NUL or line break; what lmd_dataset_save writes must load back to the
 * same texts and header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/corpus.h"

static char in_path[64], out_path[64];

static void cleanup(void) {
    unlink(in_path);
    unlink(out_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    snprintf(in_path, sizeof in_path, "/tmp/lmd-fuzz-ds-%d.txt", (int)getpid());
    snprintf(out_path, sizeof out_path, "/tmp/lmd-fuzz-ds-%d.out.txt", (int)getpid());
    atexit(cleanup);
    return 0;
}

static void must_name_file(const lmd_error *err, const char *path) {
    if (!memchr(err->msg, 0, sizeof err->msg) || !strstr(err->msg, path)) abort();
}

static void check_text(const char *t, size_t len) {
    if (strlen(t) != len || memchr(t, '\n', len)) abort();
    if (lmd_utf8_check(t, len) != len) abort();
}

/* The same texts and header as ds. */
static void same_dataset(const lmd_dataset *a, const lmd_dataset *b) {
    if (a->n_texts != b->n_texts || strcmp(a->checksum, b->checksum)) abort();
    for (size_t i = 0; i < a->n_texts; i++)
        if (a->lens[i] != b->lens[i] || memcmp(a->texts[i], b->texts[i], a->lens[i])) abort();
    if (strcmp(a->meta.name, b->meta.name) || strcmp(a->meta.type, b->meta.type)) abort();
    if (a->meta.n_extra != b->meta.n_extra) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    FILE *f = fopen(in_path, "wb");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    lmd_error err;
    lmd_dataset_reader *r;
    if (lmd_dataset_open(in_path, &r, &err) < 0) {
        must_name_file(&err, in_path);
        return 0;
    }
    const lmd_dataset_meta *m = lmd_dataset_get_meta(r);
    if (!m->name || !m->type || !lmd_dataset_type_valid(m->type)) abort();
    lmd_dataset_summary sum;
    int scanned = lmd_dataset_scan(r, 0, &sum, &err);
    uint64_t n = 0;
    const char *t;
    size_t len;
    int got;
    while (scanned == 0 && (got = lmd_dataset_next(r, &t, &len, &err)) == 1) {
        check_text(t, len);
        n++;
    }
    if (scanned == 0 && got < 0) abort(); /* the scan read the same bytes */
    if (scanned < 0) must_name_file(&err, in_path);
    char hex[65];
    if (scanned == 0) {
        lmd_dataset_checksum_of_read(r, hex);
        if (n != sum.n_texts || strcmp(hex, sum.checksum)) abort();
    }
    lmd_dataset_close(r);
    lmd_dataset *ds, *back;
    if (lmd_dataset_load(in_path, 0, &ds, &err) < 0) {
        if (scanned == 0) abort(); /* the streaming reader took it */
        must_name_file(&err, in_path);
        return 0;
    }
    if (scanned < 0 || ds->n_texts != n || strcmp(ds->checksum, sum.checksum)) abort();
    if (lmd_dataset_save(ds, out_path, &err) == 0) {
        if (lmd_dataset_load(out_path, 1, &back, &err) < 0) abort();
        same_dataset(ds, back);
        lmd_dataset_free(back);
    }
    lmd_dataset_free(ds);
    return 0;
}
