/* cmd_search.c - `lmdiff search`: the texts of a compared dataset where two
 * models differ most by one measure, and the histogram of that measure.  On
 * a terminal: a list and a text histogram that marks where the listed texts
 * fall; piped: tab-separated rows; --json: the document of the web API's
 * /api/search (docs/api.md §6). */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/corpus.h"
#include "analysis/kl.h"
#include "args.h"
#include "cli.h"
#include "corpus_cli.h"

static const char *help =
    "usage: lmdiff search DIR|TABLE [--measure NAME] [--top N] [--order desc|asc]\n"
    "                     [--by-abs|--signed] [--bins B] [--json] [--m1 NAME --m2 NAME]\n"
    "                     [--reverse] [--no-tokens] [--tokenizer MODEL_DIR]\n\n"
    "Lists the texts where the two models differ most by a per-text measure and\n"
    "shows the histogram of that measure over all texts.  DIR is a folder made by\n"
    "'lmdiff preprocess' (its metadata.json says which models) or 'lmdiff compare';\n"
    "TABLE a .lmdt file.  Texts without a value (0 tokens) are skipped and counted.\n\n"
    "  --measure NAME  a column of the comparison (default avg_clamped_rank_diff;\n"
    "                  bpb_diff for models with different tokenizers): n_tokens,\n"
    "                  n_bytes, bpb1, bpb2, bpb_diff or AGG_MEASURE with AGG in avg max\n"
    "                  min median q75 top5 and MEASURE in rank_diff clamped_rank_diff\n"
    "                  prob_diff topk_diff logprob_diff entropy_diff kl (one tokenizer;\n"
    "                  kl: KL(P1||P2), --reverse KL(P2||P1), from preprocess's KL\n"
    "                  pass; without it no text has a value)\n"
    "                  or segment_bpb_diff (different tokenizers); docs/measures.md\n"
    "  --top N         texts to list (default 50)\n"
    "  --order desc    largest first (default); asc: smallest first\n"
    "  --by-abs        rank by |value| (default); --signed: by the value itself\n"
    "  --bins B        histogram bins (default 30)\n"
    "  --m1/--m2       which models' table, in a folder with several\n"
    "  --reverse       model 2 against model 1\n"
    "  --json          the web API's search document, with the per-token data of\n"
    "                  each listed text from the caches (--no-tokens leaves it out;\n"
    "                  token texts come from --tokenizer, from the model folder named\n"
    "                  in metadata.json, or else the caches' vocabulary)\n";

/* The tokenizer for token texts: --tokenizer, else metadata.json's m1_dir. */
static lmd_tokenizer *find_tokenizer(const char *path, const char *given) {
    lmd_error err;
    lmd_tokenizer *tok = NULL;
    if (given) {
        if (lmd_tokenizer_load(given, &tok, &err) < 0) {
            cli_error("%s", err.msg);
            return NULL;
        }
        return tok;
    }
    char *mp = lmd_path_join(path, "metadata.json");
    char *data;
    size_t len;
    if (mp && lmd_file_exists(mp) && lmd_read_file(mp, &data, &len, &err) == 0) {
        cJSON *j = cJSON_ParseWithLength(data, len);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "m1_dir");
        if (cJSON_IsString(d) && lmd_tokenizer_load(d->valuestring, &tok, &err) < 0) tok = NULL;
        cJSON_Delete(j);
        free(data);
    }
    free(mp);
    return tok;
}

static void fmt_value(char *buf, size_t cap, int col, double v) {
    if (!isfinite(v))
        snprintf(buf, cap, "-");
    else if (lmd_column_is_integer(col))
        snprintf(buf, cap, "%lld", (long long)v);
    else
        snprintf(buf, cap, "%.4g", v);
}

