/* dataset.c - the original LMdiff's dataset files: an optional YAML front
 * matter between '---' lines (name, type, checksum, any other keys), then
 * one text per line.  Reading follows the original exactly (universal
 * newlines, the body stripped of white space at both ends, runs of line
 * breaks collapsed) but streams: only the current line is in memory.  The
 * checksum is SHA-256 of the texts joined by '\n' and is verified. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <yaml.h>

#include "analysis/corpus.h"

struct lmd_dataset_reader {
    FILE *f;
    char *path;
    lmd_dataset_meta meta;
    /* where the body starts: the physical line at body_pos, from byte
     * body_skip; lines before it are body_line */
    long body_pos;
    size_t body_skip;
    uint64_t body_line;
    /* the current physical line, cut into sub-lines at lone '\r' */
    char *line;
    size_t cap, len, sub_pos;
    int have_line, track_pos;
    long line_start; /* file offset of the current line (while track_pos) */
    uint64_t lineno;
    /* the body state machine */
    int started, eof;
    lmd_buf pend; /* the last line with content, not yet known not to be the last */
    int has_pend;
    lmd_buf ws; /* white-space-only lines after pend, NUL-separated */
    size_t n_ws;
    lmd_buf ready; /* texts ready to return, NUL-separated */
    size_t *ready_off, n_ready, ready_cap, ready_pos;
    lmd_sha256 *sha;
    uint64_t count;
    char hex[65];
};

/* ------------------------------------------------------------ white space */

