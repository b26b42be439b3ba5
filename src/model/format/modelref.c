/* modelref.c - see modelref.h.
 *
 * ollama:NAME[:TAG] reads the local Ollama store: $OLLAMA_MODELS, else
 * ~/.ollama/models.  The manifest manifests/HOST/NAMESPACE/NAME/TAG (host
 * registry.ollama.ai and namespace library unless NAME gives them; tag
 * "latest" unless given) is JSON whose "layers" entry with mediaType
 * application/vnd.ollama.image.model has the digest "sha256:HEX" of the
 * GGUF, stored as blobs/sha256-HEX (older stores: blobs/sha256:HEX).
 *
 * hf:ORG/NAME[@REVISION] reads the local Hugging Face hub cache, never the
 * network: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
 * The repository ORG/NAME lives in models--ORG--NAME; refs/REVISION (default
 * "main") holds a commit hash, and snapshots/COMMIT/ is the model folder
 * (its files are symlinks into blobs/, followed as usual).  A REVISION that
 * is itself a commit with a snapshot is used directly. */
#define _GNU_SOURCE /* strcasestr */
#include "model/format/modelref.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/format/gguf.h"

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
    if (!mpath) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    if (!lmd_file_exists(mpath)) {
        lmd_buf list = {0};
        char mdir[2100];
        snprintf(mdir, sizeof mdir, "%s/manifests", root);
        list_manifests(mdir, "", 0, &list);
        lmd_fail_code(err, LMD_ERR_NOT_FOUND,
                      "ollama:%s: no such model in the Ollama store %s (no %s); it has: %s", ref,
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
    if (!b.data) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
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

/* ------------------------------------------------------------ hf: refs */

static void hub_root(char *root, size_t cap) {
    const char *hub = getenv("HF_HUB_CACHE"), *hf = getenv("HF_HOME"), *home = getenv("HOME");
    if (hub && *hub)
        snprintf(root, cap, "%s", hub);
    else if (hf && *hf)
        snprintf(root, cap, "%s/hub", hf);
    else
        snprintf(root, cap, "%s/.cache/huggingface/hub", home ? home : "");
}

/* Splits "ORG/NAME[@REV]" into repo and rev (default "main"); 0 if valid. */
static int hf_split(const char *ref, char *repo, size_t rcap, char *rev, size_t vcap) {
    const char *at = strchr(ref, '@');
    size_t n = at ? (size_t)(at - ref) : strlen(ref);
    if (n == 0 || n >= rcap || (at && (!at[1] || strlen(at + 1) >= vcap))) return -1;
    memcpy(repo, ref, n);
    repo[n] = 0;
    snprintf(rev, vcap, "%s", at ? at + 1 : "main");
    int slashes = 0;
    for (const char *p = repo; *p; p++)
        slashes += *p == '/';
    if (slashes > 1 || repo[0] == '/' || repo[n - 1] == '/' || strstr(repo, "..") ||
        strstr(repo, "--") || strstr(rev, "..") || rev[0] == '/')
        return -1;
    return 0;
}

/* Levenshtein distance of two short strings, case-insensitive. */
static size_t edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b), row[256];
    if (la > 255 || lb > 255) return 1000;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t sub =
                diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            size_t best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[lb];
}

/* "ORG/NAME" of a cache folder name models--ORG--NAME (0 if it is not one). */
static int hub_repo_name(const char *entry, char *out, size_t cap) {
    if (strncmp(entry, "models--", 8) || !entry[8]) return 0;
    snprintf(out, cap, "%s", entry + 8);
    char *sep = strstr(out, "--");
    if (sep) {
        *sep = '/';
        memmove(sep + 1, sep + 2, strlen(sep + 2) + 1);
    }
    return 1;
}

/* Appends the cached models whose names are close to repo (a name within a
 * third of its length in edits, or one containing the other) to list. */
static void hub_close_names(const char *root, const char *repo, lmd_buf *list, int *n_cached) {
    DIR *d = opendir(root);
    *n_cached = 0;
    if (!d) return;
    const char *base = strrchr(repo, '/') ? strrchr(repo, '/') + 1 : repo;
    struct dirent *e;
    while ((e = readdir(d))) {
        char name[512];
        if (!hub_repo_name(e->d_name, name, sizeof name)) continue;
        ++*n_cached;
        const char *nbase = strrchr(name, '/') ? strrchr(name, '/') + 1 : name;
        size_t lim = strlen(repo) / 3 > 2 ? strlen(repo) / 3 : 2;
        int close = edit_distance(repo, name) <= lim || edit_distance(base, nbase) <= lim ||
                    strcasestr(name, base) || strcasestr(repo, nbase);
        if (close && list->len < 600) lmd_buf_printf(list, "%shf:%s", list->len ? ", " : "", name);
    }
    closedir(d);
}

