/* static.c - serves the web app: the bundle embedded at build time, or the
 * files of --web DIR.  Paths are normalised: no "..", no backslashes, no
 * NUL, and a file from --web must resolve (symlinks followed) inside DIR. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

static const char *mime_of(const char *path) {
    static const struct {
        const char *ext, *type;
    } t[] = {
        {".html", "text/html; charset=utf-8"},   {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"}, {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},           {".svg", "image/svg+xml"},
        {".png", "image/png"},                   {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},                {".woff", "font/woff"},
        {".txt", "text/plain; charset=utf-8"},   {".map", "application/json"},
    };
    const char *dot = strrchr(path, '.');
    if (dot)
        for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
            if (!strcmp(dot, t[i].ext)) return t[i].type;
    return "application/octet-stream";
}

/* Vite puts content-hashed files under /assets/: they never change. */
static const char *cache_of(const char *path) {
    return !strncmp(path, "/assets/", 8) ? "public, max-age=31536000, immutable" : "no-cache";
}

/* 1 when the decoded URL path is safe to look up. */
static int safe_path(const char *p) {
    if (p[0] != '/') return 0;
    for (const char *q = p; *q; q++)
        if (*q == '\\' || (unsigned char)*q < 0x20) return 0;
    /* reject any "." or ".." segment (and "%2e%2e", which the parser has decoded by now) */
    for (const char *seg = p; seg; seg = strchr(seg + 1, '/')) {
        const char *s = seg + 1;
        size_t n = strcspn(s, "/");
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) return 0;
    }
    return 1;
}

int lmd_static_init(lmd_server *s, lmd_error *err) {
    if (!s->cfg.web_dir) return 0;
    char buf[PATH_MAX];
    if (!realpath(s->cfg.web_dir, buf))
        return lmd_fail_code(err, lmd_errno_code(errno), "--web %s: %s", s->cfg.web_dir,
                             strerror(errno));
    s->web_root = strdup(buf);
    return s->web_root ? 0 : lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
}

void lmd_static_free(lmd_server *s) {
    free(s->web_root);
    s->web_root = NULL;
}

int lmd_static_serve(lmd_server *s, lmd_conn *c, const char *url) {
    const char *path = !strcmp(url, "/") ? "/index.html" : url;
    if (!safe_path(path)) return lmd_http_error(c, 404, "not found");
    if (!s->web_root) {
        for (size_t i = 0; i < lmd_n_assets; i++)
            if (!strcmp(lmd_assets[i].path, path))
                return lmd_http_send(c, 200, mime_of(path), lmd_assets[i].data, lmd_assets[i].len,
                                     cache_of(path), NULL);
        if (lmd_n_assets == 0)
            return lmd_http_error(c, 404, "this lmdiff was built without the web bundle; run "
                                          "'npm run build' in web/ and rebuild, or use --web DIR");
        return lmd_http_error(c, 404, "not found: %s", path);
    }
    char full[PATH_MAX], real[PATH_MAX];
    if (snprintf(full, sizeof full, "%s%s", s->web_root, path) >= (int)sizeof full)
        return lmd_http_error(c, 414, "path too long");
    size_t rl = strlen(s->web_root);
    if (!realpath(full, real) || strncmp(real, s->web_root, rl) || real[rl] != '/')
        return lmd_http_error(c, 404, "not found: %s", path);
    char *data;
    size_t len;
    lmd_error err;
    if (lmd_read_file(real, &data, &len, &err) < 0) return lmd_http_error(c, 404, "not found: %s", path);
    return lmd_http_send(c, 200, mime_of(path), data, len, cache_of(path), data);
}
