/* cmd_cache.c - `lmdiff cache merge`: joins the shard caches that `analyze
 * --shard K/N` wrote for one model into the cache a single run would have
 * written (src/analysis/merge.c; docs/cluster.md); `lmdiff cache import`:
 * a copy with lmdiff's digest of a cache without one (docs/corpus.md). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/corpus.h"
#include "args.h"
#include "base/progress.h"
#include "cli.h"
#include "corpus_cli.h"

static const char *help =
    "usage: lmdiff cache merge SHARD.h5... -o CACHE.h5 [--force]\n\n"
    "Joins the N shard caches of one model and one dataset (made by 'lmdiff analyze\n"
    "--shard K/N', in any order) into CACHE.h5: the cache one 'lmdiff analyze' over\n"
    "the whole dataset writes - the same attributes, texts and values.  The set must\n"
    "be complete (shards 1..N, each once) and matching (same dataset checksum,\n"
    "weights, top-k, ... in every shard); the error names the missing, doubled or\n"
    "foreign shard.  Memory does not grow with the corpus; CACHE.h5 is written as\n"
    "CACHE.h5.partial and renamed when complete.\n\n"
    "  -o CACHE.h5  the merged cache (required)\n"
    "  --force      replace an existing CACHE.h5\n\n"
    "usage: lmdiff cache import OLD.h5 -o CACHE.h5 [--force]\n\n"
    "Copies a cache without lmdiff's digest - written by the original LMdiff (h5py)\n"
    "or by an earlier lmdiff - into CACHE.h5, the same texts and values with the\n"
    "digest that every other command checks before HDF5 reads a file.  Only for\n"
    "files you trust: this is the one command that lets HDF5 parse a file lmdiff\n"
    "cannot check.\n";

static int cache_run(int argc, char **argv, int import) {
    const char *out = NULL, *force = NULL, *hlp = NULL;
    const char **pos = calloc((size_t)argc + 1, sizeof *pos);
    char **a = corpus_argv(argc, argv);
    if (!pos || !a) {
        free(pos);
        free(a);
        return cli_error("out of memory");
    }
    cli_opt opts[] = {{"--output", 1, &out}, {"--force", 0, &force}, {"--help", 0, &hlp}};
    const char *cmd = import ? "cache import" : "cache merge";
    int np = cli_parse(cmd, argc, a, opts, sizeof opts / sizeof *opts, pos, argc);
    free(a);
    int rc = 2;
    if (np < 0) goto done;
    if (hlp) {
        fputs(help, stdout);
        rc = 0;
        goto done;
    }
    if (!out || !*out) {
        rc = cli_usage_error(cmd, "needs -o CACHE.h5");
        goto done;
    }
    if (np < 1 || (import && np != 1)) {
        rc = cli_usage_error(cmd, import ? "needs one cache" : "needs the shard caches");
        goto done;
    }
    lmd_merge_opts o = {.force = force != NULL};
    lmd_progress *p = lmd_progress_new(import ? "import" : "merge", "texts", 0);
    o.progress = lmd_progress_cb;
    o.progress_ctx = p;
    corpus_catch_signals();
    o.cancel = &corpus_cancel;
    lmd_error err;
    uint64_t n = 0;
    int m = import ? lmd_cache_import(pos[0], out, &o, &n, &err)
                   : lmd_cache_merge(pos, (size_t)np, out, &o, &n, &err);
    lmd_progress_end(p);
    if (m < 0) {
        cli_error("%s", err.msg);
        rc = corpus_cancel ? 130 : 1;
    } else {
        if (import)
            fprintf(stderr, "wrote %s: %" PRIu64 " texts from %s\n", out, n, pos[0]);
        else
            fprintf(stderr, "wrote %s: %" PRIu64 " texts from %d shards\n", out, n, np);
        rc = 0;
    }
done:
    free(pos);
    return rc;
}

int cmd_cache(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "merge")) return cache_run(argc - 1, argv + 1, 0);
    if (argc >= 2 && !strcmp(argv[1], "import")) return cache_run(argc - 1, argv + 1, 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return fputs(help, stdout), 0;
    return cli_usage_error("cache", "needs a subcommand: merge or import");
}
