/* cmd_diff.c - `lmdiff diff`: two models on one text, token by token. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/diff.h"
#include "analysis/kl.h"
#include "args.h"
#include "cli.h"
#include "diff_html.h"

static const char *help =
    "usage: lmdiff diff M1_DIR M2_DIR (TEXT | --file F) [--measure M] [--top-k K]\n"
    "                   [--max-clamp-rank C] [--kl] [--segments] [--json] [--html F]\n"
    "                   " CLI_MODEL_USAGE "\n\n"
    "Scores the text under both models and shows where they differ.  On a terminal\n"
    "the tokens are coloured on a red-white-blue scale by the measure (blue: model 2\n"
    "does better, red: model 2 does worse), followed by a per-token table.\n"
    "Models with different tokenizers are compared by segments instead: the runs\n"
    "of bytes between positions that are token boundaries for both, coloured by\n"
    "the difference in bits per byte (docs/measures.md); --measure does not apply.\n\n"
    "  --file F          read the text from F, byte for byte\n"
    "  --measure M       prob (p2-p1), logprob (ln p2 - ln p1), rank (r2-r1),\n"
    "                    rank_clamped (min(r,50) difference), topk (how many of\n"
    "                    model 1's top-k are missing from model 2's), entropy\n"
    "                    (H2-H1); default logprob\n"
    "  --top-k K         top predictions per token (default 10)\n"
    "  --max-clamp-rank C  the clamp of rank_clamped (default 50)\n"
    "  --kl              also KL(P1||P2) per token over the whole vocabulary (both\n"
    "                    models' full distributions; the text must fit one context)\n"
    "  --segments        compare by segments even when the tokenizers are the same\n"
    "  --json            the document described in docs/cli.md\n"
    "  --html F          also write the diff to F as one self-contained HTML page\n"
    "                    (coloured tokens, probabilities on hover, the table; token\n"
    "                    by token only)\n" CLI_PRECISION_HELP;

/* +1 when a positive value of the measure means model 2 does better. */
static int good_sign(lmd_measure m) {
    return m == LMD_MEASURE_PROB || m == LMD_MEASURE_LOGPROB ? 1 : -1;
}

void cli_diff_color(double u, int *r, int *g, int *bl) {
    if (u > 1) u = 1;
    if (u < -1) u = -1;
    /* white -> blue #4393c3 (model 2 better), white -> red #d6604d (worse) */
    *r = 255, *g = 255, *bl = 255;
    if (u > 0)
        *r = (int)(255 + (0x43 - 255) * u), *g = (int)(255 + (0x93 - 255) * u),
        *bl = (int)(255 + (0xc3 - 255) * u);
    if (u < 0)
        *r = (int)(255 + (0xd6 - 255) * -u), *g = (int)(255 + (0x60 - 255) * -u),
        *bl = (int)(255 + (0x4d - 255) * -u);
}

static void colored_text(const lmd_tokenizer *tok, const lmd_scores *a, const lmd_scores *b,
                         lmd_measure m, int clamp) {
    double scale = 0;
    if (m == LMD_MEASURE_PROB)
        scale = 1;
    else if (m == LMD_MEASURE_RANK_CLAMPED)
        scale = clamp - 1;
    else if (m == LMD_MEASURE_TOPK)
        scale = a->k;
    else
        for (size_t i = 0; i < a->n; i++) {
            double v = fabs(lmd_token_measure(a, b, i, m, clamp));
            if (v > scale) scale = v;
        }
    if (scale <= 0) scale = 1;
    int color = cli_use_color();
    for (size_t i = 0; i < a->n; i++) {
        int r, g, bl;
        cli_diff_color(lmd_token_measure(a, b, i, m, clamp) / scale * good_sign(m), &r, &g, &bl);
        const char *bytes;
        size_t n = lmd_token_bytes(tok, a->ids[i], &bytes);
        if (color) printf("\x1b[48;2;%d;%d;%dm\x1b[38;2;0;0;0m", r, g, bl);
        for (size_t j = 0; j < n; j++) {
            if (bytes[j] == '\n') {
                fputs(color ? "\xe2\x86\xb5\x1b[0m\n" : "\xe2\x86\xb5\n", stdout);
                if (color) printf("\x1b[48;2;%d;%d;%dm\x1b[38;2;0;0;0m", r, g, bl);
            } else {
                putchar(bytes[j]);
            }
        }
        if (color)
            fputs("\x1b[0m", stdout);
        else if (i + 1 < a->n)
            putchar('|');
    }
    putchar('\n');
}

