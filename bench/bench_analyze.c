/* bench_analyze.c - throughput and peak memory of `analyze` against raw
 * scoring of the same texts.
 *
 *   bench_analyze [MODEL_DIR] [N_TEXTS] [CORPUS.txt]
 *
 * Defaults: tests/models/tiny-a, 10000 texts, the first lines of
 * ../shared/corpora/kjv-verses.txt.  Three phases, each in its own process
 * so that its peak RSS is its own: (1) raw score: tokenize and
 * lmd_score_ids in the batches analyze uses, nothing written; (2) the same
 * one text per call, like `lmdiff score` (the first 1000 texts); (3)
 * lmd_analyze into an HDF5
 * cache.  Prints tokens/s of each, analyze's share of the raw ceiling, and
 * the peak RSS of each phase (best time of 3 interleaved rounds).  The model
 * load is not timed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "analysis/corpus.h"
#include "benchlib.h"

#define BATCH_TOKENS 8192
#define BATCH_TEXTS 256
#define REPEAT 3


typedef struct result {
    double seconds;
    uint64_t tokens;
} result;

#define ONE_BY_ONE_TEXTS 1000 /* phase 2 is slow: a sample is enough for its rate */

static void raw_score(const lmd_model *m, const lmd_dataset *ds, int batched, result *r) {
    const lmd_tokenizer *tok = lmd_model_tokenizer(m);
    int32_t *ids[BATCH_TEXTS];
    size_t n_ids[BATCH_TEXTS];
    lmd_scores s[BATCH_TEXTS];
    lmd_score_opts so = {10, 0, 0};
    lmd_error err;
    double t0 = bl_now();
    size_t i = 0, end = batched || ds->n_texts < ONE_BY_ONE_TEXTS ? ds->n_texts : ONE_BY_ONE_TEXTS;
    while (i < end) {
        size_t n = 0, tokens = 0;
        size_t cap = batched ? BATCH_TEXTS : 1;
        while (n < cap && i < end && (!batched || tokens < BATCH_TOKENS)) {
            if (lmd_tokenize(tok, ds->texts[i], ds->lens[i], &ids[n], &n_ids[n], &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                exit(1);
            }
            tokens += n_ids[n++];
            i++;
        }
        if (lmd_score_ids(m, (const int32_t *const *)ids, n_ids, n, &so, s, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        for (size_t j = 0; j < n; j++) {
            lmd_scores_free(&s[j]);
            free(ids[j]);
        }
        r->tokens += tokens;
    }
    r->seconds = bl_now() - t0;
}

/* Runs a phase in a child; returns its result and peak RSS (KiB). */
static int phase(int which, const char *model, const char *dataset, const char *out, result *r,
                 long *rss_kib) {
    int fd[2];
    if (pipe(fd) < 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        lmd_error err;
        lmd_model *m;
        if (lmd_model_load(model, &m, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            _exit(1);
        }
        result res = {0, 0};
        if (which < 2) {
            lmd_dataset *ds;
            if (lmd_dataset_load(dataset, 1, &ds, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                _exit(1);
            }
            raw_score(m, ds, which == 0, &res);
            lmd_dataset_free(ds);
        } else {
            char hex[65];
            lmd_model_weights_hash(m, hex); /* not part of the timing */
            lmd_analyze_opts o = {0};
            o.force = 1;
            lmd_analyze_stats st;
            double t0 = bl_now();
            if (lmd_analyze(m, dataset, out, &o, &st, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                _exit(1);
            }
            res.seconds = bl_now() - t0;
            res.tokens = st.n_tokens;
        }
        if (write(fd[1], &res, sizeof res) != (ssize_t)sizeof res) _exit(1);
        _exit(0);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], r, sizeof *r);
    close(fd[0]);
    int status;
    struct rusage ru;
    wait4(pid, &status, 0, &ru);
    *rss_kib = ru.ru_maxrss;
    return got == (ssize_t)sizeof *r && WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

int main(int argc, char **argv) {
    const char *src = getenv("LMD_SRC") ? getenv("LMD_SRC") : LMD_SOURCE_DIR;
    char model[4096], corpus[4096];
    snprintf(model, sizeof model, "%s", argc > 1 ? argv[1] : "");
    if (!model[0]) snprintf(model, sizeof model, "%s/tests/models/tiny-a", src);
    long n = argc > 2 ? atol(argv[2]) : 10000;
    if (argc > 3)
        snprintf(corpus, sizeof corpus, "%s", argv[3]);
    else
        snprintf(corpus, sizeof corpus, "%s/../shared/corpora/kjv-verses.txt", src);

    char dir[] = "/tmp/lmdiff-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char dataset[256], out[256];
    snprintf(dataset, sizeof dataset, "%s/bench.txt", dir);
    snprintf(out, sizeof out, "%s/bench.h5", dir);
    FILE *in = fopen(corpus, "r"), *o = fopen(dataset, "w");
    if (!in || !o) {
        fprintf(stderr, "cannot read %s\n", corpus);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    long k = 0;
    while (k < n && getline(&line, &cap, in) > 0)
        if (line[0] != '\n') fputs(line, o), k++;
    free(line);
    fclose(in);
    fclose(o);

    static const char *const names[3] = {"raw score, batched", "raw score, one text per call",
                                         "analyze (HDF5 cache)"};
    /* best of REPEAT rounds, phases interleaved, so that other load on the
     * machine hits every phase alike */
    result r[3] = {{1e30, 0}, {1e30, 0}, {1e30, 0}};
    long rss[3] = {0, 0, 0};
    printf("bench_analyze: %s, %ld texts of %s (best of %d)\n", model, k, corpus, REPEAT);
    for (int round = 0; round < REPEAT; round++)
        for (int p = 0; p < 3; p++) {
            result x;
            long kib;
            if (phase(p, model, dataset, out, &x, &kib) < 0) {
                fprintf(stderr, "phase '%s' failed\n", names[p]);
                return 1;
            }
            if (x.seconds < r[p].seconds) r[p] = x;
            if (kib > rss[p]) rss[p] = kib;
        }
    for (int p = 0; p < 3; p++)
        printf("  %-30s %8.2f s  %10.0f tokens/s  peak RSS %6.1f MiB\n", names[p], r[p].seconds,
               (double)r[p].tokens / r[p].seconds, (double)rss[p] / 1024.0);
    double ceiling = (double)r[0].tokens / r[0].seconds, got = (double)r[2].tokens / r[2].seconds;
    printf("  analyze runs at %.1f%% of the batched raw throughput (%.1f%% of one-per-call)\n",
           100.0 * got / ceiling, 100.0 * got / ((double)r[1].tokens / r[1].seconds));
    FILE *f = fopen(out, "rb");
    if (f) {
        fseek(f, 0, SEEK_END);
        printf("  cache size %.1f MiB (%.0f bytes/token)\n", (double)ftell(f) / 1048576.0,
               (double)ftell(f) / (double)r[2].tokens);
        fclose(f);
    }
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : 1;
}
