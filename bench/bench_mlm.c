/* bench_mlm.c - pseudo-likelihood speed on a BERT-base-shaped masked LM
 * with random weights (generated here, never committed): 12 layers, 768
 * wide, 12 heads, 3072 inner, vocabulary 30522, 512 positions.
 *
 * Prints: the sgemm GFLOP/s of this machine measured in the same run (the
 * ceiling; also per CPU second, bl_cpu_now), scored tokens/s for texts of 128 tokens (128 masked
 * copies of 130 tokens each, [CLS] and [SEP] included), the FLOPs the engine executes per scored
 * token, the ratio of achieved FLOP/s to the ceiling, and the encoder time of one batch of copies
 * with the last layer at every row (plain forward) against the last layer at the masked rows only;
 * and the minor page faults (fresh pages) of the timed call and of the same call repeated.
 *
 * usage: bench_mlm [DIR] [--texts N] [--len L]
 *        (DIR default /tmp/lmdiff-bench-bert-base; N default 1, L 128) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/base.h"
#include "benchlib.h"
#include "lmdiff.h"
#include "model/model.h"

static int make(const char *dir, const void *arg) {
    const int *a = arg; /* L, d, inner, V, P */
    return bl_write_bert(dir, a[0], a[1], a[2], a[3], a[4]);
}