static uint32_t decode(const unsigned char *s, size_t n) {
    if (s[0] < 0x80 || n < 2) return s[0];
    if (s[0] < 0xE0) return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
    if (s[0] < 0xF0 || n < 4)
        return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
           ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

/* Python's str.isspace(), which decides what strip() removes. */
static int is_ws(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

static size_t seq_len(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Bytes of white space at the start of s (valid UTF-8). */
static size_t lead_ws(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t l = seq_len((unsigned char)s[i]);
        if (l > n - i || !is_ws(decode((const unsigned char *)s + i, n - i))) break;
        i += l;
    }
    return i;
}

/* Length of s without its trailing white space. */
static size_t trim_ws(const char *s, size_t n) {
    while (n > 0) {
        size_t b = n - 1;
        while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80)
            b--;
        if (!is_ws(decode((const unsigned char *)s + b, n - b))) break;
        n = b;
    }
    return n;
}

/* '---' (three or more dashes) and then only white space. */
static int is_fence(const char *s, size_t n) {
    size_t d = 0;
    while (d < n && s[d] == '-')
        d++;
    return d >= 3 && lead_ws(s + d, n - d) == n - d;
}

/* ------------------------------------------------------------ lines */

/* The next sub-line (text between line breaks: '\n', '\r\n' or a lone
 * '\r').  1 = got one, 0 = end of file, -1 = error. */
static int next_sub(lmd_dataset_reader *r, const char **s, size_t *n, lmd_error *err) {
    if (!r->have_line) {
        if (r->track_pos) r->line_start = ftell(r->f);
        errno = 0;
        ssize_t got = getline(&r->line, &r->cap, r->f);
        if (got < 0) {
            if (ferror(r->f))
                return lmd_fail(err, "%s: read error: %s", r->path, strerror(errno ? errno : EIO));
            return 0;
        }
        r->lineno++;
        size_t len = (size_t)got;
        if (len && r->line[len - 1] == '\n') {
            len--;
            if (len && r->line[len - 1] == '\r') len--;
        }
        size_t skip = 0;
        if (r->lineno == 1 && len >= 3 && !memcmp(r->line, "\xEF\xBB\xBF", 3)) skip = 3; /* BOM */
        const char *nul = memchr(r->line, 0, len);
        if (nul)
            return lmd_fail(err, "%s: line %llu: a NUL byte at column %zu", r->path,
                            (unsigned long long)r->lineno, (size_t)(nul - r->line) + 1);
        size_t bad = lmd_utf8_check(r->line, len);
        if (bad < len)
            return lmd_fail(err, "%s: line %llu: invalid UTF-8 (byte 0x%02x at column %zu)",
                            r->path, (unsigned long long)r->lineno, (unsigned char)r->line[bad],
                            bad + 1);
        r->len = len;
        r->sub_pos = skip;
        r->have_line = 1;
    }
    const char *start = r->line + r->sub_pos;
    const char *cr = memchr(start, '\r', r->len - r->sub_pos);
    size_t end = cr ? (size_t)(cr - r->line) : r->len;
    *s = start;
    *n = end - r->sub_pos;
    if (cr)
        r->sub_pos = end + 1;
    else
        r->have_line = 0;
    return 1;
}

static int push_ready(lmd_dataset_reader *r, const char *s, size_t n) {
    if (r->n_ready == r->ready_cap) {
        size_t nc = r->ready_cap ? 2 * r->ready_cap : 16;
        size_t *p = realloc(r->ready_off, nc * sizeof *p);
        if (!p) return -1;
        r->ready_off = p;
        r->ready_cap = nc;
    }
    r->ready_off[r->n_ready++] = r->ready.len;
    if (lmd_buf_put(&r->ready, s, n) < 0 || lmd_buf_put(&r->ready, "", 1) < 0) return -1;
    return 0;
}

/* One sub-line of the body through the original's rules. */
static int feed(lmd_dataset_reader *r, const char *s, size_t n) {
    if (n == 0) return 0; /* runs of line breaks collapse */
    if (!r->started) {
        size_t k = lead_ws(s, n);
        s += k;
        n -= k;
        if (n == 0) return 0;
        r->started = 1;
    }
    if (lead_ws(s, n) == n) { /* white space only: a text unless it ends the body */
        r->n_ws++;
        return lmd_buf_put(&r->ws, s, n) < 0 || lmd_buf_put(&r->ws, "", 1) < 0 ? -1 : 0;
    }
    if (r->has_pend) {
        if (push_ready(r, r->pend.data, r->pend.len) < 0) return -1;
        size_t off = 0;
        for (size_t i = 0; i < r->n_ws; i++) {
            size_t l = strlen(r->ws.data + off);
            if (push_ready(r, r->ws.data + off, l) < 0) return -1;
            off += l + 1;
        }
    }
    r->n_ws = 0;
    r->ws.len = 0;
    r->pend.len = 0;
    r->has_pend = 1;
    return lmd_buf_put(&r->pend, s, n);
}

static void finish_sha(lmd_dataset_reader *r) {
    if (r->sha) {
        lmd_sha256_final_hex(r->sha, r->hex);
        r->sha = NULL;
    }
}

int lmd_dataset_rewind(lmd_dataset_reader *r, lmd_error *err) {
    if (fseek(r->f, r->body_pos, SEEK_SET) != 0)
        return lmd_fail(err, "%s: cannot seek: %s", r->path, strerror(errno));
    r->have_line = 0;
    r->lineno = r->body_line;
    if (r->body_skip) { /* re-read the fence's line, continue after it */
        const char *s;
        size_t n;
        if (next_sub(r, &s, &n, err) < 0) return -1;
        r->sub_pos = r->body_skip;
        r->have_line = 1;
    }
    r->started = r->eof = r->has_pend = 0;
    r->pend.len = r->ws.len = r->ready.len = 0;
    r->n_ws = r->n_ready = r->ready_pos = 0;
    finish_sha(r);
    r->sha = lmd_sha256_new();
    if (!r->sha) return lmd_fail(err, "out of memory");
    r->count = 0;
    r->hex[0] = 0;
    return 0;
}

int lmd_dataset_next(lmd_dataset_reader *r, const char **text, size_t *len, lmd_error *err) {
    if (r->ready_pos == r->n_ready) {
        r->ready_pos = r->n_ready = 0;
        r->ready.len = 0;
        while (r->n_ready == 0 && !r->eof) {
            const char *s;
            size_t n;
            int got = next_sub(r, &s, &n, err);
            if (got < 0) return -1;
            if (got == 0) {
                r->eof = 1;
                if (r->has_pend &&
                    push_ready(r, r->pend.data, trim_ws(r->pend.data, r->pend.len)) < 0)
                    return lmd_fail(err, "%s: out of memory", r->path);
                r->has_pend = 0;
            } else if (feed(r, s, n) < 0) {
                return lmd_fail(err, "%s: out of memory", r->path);
            }
        }
        if (r->n_ready == 0) {
            finish_sha(r);
            return 0;
        }
    }
    const char *t = r->ready.data + r->ready_off[r->ready_pos++];
    *text = t;
    *len = strlen(t);
    if (r->sha) {
        if (r->count) lmd_sha256_update(r->sha, "\n", 1);
        lmd_sha256_update(r->sha, t, *len);
    }
    r->count++;
    return 1;
}

uint64_t lmd_dataset_position(const lmd_dataset_reader *r) {
    return r->count;
}

void lmd_dataset_checksum_of_read(lmd_dataset_reader *r, char hex[65]) {
    finish_sha(r);
    memcpy(hex, r->hex, 65);
}

/* ------------------------------------------------------------ header */

int lmd_dataset_type_valid(const char *type) {
    return type && (!strcmp(type, "human_created") || !strcmp(type, "machine_generated"));
}

static int is_null_scalar(const yaml_node_t *v) {
    if (v->type != YAML_SCALAR_NODE || v->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = (const char *)v->data.scalar.value;
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

/* libyaml's marks count characters; our slices need bytes. */
static size_t char_to_byte(const char *s, size_t n, size_t chars) {
    size_t i = 0;
    while (chars > 0 && i < n) {
        i += seq_len((unsigned char)s[i]);
        chars--;
    }
    return i < n ? i : n;
}

static int add_extra(lmd_dataset_meta *m, const char *key, const char *yaml, size_t len) {
    char **k = realloc(m->extra_keys, (m->n_extra + 1) * sizeof *k);
    if (!k) return -1;
    m->extra_keys = k;
    char **y = realloc(m->extra_yaml, (m->n_extra + 1) * sizeof *y);
    if (!y) return -1;
    m->extra_yaml = y;
    k[m->n_extra] = strdup(key);
    y[m->n_extra] = strndup(yaml, len);
    if (!k[m->n_extra] || !y[m->n_extra]) {
        free(k[m->n_extra]);
        free(y[m->n_extra]);
        return -1;
    }
    m->n_extra++;
    return 0;
}

static int parse_header(lmd_dataset_reader *r, const char *hdr, size_t len, uint64_t first_line,
                        lmd_error *err) {
    yaml_parser_t p;
    yaml_document_t d;
    lmd_dataset_meta *m = &r->meta;
    if (!yaml_parser_initialize(&p)) return lmd_fail(err, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)hdr, len);
    if (!yaml_parser_load(&p, &d)) {
        lmd_fail(err, "%s: line %llu: broken YAML header: %s%s%s", r->path,
                 (unsigned long long)(first_line + p.problem_mark.line),
                 p.problem ? p.problem : "syntax error", p.context ? " " : "",
                 p.context ? p.context : "");
        yaml_parser_delete(&p);
        return -1;
    }
    int rc = 0;
    yaml_node_t *root = yaml_document_get_root_node(&d);
    if (root && root->type != YAML_MAPPING_NODE) {
        rc = lmd_fail(err, "%s: line %llu: the header is not a YAML mapping of keys to values",
                      r->path, (unsigned long long)first_line);
    }
    for (yaml_node_pair_t *pr = root && !rc ? root->data.mapping.pairs.start : NULL;
         pr && pr < root->data.mapping.pairs.top && !rc; pr++) {
        yaml_node_t *k = yaml_document_get_node(&d, pr->key);
        yaml_node_t *v = yaml_document_get_node(&d, pr->value);
        unsigned long long line = first_line + k->start_mark.line;
        if (k->type != YAML_SCALAR_NODE) {
            rc = lmd_fail(err, "%s: line %llu: header keys must be plain strings", r->path, line);
            break;
        }
        const char *key = (const char *)k->data.scalar.value;
        for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < pr && !rc; q++) {
            yaml_node_t *qk = yaml_document_get_node(&d, q->key);
            if (qk->type == YAML_SCALAR_NODE && !strcmp((const char *)qk->data.scalar.value, key))
                rc = lmd_fail(err, "%s: line %llu: header key '%s' appears twice", r->path, line,
                              key);
        }
        if (rc) break;
        char **slot = !strcmp(key, "name")       ? &m->name
                      : !strcmp(key, "type")     ? &m->type
                      : !strcmp(key, "checksum") ? &m->checksum
                                                 : NULL;
        if (slot) {
            if (is_null_scalar(v)) continue;
            if (v->type != YAML_SCALAR_NODE) {
                rc = lmd_fail(err, "%s: line %llu: header key '%s' must be a string", r->path, line,
                              key);
                break;
            }
            *slot = strdup((const char *)v->data.scalar.value);
            if (!*slot) rc = lmd_fail(err, "out of memory");
        } else {
            size_t a = char_to_byte(hdr, len, k->start_mark.index);
            size_t b = char_to_byte(hdr, len, v->end_mark.index);
            while (b > a && (hdr[b - 1] == ' ' || hdr[b - 1] == '\n' || hdr[b - 1] == '\t'))
                b--;
            if (add_extra(m, key, hdr + a, b - a) < 0) rc = lmd_fail(err, "out of memory");
        }
    }
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    if (rc) return -1;
    if (m->type && !lmd_dataset_type_valid(m->type))
        return lmd_fail(err,
                        "%s: header: type must be human_created or machine_generated, not '%s'",
                        r->path, m->type);
    return 0;
}

void lmd_dataset_meta_free(lmd_dataset_meta *m) {
    free(m->name);
    free(m->type);
    free(m->checksum);
    for (size_t i = 0; i < m->n_extra; i++) {
        free(m->extra_keys[i]);
        free(m->extra_yaml[i]);
    }
    free(m->extra_keys);
    free(m->extra_yaml);
    memset(m, 0, sizeof *m);
}

/* Finds the header, if any, and where the body starts. */
static int read_header(lmd_dataset_reader *r, lmd_error *err) {
    const char *s;
    size_t n;
    int got;
    r->track_pos = 1;
    while ((got = next_sub(r, &s, &n, err)) > 0 && lead_ws(s, n) == n) {
    }
    r->body_pos = 0; /* without a header everything is body */
    r->body_skip = 0;
    r->body_line = 0;
    if (got <= 0 || !is_fence(s + lead_ws(s, n), n - lead_ws(s, n))) {
        r->track_pos = 0;
        return got < 0 ? -1 : 0;
    }
    r->meta.has_header = 1;
    uint64_t open_line = r->lineno;
    lmd_buf h = {0};
    while ((got = next_sub(r, &s, &n, err)) > 0 && !is_fence(s, n)) {
        if (lmd_buf_put(&h, s, n) < 0 || lmd_buf_put(&h, "\n", 1) < 0) {
            lmd_buf_free(&h);
            return lmd_fail(err, "out of memory");
        }
    }
    r->track_pos = 0;
    if (got <= 0) {
        lmd_buf_free(&h);
        if (got < 0) return -1;
        return lmd_fail(err,
                        "%s: line %llu: the header opened by '---' is never closed by "
                        "another '---' line",
                        r->path, (unsigned long long)open_line);
    }
    if (r->have_line) { /* the fence ended at a lone '\r': the body starts mid-line */
        r->body_pos = r->line_start;
        r->body_skip = r->sub_pos;
        r->body_line = r->lineno - 1;
    } else {
        r->body_pos = ftell(r->f);
        r->body_line = r->lineno;
    }
    int rc = parse_header(r, h.data ? h.data : "", h.len, open_line + 1, err);
    lmd_buf_free(&h);
    return rc;
}

int lmd_dataset_open(const char *path, lmd_dataset_reader **out, lmd_error *err) {
    *out = NULL;
    lmd_dataset_reader *r = calloc(1, sizeof *r);
    if (!r || !(r->path = strdup(path))) {
        free(r);
        return lmd_fail(err, "out of memory");
    }
    r->f = fopen(path, "rb");
    if (!r->f) {
        lmd_fail(err, "%s: %s", path, strerror(errno));
        lmd_dataset_close(r);
        return -1;
    }
    if (read_header(r, err) < 0) {
        lmd_dataset_close(r);
        return -1;
    }
    if (!r->meta.name) r->meta.name = lmd_path_stem(path);
    if (!r->meta.type) r->meta.type = strdup("human_created");
    if (!r->meta.name || !r->meta.type || lmd_dataset_rewind(r, err) < 0) {
        if (!r->meta.name || !r->meta.type) lmd_fail(err, "out of memory");
        lmd_dataset_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

const lmd_dataset_meta *lmd_dataset_get_meta(const lmd_dataset_reader *r) {
    return &r->meta;
}

void lmd_dataset_close(lmd_dataset_reader *r) {
    if (!r) return;
    finish_sha(r);
    if (r->f) fclose(r->f);
    free(r->path);
    free(r->line);
    lmd_dataset_meta_free(&r->meta);
    lmd_buf_free(&r->pend);
    lmd_buf_free(&r->ws);
    lmd_buf_free(&r->ready);
    free(r->ready_off);
    free(r);
}

/* ------------------------------------------------------------ whole files */

void lmd_dataset_checksum(const char *const *texts, const size_t *lens, size_t n, char hex[65]) {
    lmd_sha256 *h = lmd_sha256_new();
    for (size_t i = 0; i < n; i++) {
        if (i) lmd_sha256_update(h, "\n", 1);
        lmd_sha256_update(h, texts[i], lens[i]);
    }
    lmd_sha256_final_hex(h, hex);
}

static int check_declared(const lmd_dataset_reader *r, const char *hex, int verify,
                          lmd_error *err) {
    const char *decl = r->meta.checksum;
    if (!verify || !decl || !strcmp(decl, hex)) return 0;
    return lmd_fail(err,
                    "%s: wrong checksum: the header says %s but the texts hash to %s (the texts "
                    "changed after the header was written; 'lmdiff dataset make' writes a new "
                    "header, --no-verify uses the file as it is)",
                    r->path, decl, hex);
}

int lmd_dataset_scan(lmd_dataset_reader *r, int verify, lmd_dataset_summary *out, lmd_error *err) {
    memset(out, 0, sizeof *out);
    if (lmd_dataset_rewind(r, err) < 0) return -1;
    const char *t;
    size_t n;
    int got;
    while ((got = lmd_dataset_next(r, &t, &n, err)) > 0)
        out->n_bytes += n;
    if (got < 0) return -1;
    out->n_texts = r->count;
    lmd_dataset_checksum_of_read(r, out->checksum);
    out->declared = r->meta.checksum != NULL;
    out->matches = out->declared && !strcmp(r->meta.checksum, out->checksum);
    if (check_declared(r, out->checksum, verify, err) < 0) return -1;
    return lmd_dataset_rewind(r, err);
}

void lmd_dataset_free(lmd_dataset *ds) {
    if (!ds) return;
    lmd_dataset_meta_free(&ds->meta);
    for (size_t i = 0; i < ds->n_texts; i++)
        free(ds->texts[i]);
    free(ds->texts);
    free(ds->lens);
    free(ds);
}

int lmd_dataset_load(const char *path, int verify, lmd_dataset **out, lmd_error *err) {
    *out = NULL;
    lmd_dataset_reader *r;
    if (lmd_dataset_open(path, &r, err) < 0) return -1;
    lmd_dataset *ds = calloc(1, sizeof *ds);
    size_t cap = 0;
    const char *t;
    size_t n;
    int got = 0;
    if (!ds) got = lmd_fail(err, "out of memory");
    while (ds && (got = lmd_dataset_next(r, &t, &n, err)) > 0) {
        if (ds->n_texts == cap) {
            cap = cap ? 2 * cap : 64;
            char **tt = realloc(ds->texts, cap * sizeof *tt);
            size_t *ll = tt ? realloc(ds->lens, cap * sizeof *ll) : NULL;
            if (tt) ds->texts = tt;
            if (ll) ds->lens = ll;
            if (!tt || !ll) {
                got = lmd_fail(err, "%s: out of memory", path);
                break;
            }
        }
        if (!(ds->texts[ds->n_texts] = malloc(n + 1))) {
            got = lmd_fail(err, "%s: out of memory", path);
            break;
        }
        memcpy(ds->texts[ds->n_texts], t, n + 1);
        ds->lens[ds->n_texts++] = n;
    }
    if (got == 0) {
        lmd_dataset_checksum_of_read(r, ds->checksum);
        got = check_declared(r, ds->checksum, verify, err);
    }
    if (got < 0) {
        lmd_dataset_free(ds);
        lmd_dataset_close(r);
        return -1;
    }
    ds->meta = r->meta;
    memset(&r->meta, 0, sizeof r->meta);
    lmd_dataset_close(r);
    *out = ds;
    return 0;
}

/* ------------------------------------------------------------ writing */

/* YAML scalar: plain when that reads back as the same string, else
 * double-quoted. */
static int put_scalar(lmd_buf *b, const char *s) {
    static const char *const special[] = {"true", "false", "yes", "no", "on",  "off",
                                          "null", "y",     "n",   "~",  "none"};
    size_t n = strlen(s);
    int plain = n > 0 && s[n - 1] != ' ' && s[0] != ' ' && s[0] != '-' && s[0] != '.';
    int numberish = 1;
    for (size_t i = 0; i < n && plain; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '/' || c == ' ' || c >= 0x80))
            plain = 0;
        if (!strchr("0123456789.+-eE_xXoO", c)) numberish = 0;
    }
    if (plain && numberish) plain = 0;
    for (size_t i = 0; i < sizeof special / sizeof *special && plain; i++)
        if (!strcasecmp(s, special[i])) plain = 0;
    if (plain) return lmd_buf_puts(b, s);
    int rc = lmd_buf_put(b, "\"", 1);
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            rc = lmd_buf_printf(b, "\\%c", c);
        else if (c == '\n')
            rc = lmd_buf_puts(b, "\\n");
        else if (c == '\t')
            rc = lmd_buf_puts(b, "\\t");
        else if (c < 0x20 || c == 0x7f)
            rc = lmd_buf_printf(b, "\\x%02x", c);
        else
            rc = lmd_buf_put(b, s + i, 1);
    }
    return rc ? rc : lmd_buf_put(b, "\"", 1);
}

