/* testutil.c - see testutil.h. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *join(const char *a, const char *b) {
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", a, b);
    return p;
}

char *tu_src_path(const char *rel) {
    const char *src = getenv("LMD_SRC");
    return join(src ? src : LMD_SOURCE_DIR, rel);
}

char *tu_shared_path(const char *rel) {
    const char *sh = getenv("LMD_SHARED");
    struct stat st;
    if (!sh || stat(sh, &st) != 0 || !S_ISDIR(st.st_mode)) return NULL;
    return join(sh, rel);
}

void tu_require_shared(void) {
    char *p = tu_shared_path("fixtures");
    struct stat st;
    if (!p || stat(p, &st) != 0) {
        printf("SKIP: ../shared/fixtures is absent; this test needs it\n");
        exit(77);
    }
    free(p);
}

char *tu_tmpdir(void) {
    char tmpl[] = "/tmp/lmdiff-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}