static void table(const lmd_tokenizer *tok, const char *n1, const lmd_scores *a, const char *n2,
                  const lmd_scores *b, lmd_measure m, int clamp) {
    double s1 = 0, s2 = 0;
    for (size_t i = 0; i < a->n; i++)
        s1 += a->logprob[i], s2 += b->logprob[i];
    double d = a->n ? (double)a->n : 1;
    printf("\nm1 %s: mean log-prob %.4f   m2 %s: mean log-prob %.4f   (%zu tokens)\n\n", n1, s1 / d,
           n2, s2 / d, a->n);
    printf("%5s  %-18s %9s %9s %7s %7s %9s  %s\n", "#", "token", "p1", "p2", "r1", "r2",
           lmd_measure_name(m), "top-1 m1 / m2");
    for (size_t i = 0; i < a->n; i++) {
        printf("%5zu  ", i);
        cli_token_cell(tok, a->ids[i], 18);
        printf(" %9.4g %9.4g %7d %7d %9.4g  ", (double)a->prob[i], (double)b->prob[i], a->rank[i],
               b->rank[i], lmd_token_measure(a, b, i, m, clamp));
        cli_token_cell(tok, a->topk_ids[i * (size_t)a->k], 10);
        fputs(" ", stdout);
        cli_token_cell(tok, b->topk_ids[i * (size_t)b->k], 10);
        putchar('\n');
    }
}

static void kl_text(const lmd_tokenizer *tok, const int32_t *ids, const lmd_kl_token *k, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += k[i].kl;
    printf("\nKL(P1||P2), nats: mean %.4g over %zu tokens; the highest:\n", n ? sum / (double)n : 0,
           n);
    size_t shown[5];
    for (int j = 0; j < 5 && (size_t)j < n; j++) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            int taken = 0;
            for (int q = 0; q < j; q++)
                taken |= shown[q] == i;
            if (!taken && (best == n || k[i].kl > k[best].kl)) best = i;
        }
        shown[j] = best;
        printf("%5zu  ", best);
        cli_token_cell(tok, ids[best], 18);
        printf(" %9.4g\n", k[best].kl);
    }
}

