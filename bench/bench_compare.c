/* bench_compare.c - time of `compare` on a large synthetic pair of caches.
 *
 *   bench_compare [N_TEXTS] [WORKDIR]
 *
 * Writes two analysis caches of N_TEXTS (default 100000) texts of 10..50
 * tokens with top-10 lists (random, seed 1) into WORKDIR (default: a fresh
 * folder in /tmp, removed at the end; an existing WORKDIR with caches of the
 * right size is reused), then times lmd_compare with 1 worker and with one
 * worker per CPU.  The target is < 10 s for 100 000 texts. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "analysis/corpus.h"
#include "benchlib.h"


static uint64_t rng = 1;
static uint32_t rnd(void) {
    rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng >> 33);
}

#define V 50257
#define K 10

static int write_pair(const char *pa, const char *pb, uint64_t n, lmd_error *err) {
    const char **vocab = calloc(V, sizeof *vocab);
    for (int i = 0; i < V; i++)
        vocab[i] = "tok";
    lmd_cache_writer *w[2];
    for (int s = 0; s < 2; s++) {
        lmd_cache_info in = {0};
        in.dataset_name = "bench";
        in.dataset_checksum = "0123";
        in.vocab_hash = "abcd";
        in.model_name = s ? "model-b" : "model-a";
        in.weights_hash = s ? "wb" : "wa";
        in.model_arch = "GPT2LMHeadModel";
        in.top_k = K;
        in.context = 1024;
        in.stride = 512;
        in.dataset_n_texts = n;
        if (lmd_cache_create(s ? pb : pa, &in, vocab, V, &w[s], err) < 0) return -1;
    }
    free(vocab);
    lmd_scores sc[2];
    size_t cap = 64;
    for (int s = 0; s < 2; s++) {
        sc[s].k = K;
        sc[s].ids = malloc(cap * sizeof(int32_t));
        sc[s].prob = malloc(cap * sizeof(float));
        sc[s].logprob = malloc(cap * sizeof(double));
        sc[s].rank = malloc(cap * sizeof(int32_t));
        sc[s].entropy = malloc(cap * sizeof(float));
        sc[s].topk_ids = malloc(cap * K * sizeof(int32_t));
        sc[s].topk_prob = malloc(cap * K * sizeof(float));
    }
    char phrase[64];
    for (uint64_t i = 0; i < n; i++) {
        size_t len = 10 + rnd() % 41;
        snprintf(phrase, sizeof phrase, "synthetic text number %" PRIu64, i);
        for (int s = 0; s < 2; s++) {
            sc[s].n = len;
            for (size_t t = 0; t < len; t++) {
                sc[s].ids[t] = (int32_t)(i * 7 + t) % V;
                sc[s].rank[t] = 1 + (int32_t)(rnd() % 2000);
                sc[s].prob[t] = (float)(rnd() % 10000) / 10001.0f + 1e-6f;
                sc[s].logprob[t] = log((double)sc[s].prob[t]);
                sc[s].entropy[t] = (float)(rnd() % 800) / 100.0f;
                for (int j = 0; j < K; j++) {
                    sc[s].topk_ids[t * K + j] = (int32_t)(rnd() % 30);
                    sc[s].topk_prob[t * K + j] = 0.1f / (float)(j + 1);
                }
            }
            if (lmd_cache_append(w[s], phrase, strlen(phrase), &sc[s], err) < 0) return -1;
        }
    }
    for (int s = 0; s < 2; s++) {
        if (lmd_cache_finish(w[s], 1, err) < 0) return -1;
        free(sc[s].ids), free(sc[s].prob), free(sc[s].logprob), free(sc[s].rank);
        free(sc[s].entropy), free(sc[s].topk_ids), free(sc[s].topk_prob);
    }
    return 0;
}

int main(int argc, char **argv) {
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000;
    char tmpl[] = "/tmp/lmdiff-bench-compare-XXXXXX";
    const char *dir = argc > 2 ? argv[2] : mkdtemp(tmpl);
    if (!dir) return 1;
    mkdir(dir, 0755);
    char pa[512], pb[512], out[512];
    snprintf(pa, sizeof pa, "%s/a.h5", dir);
    snprintf(pb, sizeof pb, "%s/b.h5", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    lmd_error err;
    lmd_cache *c;
    int reuse = 0;
    if (lmd_cache_open(pa, &c, &err) == 0) {
        reuse = lmd_cache_get_info(c)->n_texts == n && lmd_file_exists(pb);
        lmd_cache_close(c);
    }
    if (!reuse) {
        double t0 = bl_now();
        if (write_pair(pa, pb, n, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        printf("wrote two caches of %" PRIu64 " texts in %.1f s\n", n, bl_now() - t0);
    }
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int runs[2] = {1, (int)cpus};
    for (int r = 0; r < 2; r++) {
        if (r == 1 && cpus <= 1) break;
        lmd_compare_opts o = {.force = 1, .workers = runs[r]};
        lmd_compare_out co;
        double t0 = bl_now();
        if (lmd_compare(pa, pb, out, &o, &co, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double dt = bl_now() - t0;
        printf("compare %" PRIu64 " texts, %d worker%s: %.2f s (%.0f texts/s)%s\n", n, runs[r],
               runs[r] > 1 ? "s" : "", dt, (double)n / dt,
               n == 100000 ? (dt < 10 ? "  [target < 10 s: met]" : "  [target < 10 s: MISSED]")
                           : "");
        lmd_compare_out_free(&co);
    }
    if (argc <= 2) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0) return 1;
    }
    return 0;
}
