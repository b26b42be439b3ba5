/* corpus_io.c - file helpers of the corpus pipeline: mkdir -p, file-name
 * rules, and the number format of the CSV files (files written whole:
 * src/base/atomic.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis/corpus.h"

int lmd_mkdirs(const char *dir, lmd_error *err) {
    char *p = strdup(dir);
    if (!p) return lmd_fail(err, "%s: out of memory", dir);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = 0;
    for (char *s = p + 1;; s++) {
        int end = *s == 0;
        if (*s == '/' || end) {
            char c = *s;
            *s = 0;
            struct stat st;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                int e = errno;
                lmd_fail(err, "%s: cannot create folder: %s", p, strerror(e));
                free(p);
                return -1;
            }
            if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
                lmd_fail(err, "%s: exists and is not a folder", p);
                free(p);
                return -1;
            }
            *s = c;
        }
        if (end) break;
    }
    free(p);
    return 0;
}

char *lmd_path_stem(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/')
        b--;
    size_t e = n;
    for (size_t i = n; i > b + 1; i--)
        if (path[i - 1] == '.') {
            e = i - 1;
            break;
        }
    char *s = malloc(e - b + 1);
    if (!s) return NULL;
    memcpy(s, path + b, e - b);
    s[e - b] = 0;
    return s;
}

char *lmd_file_safe_name(const char *name) {
    lmd_buf b = {0};
    int rc = 0;
    for (const char *p = name; *p && !rc; p++) {
        if (*p == '/')
            rc = lmd_buf_puts(&b, "__SLASH__");
        else if ((unsigned char)*p < 0x20)
            rc = lmd_buf_put(&b, "_", 1);
        else
            rc = lmd_buf_put(&b, p, 1);
    }
    if (!rc) rc = lmd_buf_put(&b, "", 1);
    if (rc) {
        lmd_buf_free(&b);
        return NULL;
    }
    return b.data;
}

void lmd_fmt_double(char buf[40], double v) {
    if (!isfinite(v)) {
        buf[0] = 0;
        return;
    }
    if (v == floor(v) && fabs(v) < 1e15) { /* integral: "3.0" */
        snprintf(buf, 40, "%.0f.0", v);
        return;
    }
    /* 15 significant digits give the shortest form whenever it has at most
     * 15; otherwise 16 or 17, the first that reads back exactly */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, 40, "%.*g", prec, v);
        if (prec == 17 || strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".e")) strcat(buf, ".0");
}
