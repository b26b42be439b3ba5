/* bench_gpu.c - the GPU numbers of issue #18 (docs/performance.md), one run on
 * one CUDA device, written for scripts/gpu-check.sh:
 *   - the cuBLASLt BF16 x BF16 -> F32 ceiling on each matrix shape of the
 *     model for this batch (M = its tokens), measured in the same run, and
 *     the time the model's products would take at those ceilings;
 *   - lmdiff tokens/s (bf16 products, random BF16 weights, TEXTS texts x LEN
 *     tokens scored in one lmd_score_ids call, best of REPS after a warm-up
 *     that also uploads the weights), the ratio to the ceiling, peak GPU
 *     memory, for the Llama-3.2-1B and Llama-2-7B shapes;
 *   - with --torch PYTHON, the PyTorch peer (bench/torch_peer.py --device
 *     cuda, BF16) on the same shapes and GPT-2-124M (whose forward lmdiff
 *     runs on the CPU only, so it has no lmdiff GPU number).
 * usage: bench_gpu [--dir PREFIX] [--texts 64] [--len 512] [--reps 2]
 *                  [--shapes llama1b,llama7b,gpt2] [--torch PYTHON] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "benchlib.h"
#include "lmdiff.h"
#include "model/kernel/backend.h"
#include "model/model.h"

static int make_llama(const char *dir, const void *arg) {
    return bl_write_llama(dir, arg, 1);
}
static int make_gpt2(const char *dir, const void *arg) {
    (void)arg;
    return bl_write_gpt2(dir, 12, 768, 50257, 1024, 1);
}

/* Seconds the products of one token through the model would take at the
 * measured ceilings (M = tokens of the batch); prints each. */
static double ceiling_s_per_token(lmd_backend *b, const bl_llama_shape *s, int M) {
    const int D = s->D ? s->D : s->d / s->H, q = s->H * D, kv = s->KV * D;
    const int mats[][3] = {/* n_out, n_in, per layer (0: once) */
                           {q, s->d, 1},        {kv, s->d, 2},       {s->d, q, 1},
                           {s->inter, s->d, 2}, {s->d, s->inter, 1}, {s->V, s->d, 0}};
    double t = 0;
    for (size_t i = 0; i < sizeof mats / sizeof *mats; i++) {
        double tf = lmd_backend_gemm_tflops(b, mats[i][0], M, mats[i][1], 5);
        printf("  ceiling %6d x %6d by %d tokens: %.1f TFLOP/s\n", mats[i][0], mats[i][1], M, tf);
        if (tf <= 0) return -1;
        double n = mats[i][2] ? (double)mats[i][2] * s->L : 1;
        t += n * 2.0 * mats[i][0] * (double)mats[i][1] / (tf * 1e12);
    }
    return t;
}

static double run_lmdiff(const char *dir, int texts, int len, int reps, size_t *peak) {
    lmd_model_opts o = {.precision = LMD_PRECISION_BF16, .device = "cuda:0"};
    lmd_model *m;
    lmd_error err;
    if (lmd_model_load_opts(dir, &o, &m, &err) < 0) {
        printf("  lmdiff: %s\n", err.msg);
        return -1;
    }
    int32_t **ids = malloc((size_t)texts * sizeof *ids);
    size_t *n = malloc((size_t)texts * sizeof *n);
    lmd_scores *out = calloc((size_t)texts, sizeof *out);
    for (int t = 0; t < texts; t++) {
        ids[t] = malloc((size_t)len * sizeof **ids);
        n[t] = (size_t)len;
        for (int i = 0; i < len; i++)
            ids[t][i] = (int32_t)((bl_frand() + 1) * 0.5 * (m->info.vocab_size - 2));
    }
    lmd_score_opts so = {.top_k = 10, .max_batch_tokens = texts * (len + 1)};
    double best = -1;
    for (int r = -1; r < reps; r++) { /* r = -1: the warm-up, which uploads the weights */
        double t0 = bl_now();
        if (lmd_score_ids(m, (const int32_t *const *)ids, n, (size_t)texts, &so, out, &err) < 0) {
            printf("  lmdiff: %s\n", err.msg);
            best = -1;
            break;
        }
        double w = bl_now() - t0;
        printf("  lmdiff run %d: %.3f s%s\n", r + 1, w,
               r < 0 ? " (warm-up, weights uploaded)" : "");
        if (r >= 0 && (best < 0 || w < best)) best = w;
        for (int t = 0; t < texts; t++)
            lmd_scores_free(&out[t]);
    }
    *peak = lmd_backend_peak_bytes(lmd_model_backend(m));
    for (int t = 0; t < texts; t++)
        free(ids[t]);
    free(ids), free(n), free(out);
    lmd_model_free(m);
    return best;
}

