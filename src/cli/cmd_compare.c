/* cmd_compare.c - `lmdiff compare`: per-text measures of two analysis
 * caches of one dataset, as CSV (the original's columns first) and as the
 * binary tables that `search` and the server read, both directions. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/corpus.h"
#include "args.h"
#include "base/progress.h"
#include "cli.h"
#include "corpus_cli.h"

static const char *help =
    "usage: lmdiff compare A.h5 B.h5 [-o DIR] [--max-clamp-rank C] [--kl FILE] [--force]\n\n"
    "Compares two analysis caches of the same dataset (same dataset checksum, same\n"
    "tokenizer, same token ids in every text) and writes, in DIR (default: the\n"
    "current folder):\n"
    "  <m1>_<m2>_<dataset>.csv   one row per text: n_tokens, the original's 8\n"
    "                            measures, then every other aggregation\n"
    "  <m2>_<m1>_<dataset>.csv   the same, model 2 against model 1\n"
    "  <m1>_<m2>_<dataset>.lmdt  (and the reverse) the same table in binary, for\n"
    "                            'lmdiff search' and the server\n"
    "Differences are model 2 minus model 1; ranks are 1-based (docs/measures.md).\n"
    "Caches of models with different tokenizers are compared by segments instead\n"
    "(docs/measures.md): <m1>_<m2>_<dataset>.segments.csv and the reverse, with bits\n"
    "per byte per text; both caches need token byte spans (this lmdiff's analyze).\n\n"
    "  --max-clamp-rank C  the C of clamped_rank_diff (default 50)\n"
    "  --kl FILE           fill the six kl columns from this KL pair file (written by\n"
    "                      'lmdiff preprocess'; it must be in DIR and made from these\n"
    "                      caches' dataset and weights)\n"
    "  --force             replace existing files\n";

/* A warning when the two caches were scored at different precisions (an
 * unreadable cache is left to lmd_compare to report). */
static void warn_precision(const char *p1, const char *p2) {
    lmd_cache *c1 = NULL, *c2 = NULL;
    lmd_error e;
    if (lmd_cache_open(p1, &c1, &e) == 0 && lmd_cache_open(p2, &c2, &e) == 0) {
        const char *a = lmd_cache_precision(lmd_cache_get_info(c1));
        const char *b = lmd_cache_precision(lmd_cache_get_info(c2));
        if (strcmp(a, b))
            fprintf(stderr,
                    "lmdiff compare: warning: %s was scored with %s products and %s with %s; "
                    "part of the differences comes from the precision (docs/scoring.md)\n",
                    p1, a, p2, b);
    }
    if (c1) lmd_cache_close(c1);
    if (c2) lmd_cache_close(c2);
}

int cmd_compare(int argc, char **argv) {
    const char *out = NULL, *clamp = NULL, *force = NULL, *hlp = NULL, *kl = NULL;
    const char *pos[2] = {0};
    cli_opt opts[] = {{"--output", 1, &out},
                      {"--max-clamp-rank", 1, &clamp},
                      {"--force", 0, &force},
                      {"--kl", 1, &kl},
                      {"--help", 0, &hlp}};
    char **a = corpus_argv(argc, argv);
    if (!a) return cli_error("out of memory");
    int np = cli_parse("compare", argc, a, opts, sizeof opts / sizeof *opts, pos, 2);
    free(a);
    if (np < 0) return 2;
    if (hlp) return fputs(help, stdout), 0;
    if (np != 2) return cli_usage_error("compare", "needs two caches A.h5 and B.h5");
    lmd_compare_opts o = {0};
    long v;
    if (clamp && cli_int("compare", "--max-clamp-rank", clamp, 1, 1 << 30, &v) < 0) return 2;
    o.max_clamp_rank = clamp ? (int)v : LMD_DEFAULT_MAX_CLAMP;
    o.force = force != NULL;
    o.kl_path = kl;
    o.workers = (int)sysconf(_SC_NPROCESSORS_ONLN); /* this process has no threads yet */
    lmd_progress *p = lmd_progress_new("compare", "texts", 0);
    o.progress = lmd_progress_cb;
    o.progress_ctx = p;
    corpus_catch_signals();
    o.cancel = &corpus_cancel;
    warn_precision(pos[0], pos[1]);
    lmd_compare_out co;
    lmd_error err;
    int rc = lmd_compare(pos[0], pos[1], out ? out : ".", &o, &co, &err);
    lmd_progress_end(p);
    if (rc < 0) return corpus_cancel ? (cli_error("%s", err.msg), 130) : cli_lib_error(&err);
    for (int d = 0; d < 2; d++)
        printf(co.table[d] ? "%s\n%s\n" : "%s\n", co.csv[d], co.table[d]);
    fprintf(stderr, "compared %llu texts\n", (unsigned long long)co.n_texts);
    lmd_compare_out_free(&co);
    return 0;
}
