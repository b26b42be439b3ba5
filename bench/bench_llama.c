/* bench_llama.c - speed and memory of the Llama forward on random models of
 * real shapes, with the weights in F32 or in BF16 (kept in BF16 and
 * converted tile by tile inside the matmul).
 *
 * Shapes: "1b" = Llama-3.2-1B (16 layers, hidden 2048, 32 heads, 8 KV heads,
 * intermediate 8192, vocab 128256, tied); "7b" = Llama-2-7B (32 layers,
 * hidden 4096, 32 heads, intermediate 11008, vocab 32000, untied);
 * "qwen3-0.6b" = Qwen3-0.6B (28 layers, hidden 1024, 16 heads of 128, 8 KV
 * heads, per-head q/k norms, intermediate 3072, vocab 151936, tied);
 * "moe" = 4 layers of Qwen3-30B-A3B (hidden 2048, 32 heads of 128, 4 KV
 * heads, 128 experts of 768, 8 per token, vocab 151936), a Qwen3-MoE whose
 * FLOPs per token count the router and the 8 active experts only.  The
 * model is written (streamed, never held in memory) to DIR-SHAPE-DTYPE
 * unless present; the BF16 file holds the F32 file's values rounded.
 *
 * Prints the sgemm GFLOP/s of this machine measured in the same run, load
 * time, tokens/s (best of --reps) and tokens per CPU second (the least CPU time
 * of the reps; less sensitive to other jobs), the ratio (tokens/s x FLOPs/token) /
 * sgemm FLOP/s, and peak RSS split into the mapped weights (file pages) and
 * the rest.
 *
 * usage: bench_llama [--dir PREFIX] [--shape 1b|7b|qwen3-0.6b|moe] [--dtype F32|BF16]
 *                    [--texts N] [--len L] [--reps R] [--precision P] [--pack]
 *        (default /tmp/lmdiff-bench-llama, 1b, BF16, 4 texts x 128, 2 reps;
 *        --pack: lmd_model_opts.pack_weights) */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/base.h"
#include "benchlib.h"
#include "lmdiff.h"
#include "model/safetensors.h"

static int make(const char *dir, const void *arg) {
    const bl_llama_shape *s = ((const void *const *)arg)[0];
    return bl_write_llama(dir, s, *(const int *)((const void *const *)arg)[1]);
}

