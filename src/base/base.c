/* base.c - errors, files, mappings, UTF-8 validation, SHA-256 (libcrypto). */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int lmd_fail(lmd_error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = LMD_ERR_FAILED;
    }
    return -1;
}

int lmd_fail_code(lmd_error *err, lmd_error_code code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return -1;
}

lmd_error_code lmd_errno_code(int e) {
    switch (e) {
    case ENOENT:
    case ENOTDIR:
        return LMD_ERR_NOT_FOUND;
    case ENOMEM:
        return LMD_ERR_NO_MEMORY;
    case EWOULDBLOCK:
    case EBUSY:
        return LMD_ERR_BUSY;
    default:
        return LMD_ERR_IO;
    }
}

const char *lmd_error_code_name(lmd_error_code code) {
    switch (code) {
    case LMD_ERR_BAD_INPUT:
        return "BAD_INPUT";
    case LMD_ERR_NOT_FOUND:
        return "NOT_FOUND";
    case LMD_ERR_UNSUPPORTED:
        return "UNSUPPORTED";
    case LMD_ERR_NO_MEMORY:
        return "NO_MEMORY";
    case LMD_ERR_IO:
        return "IO";
    case LMD_ERR_BUSY:
        return "BUSY";
    default:
        return "FAILED";
    }
}

void lmd_err_prefix(lmd_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[512], old[sizeof err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    size_t pl = strlen(prefix);
    if (pl > sizeof err->msg - 3) pl = sizeof err->msg - 3;
    memcpy(err->msg, prefix, pl);
    memcpy(err->msg + pl, ": ", 2);
    size_t room = sizeof err->msg - pl - 3, ol = strlen(old);
    if (ol > room) ol = room;
    memcpy(err->msg + pl + 2, old, ol);
    err->msg[pl + 2 + ol] = 0;
}

int lmd_read_file(const char *path, char **data, size_t *len, lmd_error *err) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return lmd_fail_code(err, lmd_errno_code(errno), "%s: %s", path, strerror(errno));
    lmd_buf b = {0};
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (lmd_buf_put(&b, chunk, got) < 0) {
            fclose(f);
            lmd_buf_free(&b);
            return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "%s: out of memory", path);
        }
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        lmd_buf_free(&b);
        return lmd_fail_code(err, LMD_ERR_IO, "%s: read error", path);
    }
    if (lmd_buf_put(&b, "", 1) < 0) { /* NUL terminator, not counted */
        lmd_buf_free(&b);
        return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    *data = b.data;
    *len = b.len - 1;
    return 0;
}

int lmd_map_file(const char *path, lmd_map *map, lmd_error *err) {
    map->data = NULL;
    map->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return lmd_fail_code(err, lmd_errno_code(errno), "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return lmd_fail_code(err, lmd_errno_code(e), "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return lmd_fail_code(err, LMD_ERR_BAD_INPUT, "%s: not a regular file", path);
    }
    if (st.st_size == 0) {
        close(fd);
        return 0; /* an empty mapping: data NULL, len 0 */
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return lmd_fail_code(err, lmd_errno_code(errno), "%s: mmap: %s", path, strerror(errno));
    map->data = p;
    map->len = (size_t)st.st_size;
    return 0;
}

void lmd_unmap(lmd_map *map) {
    if (map->data) munmap((void *)map->data, map->len);
    map->data = NULL;
    map->len = 0;
}

char *lmd_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    while (a > 1 && dir[a - 1] == '/') a--;
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

int lmd_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int lmd_utf8_seq_len(const unsigned char *s, size_t avail) {
    if (avail == 0) return 0;
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
    else return 0;
    if ((size_t)n > avail) return 0;
    unsigned cp = c & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

size_t lmd_utf8_check(const char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        if ((unsigned char)s[i] < 0x80) {
            i++;
            continue;
        }
        int n = lmd_utf8_seq_len((const unsigned char *)s + i, len - i);
        if (n == 0) return i;
        i += (size_t)n;
    }
    return len;
}

struct lmd_sha256 {
    EVP_MD_CTX *ctx;
};

lmd_sha256 *lmd_sha256_new(void) {
    lmd_sha256 *h = malloc(sizeof *h);
    if (!h) return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(h->ctx);
        free(h);
        return NULL;
    }
    return h;
}

void lmd_sha256_update(lmd_sha256 *h, const void *data, size_t len) {
    if (h && len) EVP_DigestUpdate(h->ctx, data, len);
}

void lmd_sha256_final_hex(lmd_sha256 *h, char hex[65]) {
    unsigned char md[32];
    unsigned int n = 0;
    memset(hex, 0, 65);
    if (!h) return;
    EVP_DigestFinal_ex(h->ctx, md, &n);
    for (unsigned i = 0; i < n && i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void lmd_sha256_hex(const void *data, size_t len, char hex[65]) {
    lmd_sha256 *h = lmd_sha256_new();
    lmd_sha256_update(h, data, len);
    lmd_sha256_final_hex(h, hex);
}

int lmd_buf_put(lmd_buf *b, const void *data, size_t len) {
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + len + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return -1;
        b->data = p;
        b->cap = cap;
    }
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
    return 0;
}

int lmd_buf_puts(lmd_buf *b, const char *s) { return lmd_buf_put(b, s, strlen(s)); }

int lmd_buf_printf(lmd_buf *b, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n < sizeof small) return lmd_buf_put(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big) return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = lmd_buf_put(b, big, (size_t)n);
    free(big);
    return rc;
}

void lmd_buf_free(lmd_buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void lmd_free(void *p) { free(p); }
