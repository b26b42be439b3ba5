/* common.c - helpers shared by the subcommands: error reporting, the text
 * argument, JSON number and string output, colour detection. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/diff.h"
#include "base/base.h"
#include "cli.h"

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lmdiff: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

int cli_exit_status(lmd_error_code code) {
    switch (code) {
    case LMD_ERR_IO:
        return 3;
    case LMD_ERR_NO_MEMORY:
        return 4;
    case LMD_ERR_BUSY:
        return 5;
    default:
        return 1;
    }
}

int cli_lib_error(const lmd_error *err) {
    cli_error("%s", err->msg);
    return cli_exit_status(err->code);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "lmdiff %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(try 'lmdiff %s --help')\n", cmd);
    va_end(ap);
    return 2;
}

int cli_read_text(const char *positional, const char *file, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    if (positional && file) return -1;
    if (file) {
        lmd_error err;
        if (lmd_read_file(file, text, len, &err) < 0) {
            cli_error("%s", err.msg);
            return -1;
        }
        return 0;
    }
    if (!positional) return -1;
    *text = strdup(positional);
    if (!*text) return -1;
    *len = strlen(positional);
    return 0;
}

void cli_json_string(FILE *f, const char *s, size_t len) {
    lmd_buf b = {0};
    if (lmd_json_str(&b, s, len) == 0) fwrite(b.data, 1, b.len, f);
    lmd_buf_free(&b);
}

void cli_json_float(FILE *f, float v) {
    lmd_buf b = {0};
    if (lmd_json_f32(&b, v) == 0) fwrite(b.data, 1, b.len, f);
    lmd_buf_free(&b);
}

void cli_json_double(FILE *f, double v) {
    lmd_buf b = {0};
    if (lmd_json_f64(&b, v) == 0) fwrite(b.data, 1, b.len, f);
    lmd_buf_free(&b);
}

int cli_use_color(void) {
    const char *nc = getenv("NO_COLOR");
    return isatty(STDOUT_FILENO) && !(nc && *nc);
}

/* A token for a table cell: JSON-escaped, cut to `width` columns. */
void cli_token_cell(const lmd_tokenizer *tok, int32_t id, int width) {
    char *t = lmd_token_display(tok, id);
    lmd_buf b = {0};
    lmd_json_str(&b, t ? t : "", t ? strlen(t) : 0);
    /* count UTF-8 code points for the padding */
    int cols = 0;
    size_t cut = b.len;
    for (size_t i = 0; i < b.len; i++)
        if (((unsigned char)b.data[i] & 0xC0) != 0x80) {
            if (cols == width) {
                cut = i;
                break;
            }
            cols++;
        }
    fwrite(b.data, 1, cut, stdout);
    for (int c = cols; c < width; c++)
        putchar(' ');
    lmd_buf_free(&b);
    free(t);
}

const char *cli_pack_weights_flag;

int cli_model_opts(const char *cmd, const char *precision, const char *device, lmd_model_opts *o) {
    *o = (lmd_model_opts)LMD_MODEL_OPTS_INIT;
    o->device = device;
    o->pack_weights = cli_pack_weights_flag != NULL;
    if (precision && lmd_precision_parse(precision, &o->precision) < 0)
        return cli_usage_error(cmd, "--precision must be auto, f32 or bf16, not '%s'", precision);
    return 0;
}

int cli_load_model(const char *cmd, const char *dir, const char *precision, const char *device,
                   int verbose, lmd_model **m) {
    lmd_model_opts o;
    if (cli_model_opts(cmd, precision, device, &o)) return 2;
    lmd_error err;
    if (lmd_model_load_opts(dir, &o, m, &err) < 0) return cli_lib_error(&err);
    if (verbose) {
        lmd_model_info info;
        lmd_model_get_info(*m, &info);
        fprintf(stderr, "lmdiff: %s: products in %s (%s), precision %s asked, on %s\n", info.name,
                info.precision, info.matmul_impl, lmd_precision_name(o.precision), info.device);
    }
    return 0;
}