int main(int argc, char **argv) {
    if (lmd_runtime_env_tune()) execv("/proc/self/exe", argv);
    const char *dir = "/tmp/lmdiff-bench-bert-base";
    int n_texts = 1, len = 128;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--texts") && i + 1 < argc)
            n_texts = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--len") && i + 1 < argc)
            len = atoi(argv[++i]);
        else
            dir = argv[i];
    }
    const int L = 12, d = 768, inner = 3072, V = 30522, P = 512;
    if (n_texts < 1 || len < 1 || len > P - 2) {
        fprintf(stderr, "bench_mlm: --texts >= 1, 1 <= --len <= %d\n", P - 2);
        return 2;
    }
    char st[4096];
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    struct stat sb;
    const int margs[5] = {L, d, inner, V, P};
    if (bl_make_in_child(dir, make, margs) < 0 || stat(st, &sb) != 0) return 1;
    double ceiling_cpu;
    double ceiling = bl_sgemm_gflops(2048, 3072, 768, 6, &ceiling_cpu);
    printf("OpenBLAS kernels: %s\n", lmd_blas_corename());
    lmd_error err;
    double t_load;
    lmd_model *m = bl_load(dir, NULL, &t_load);
    if (!m) return 1;
    printf("load: %.3f s (%.1f MB of weights)\n", t_load, (double)sb.st_size / 1e6);

    size_t *n;
    int32_t **ids = bl_random_texts(n_texts, len, V - 4, &n);
    lmd_scores *out = calloc((size_t)n_texts, sizeof *out);
    lmd_score_opts so = {.top_k = 10};
    /* one timed run (each text is 128 forwards of 130 tokens; the machine is
     * shared, so no repetitions) after a small warm-up that pages in the
     * weights */
    size_t wn = 8;
    double dt, dc, dt2, dc2;
    if (bl_score_timed(m, ids, &wn, 1, &so, out, 1, &dt, &dc) < 0) return 1;
    long f0 = bl_minflt();
    if (bl_score_timed(m, ids, n, (size_t)n_texts, &so, out, 1, &dt, &dc) < 0) return 1;
    long f1 = bl_minflt();
    /* the same call again: what a server's next request of this size pays */
    if (bl_score_timed(m, ids, n, (size_t)n_texts, &so, out, 1, &dt2, &dc2) < 0) return 1;
    long f2 = bl_minflt();

    /* FLOPs executed per scored token (= per copy of Lc rows): L-1 full
     * layers, the last layer's keys and values at every row and the rest at
     * one row, attention scores and mixing (2 x 2 x Lc x d per query row),
     * the head transform and the output layer at one row */
    const double Lc = len + 2, dd = (double)d * d, di = (double)d * inner;
    double per_row_layer = 2.0 * (4 * dd + 2 * di) + 4.0 * Lc * d;
    double flops = (L - 1) * Lc * per_row_layer + Lc * 2.0 * 2 * dd +
                   (2.0 * (2 * dd + 2 * di) + 4.0 * Lc * d) + 2.0 * dd + 2.0 * V * d;
    double full = L * Lc * per_row_layer + 2.0 * dd + 2.0 * V * d;
    double tokens = (double)n_texts * len, tps = tokens / dt;

    /* the encoder alone on one batch of copies: the last layer at every row
     * against at the masked row only, alternated twice (best of 2 each), so
     * that a change in the machine's load hits both */
    int nc = 16;
    int32_t *toks = malloc((size_t)nc * (size_t)(len + 2) * sizeof *toks);
    lmd_seq *seqs = malloc((size_t)nc * sizeof *seqs);
    int *sel = malloc((size_t)nc * sizeof *sel);
    for (int c = 0; c < nc; c++) {
        int32_t *s = toks + (size_t)c * (len + 2);
        s[0] = V - 3;
        memcpy(s + 1, ids[0], (size_t)len * sizeof *s);
        s[len + 1] = V - 2;
        s[1 + c % len] = V - 1;
        seqs[c] = (lmd_seq){s, len + 2};
        sel[c] = 1 + c % len;
    }
    float *hid = malloc((size_t)nc * (len + 2) * d * sizeof *hid);
    double t_full = 1e30, t_sel = 1e30, c_full = 1e30, c_sel = 1e30, t0, c0;
    int rc1 = 0, rc2 = 0;
    for (int rep = 0; rep < 2; rep++) {
        t0 = bl_now(), c0 = bl_cpu_now();
        rc1 |= m->ops->forward(m, seqs, nc, hid, &err);
        if (bl_now() - t0 < t_full) t_full = bl_now() - t0;
        if (bl_cpu_now() - c0 < c_full) c_full = bl_cpu_now() - c0;
        t0 = bl_now(), c0 = bl_cpu_now();
        rc2 |= lmd_bert_forward_sel(m, seqs, nc, sel, hid, &err);
        if (bl_now() - t0 < t_sel) t_sel = bl_now() - t0;
        if (bl_cpu_now() - c0 < c_sel) c_sel = bl_cpu_now() - c0;
    }
    if (rc1 < 0 || rc2 < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    ceiling = bl_sgemm_again(ceiling, 2048, 3072, 768, 6, &ceiling_cpu);
    printf("score: %d texts x %d tokens (%d masked copies of %d tokens each) in %.2f s = %.1f "
           "scored tokens/s\n",
           n_texts, len, len, len + 2, dt, tps);
    printf("page faults (fresh 4 kB pages): %ld in the first call of this size, %ld in the "
           "same call again (%.2f s, %.2f CPU s)\n",
           f1 - f0, f2 - f1, dt2, dc2);
    printf("FLOPs per scored token: %.2f G executed (%.2f G if the last layer ran at every row)\n",
           flops / 1e9, full / 1e9);
    printf("achieved %.1f GFLOP/s; ratio to the sgemm ceiling = %.3f\n", tps * flops / 1e9,
           tps * flops / (ceiling * 1e9));
    printf("per CPU second: %.1f GFLOP (%.1f CPU s); ratio to the sgemm ceiling per CPU second = "
           "%.3f\n",
           tokens * flops / dc / 1e9, dc, tokens * flops / dc / (ceiling_cpu * 1e9));
    printf("encoder, %d copies of %d tokens (best of 2, alternated): last layer at every row "
           "%.3f s, at the masked rows %.3f s (%.1f%% less)\n",
           nc, len + 2, t_full, t_sel, 100.0 * (1 - t_sel / t_full));
    printf("  in CPU time: %.3f s and %.3f s (%.1f%% less)\n", c_full, c_sel,
           100.0 * (1 - c_sel / c_full));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.1f MB (weights %.1f MB)\n", ru.ru_maxrss / 1024.0, (double)sb.st_size / 1e6);
    free(hid), free(toks), free(seqs), free(sel);
    bl_free_texts(ids, n, n_texts);
    free(out);
    lmd_model_free(m);
    return 0;
}