typedef struct entry {
    const char *key;
    lmd_buf text;
} entry;

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const entry *)a)->key, ((const entry *)b)->key);
}

/* Texts that would not read back as they are. */
static int check_texts(const lmd_dataset *ds, const char *path, lmd_error *err) {
    for (size_t i = 0; i < ds->n_texts; i++) {
        const char *t = ds->texts[i];
        size_t n = ds->lens[i];
        if (n == 0)
            return lmd_fail(err,
                            "%s: text %zu is empty; a dataset holds one non-empty text "
                            "per line",
                            path, i);
        if (memchr(t, '\n', n) || memchr(t, '\r', n) || memchr(t, 0, n))
            return lmd_fail(err, "%s: text %zu contains a line break or NUL byte", path, i);
        if (lmd_utf8_check(t, n) < n)
            return lmd_fail(err, "%s: text %zu is not valid UTF-8", path, i);
        if ((i == 0 && lead_ws(t, n) > 0) || (i + 1 == ds->n_texts && trim_ws(t, n) < n))
            return lmd_fail(err, "%s: text %zu %s with white space, which reading strips", path, i,
                            i == 0 ? "starts" : "ends");
    }
    return 0;
}

/* The header must read back as a mapping with the same keys. */
static int check_header(const char *hdr, size_t len, size_t n_keys) {
    yaml_parser_t p;
    yaml_document_t d;
    if (!yaml_parser_initialize(&p)) return -1;
    yaml_parser_set_input_string(&p, (const unsigned char *)hdr, len);
    int ok = yaml_parser_load(&p, &d);
    if (ok) {
        yaml_node_t *root = yaml_document_get_root_node(&d);
        ok = root && root->type == YAML_MAPPING_NODE &&
             (size_t)(root->data.mapping.pairs.top - root->data.mapping.pairs.start) == n_keys;
        yaml_document_delete(&d);
    }
    yaml_parser_delete(&p);
    return ok ? 0 : -1;
}

