/* bench_speed.c - the one command behind docs/performance.md's table: in one
 * run, lmdiff tokens/s for the GPT-2-124M and Llama-3.2-1B shapes in each
 * precision (f32, bf16), the same shapes in PyTorch (F32 and BF16, every
 * position's log-probabilities; bench/torch_peer.py, a peer measurement
 * only), the OpenBLAS sgemm and oneDNN BF16 matrix-product ceilings measured
 * before and after, and the ratios.
 *
 * Random weights: GPT-2 stored F32 (as OpenAI's), Llama stored BF16 (as
 * Meta's), written once to PREFIX-gpt2 / PREFIX-llama1b.  The configurations
 * of a shape run alternately, reps times, so that other load on a shared
 * machine hits them alike; each keeps its best wall time and the process CPU
 * time of that run (lmdiff: this process; PyTorch: the peer's).
 *
 * "lmdiff packed" is lmdiff bf16 with lmd_model_opts.pack_weights (a packed
 * copy of the weights made at load; decoder families only, so for GPT-2 it
 * is the bf16 configuration again), timed in the same alternation.
 *
 * usage: bench_speed [--dir PREFIX] [--texts N] [--len L] [--reps R]
 *                    [--shapes gpt2,llama1b] [--precisions f32,bf16] [--no-torch]
 *        (default /tmp/lmdiff-bench, 8 texts x 96 tokens, 3 reps, both
 *        shapes, both precisions; --precisions bf16 leaves out the F32
 *        configurations, lmdiff's and PyTorch's) */
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "benchlib.h"
#include "lmdiff.h"
#include "model/kernel/scratch.h"
#include "model/safetensors.h"

/* ---- the PyTorch peer: a child reading commands on a pipe */
static FILE *peer_in, *peer_out;

static int peer_start(void) {
    int a[2], b[2];
    if (pipe(a) < 0 || pipe(b) < 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(a[0], 0), dup2(b[1], 1);
        close(a[1]), close(b[0]);
        execl("/usr/bin/python3", "python3", LMD_SOURCE_DIR "/bench/torch_peer.py", (char *)NULL);
        _exit(127);
    }
    close(a[0]), close(b[1]);
    peer_in = fdopen(a[1], "w");
    peer_out = fdopen(b[0], "r");
    return peer_in && peer_out ? 0 : -1;
}

/* sends a command; the answer line in ans (empty when the peer is gone) */
static void peer_cmd(const char *cmd, char *ans, size_t cap) {
    ans[0] = 0;
    if (!peer_in) return;
    fprintf(peer_in, "%s\n", cmd);
    fflush(peer_in);
    if (!fgets(ans, (int)cap, peer_out)) {
        ans[0] = 0;
        peer_in = NULL;
    }
}

/* ---- one configuration of a shape */
typedef struct cfg {
    char label[32];
    lmd_model *m;     /* lmdiff, or NULL for the peer */
    char key[32];     /* the peer's model */
    int bf16;         /* products in BF16: compared with that ceiling */
    double wall, cpu; /* best wall time and the CPU time of that run */
    long minflt;      /* lmdiff: minor page faults of the last run (fresh pages touched) */
} cfg;

typedef struct shape {
    const char *name, *dir;
    int V, L, d; /* vocabulary, layers, width (attention FLOPs) */
    double fpt;  /* FLOPs per token through the weights */
} shape;

static int run_lmdiff(cfg *c, int32_t **ids, size_t *n, int texts) {
    lmd_scores *out = calloc((size_t)texts, sizeof *out);
    lmd_score_opts so = {.top_k = 10};
    lmd_error err;
    long f0 = bl_minflt();
    double t0 = bl_now(), c0 = bl_cpu_now();
    int rc = lmd_score_ids(c->m, (const int32_t *const *)ids, n, (size_t)texts, &so, out, &err);
    double w = bl_now() - t0, cp = bl_cpu_now() - c0;
    c->minflt = bl_minflt() - f0;
    if (rc < 0) fprintf(stderr, "%s: %s\n", c->label, err.msg);
    for (int t = 0; rc == 0 && t < texts; t++)
        lmd_scores_free(&out[t]);
    free(out);
    if (rc == 0 && w < c->wall) c->wall = w, c->cpu = cp;
    return rc;
}