int cmd_diff(int argc, char **argv) {
    const char *file = NULL, *json = NULL, *hlp = NULL, *measure = NULL, *topk = NULL,
               *clamps = NULL, *pos[3] = {0}, *prec = NULL, *verbose = NULL, *klopt = NULL,
               *segs = NULL, *html = NULL, *device = NULL;
    cli_opt opts[] = {{"--file", 1, &file},
                      {"--json", 0, &json},
                      {"--measure", 1, &measure},
                      {"--top-k", 1, &topk},
                      {"--max-clamp-rank", 1, &clamps},
                      {"--help", 0, &hlp},
                      {"--precision", 1, &prec},
                      {"--verbose", 0, &verbose},
                      {"--kl", 0, &klopt},
                      {"--segments", 0, &segs},
                      {"--html", 1, &html},
                      {"--device", 1, &device},
                      CLI_PACK_WEIGHTS_OPT};
    int np = cli_parse("diff", argc, argv, opts, sizeof opts / sizeof *opts, pos, 3);
    if (np < 0) return 2;
    if (hlp) return fputs(help, stdout), 0;
    if (np < 2) return cli_usage_error("diff", "needs M1_DIR and M2_DIR");
    if ((np == 3) == (file != NULL))
        return cli_usage_error("diff", "give the text either as an argument or with --file");
    int m = LMD_MEASURE_LOGPROB;
    if (measure && (m = lmd_measure_parse(measure)) < 0)
        return cli_usage_error("diff",
                               "unknown measure '%s' (prob, logprob, rank, rank_clamped, "
                               "topk, entropy)",
                               measure);
    lmd_score_opts so = LMD_SCORE_OPTS_INIT;
    long v, clamp = LMD_DEFAULT_CLAMP;
    if (topk) {
        if (cli_int("diff", "--top-k", topk, 1, 1000, &v) < 0) return 2;
        so.top_k = (int)v;
    }
    if (clamps && cli_int("diff", "--max-clamp-rank", clamps, 1, 1 << 30, &clamp) < 0) return 2;
    char *text;
    size_t len;
    if (cli_read_text(np == 3 ? pos[2] : NULL, file, &text, &len) < 0) return 1;
    lmd_error err;
    lmd_model *m1 = NULL, *m2 = NULL;
    lmd_scores a = {0}, b = {0};
    lmd_kl_token *kl = NULL;
    int rc = 1;
    if ((rc = cli_load_model("diff", pos[0], prec, device, verbose != NULL, &m1)) ||
        (rc = cli_load_model("diff", pos[1], prec, device, verbose != NULL, &m2)))
        goto done;
    rc = 1;
    if (segs || !lmd_tokenizers_compatible(lmd_model_tokenizer(m1), lmd_model_tokenizer(m2))) {
        if (klopt || html) {
            cli_error("%s compares token by token: it needs two models with the same tokenizer "
                      "(and no --segments)",
                      klopt ? "--kl" : "--html");
            goto done;
        }
        rc = cli_diff_segments(m1, m2, file ? file : "text", text, len, &so, json != NULL);
        goto done;
    }
    if (lmd_score_text(m1, text, len, &so, &a, &err) < 0 ||
        lmd_score_text(m2, text, len, &so, &b, &err) < 0) {
        cli_error("%s: %s", file ? file : "text", err.msg);
        rc = cli_exit_status(err.code);
        goto done;
    }
    if (klopt && (!(kl = calloc(a.n ? a.n : 1, sizeof *kl)) ||
                  lmd_kl_tokens(m1, m2, a.ids, a.n, kl, &err) < 0)) {
        cli_error("--kl: %s", kl ? err.msg : "out of memory");
        goto done;
    }
    lmd_model_info i1, i2;
    lmd_model_get_info(m1, &i1);
    lmd_model_get_info(m2, &i2);
    const lmd_tokenizer *tok = lmd_model_tokenizer(m1);
    lmd_diff_doc doc = {tok, text, len, i1.name, i2.name, &a, &b, (int)clamp, lmd_measure_name(m)};
    if (html && cli_write_diff_html(html, &doc) < 0) goto done;
    if (json) {
        lmd_buf out = {0};
        int jrc = lmd_json_diff(&out, tok, text, len, i1.name, &a, i2.name, &b, (int)clamp);
        if (jrc == 0 && kl) { /* the KL keys go inside the document's object */
            out.len--;
            jrc = lmd_kl_json(&out, kl, a.n) < 0 || lmd_buf_puts(&out, "}") < 0 ? -1 : 0;
        }
        if (jrc < 0) {
            lmd_buf_free(&out);
            cli_error("out of memory");
            goto done;
        }
        /* the document's last member: how each model's products ran */
        fwrite(out.data, 1, out.len - 1, stdout);
        printf(",\"precisions\":[\"%s\",\"%s\"],\"devices\":[\"%s\",\"%s\"]}\n", i1.precision,
               i2.precision, i1.device, i2.device);
        lmd_buf_free(&out);
    } else {
        printf("m1 = %s, m2 = %s, measure %s\n\n", i1.name, i2.name, lmd_measure_name(m));
        colored_text(tok, &a, &b, m, (int)clamp);
        table(tok, i1.name, &a, i2.name, &b, m, (int)clamp);
        if (kl) kl_text(tok, a.ids, kl, a.n);
    }
    rc = 0;
done:
    free(kl);
    lmd_scores_free(&a);
    lmd_scores_free(&b);
    lmd_model_free(m1);
    lmd_model_free(m2);
    free(text);
    return rc;
}