int main(int argc, char **argv) {
    if (lmd_runtime_env_tune()) execv("/proc/self/exe", argv);
    const char *prefix = "/tmp/lmdiff-bench-llama", *shape_name = "1b", *dtype = "BF16";
    int n_texts = 4, len = 128, reps = 2;
    lmd_model_opts mo = {.precision = LMD_PRECISION_F32};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            prefix = argv[++i];
        else if (!strcmp(argv[i], "--shape") && i + 1 < argc)
            shape_name = argv[++i];
        else if (!strcmp(argv[i], "--dtype") && i + 1 < argc)
            dtype = argv[++i];
        else if (!strcmp(argv[i], "--texts") && i + 1 < argc)
            n_texts = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--len") && i + 1 < argc)
            len = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--pack"))
            mo.pack_weights = 1;
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc &&
                 lmd_precision_parse(argv[i + 1], &mo.precision) == 0)
            i++;
        else {
            fprintf(stderr, "usage: bench_llama [--dir PREFIX] [--shape 1b|7b|qwen3-0.6b|moe] [--dtype F32|BF16] "
                            "[--texts N] [--len L] [--reps R] [--precision P] [--pack]\n");
            return 2;
        }
    }
    const bl_llama_shape *s = bl_llama_shape_named(shape_name);
    int bf16 = !strcmp(dtype, "BF16");
    if (!s || (!bf16 && strcmp(dtype, "F32")) || n_texts < 1 || len < 1 || reps < 1) {
        fprintf(stderr, "bench_llama: bad --shape, --dtype, --texts, --len or --reps\n");
        return 2;
    }
    char dir[2048], st[2200];
    snprintf(dir, sizeof dir, "%s-%s-%s", prefix, s->name, bf16 ? "bf16" : "f32");
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    struct stat sb;
    const void *args[2] = {s, &bf16};
    if (bl_make_in_child(dir, make, args) < 0 || stat(st, &sb) != 0) return 1;
    double ceiling = bl_sgemm_gflops(512, 8192, 2048, 4, NULL);
    printf("OpenBLAS kernels: %s, threads %d\n", lmd_blas_corename(), omp_get_max_threads());

    double t_load;
    lmd_model *m = bl_load(dir, &mo, &t_load);
    if (!m) return 1;
    lmd_model_info info;
    lmd_model_get_info(m, &info);
    printf("model: %s shape, %s weights, %lld parameters, %.2f GB file; load %.3f s\n",
           s->name, dtype, (long long)info.n_params, (double)sb.st_size / 1e9, t_load);
    printf("products: %s (%s)\n", info.precision, info.matmul_impl);

    size_t *n;
    int32_t **ids = bl_random_texts(n_texts, len, s->V - 2, &n);
    lmd_scores *out = calloc((size_t)n_texts, sizeof *out);
    lmd_score_opts so = {.top_k = 10};
    /* warm-up: one text of 8 tokens pages the weights in */
    size_t n8 = len < 8 ? (size_t)len : 8;
    double dt, dc;
    if (bl_score_timed(m, ids, &n8, 1, &so, out, 0, &dt, &dc) < 0) return 1;
    printf("first text of %zu tokens (weights paged in): %.2f s; logprob of its tokens:", n8, dt);
    for (size_t i = 0; i < out[0].n; i++)
        printf(" %.3f", out[0].logprob[i]);
    printf("\n");
    lmd_scores_free(&out[0]);
    double best = 1e30, best_cpu = 1e30;
    for (int rep = 0; rep < reps; rep++) {
        if (bl_score_timed(m, ids, n, (size_t)n_texts, &so, out, 1, &dt, &dc) < 0) return 1;
        if (dt < best) best = dt;
        if (dc < best_cpu) best_cpu = dc;
    }
    ceiling = bl_sgemm_again(ceiling, 512, 8192, 2048, 4, NULL);
    double tokens = (double)n_texts * len;
    const int D = s->D ? s->D : s->d / s->H;
    double attn = 2.0 * 2.0 * s->L * (double)s->H * D * ((len + 1) / 2.0);
    double fpt = info.flops_per_token + attn;
    double tps = tokens / best;
    printf("score: %d texts x %d tokens in %.3f s (best of %d) = %.2f tokens/s; least CPU time "
           "%.3f s = %.2f tokens per CPU second\n",
           n_texts, len, best, reps, tps, best_cpu, tokens / best_cpu);
    printf("FLOPs per token: %.3f G (weights %.3f G + attention %.3f G)\n", fpt / 1e9,
           info.flops_per_token / 1e9, attn / 1e9);
    printf("ratio (tokens/s x FLOPs/token) / sgemm FLOP/s = %.3f\n", tps * fpt / (ceiling * 1e9));
    if (info.precision[0] == 'b') { /* BF16 products: their own ceiling, measured now */
        double bf = bl_matmul_gflops(LMD_BF16, 1, 512, 8192, 2048, 4, NULL);
        printf("oneDNN BF16 ceiling (same shape, after): %.1f GFLOP/s; ratio %.3f\n", bf,
               tps * fpt / (bf * 1e9));
    }
    double hwm, file, anon;
    bl_memory(&hwm, &file, &anon);
    printf("peak RSS %.2f GB; now: %.2f GB file pages (the mapped weights) + %.2f GB anonymous\n",
           hwm, file, anon);
    bl_free_texts(ids, n, n_texts);
    free(out);
    lmd_model_free(m);
    return 0;
}