static void run_peer(cfg *c, int texts, int len) {
    char cmd[128], ans[256];
    double w, cp;
    snprintf(cmd, sizeof cmd, "run %s %d %d", c->key, texts, len);
    peer_cmd(cmd, ans, sizeof ans);
    if (sscanf(ans, "%lf %lf", &w, &cp) == 2 && w < c->wall) c->wall = w, c->cpu = cp;
}

static int make_gpt2(const char *dir, const void *arg) {
    (void)arg;
    return bl_write_gpt2(dir, 12, 768, 50257, 1024, 0);
}

static int make_llama(const char *dir, const void *arg) {
    (void)arg;
    return bl_write_llama(dir, bl_llama_shape_named("1b"), 1);
}

static void cpu_model(char *out, size_t cap) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    snprintf(out, cap, "unknown CPU");
    int have_model = 0;
    char isa[256] = "";
    while (f && fgets(line, sizeof line, f)) {
        if (!have_model && !strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(out, cap, "%s", strchr(line, ':') + 2);
            out[strcspn(out, "\n")] = 0;
            have_model = 1;
        }
        if (!isa[0] && !strncmp(line, "flags", 5)) {
            static const char *const want[] = {" avx2",        " avx512f",  " avx512_bf16",
                                               " avx512_fp16", " amx_bf16", " avx512_vnni"};
            for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
                char pat[32];
                snprintf(pat, sizeof pat, "%s ", want[i]);
                if (strstr(line, pat)) strncat(isa, want[i], sizeof isa - strlen(isa) - 1);
            }
        }
    }
    if (f) fclose(f);
    size_t l = strlen(out);
    snprintf(out + l, cap - l, "; ISA:%s", isa[0] ? isa : " (none of avx2/avx512)");
}

