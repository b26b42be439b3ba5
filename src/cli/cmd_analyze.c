/* cmd_analyze.c - `lmdiff analyze`: one model over a whole dataset, into an
 * HDF5 analysis cache (the original LMdiff's layout).  Shows a progress bar
 * on a terminal; Ctrl-C stops cleanly and keeps the work for --resume. */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analysis/corpus.h"
#include "args.h"
#include "base/progress.h"
#include "cli.h"
#include "corpus_cli.h"

static const char *help =
    "usage: lmdiff analyze MODEL_DIR DATASET [-o CACHE.h5|DIR] [--top-k K] [--first-n N]\n"
    "                      [--name NAME] [--force] [--resume] [--no-verify]\n"
    "                      [--threads N] [--batch-tokens N] [--shard K/N]\n"
    "                      [--max-text-tokens N]\n"
    "                      " CLI_MODEL_USAGE "\n\n"
    "Scores every text of DATASET with the model and writes an analysis cache: per\n"
    "token the id, rank (stored 0-based, as the original did), probability,\n"
    "log-probability, entropy and the top-K predictions (docs/corpus.md).\n\n"
    "  -o PATH           the cache file, or a folder for the original's file name\n"
    "                    <dataset>_._<model>.h5 (the default, in the current folder)\n"
    "  --top-k K         predictions kept per token (default 10)\n"
    "  --first-n N       only the first N texts\n"
    "  --name NAME       the model's name in the cache (default: the folder's name)\n"
    "  --force           replace an existing cache, or discard an interrupted one\n"
    "  --resume          continue the interrupted run whose CACHE.h5.partial is there\n"
    "  --no-verify       accept a dataset whose header checksum does not match\n"
    "  --threads N       threads (default: all cores)\n"
    "  --batch-tokens N  tokens scored per batch (default 8192)\n"
    "  --shard K/N       only shard K (1..N) of N contiguous slices of the texts,\n"
    "                    balanced by bytes; the default name gets .shard-K-of-N.h5\n"
    "                    ('lmdiff cache merge' joins the N caches, docs/cluster.md)\n"
    "  --max-text-tokens N  a longer text is an error (default 1000000; memory grows\n"
    "                    with the longest text, about 130 bytes a token)\n"
    CLI_PRECISION_HELP "\n"
    "Scored texts go to the folder CACHE.h5.partial, made durable every 10 s; the\n"
    "cache is assembled from it when complete.  Ctrl-C, kill -9 or a power cut keep\n"
    "what was made durable; --resume continues it (and leaves a complete CACHE.h5\n"
    "made from the same inputs as it is).\n";

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int cmd_analyze(int argc, char **argv) {
    const char *out = NULL, *topk = NULL, *firstn = NULL, *name = NULL, *force = NULL,
               *resume = NULL, *nover = NULL, *threads = NULL, *batch = NULL, *hlp = NULL,
               *shard = NULL, *prec = NULL, *verbose = NULL, *maxtok = NULL, *device = NULL;
    const char *pos[2] = {0};
    cli_opt opts[] = {{"--output", 1, &out},         {"--top-k", 1, &topk},
                      {"--first-n", 1, &firstn},     {"--name", 1, &name},
                      {"--force", 0, &force},        {"--resume", 0, &resume},
                      {"--no-verify", 0, &nover},    {"--threads", 1, &threads},
                      {"--batch-tokens", 1, &batch}, {"--help", 0, &hlp},
                      {"--shard", 1, &shard},        {"--precision", 1, &prec},
                      {"--verbose", 0, &verbose},    {"--max-text-tokens", 1, &maxtok},
                      {"--device", 1, &device},      CLI_PACK_WEIGHTS_OPT};
    char **a = corpus_argv(argc, argv);
    if (!a) return cli_error("out of memory");
    int np = cli_parse("analyze", argc, a, opts, sizeof opts / sizeof *opts, pos, 2);
    free(a);
    if (np < 0) return 2;
    if (hlp) return fputs(help, stdout), 0;
    if (np != 2) return cli_usage_error("analyze", "needs MODEL_DIR and DATASET");
    lmd_analyze_opts o = {0};
    long v;
    if (topk && cli_int("analyze", "--top-k", topk, 1, 100000, &v) < 0) return 2;
    o.top_k = topk ? (int)v : 10;
    if (firstn && cli_int("analyze", "--first-n", firstn, 1, LONG_MAX, &v) < 0) return 2;
    o.first_n = firstn ? (uint64_t)v : 0;
    if (threads && cli_int("analyze", "--threads", threads, 1, 4096, &v) < 0) return 2;
    o.n_threads = threads ? (int)v : 0;
    if (batch && cli_int("analyze", "--batch-tokens", batch, 1, 1 << 24, &v) < 0) return 2;
    o.batch_tokens = batch ? (int)v : 0;
    o.force = force != NULL;
    o.resume = resume != NULL;
    o.no_verify = nover != NULL;
    if (maxtok && cli_int("analyze", "--max-text-tokens", maxtok, 1, LONG_MAX, &v) < 0) return 2;
    o.max_text_tokens = maxtok ? (uint64_t)v : 0;
    if (name && !*name) return cli_usage_error("analyze", "--name must not be empty");
    if (shard && lmd_shard_parse(shard, &o.shard_k, &o.shard_n) < 0)
        return cli_usage_error("analyze", "--shard wants K/N with 1 <= K <= N <= %d, not '%s'",
                               LMD_MAX_SHARDS, shard);

    lmd_error err;
    lmd_model *m;
    int lrc = cli_load_model("analyze", pos[0], prec, device, verbose != NULL, &m);
    if (lrc) return lrc;
    lmd_model_info mi;
    lmd_model_get_info(m, &mi);
    o.model_name = name ? name : mi.name;
    char *path = NULL;
    if (out && *out && out[strlen(out) - 1] == '/' && lmd_mkdirs(out, &err) < 0) {
        lmd_model_free(m);
        return cli_lib_error(&err);
    }
    if (!out || is_dir(out)) {
        char *base = lmd_cache_default_name(pos[1], o.model_name, o.first_n);
        if (base && o.shard_n) {
            char *sb = lmd_shard_file_name(base, o.shard_k, o.shard_n);
            free(base);
            base = sb;
        }
        path = base && out ? lmd_path_join(out, base) : base;
        if (base && out) free(base);
    } else {
        path = strdup(out);
    }
    if (!path) {
        lmd_model_free(m);
        return cli_error("out of memory");
    }
    char *slash = strrchr(path, '/');
    if (slash && slash != path) { /* the folder of the cache */
        *slash = 0;
        int bad = !is_dir(path) && lmd_mkdirs(path, &err) < 0;
        *slash = '/';
        if (bad) {
            free(path);
            lmd_model_free(m);
            return cli_lib_error(&err);
        }
    }
    char label[128];
    snprintf(label, sizeof label, "analyze %s", o.model_name);
    lmd_progress *p = lmd_progress_new(label, "texts", 0);
    o.progress = lmd_progress_cb;
    o.progress_ctx = p;
    corpus_catch_signals();
    o.cancel = &corpus_cancel;
    lmd_analyze_stats st;
    int rc = lmd_analyze(m, pos[1], path, &o, &st, &err);
    lmd_progress_end(p);
    if (rc < 0) {
        cli_error("%s", err.msg);
        rc = st.interrupted ? 130 : 1;
    } else if (st.up_to_date) {
        fprintf(stderr, "%s is complete already (%" PRIu64 " texts from the same inputs)\n", path,
                st.n_texts);
    } else {
        fprintf(stderr, "wrote %s: %" PRIu64 " texts", path, st.n_texts);
        if (st.resumed_from)
            fprintf(stderr, " (%" PRIu64 " from the interrupted run)", st.resumed_from);
        fprintf(stderr, ", %" PRIu64 " tokens scored in %.1f s (%.0f tokens/s)\n", st.n_tokens,
                st.seconds, st.seconds > 0 ? (double)st.n_tokens / st.seconds : 0.0);
    }
    free(path);
    lmd_model_free(m);
    return rc;
}
