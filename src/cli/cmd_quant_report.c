/* cmd_quant_report.c - `lmdiff quant-report`: what quantizing (or any
 * change of weights) did to a model, as `llama-perplexity --kl-divergence`
 * reports it, over the texts of a file (one per line); formulas in
 * docs/measures.md. */
#include <stdlib.h>
#include <string.h>

#include "analysis/diff.h"
#include "analysis/kl.h"
#include "args.h"
#include "cli.h"

static const char *help =
    "usage: lmdiff quant-report BASE_MODEL QUANT_MODEL --file TEXTS.txt [--json]\n\n"
    "Scores every line of TEXTS.txt (one text per line, empty lines skipped; each\n"
    "must fit one context) under both models, which must share a tokenizer, and\n"
    "prints what llama.cpp's `llama-perplexity --kl-divergence` prints: the\n"
    "perplexity of each model and their ratio with uncertainties, the mean KL\n"
    "divergence KL(P_base || P_quant) over the whole vocabulary and its\n"
    "percentiles, the change of the true token's probability (delta p), and how often\n"
    "both models rank the same token first.  Every token of every text is counted\n"
    "(llama.cpp counts the second half of each context window).  Models are folders,\n"
    ".gguf files or ollama:NAME[:TAG] references.\n\n"
    "  --file F   the texts, one per line\n"
    "  --json     the numbers as one JSON object\n";

static const char *const pct_names[LMD_KL_NPCT] = {"Maximum", "99.9%", "99.0%", "95.0%", "90.0%",
                                                   "Median",  "10.0%", "5.0%",  "1.0%",  "Minimum"};

static void print_text(const lmd_kl_report *r, size_t texts) {
    printf("%zu texts, %zu tokens\n\n====== Perplexity statistics ======\n", texts, r->n);
    printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", r->ppl2, r->ppl2_err);
    printf("Mean PPL(base)                : %10.6f ± %10.6f\n", r->ppl1, r->ppl1_err);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100 * r->cor);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", r->ln_ratio, r->ln_ratio_err);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", r->ratio, r->ratio_err);
    printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", r->diff, r->diff_err);
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f ± %10.6f\n", r->kl_mean, r->kl_err);
    for (int k = 0; k < LMD_KL_NPCT; k++)
        printf("%-7s KLD: %10.6f\n", pct_names[k], r->kl_pct[k]);
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    Δp: %7.3f ± %5.3f %%\n", 100 * r->dp_mean, 100 * r->dp_err);
    for (int k = 0; k < LMD_KL_NPCT; k++)
        printf("%-7s Δp: %7.3f%%\n", pct_names[k], 100 * r->dp_pct[k]);
    printf("RMS Δp    : %7.3f ± %5.3f %%\n", 100 * r->dp_rms, 100 * r->dp_rms_err);
    printf("Same top p: %7.3f ± %5.3f %%\n", 100 * r->same_top, 100 * r->same_top_err);
}

static void print_json(const lmd_kl_report *r, size_t texts) {
    lmd_buf b = {0};
    const struct {
        const char *k;
        double v;
    } f[] = {{"ppl_q", r->ppl2},
             {"ppl_q_err", r->ppl2_err},
             {"ppl_base", r->ppl1},
             {"ppl_base_err", r->ppl1_err},
             {"cor_ln_ppl", r->cor},
             {"ln_ppl_ratio", r->ln_ratio},
             {"ln_ppl_ratio_err", r->ln_ratio_err},
             {"ppl_ratio", r->ratio},
             {"ppl_ratio_err", r->ratio_err},
             {"ppl_diff", r->diff},
             {"ppl_diff_err", r->diff_err},
             {"kld_mean", r->kl_mean},
             {"kld_mean_err", r->kl_err},
             {"dp_mean", r->dp_mean},
             {"dp_mean_err", r->dp_err},
             {"dp_rms", r->dp_rms},
             {"dp_rms_err", r->dp_rms_err},
             {"same_top_p", r->same_top},
             {"same_top_p_err", r->same_top_err}};
    lmd_buf_printf(&b, "{\"n_texts\":%zu,\"n_tokens\":%zu", texts, r->n);
    for (size_t i = 0; i < sizeof f / sizeof *f; i++) {
        lmd_buf_printf(&b, ",\"%s\":", f[i].k);
        lmd_json_f64(&b, f[i].v);
    }
    for (int which = 0; which < 2; which++) {
        lmd_buf_puts(&b, which ? ",\"dp_percentiles\":{" : ",\"kld_percentiles\":{");
        for (int k = 0; k < LMD_KL_NPCT; k++) {
            lmd_buf_printf(&b, "%s\"%g\":", k ? "," : "", 100 * lmd_kl_fraction(k));
            lmd_json_f64(&b, which ? r->dp_pct[k] : r->kl_pct[k]);
        }
        lmd_buf_puts(&b, "}");
    }
    lmd_buf_puts(&b, "}\n");
    fwrite(b.data, 1, b.len, stdout);
    lmd_buf_free(&b);
}