static void bench_shape(const shape *s, int texts, int len, int reps, int torch, int f32) {
    lmd_error err;
    cfg c[5] = {{"lmdiff f32", NULL, "", 0, 1e30, 0, -1},
                {"lmdiff bf16", NULL, "", 1, 1e30, 0, -1},
                {"lmdiff packed", NULL, "", 1, 1e30, 0, -1},
                {"PyTorch f32", NULL, "", 0, 1e30, 0, -1},
                {"PyTorch bf16", NULL, "", 1, 1e30, 0, -1}};
    lmd_model_opts o = LMD_MODEL_OPTS_INIT;
    double load[3] = {0, 0, 0};
    for (int i = f32 ? 0 : 1; i < 3; i++) {
        o.precision = i ? LMD_PRECISION_BF16 : LMD_PRECISION_F32;
        o.pack_weights = i == 2;
        double t0 = bl_now();
        if (lmd_model_load_opts(s->dir, &o, &c[i].m, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            exit(1);
        }
        load[i] = bl_now() - t0;
    }
    lmd_model_info info;
    lmd_model_get_info(c[1].m, &info);
    printf("\n== %s shape (%lld parameters), %d texts x %d tokens, %d threads\n", s->name,
           (long long)info.n_params, texts, len, omp_get_max_threads());
    printf("lmdiff bf16 products: %s; f32: OpenBLAS %s\n", info.matmul_impl, lmd_blas_corename());
    printf("load: f32 %.2f s, bf16 %.2f s, packed %.2f s (packing: decoder families only)\n",
           load[0], load[1], load[2]);
    int n_cfg = 3;
    for (int i = 3; torch && i < 5; i++) {
        char cmd[4300], ans[256];
        n_cfg = i + 1;
        if (i == 3 && !f32) continue;
        snprintf(c[i].key, sizeof c[i].key, "%s-%d", s->name, i);
        snprintf(cmd, sizeof cmd, "load %s %s %s", c[i].key, s->dir,
                 i == 3 ? "float32" : "bfloat16");
        peer_cmd(cmd, ans, sizeof ans);
        if (strncmp(ans, "ok", 2)) {
            printf("PyTorch peer: %s\n", ans[0] ? ans : "not available");
            n_cfg = 3;
            break;
        }
    }
    int32_t **ids = malloc((size_t)texts * sizeof *ids);
    size_t *n = malloc((size_t)texts * sizeof *n);
    for (int t = 0; t < texts; t++) {
        ids[t] = malloc((size_t)len * sizeof **ids);
        n[t] = (size_t)len;
        for (int i = 0; i < len; i++)
            ids[t][i] = (int32_t)((bl_frand() + 1) * 0.5 * (s->V - 2));
    }
    /* the ceilings: the MLP's first product for this batch, before and after */
    const int M = texts * len, N = 4 * s->d > 8192 ? 8192 : 4 * s->d, K = s->d;
    double sg = bl_sgemm_gflops(M, N, K, 3, NULL),
           bf = bl_matmul_gflops(LMD_BF16, 1, M, N, K, 3, NULL);
    for (int rep = -1; rep < reps; rep++) /* rep -1: warm-up (pages the weights in) */
        for (int i = 0; i < n_cfg; i++) {
            double keep_w = c[i].wall, keep_c = c[i].cpu;
            if (c[i].m)
                run_lmdiff(&c[i], ids, n, texts);
            else if (c[i].key[0])
                run_peer(&c[i], texts, len);
            if (rep < 0) c[i].wall = keep_w, c[i].cpu = keep_c;
        }
    double sg2 = bl_sgemm_gflops(M, N, K, 3, NULL),
           bf2 = bl_matmul_gflops(LMD_BF16, 1, M, N, K, 3, NULL);
    double f16 = bl_matmul_gflops(LMD_F16, 0, M, N, K, 3, NULL);
    printf("ceilings (%dx%d x %dx%d): sgemm %.0f / %.0f GFLOP/s (before / after), oneDNN BF16 "
           "%.0f / %.0f; F16 weights widened + sgemm %.0f\n",
           M, K, K, N, sg, sg2, bf, bf2, f16);
    if (sg2 > sg) sg = sg2;
    if (bf2 > bf) bf = bf2;
    double attn = 2.0 * 2.0 * s->L * (double)s->d * ((len + 1) / 2.0), fpt = s->fpt + attn;
    double tokens = (double)texts * len;
    printf("%-13s %10s %12s %9s %9s %10s %s\n", "", "tokens/s", "tokens/CPU-s", "GFLOP/s",
           "ceiling", "of ceiling", "page faults/call");
    for (int i = 0; i < n_cfg; i++) {
        if (c[i].wall >= 1e30) continue;
        double tps = tokens / c[i].wall, ceil = c[i].bf16 ? bf : sg;
        printf("%-13s %10.1f %12.1f %9.1f %9s %10.2f", c[i].label, tps, tokens / c[i].cpu,
               tps * fpt / 1e9, c[i].bf16 ? "BF16" : "sgemm", tps * fpt / 1e9 / ceil);
        if (c[i].minflt >= 0) printf(" %ld", c[i].minflt);
        printf("\n");
    }
    if (n_cfg == 5 && c[4].wall < 1e30)
        printf("lmdiff / PyTorch: bf16 %.2fx (per CPU-s %.2fx), packed %.2fx (%.2fx)",
               c[4].wall / c[1].wall, c[4].cpu / c[1].cpu, c[4].wall / c[2].wall,
               c[4].cpu / c[2].cpu);
    if (n_cfg == 5 && c[3].wall < 1e30 && c[0].wall < 1e30)
        printf(", f32 %.2fx (per CPU-s %.2fx)", c[3].wall / c[0].wall, c[3].cpu / c[0].cpu);
    if (n_cfg == 5) printf("\n");
    printf("lmdiff packed / bf16: %.3fx (per CPU-s %.3fx)\n", c[1].wall / c[2].wall,
           c[1].cpu / c[2].cpu);
    double peak, file, anon;
    bl_memory(&peak, &file, &anon);
    printf("this process: peak RSS %.2f GB; now %.2f GB mapped weights + %.2f GB anonymous, of "
           "which %.2f GB working memory kept for the next batch\n",
           peak, file, anon, (double)lmd_scratch_held() / 1e9);
    for (int i = 3; i < n_cfg; i++) {
        char cmd[64], ans[64];
        snprintf(cmd, sizeof cmd, "drop %s", c[i].key);
        peer_cmd(cmd, ans, sizeof ans);
    }
    for (int t = 0; t < texts; t++)
        free(ids[t]);
    free(ids), free(n);
    lmd_model_free(c[0].m), lmd_model_free(c[1].m), lmd_model_free(c[2].m);
}

int main(int argc, char **argv) {
    if (lmd_runtime_env_tune()) execv("/proc/self/exe", argv);
    const char *prefix = "/tmp/lmdiff-bench", *shapes = "gpt2,llama1b";
    int texts = 8, len = 96, reps = 3, torch = 1, f32 = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            prefix = argv[++i];
        else if (!strcmp(argv[i], "--texts") && i + 1 < argc)
            texts = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--len") && i + 1 < argc)
            len = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--shapes") && i + 1 < argc)
            shapes = argv[++i];
        else if (!strcmp(argv[i], "--precisions") && i + 1 < argc)
            f32 = strstr(argv[++i], "f32") != NULL;
        else if (!strcmp(argv[i], "--no-torch"))
            torch = 0;
        else {
            fprintf(stderr, "usage: bench_speed [--dir PREFIX] [--texts N] [--len L] [--reps R] "
                            "[--shapes gpt2,llama1b] [--precisions f32,bf16] [--no-torch]\n");
            return 2;
        }
    }
    if (texts < 1 || len < 2 || reps < 1) return 2;
    char cpu[512], gdir[4200], ldir[4200];
    cpu_model(cpu, sizeof cpu);
    printf("CPU: %s\n", cpu);
    snprintf(gdir, sizeof gdir, "%s-gpt2", prefix);
    snprintf(ldir, sizeof ldir, "%s-llama1b", prefix);
    signal(SIGPIPE, SIG_IGN);
    if (torch && peer_start() < 0) torch = 0;
    if (strstr(shapes, "gpt2")) {
        if (bl_make_in_child(gdir, make_gpt2, NULL) < 0) return 1;
        /* 12 layers x (4 + 8) d^2 multiply-adds + the head, x 2 */
        shape s = {"GPT-2-124M", gdir, 50257,
                   12,           768,  2.0 * (12 * 12.0 * 768 * 768 + 50257.0 * 768)};
        bench_shape(&s, texts, len, reps, torch, f32);
    }
    if (strstr(shapes, "llama1b")) {
        const bl_llama_shape *ls = bl_llama_shape_named("1b");
        if (bl_make_in_child(ldir, make_llama, NULL) < 0) return 1;
        double per_layer =
            2.0 * ls->d * ls->d + 2.0 * ls->d * (ls->d / ls->H * ls->KV) + 3.0 * ls->d * ls->inter;
        shape s = {"Llama-3.2-1B", ldir,  ls->V,
                   ls->L,          ls->d, 2.0 * (ls->L * per_layer + (double)ls->V * ls->d)};
        bench_shape(&s, texts, len, reps, torch, f32);
    }
    if (peer_in) {
        fprintf(peer_in, "quit\n");
        fclose(peer_in);
        wait(NULL);
    }
    return 0;
}
