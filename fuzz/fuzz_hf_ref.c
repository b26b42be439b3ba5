/* fuzz_hf_ref.c - libFuzzer target: an hf:ORG/NAME[@REVISION] reference and
 * the refs file it reads are untrusted text.  The input's first line is the
 * reference (after "hf:"), the rest the content of refs/main of a fake hub
 * cache in a temp folder; resolving must succeed with a path inside the
 * cache's snapshots or fail with a message, never crash or escape. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/format/modelref.h"

static char root[64];

static void setup(void) {
    snprintf(root, sizeof root, "/tmp/fuzz_hf_ref.%d", (int)getpid());
    char p[256];
    snprintf(p, sizeof p, "%s/models--acme--tiny/refs", root);
    const char *parts[] = {"", "/models--acme--tiny", "/models--acme--tiny/refs",
                           "/models--acme--tiny/snapshots",
                           "/models--acme--tiny/snapshots/0123456789abcdef0123456789abcdef01234567"};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
        snprintf(p, sizeof p, "%s%s", root, parts[i]);
        mkdir(p, 0700);
    }
    setenv("HF_HUB_CACHE", root, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!root[0]) setup();
    const uint8_t *nl = memchr(data, '\n', size);
    size_t rlen = nl ? (size_t)(nl - data) : size;
    char *ref = malloc(rlen + 4);
    if (!ref) return 0;
    memcpy(ref, "hf:", 3);
    memcpy(ref + 3, data, rlen);
    ref[rlen + 3] = 0;
    char p[256];
    snprintf(p, sizeof p, "%s/models--acme--tiny/refs/main", root);
    FILE *f = fopen(p, "wb");
    if (f) {
        if (nl) fwrite(nl + 1, 1, size - rlen - 1, f);
        fclose(f);
    }
    char *path = NULL;
    int is_gguf;
    lmd_error err;
    if (lmd_model_ref_resolve(ref, &path, &is_gguf, &err) == 0) {
        size_t n = strlen(root);
        if (strncmp(path, root, n) || strstr(path, "/../") || !strstr(path, "/snapshots/")) abort();
    } else if (!err.msg[0]) {
        abort();
    }
    free(path);
    free(ref);
    char *name = lmd_model_ref_name("hf:acme/tiny");
    free(name);
    return 0;
}
