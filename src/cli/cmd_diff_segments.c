/* cmd_diff_segments.c - `lmdiff diff` for two models with different
 * tokenizers (or --segments): the text cut into byte-aligned segments,
 * coloured by the difference in bits per byte, then a table of the
 * segments with each model's tokens in them (docs/measures.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/diff.h"
#include "analysis/segments.h"
#include "cli.h"

/* Prints text bytes with newlines shown as ↵ (the background kept). */
static void put_bytes(const char *s, size_t n, int color, int r, int g, int bl) {
    for (size_t j = 0; j < n; j++) {
        if (s[j] == '\n') {
            fputs(color ? "\xe2\x86\xb5\x1b[0m\n" : "\xe2\x86\xb5\n", stdout);
            if (color) printf("\x1b[48;2;%d;%d;%dm\x1b[38;2;0;0;0m", r, g, bl);
        } else {
            putchar(s[j]);
        }
    }
}

static void colored_segments(const lmd_segments *sg, const char *text) {
    double scale = 0;
    for (size_t j = 0; j < sg->n; j++)
        if (fabs(lmd_segment_dbpb(sg, j)) > scale) scale = fabs(lmd_segment_dbpb(sg, j));
    if (scale <= 0) scale = 1;
    int color = cli_use_color();
    for (size_t j = 0; j < sg->n; j++) {
        int r, g, bl;
        cli_diff_color(-lmd_segment_dbpb(sg, j) / scale, &r, &g, &bl); /* fewer bits: blue */
        if (color) printf("\x1b[48;2;%d;%d;%dm\x1b[38;2;0;0;0m", r, g, bl);
        put_bytes(text + sg->at[j], sg->at[j + 1] - sg->at[j], color, r, g, bl);
        if (color)
            fputs("\x1b[0m", stdout);
        else if (j + 1 < sg->n)
            putchar('|');
    }
    putchar('\n');
}

/* The tokens of model m in segment j, joined by '|', in at most width
 * columns. */
static void token_list(const lmd_xdiff *x, const lmd_model *mod, int m, size_t j) {
    const lmd_tokenizer *tok = lmd_model_tokenizer(mod);
    lmd_buf b = {0};
    for (size_t t = x->sg.first[m][j]; t < x->sg.first[m][j + 1]; t++) {
        char *d = lmd_token_display(tok, x->sc[m].ids[t]);
        if (t > x->sg.first[m][j]) lmd_buf_put(&b, "|", 1);
        if (d) lmd_buf_puts(&b, d);
        free(d);
    }
    cli_json_string(stdout, b.data ? b.data : "", b.len);
    lmd_buf_free(&b);
}

static void segment_table(const lmd_xdiff *x, const lmd_model *m1, const lmd_model *m2,
                          const char *text) {
    const lmd_segments *sg = &x->sg;
    printf("\n%5s %9s %9s %9s %9s  %-24s  %s\n", "#", "bytes", "bits m1", "bits m2", "dbpb",
           "segment", "tokens m1 / m2");
    for (size_t j = 0; j < sg->n; j++) {
        size_t n = sg->at[j + 1] - sg->at[j];
        printf("%5zu %9zu %9.3f %9.3f %9.4f  ", j, n, lmd_bits(sg->lp[0][j]),
               lmd_bits(sg->lp[1][j]), lmd_segment_dbpb(sg, j));
        cli_json_string(stdout, text + sg->at[j], n > 22 ? 22 : n);
        fputs(n > 22 ? "... " : "  ", stdout);
        token_list(x, m1, 0, j);
        fputs(" / ", stdout);
        token_list(x, m2, 1, j);
        putchar('\n');
    }
}

int cli_diff_segments(const lmd_model *m1, const lmd_model *m2, const char *what, const char *text,
                      size_t len, const lmd_score_opts *so, int json) {
    lmd_error err;
    lmd_xdiff x;
    if (lmd_xdiff_run(m1, m2, text, len, so, &x, &err) < 0)
        return cli_error("%s: %s", what, err.msg);
    lmd_model_info i1, i2;
    lmd_model_get_info(m1, &i1);
    lmd_model_get_info(m2, &i2);
    int rc = 0;
    if (json) {
        lmd_buf out = {0};
        if (lmd_json_xdiff(&out, &x, m1, i1.name, m2, i2.name, text, len) < 0) {
            rc = cli_error("out of memory");
        } else {
            fwrite(out.data, 1, out.len, stdout);
            putchar('\n');
        }
        lmd_buf_free(&out);
    } else {
        printf("m1 = %s, m2 = %s, by segments: Δ bits per byte (m2 - m1; blue: m2 needs fewer "
               "bits)\n",
               i1.name, i2.name);
        if (!x.comparable)
            printf("NOTE: one model is causal and the other masked: pseudo-log-likelihood bits "
                   "are not the same quantity as log-likelihood bits\n");
        else if (x.masked[0])
            printf("(both masked LMs: bits are pseudo-log-likelihood sums)\n");
        putchar('\n');
        colored_segments(&x.sg, text);
        printf("\nm1 %s: %.4f bits/byte (%zu tokens)   m2 %s: %.4f bits/byte (%zu tokens)   "
               "difference %+.4f   (%zu bytes, %zu segments)\n",
               i1.name, x.st.bpb[0], x.sc[0].n, i2.name, x.st.bpb[1], x.sc[1].n, x.st.dbpb, len,
               x.sg.n);
        segment_table(&x, m1, m2, text);
    }
    lmd_xdiff_free(&x);
    return rc;
}