static void print_terminal(const lmd_table *t, const lmd_search_result *r) {
    const lmd_table_meta *m = lmd_table_get_meta(t);
    int utf8 = corpus_utf8(), color = cli_use_color();
    int width = corpus_term_width();
    const char *name = lmd_column_name(r->column);
    printf("%s%s%s: %s %s %s on %s (%" PRIu64 " texts)\n", color ? "\x1b[1m" : "", name,
           color ? "\x1b[0m" : "", m->m1, utf8 ? "\xe2\x86\x92" : "->", m->m2, m->dataset_name,
           r->n_texts);
    const char *ord = r->order == LMD_ORDER_ABS    ? "by |value|, largest first"
                      : r->order == LMD_ORDER_DESC ? "by value, largest first"
                      : r->order == LMD_ORDER_ASC  ? "by value, smallest first"
                                                   : "by |value|, smallest first";
    printf("top %zu %s", r->n_hits, ord);
    if (r->n_null) printf("; %" PRIu64 " texts without a value skipped", r->n_null);
    printf("\n\n%4s %7s %10s %6s  %s\n", "#", "text", "value", "tokens", "");
    const double *ntok = lmd_table_column(t, 0);
    for (size_t h = 0; h < r->n_hits; h++) {
        char v[32];
        fmt_value(v, sizeof v, r->column, r->hits[h].value);
        const char *col = !color                 ? ""
                          : r->hits[h].value > 0 ? "\x1b[31m"
                          : r->hits[h].value < 0 ? "\x1b[34m"
                                                 : "";
        printf("%4zu %7" PRIu64 " %s%10s%s %6.0f  ", h + 1, r->hits[h].index, col, v,
               color ? "\x1b[0m" : "", ntok[r->hits[h].index]);
        size_t len;
        const char *text = lmd_table_text(t, r->hits[h].index, &len);
        corpus_put_cell(stdout, text, len, width - 32 > 20 ? width - 32 : 20);
        putchar('\n');
    }
    /* the histogram, one bin per line; arrows mark the listed texts */
    uint64_t maxc = 1;
    for (int i = 0; i < r->bins; i++)
        if (r->counts[i] > maxc) maxc = r->counts[i];
    int *marks = calloc(r->bins > 0 ? (size_t)r->bins : 1, sizeof *marks);
    for (size_t h = 0; marks && h < r->n_hits; h++)
        marks[r->hits[h].bin]++;
    printf("\nhistogram of %s over %" PRIu64 " texts (%s = bins holding listed texts)\n", name,
           r->n_values, utf8 ? "\xe2\x97\x80" : "<");
    int barw = width - 44;
    if (barw > 50) barw = 50;
    if (barw < 10) barw = 10;
    for (int i = 0; i < r->bins; i++) {
        printf("  %c%10.4g, %10.4g%c %7" PRIu64 " ", '[', r->edges[i], r->edges[i + 1],
               i + 1 == r->bins ? ']' : ')', r->counts[i]);
        double cells = (double)barw * (double)r->counts[i] / (double)maxc;
        int full = (int)cells;
        if (marks && marks[i] && color) fputs("\x1b[33m", stdout);
        for (int c = 0; c < full; c++)
            fputs(utf8 ? "\xe2\x96\x88" : "#", stdout);
        if (utf8 && cells - full >= 0.5) fputs("\xe2\x96\x8c", stdout), full++;
        if (marks && marks[i] && color) fputs("\x1b[0m", stdout);
        if (marks && marks[i])
            printf("%*s %s %d", barw - full, "", utf8 ? "\xe2\x97\x80" : "<", marks[i]);
        putchar('\n');
    }
    free(marks);
}

static void print_tsv(const lmd_table *t, const lmd_search_result *r) {
    printf("rank\tindex\tvalue\tn_tokens\ttext\n");
    const double *ntok = lmd_table_column(t, 0);
    for (size_t h = 0; h < r->n_hits; h++) {
        char v[40];
        if (lmd_column_is_integer(r->column))
            snprintf(v, sizeof v, "%lld", (long long)r->hits[h].value);
        else
            lmd_fmt_double(v, r->hits[h].value);
        printf("%zu\t%" PRIu64 "\t%s\t%.0f\t", h + 1, r->hits[h].index, v, ntok[r->hits[h].index]);
        size_t len;
        const char *text = lmd_table_text(t, r->hits[h].index, &len);
        for (size_t i = 0; i < len; i++)
            putchar(text[i] == '\t' || text[i] == '\n' || text[i] == '\r' ? ' ' : text[i]);
        putchar('\n');
    }
}