/* The PyTorch peer in a child: load, REPS + 1 runs, its peak memory. */
static void run_torch(const char *python, const char *dir, int texts, int len, int reps) {
    char cmd[8192];
    /* the run lines: reps + 1 (the first is a warm-up) */
    char runs[512] = "";
    for (int r = 0; r <= reps && strlen(runs) < sizeof runs - 40; r++)
        snprintf(runs + strlen(runs), sizeof runs - strlen(runs), "run m %d %d\\n", texts, len);
    const char *src = getenv("LMD_SRC") ? getenv("LMD_SRC") : LMD_SOURCE_DIR; /* a moved build */
    snprintf(
        cmd, sizeof cmd,
        "printf 'load m %s bfloat16\\n%smem\\nquit\\n' | %s %s/bench/torch_peer.py --device cuda",
        dir, runs, python, src);
    FILE *p = popen(cmd, "r");
    char line[512];
    double best = -1, w, c;
    int i = 0;
    while (p && fgets(line, sizeof line, p)) {
        if (sscanf(line, "%lf %lf", &w, &c) == 2 && i++ > 0 && (best < 0 || w < best)) best = w;
        if (!strncmp(line, "mem ", 4) || !strncmp(line, "err", 3)) printf("  PyTorch %s", line);
    }
    if (p) pclose(p);
    if (best > 0)
        printf("  PyTorch CUDA bf16: %.3f s, %.0f tokens/s\n", best, (double)texts * len / best);
    else
        printf("  PyTorch CUDA bf16: no result\n");
}

int main(int argc, char **argv) {
    const char *prefix = "/tmp/lmdiff-gpu", *shapes = "llama1b,llama7b,gpt2", *python = NULL;
    int texts = 64, len = 512, reps = 2;
    setvbuf(stdout, NULL, _IOLBF, 0); /* a run cut short by timeout keeps its lines */
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--dir"))
            prefix = argv[i + 1];
        else if (!strcmp(argv[i], "--texts"))
            texts = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--len"))
            len = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--reps"))
            reps = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--shapes"))
            shapes = argv[i + 1];
        else if (!strcmp(argv[i], "--torch"))
            python = argv[i + 1];
    }
    lmd_backend *b;
    lmd_error err;
    if (lmd_backend_open("cuda:0", &b, &err) < 0) {
        printf("bench_gpu: %s\n", err.msg);
        return 77;
    }
    printf("device: %s; %d texts x %d tokens, best of %d\n", lmd_backend_device_name(b), texts, len,
           reps);
    const char *names[] = {"llama1b", "llama7b", "gpt2"}, *shape_of[] = {"1b", "7b", NULL};
    for (int k = 0; k < 3; k++) {
        if (!strstr(shapes, names[k])) continue;
        char dir[4096];
        snprintf(dir, sizeof dir, "%s-%s", prefix, names[k]);
        const bl_llama_shape *s = shape_of[k] ? bl_llama_shape_named(shape_of[k]) : NULL;
        double t0 = bl_now();
        if (bl_make_in_child(dir, s ? make_llama : make_gpt2, s) < 0) {
            printf("%s: cannot write the random model in %s\n", names[k], dir);
            continue;
        }
        printf("\n== %s (random BF16 weights in %s, %.0f s to write)\n", names[k], dir,
               bl_now() - t0);
        if (s) {
            const int M = texts * len;
            double cs = ceiling_s_per_token(b, s, M);
            double ceil_tps = cs > 0 ? 1.0 / cs : 0;
            size_t peak = 0;
            double w = run_lmdiff(dir, texts, len, reps, &peak);
            if (w > 0)
                printf("  lmdiff CUDA bf16: %.3f s, %.0f tokens/s, %.2f of the products' ceiling "
                       "(%.0f tokens/s), peak GPU memory %.2f GB\n",
                       w, M / w, ceil_tps > 0 ? M / w / ceil_tps : 0, ceil_tps, peak / 1e9);
        } else {
            printf("  lmdiff: GPT-2's forward runs on the CPU only (not measured here)\n");
        }
        if (python) run_torch(python, dir, texts, len, reps);
        fflush(stdout);
    }
    lmd_backend_close(b);
    return 0;
}