/* The commit that refs/REV names, or REV itself when it is a snapshot. */
static int hub_commit(const char *rdir, const char *ref, const char *rev, char *commit, size_t cap,
                      lmd_error *err) {
    char p[4200];
    snprintf(p, sizeof p, "%s/snapshots/%s", rdir, rev);
    if (strlen(rev) == 40 && is_dir(p)) {
        snprintf(commit, cap, "%s", rev);
        return 0;
    }
    snprintf(p, sizeof p, "%s/refs/%s", rdir, rev);
    char *data;
    size_t len;
    if (!lmd_file_exists(p))
        return lmd_fail_code(err, LMD_ERR_NOT_FOUND,
                             "hf:%s: revision '%s' is not in the hub cache (no %s)", ref, rev, p);
    if (lmd_read_file(p, &data, &len, err) < 0) return -1;
    while (len && isspace((unsigned char)data[len - 1]))
        len--;
    int ok = len > 0 && len < cap;
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)data[i]);
    if (ok) memcpy(commit, data, len), commit[len] = 0;
    free(data);
    return ok ? 0 : lmd_fail(err, "%s: not a commit hash", p);
}

static int resolve_hf(const char *ref, char **path, lmd_error *err) {
    char root[2048], repo[512], rev[256], commit[128];
    hub_root(root, sizeof root);
    if (hf_split(ref, repo, sizeof repo, rev, sizeof rev) < 0)
        return lmd_fail(err, "hf:%s: not a model name (ORG/NAME[@REVISION])", ref);
    lmd_buf rdir = {0};
    lmd_buf_printf(&rdir, "%s/models--%s", root, repo);
    if (!rdir.data) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    char *slash = strchr(rdir.data + strlen(root), '/');
    slash = slash ? strchr(slash + 1, '/') : NULL;
    if (slash) { /* models--ORG/NAME -> models--ORG--NAME */
        lmd_buf fixed = {0};
        lmd_buf_printf(&fixed, "%.*s--%s", (int)(slash - rdir.data), rdir.data, slash + 1);
        lmd_buf_free(&rdir);
        if (!(rdir = fixed).data) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    }
    int rc = -1;
    if (!is_dir(rdir.data)) {
        lmd_buf list = {0};
        int n_cached;
        hub_close_names(root, repo, &list, &n_cached);
        lmd_fail_code(err, LMD_ERR_NOT_FOUND,
                      "hf:%s: not in the Hugging Face hub cache %s (no %s; lmdiff never downloads)"
                      "; %d cached model%s, close names: %s",
                      ref, root, rdir.data, n_cached, n_cached == 1 ? "" : "s",
                      list.len ? list.data : "none");
        lmd_buf_free(&list);
    } else if (hub_commit(rdir.data, ref, rev, commit, sizeof commit, err) == 0) {
        lmd_buf snap = {0};
        lmd_buf_printf(&snap, "%s/snapshots/%s", rdir.data, commit);
        if (!snap.data)
            lmd_fail(err, "out of memory");
        else if (!is_dir(snap.data))
            lmd_fail_code(err, LMD_ERR_NOT_FOUND,
                          "hf:%s: revision %s is commit %s, whose snapshot %s is missing from the "
                          "cache (an interrupted download?)",
                          ref, rev, commit, snap.data);
        else
            *path = snap.data, snap.data = NULL, rc = 0;
        lmd_buf_free(&snap);
    }
    lmd_buf_free(&rdir);
    return rc;
}

char *lmd_model_ref_name(const char *ref) {
    return strncmp(ref, "hf:", 3) ? NULL : strdup(ref + 3);
}

int lmd_model_ref_resolve(const char *ref, char **path, int *is_gguf, lmd_error *err) {
    *path = NULL;
    *is_gguf = 0;
    if (!strncmp(ref, "hf:", 3)) return resolve_hf(ref + 3, path, err);
    if (!strncmp(ref, "ollama:", 7)) {
        if (resolve_ollama(ref + 7, path, err) < 0) return -1;
        *is_gguf = 1;
        return 0;
    }
    if (!(*path = strdup(ref))) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    *is_gguf = (lmd_gguf_is_file(ref) && !is_dir(ref)) || starts_gguf(ref);
    return 0;
}
