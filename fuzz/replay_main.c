/* replay_main.c - runs a libFuzzer target without libFuzzer: every file in
 * the folders (or files) given goes through LLVMFuzzerTestOneInput once,
 * after LLVMFuzzerInitialize when the target has one.  The normal and ASan
 * builds link it to every fuzz/fuzz_*.c and replay the committed seed
 * corpus fuzz/seeds/<target>/ in ctest (fuzz_replay_<target>), so that a
 * crash found once stays fixed.  Options: --needs PATH (exit 77, skipped,
 * when PATH is absent: the target needs a fixture from ../shared). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/base.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path) {
    char *data;
    size_t len;
    lmd_error err;
    if (lmd_read_file(path, &data, &len, &err) < 0) {
        fprintf(stderr, "replay: %s\n", err.msg);
        return -1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    free(data);
    return 0;
}

/* Every regular file of dir, in name order; returns how many, -1 on error. */
static long run_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char **p = realloc(names, (n + 1) * sizeof *names);
        if (!p || !(p[n] = lmd_path_join(dir, e->d_name))) abort();
        names = p;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    long count = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(names[i], &st) == 0 && S_ISREG(st.st_mode)) {
            if (run_file(names[i]) < 0) count = -1;
            if (count >= 0) count++;
        }
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv) {
    int first = 1;
    while (first + 1 < argc && !strcmp(argv[first], "--needs")) {
        struct stat st;
        if (stat(argv[first + 1], &st) != 0) {
            printf("SKIP: %s is absent\n", argv[first + 1]);
            return 77;
        }
        first += 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [--needs PATH]... CORPUS_DIR|FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
    long total = 0;
    for (int i = first; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            printf("SKIP: no seed corpus %s\n", argv[i]);
            return 77;
        }
        long n = S_ISDIR(st.st_mode) ? run_dir(argv[i]) : run_file(argv[i]) == 0 ? 1 : -1;
        if (n < 0) {
            fprintf(stderr, "replay: cannot read %s\n", argv[i]);
            return 1;
        }
        total += n;
    }
    printf("replayed %ld inputs\n", total);
    return 0;
}
