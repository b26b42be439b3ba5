/* modelref.c - see modelref.h.
 *
 * ollama:NAME[:TAG] reads the local Ollama store: $OLLAMA_MODELS, else
 * ~/.ollama/models.  The manifest manifests/HOST/NAMESPACE/NAME/TAG (host
 * registry.ollama.ai and namespace library unless NAME gives them; tag
 * "latest" unless given) is JSON whose "layers" entry with mediaType
 * application/vnd.ollama.image.model has the digest "sha256:HEX" of the
 * GGUF, stored as blobs/sha256-HEX (older stores: blobs/sha256:HEX). */
#include "model/modelref.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/gguf.h"

#define OLLAMA_MODEL_MEDIA "application/vnd.ollama.image.model"

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Appends "name:tag" of every manifest under dir (the part of the name
 * below manifests/ is rel) to list, at most a few hundred bytes' worth. */
static void list_manifests(const char *dir, const char *rel, int depth, lmd_buf *list) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) && list->len < 600) {
        if (e->d_name[0] == '.') continue;
        char sub[4096], name[1024];
        snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name);
        if (is_dir(sub)) {
            snprintf(name, sizeof name, "%s%s%s", rel, *rel ? "/" : "", e->d_name);
            if (depth < 3) list_manifests(sub, name, depth + 1, list);
        } else if (depth == 3) {
            /* rel is HOST/NAMESPACE/NAME: show it as Ollama does */
            const char *shown = rel;
            if (!strncmp(shown, "registry.ollama.ai/", 19)) shown += 19;
            if (!strncmp(shown, "library/", 8)) shown += 8;
            lmd_buf_printf(list, "%s%s:%s", list->len ? ", " : "", shown, e->d_name);
        }
    }
    closedir(d);
}

/* The manifest path of NAME[:TAG] under root (malloc'ed). */
static char *manifest_path(const char *root, const char *ref) {
    char name[512], tag[128] = "latest";
    snprintf(name, sizeof name, "%s", ref);
    char *colon = strrchr(name, ':'), *slash = strrchr(name, '/');
    if (colon && (!slash || colon > slash)) {
        snprintf(tag, sizeof tag, "%s", colon + 1);
        *colon = 0;
    }
    int slashes = 0;
    for (const char *p = name; *p; p++)
        slashes += *p == '/';
    lmd_buf b = {0};
    lmd_buf_printf(&b, "%s/manifests/%s%s%s/%s", root,
                   slashes == 0   ? "registry.ollama.ai/library/"
                   : slashes == 1 ? "registry.ollama.ai/"
                                  : "",
                   name, "", tag);
    return b.data;
}

static int model_digest(const char *mpath, char *hex, size_t cap, lmd_error *err) {
    char *json;
    size_t len;
    if (lmd_read_file(mpath, &json, &len, err) < 0) return -1;
    cJSON *root = cJSON_ParseWithLength(json, len);
    free(json);
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layers"), *l;
    int rc =
        lmd_fail(err, "%s: the manifest has no layer of mediaType %s", mpath, OLLAMA_MODEL_MEDIA);
    cJSON_ArrayForEach(l, layers) {
        const cJSON *mt = cJSON_GetObjectItemCaseSensitive(l, "mediaType");
        const cJSON *dg = cJSON_GetObjectItemCaseSensitive(l, "digest");
        if (!cJSON_IsString(mt) || strcmp(mt->valuestring, OLLAMA_MODEL_MEDIA)) continue;
        const char *h = cJSON_IsString(dg) ? dg->valuestring : "";
        size_t n = strlen(h);
        int ok = !strncmp(h, "sha256:", 7) && n == 7 + 64;
        for (size_t i = 7; ok && i < n; i++)
            ok = strchr("0123456789abcdef", h[i]) != NULL;
        if (!ok) {
            rc = lmd_fail(err, "%s: the model layer's digest is not sha256:<64 hex digits>", mpath);
            break;
        }
        snprintf(hex, cap, "%s", h + 7);
        rc = 0;
        break;
    }
    cJSON_Delete(root);
    return rc;
}

static int resolve_ollama(const char *ref, char **path, lmd_error *err) {
    const char *env = getenv("OLLAMA_MODELS"), *home = getenv("HOME");
    char root[2048];
    if (env && *env)
        snprintf(root, sizeof root, "%s", env);
    else
        snprintf(root, sizeof root, "%s/.ollama/models", home ? home : "");
    if (!*ref || strstr(ref, "..") || ref[0] == '/')
        return lmd_fail(err, "ollama:%s: not a model name (NAME[:TAG])", ref);
    char *mpath = manifest_path(root, ref);
    if (!mpath) return lmd_fail(err, "out of memory");
    if (!lmd_file_exists(mpath)) {
        lmd_buf list = {0};
        char mdir[2100];
        snprintf(mdir, sizeof mdir, "%s/manifests", root);
        list_manifests(mdir, "", 0, &list);
        lmd_fail(err, "ollama:%s: no such model in the Ollama store %s (no %s); it has: %s", ref,
                 root, mpath, list.len ? list.data : "nothing");
        lmd_buf_free(&list);
        free(mpath);
        return -1;
    }
    char hex[80];
    int rc = model_digest(mpath, hex, sizeof hex, err);
    free(mpath);
    if (rc < 0) return -1;
    lmd_buf b = {0};
    lmd_buf_printf(&b, "%s/blobs/sha256-%s", root, hex);
    if (b.data && !lmd_file_exists(b.data)) {
        b.len = 0;
        lmd_buf_printf(&b, "%s/blobs/sha256:%s", root, hex);
        if (b.data && !lmd_file_exists(b.data)) {
            lmd_fail(err, "ollama:%s: the manifest names blob sha256-%s, which is not in %s/blobs",
                     ref, hex, root);
            lmd_buf_free(&b);
            return -1;
        }
    }
    if (!b.data) return lmd_fail(err, "out of memory");
    *path = b.data;
    return 0;
}

/* A regular file whose first bytes are GGUF's magic (an Ollama blob given
 * by its path, a GGUF without the suffix). */
static int starts_gguf(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) return 0;
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    int yes = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4);
    if (f) fclose(f);
    return yes;
}

int lmd_model_ref_resolve(const char *ref, char **path, int *is_gguf, lmd_error *err) {
    *path = NULL;
    *is_gguf = 0;
    if (!strncmp(ref, "ollama:", 7)) {
        if (resolve_ollama(ref + 7, path, err) < 0) return -1;
        *is_gguf = 1;
        return 0;
    }
    if (!(*path = strdup(ref))) return lmd_fail(err, "out of memory");
    *is_gguf = (lmd_gguf_is_file(ref) && !is_dir(ref)) || starts_gguf(ref);
    return 0;
}
