/* bench_kl.c - the per-token KL (analysis/kl.h) called repeatedly, as a
 * server does: a GPT-2-small-shaped model with random weights (the one
 * bench_speed writes to /tmp/lmdiff-bench-gpt2) against itself, one text per
 * call, several calls.  Prints per call the wall and CPU time and the minor
 * page faults (fresh 4 kB pages the call touched, each zeroed by the kernel:
 * a count the machine's load does not move), the first call apart from the
 * repeats; and, as the ceiling of the same run, the time of the two models'
 * forwards alone (lmd_model_forward on the same rows, best of the calls).
 *
 * usage: bench_kl [DIR] [--len L] [--calls N]
 *        (DIR default /tmp/lmdiff-bench-gpt2; L default 256, N 4) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/kl.h"
#include "base/base.h"
#include "benchlib.h"
#include "lmdiff.h"
#include "model/model.h"

static int make(const char *dir, const void *arg) {
    (void)arg;
    return bl_write_gpt2(dir, 12, 768, 50257, 1024, 0);
}

int main(int argc, char **argv) {
    if (lmd_runtime_env_tune()) execv("/proc/self/exe", argv);
    const char *dir = "/tmp/lmdiff-bench-gpt2";
    int len = 256, calls = 4;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--len") && i + 1 < argc)
            len = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--calls") && i + 1 < argc)
            calls = atoi(argv[++i]);
        else
            dir = argv[i];
    }
    if (len < 1 || len > 1023 || calls < 2) {
        fprintf(stderr, "bench_kl: 1 <= --len <= 1023, --calls >= 2\n");
        return 2;
    }
    if (bl_make_in_child(dir, make, NULL) < 0) return 1;
    double t_load;
    lmd_model *m = bl_load(dir, NULL, &t_load);
    if (!m) return 1;
    size_t *n;
    int32_t **ids = bl_random_texts(1, len, 50000, &n);
    lmd_kl_token *out = malloc((size_t)len * sizeof *out);
    float *h = malloc((size_t)(len + 1) * 768 * sizeof *h);
    int32_t *seq = malloc((size_t)(len + 1) * sizeof *seq);
    seq[0] = 50256;
    memcpy(seq + 1, ids[0], (size_t)len * sizeof *seq);
    lmd_seq s = {seq, len + 1};
    lmd_error err;
    double fwd = 1e30, rep_wall = 0, rep_cpu = 0;
    long rep_flt = 0;
    printf("KL of a random GPT-2 small (V 50257) against itself, one text of %d tokens\n", len);
    for (int c = 0; c < calls; c++) {
        long f0 = bl_minflt();
        double t0 = bl_now(), c0 = bl_cpu_now();
        if (lmd_kl_tokens(m, m, ids[0], (size_t)len, out, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double w = bl_now() - t0, cp = bl_cpu_now() - c0;
        long f = bl_minflt() - f0;
        printf("call %d: %.3f s (%.2f CPU s), %ld page faults (%.1f MB fresh)\n", c + 1, w, cp, f,
               f * 4096.0 / 1e6);
        if (c > 0) rep_wall += w, rep_cpu += cp, rep_flt += f;
        t0 = bl_now();
        if (m->ops->forward(m, &s, 1, h, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        if (bl_now() - t0 < fwd) fwd = bl_now() - t0;
    }
    const int r = calls - 1;
    printf("repeats: %.3f s (%.2f CPU s), %ld page faults per call; two forwards alone %.3f s: "
           "ratio of a call to that ceiling %.2f\n",
           rep_wall / r, rep_cpu / r, rep_flt / r, 2 * fwd, rep_wall / r / (2 * fwd));
    free(out), free(h), free(seq);
    bl_free_texts(ids, n, 1);
    lmd_model_free(m);
    return 0;
}
