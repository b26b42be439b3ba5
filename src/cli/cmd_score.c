/* cmd_score.c - `lmdiff score`: every token of a text under one model. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/diff.h"
#include "args.h"
#include "cli.h"

static const char *help =
    "usage: lmdiff score MODEL_DIR (TEXT | --file F) [--top-k K] [--threads N] [--json]\n"
    "                    " CLI_MODEL_USAGE "\n\n"
    "Scores every token of the text under the model: the probability of the true\n"
    "token, its log-probability, its rank (1 = the model's top choice), the\n"
    "entropy of the distribution (nats) and the top-K predictions.  A BOS token is\n"
    "prepended and not reported; long texts use a sliding window (docs/measures.md).\n"
    "Masked LMs (BERT, DistilBERT, RoBERTa) are scored by pseudo-likelihood: each\n"
    "token masked in its own copy of the text (docs/scoring.md).\n\n"
    "  --file F    read the text from F, byte for byte\n"
    "  --top-k K   predictions to list per token (default 10)\n"
    "  --threads N threads (default: all cores)\n"
    "  --json      print {\"model\", \"precision\", \"tokens\": [{\"id\", \"text\", \"prob\",\n"
    "              \"logprob\", \"rank\", \"entropy\", \"topk\": [{\"id\", \"text\", \"prob\"}]}]}\n"
    CLI_PRECISION_HELP;

static void print_json(const lmd_model_info *info, const lmd_tokenizer *tok, const lmd_scores *s) {
    lmd_buf b = {0};
    lmd_buf_puts(&b, "{\"model\":");
    lmd_json_str(&b, info->name, strlen(info->name));
    lmd_buf_printf(&b, ",\"precision\":\"%s\",\"device\":\"%s\"", info->precision, info->device);
    lmd_buf_puts(&b, ",\"tokens\":[");
    for (size_t i = 0; i < s->n; i++) {
        char *t = lmd_token_display(tok, s->ids[i]);
        lmd_buf_printf(&b, "%s{\"id\":%d,\"text\":", i ? "," : "", s->ids[i]);
        lmd_json_str(&b, t ? t : "", t ? strlen(t) : 0);
        free(t);
        lmd_buf_puts(&b, ",\"prob\":");
        lmd_json_f32(&b, s->prob[i]);
        lmd_buf_puts(&b, ",\"logprob\":");
        lmd_json_f64(&b, s->logprob[i]);
        lmd_buf_printf(&b, ",\"rank\":%d,\"entropy\":", s->rank[i]);
        lmd_json_f32(&b, s->entropy[i]);
        lmd_buf_puts(&b, ",\"topk\":[");
        for (int j = 0; j < s->k; j++) {
            int32_t id = s->topk_ids[i * (size_t)s->k + j];
            char *tt = lmd_token_display(tok, id);
            lmd_buf_printf(&b, "%s{\"id\":%d,\"text\":", j ? "," : "", id);
            lmd_json_str(&b, tt ? tt : "", tt ? strlen(tt) : 0);
            free(tt);
            lmd_buf_puts(&b, ",\"prob\":");
            lmd_json_f32(&b, s->topk_prob[i * (size_t)s->k + j]);
            lmd_buf_put(&b, "}", 1);
        }
        lmd_buf_puts(&b, "]}");
    }
    lmd_buf_puts(&b, "]}\n");
    fwrite(b.data, 1, b.len, stdout);
    lmd_buf_free(&b);
}

static void print_table(const char *name, const lmd_tokenizer *tok, const lmd_scores *s) {
    double sum = 0;
    for (size_t i = 0; i < s->n; i++) sum += s->logprob[i];
    printf("model %s: %zu tokens, mean log-prob %.4f, perplexity %.3f\n\n", name, s->n,
           s->n ? sum / (double)s->n : 0.0, s->n ? exp(-sum / (double)s->n) : 0.0);
    printf("%5s  %-18s %10s %10s %7s %8s  %s\n", "#", "token", "prob", "logprob", "rank",
           "entropy", "top predictions");
    for (size_t i = 0; i < s->n; i++) {
        printf("%5zu  ", i);
        cli_token_cell(tok, s->ids[i], 18);
        printf(" %10.4g %10.4f %7d %8.3f  ", (double)s->prob[i], s->logprob[i], s->rank[i],
               (double)s->entropy[i]);
        int show = s->k < 3 ? s->k : 3;
        for (int j = 0; j < show; j++) {
            cli_token_cell(tok, s->topk_ids[i * (size_t)s->k + j], 10);
            printf("%.3f  ", (double)s->topk_prob[i * (size_t)s->k + j]);
        }
        putchar('\n');
    }
}

int cmd_score(int argc, char **argv) {
    const char *file = NULL, *json = NULL, *hlp = NULL, *topk = NULL, *threads = NULL;
    const char *prec = NULL, *verbose = NULL, *device = NULL;
    const char *pos[2] = {0};
    cli_opt opts[] = {
        {"--file", 1, &file},       {"--json", 0, &json},      {"--top-k", 1, &topk},
        {"--threads", 1, &threads}, {"--precision", 1, &prec}, {"--verbose", 0, &verbose},
        {"--device", 1, &device},   {"--help", 0, &hlp},       CLI_PACK_WEIGHTS_OPT};
    int np = cli_parse("score", argc, argv, opts, sizeof opts / sizeof *opts, pos, 2);
    if (np < 0) return 2;
    if (hlp) return fputs(help, stdout), 0;
    if (np < 1) return cli_usage_error("score", "missing MODEL_DIR");
    if ((np == 2) == (file != NULL))
        return cli_usage_error("score", "give the text either as an argument or with --file");
    lmd_score_opts so = LMD_SCORE_OPTS_INIT;
    long v;
    if (topk) {
        if (cli_int("score", "--top-k", topk, 1, 1000, &v) < 0) return 2;
        so.top_k = (int)v;
    }
    if (threads) {
        if (cli_int("score", "--threads", threads, 1, 1024, &v) < 0) return 2;
        so.n_threads = (int)v;
    }
    char *text;
    size_t len;
    if (cli_read_text(np == 2 ? pos[1] : NULL, file, &text, &len) < 0) return 1;
    lmd_error err;
    lmd_model *m;
    int lrc = cli_load_model("score", pos[0], prec, device, verbose != NULL, &m);
    if (lrc) {
        free(text);
        return lrc;
    }
    lmd_scores s;
    int rc = 0;
    if (lmd_score_text(m, text, len, &so, &s, &err) < 0) {
        cli_error("%s: %s", file ? file : "text", err.msg);
        rc = cli_exit_status(err.code);
    } else {
        lmd_model_info info;
        lmd_model_get_info(m, &info);
        if (json) print_json(&info, lmd_model_tokenizer(m), &s);
        else print_table(info.name, lmd_model_tokenizer(m), &s);
        lmd_scores_free(&s);
    }
    lmd_model_free(m);
    free(text);
    return rc;
}