/* Appends the KL tokens of every non-empty line of text to *all. */
static int run_lines(const lmd_model *m1, const lmd_model *m2, const char *text, size_t len,
                     lmd_kl_token **all, size_t *n, size_t *texts, lmd_error *err) {
    const lmd_tokenizer *tok = lmd_model_tokenizer(m1);
    for (size_t pos = 0, line = 1; pos < len; line++) {
        const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
        size_t l = nl ? (size_t)(nl - s) : len - pos;
        pos += l + (nl ? 1 : 0);
        if (l && s[l - 1] == '\r') l--;
        if (!l) continue;
        int32_t *ids;
        size_t k;
        if (lmd_tokenize(tok, s, l, &ids, &k, err) < 0) {
            lmd_err_prefix(err, "line %zu", line);
            return -1;
        }
        lmd_kl_token *grown = realloc(*all, (*n + k + 1) * sizeof *grown);
        int rc = grown ? 0 : lmd_fail(err, "out of memory");
        if (grown) *all = grown;
        if (rc == 0 && lmd_kl_tokens(m1, m2, ids, k, *all + *n, err) < 0) {
            lmd_err_prefix(err, "line %zu", line);
            rc = -1;
        }
        free(ids);
        if (rc < 0) return -1;
        *n += k;
        (*texts)++;
    }
    return 0;
}

int cmd_quant_report(int argc, char **argv) {
    const char *file = NULL, *json = NULL, *hlp = NULL, *pos[2] = {0};
    cli_opt opts[] = {{"--file", 1, &file}, {"--json", 0, &json}, {"--help", 0, &hlp}};
    int np = cli_parse("quant-report", argc, argv, opts, sizeof opts / sizeof *opts, pos, 2);
    if (np < 0) return 2;
    if (hlp) return fputs(help, stdout), 0;
    if (np != 2 || !file)
        return cli_usage_error("quant-report", "give BASE_MODEL QUANT_MODEL --file F");
    char *text;
    size_t len;
    if (cli_read_text(NULL, file, &text, &len) < 0) return 1;
    lmd_error err;
    lmd_model *m1 = NULL, *m2 = NULL;
    lmd_kl_token *all = NULL;
    size_t n = 0, texts = 0;
    lmd_kl_report r;
    int rc = 1;
    if (lmd_model_load(pos[0], &m1, &err) < 0 || lmd_model_load(pos[1], &m2, &err) < 0) {
        cli_error("%s", err.msg);
        goto done;
    }
    if (run_lines(m1, m2, text, len, &all, &n, &texts, &err) < 0 ||
        lmd_kl_stats(all, n, &r, &err) < 0) {
        cli_error("%s: %s", file, err.msg);
        goto done;
    }
    if (json)
        print_json(&r, texts);
    else
        print_text(&r, texts);
    rc = 0;
done:
    free(all);
    lmd_model_free(m1);
    lmd_model_free(m2);
    free(text);
    return rc;
}