int cmd_search(int argc, char **argv) {
    const char *measure = NULL, *top = NULL, *order = NULL, *byabs = NULL, *sgn = NULL,
               *bins = NULL, *json = NULL, *m1 = NULL, *m2 = NULL, *rev = NULL, *notok = NULL,
               *tokdir = NULL, *hlp = NULL;
    const char *pos[1] = {0};
    cli_opt opts[] = {
        {"--measure", 1, &measure}, {"--top", 1, &top},         {"--order", 1, &order},
        {"--by-abs", 0, &byabs},    {"--signed", 0, &sgn},      {"--bins", 1, &bins},
        {"--json", 0, &json},       {"--m1", 1, &m1},           {"--m2", 1, &m2},
        {"--reverse", 0, &rev},     {"--no-tokens", 0, &notok}, {"--tokenizer", 1, &tokdir},
        {"--help", 0, &hlp}};
    char **a = corpus_argv(argc, argv);
    if (!a) return cli_error("out of memory");
    int np = cli_parse("search", argc, a, opts, sizeof opts / sizeof *opts, pos, 1);
    free(a);
    if (np < 0) return 2;
    if (hlp) return fputs(help, stdout), 0;
    if (np != 1) return cli_usage_error("search", "needs a folder or a .lmdt table");
    if (byabs && sgn) return cli_usage_error("search", "--by-abs and --signed exclude each other");
    lmd_search_opts so = {0};
    so.column = measure ? lmd_column_find(measure) : 0; /* default: below, by the table */
    if (so.column < 0)
        return cli_usage_error("search", "unknown measure '%s' (see --help for the names)",
                               measure);
    long v;
    if (top && cli_int("search", "--top", top, 1, 100000000, &v) < 0) return 2;
    so.top = top ? (size_t)v : 50;
    if (bins && cli_int("search", "--bins", bins, 1, 10000, &v) < 0) return 2;
    so.bins = bins ? (int)v : 30;
    int asc = 0;
    if (order) {
        if (!strcmp(order, "asc") || !strcmp(order, "ascending"))
            asc = 1;
        else if (!strcmp(order, "abs"))
            asc = 0;
        else if (strcmp(order, "desc") && strcmp(order, "descending"))
            return cli_usage_error("search", "--order must be desc or asc, not '%s'", order);
    }
    so.order =
        sgn ? (asc ? LMD_ORDER_ASC : LMD_ORDER_DESC) : (asc ? LMD_ORDER_ABS_ASC : LMD_ORDER_ABS);

    lmd_error err;
    char *tpath;
    if (lmd_corpus_find_table(pos[0], m1, m2, rev != NULL, &tpath, &err) < 0)
        return cli_lib_error(&err);
    lmd_table *t;
    if (lmd_table_open(tpath, &t, &err) < 0) {
        free(tpath);
        return cli_lib_error(&err);
    }
    free(tpath);
    if (!measure) /* models with different tokenizers: no per-token columns */
        so.column =
            lmd_column_find(lmd_table_get_meta(t)->segments ? "bpb_diff" : "avg_clamped_rank_diff");
    lmd_search_result r;
    if (lmd_search(t, &so, &r, &err) < 0) {
        lmd_table_close(t);
        return cli_lib_error(&err);
    }
    int rc = 0;
    if (json) {
        lmd_corpus_json_ctx x = {0};
        char *p1 = NULL, *p2 = NULL;
        if (!notok) {
            p1 = lmd_table_cache_path(t, 0);
            p2 = lmd_table_cache_path(t, 1);
            if (p1 && p2 && lmd_file_exists(p1) && lmd_file_exists(p2)) {
                if (lmd_cache_open(p1, &x.c1, &err) < 0 || lmd_cache_open(p2, &x.c2, &err) < 0)
                    rc = cli_lib_error(&err);
            } else {
                fprintf(stderr, "lmdiff search: the caches of this table are not there; "
                                "results have no per-token data\n");
            }
            if (!rc && x.c1) x.tok = find_tokenizer(pos[0], tokdir);
            lmd_kl_pair *kl = NULL;
            if (!rc && x.c1 && lmd_kl_pair_of_table(t, &kl, &x.kl_reverse, &err) < 0)
                rc = cli_lib_error(&err);
            x.kl = kl;
        }
        lmd_buf b = {0};
        if (!rc && lmd_search_json(&b, t, &r, &x, &err) < 0) rc = cli_lib_error(&err);
        if (!rc) {
            fwrite(b.data, 1, b.len, stdout);
            putchar('\n');
        }
        lmd_buf_free(&b);
        if (x.tok) lmd_tokenizer_free((lmd_tokenizer *)x.tok);
        lmd_cache_close(x.c1);
        lmd_cache_close(x.c2);
        lmd_kl_pair_close((lmd_kl_pair *)x.kl);
        free(p1);
        free(p2);
    } else if (isatty(STDOUT_FILENO)) {
        print_terminal(t, &r);
    } else {
        print_tsv(t, &r);
    }
    lmd_search_result_free(&r);
    lmd_table_close(t);
    return rc;
}