int lmd_dataset_save(const lmd_dataset *ds, const char *path, lmd_error *err) {
    if (check_texts(ds, path, err) < 0) return -1;
    const lmd_dataset_meta *m = &ds->meta;
    if (!m->name || !*m->name) return lmd_fail(err, "%s: the dataset has no name", path);
    const char *type = m->type ? m->type : "human_created";
    if (!lmd_dataset_type_valid(type))
        return lmd_fail(err, "%s: type must be human_created or machine_generated, not '%s'", path,
                        type);
    char hex[65];
    lmd_dataset_checksum((const char *const *)ds->texts, ds->lens, ds->n_texts, hex);
    size_t ne = 3 + m->n_extra;
    entry *e = calloc(ne, sizeof *e);
    if (!e) return lmd_fail(err, "out of memory");
    int rc = 0;
    e[0].key = "checksum";
    rc |= lmd_buf_printf(&e[0].text, "checksum: %s", hex);
    e[1].key = "name";
    rc |= lmd_buf_puts(&e[1].text, "name: ");
    rc |= put_scalar(&e[1].text, m->name);
    e[2].key = "type";
    rc |= lmd_buf_printf(&e[2].text, "type: %s", type);
    for (size_t i = 0; i < m->n_extra; i++) {
        e[3 + i].key = m->extra_keys[i];
        rc |= lmd_buf_puts(&e[3 + i].text, m->extra_yaml[i]);
    }
    qsort(e, ne, sizeof *e, cmp_entry);
    lmd_buf hdr = {0};
    for (size_t i = 0; i < ne; i++) {
        rc |= lmd_buf_put(&hdr, e[i].text.data, e[i].text.len);
        rc |= lmd_buf_put(&hdr, "\n", 1);
        lmd_buf_free(&e[i].text);
    }
    free(e);
    if (rc) {
        lmd_buf_free(&hdr);
        return lmd_fail(err, "out of memory");
    }
    if (check_header(hdr.data, hdr.len, ne) < 0) {
        lmd_buf_free(&hdr);
        return lmd_fail(err,
                        "%s: the header keys do not form valid YAML together (an extra "
                        "key's value could not be kept as written)",
                        path);
    }
    lmd_atomic a;
    if (lmd_atomic_open(&a, path, err) < 0) {
        lmd_buf_free(&hdr);
        return -1;
    }
    fputs("---\n", a.f);
    fwrite(hdr.data, 1, hdr.len, a.f);
    fputs("---", a.f);
    lmd_buf_free(&hdr);
    if (ds->n_texts) fputs("\n\n", a.f);
    for (size_t i = 0; i < ds->n_texts; i++) {
        if (i) fputc('\n', a.f);
        fwrite(ds->texts[i], 1, ds->lens[i], a.f);
    }
    return lmd_atomic_commit(&a, err);
}
