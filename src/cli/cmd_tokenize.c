/* cmd_tokenize.c - `lmdiff tokenize`: a text's token ids under a model's
 * tokenizer (needs only the tokenizer files). */
#include <stdlib.h>
#include <string.h>

#include "analysis/diff.h"
#include "args.h"
#include "cli.h"

static const char *help =
    "usage: lmdiff tokenize MODEL_DIR (TEXT | --file F) [--json]\n\n"
    "Splits a text into tokens with the tokenizer of MODEL_DIR (tokenizer.json,\n"
    "vocab.json + merges.txt, vocab.txt, or a SentencePiece tokenizer.model); the weights\n"
    "are not read.  No special tokens are added.\n\n"
    "  --file F   read the text from F, byte for byte (a trailing newline is kept)\n"
    "  --json     print {\"ids\": [...], \"tokens\": [...], \"spans\": [[start, end], ...]}\n"
    "             (spans: each token's bytes in the text, docs/tokenizer.md)\n";

int cmd_tokenize(int argc, char **argv) {
    const char *file = NULL, *json = NULL, *hlp = NULL, *pos[2] = {0};
    cli_opt opts[] = {{"--file", 1, &file}, {"--json", 0, &json}, {"--help", 0, &hlp}};
    int np = cli_parse("tokenize", argc, argv, opts, sizeof opts / sizeof *opts, pos, 2);
    if (np < 0) return 2;
    if (hlp) return fputs(help, stdout), 0;
    if (np < 1) return cli_usage_error("tokenize", "missing MODEL_DIR");
    if ((np == 2) == (file != NULL))
        return cli_usage_error("tokenize", "give the text either as an argument or with --file");
    char *text;
    size_t len;
    if (cli_read_text(np == 2 ? pos[1] : NULL, file, &text, &len) < 0) return 1;
    lmd_error err;
    lmd_tokenizer *tok;
    if (lmd_tokenizer_load(pos[0], &tok, &err) < 0) {
        free(text);
        return cli_lib_error(&err);
    }
    int32_t *ids;
    size_t n;
    lmd_span *sp = NULL;
    int rc = 0;
    if ((json ? lmd_tokenize_spans(tok, text, len, &ids, &sp, &n, &err)
              : lmd_tokenize(tok, text, len, &ids, &n, &err)) < 0) {
        rc = cli_error("%s: %s", file ? file : "text", err.msg);
    } else if (json) {
        lmd_buf b = {0};
        lmd_buf_puts(&b, "{\"ids\":[");
        for (size_t i = 0; i < n; i++) lmd_buf_printf(&b, "%s%d", i ? "," : "", ids[i]);
        lmd_buf_puts(&b, "],\"tokens\":[");
        for (size_t i = 0; i < n; i++) {
            char *t = lmd_token_display(tok, ids[i]);
            if (i) lmd_buf_put(&b, ",", 1);
            lmd_json_str(&b, t ? t : "", t ? strlen(t) : 0);
            free(t);
        }
        lmd_buf_puts(&b, "],\"spans\":[");
        for (size_t i = 0; i < n; i++)
            lmd_buf_printf(&b, "%s[%u,%u]", i ? "," : "", sp[i].start, sp[i].end);
        lmd_buf_puts(&b, "]}\n");
        free(sp);
        fwrite(b.data, 1, b.len, stdout);
        lmd_buf_free(&b);
        free(ids);
    } else {
        printf("%zu tokens\n", n);
        for (size_t i = 0; i < n; i++) {
            char *t = lmd_token_display(tok, ids[i]);
            printf("%6zu  %7d  ", i, ids[i]);
            cli_json_string(stdout, t ? t : "", t ? strlen(t) : 0);
            putchar('\n');
            free(t);
        }
        free(ids);
    }
    lmd_tokenizer_free(tok);
    free(text);
    return rc;
}
