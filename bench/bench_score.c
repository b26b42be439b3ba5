/* bench_score.c - speed and memory of the engine on a GPT-2-124M-shaped
 * model with random weights (generated here, never committed).
 *
 * Prints: the sgemm GFLOP/s of this machine measured in the same run (the
 * ceiling), model load time, tokens/s for 64 texts of 128 tokens, the ratio
 * (tokens/s x FLOPs per token) / sgemm FLOP/s, and peak RSS against the size
 * of the weights.
 *
 * usage: bench_score [DIR] [--texts N] [--len L]   (DIR default /tmp/lmdiff-bench-gpt2-124m) */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "base/base.h"
#include "lmdiff.h"
#include "model/safetensors.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* A byte-level vocabulary of V entries: the 256 byte symbols, filler tokens,
 * <|endoftext|> last; no merges.  Enough for scoring random ids. */
static int write_tokenizer(const char *dir, int V) {
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputc('{', f);
    int id = 0;
    for (int b = 0; b < 256; b++, id++) {
        /* GPT-2's byte -> printable code point map */
        int cp = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174) ? b : -1;
        if (cp < 0) {
            static int extra = 0;
            cp = 256 + extra++;
        }
        char u[8];
        int n = 0;
        if (cp < 0x80) u[n++] = (char)cp;
        else u[n++] = (char)(0xC0 | (cp >> 6)), u[n++] = (char)(0x80 | (cp & 0x3F));
        u[n] = 0;
        if (cp == '"' || cp == '\\') fprintf(f, "%s\"\\%s\":%d", id ? "," : "", u, id);
        else fprintf(f, "%s\"%s\":%d", id ? "," : "", u, id);
    }
    for (; id < V - 1; id++) fprintf(f, ",\"filler%d\":%d", id, id);
    fprintf(f, ",\"<|endoftext|>\":%d}", id);
    fclose(f);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    f = fopen(path, "w");
    if (!f) return -1;
    fputs("#version: 0.2\n", f);
    fclose(f);
    return 0;
}

static int make_model(const char *dir, int L, int d, int V, int P) {
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"architectures\":[\"GPT2LMHeadModel\"],\"model_type\":\"gpt2\",\"n_embd\":%d,"
               "\"n_layer\":%d,\"n_head\":%d,\"n_positions\":%d,\"vocab_size\":%d,"
               "\"bos_token_id\":%d,\"eos_token_id\":%d,\"activation_function\":\"gelu_new\"}\n",
            d, L, d / 64, P, V, V - 1, V - 1);
    fclose(f);
    if (write_tokenizer(dir, V) < 0) return -1;
    size_t nt = 4 + 12 * (size_t)L, k = 0;
    lmd_st_out *t = calloc(nt, sizeof *t);
    char (*names)[64] = calloc(nt, 64);
    float **bufs = calloc(nt, sizeof *bufs);
#define ADD(nm, nd, s0, s1, scale, base)                                                          \
    do {                                                                                           \
        snprintf(names[k], 64, "%s", nm);                                                          \
        size_t cnt = (size_t)(s0) * (nd == 2 ? (size_t)(s1) : 1);                                  \
        bufs[k] = malloc(cnt * 4);                                                                 \
        for (size_t q = 0; q < cnt; q++) bufs[k][q] = (base) + (scale) * frand();                  \
        t[k] = (lmd_st_out){names[k], "F32", nd, {s0, s1}, bufs[k], cnt * 4};                      \
        k++;                                                                                       \
    } while (0)
    ADD("transformer.wte.weight", 2, V, d, 0.05f, 0.0f);
    ADD("transformer.wpe.weight", 2, P, d, 0.02f, 0.0f);
    ADD("transformer.ln_f.weight", 1, d, 0, 0.1f, 1.0f);
    ADD("transformer.ln_f.bias", 1, d, 0, 0.02f, 0.0f);
    for (int l = 0; l < L; l++) {
        char n[64];
#define LN(suffix, nd, s0, s1, scale, base)                                                       \
    snprintf(n, sizeof n, "transformer.h.%d.%s", l, suffix);                                      \
    ADD(n, nd, s0, s1, scale, base)
        LN("ln_1.weight", 1, d, 0, 0.1f, 1.0f);
        LN("ln_1.bias", 1, d, 0, 0.02f, 0.0f);
        LN("attn.c_attn.weight", 2, d, 3 * d, 0.05f, 0.0f);
        LN("attn.c_attn.bias", 1, 3 * d, 0, 0.02f, 0.0f);
        LN("attn.c_proj.weight", 2, d, d, 0.03f, 0.0f);
        LN("attn.c_proj.bias", 1, d, 0, 0.02f, 0.0f);
        LN("ln_2.weight", 1, d, 0, 0.1f, 1.0f);
        LN("ln_2.bias", 1, d, 0, 0.02f, 0.0f);
        LN("mlp.c_fc.weight", 2, d, 4 * d, 0.05f, 0.0f);
        LN("mlp.c_fc.bias", 1, 4 * d, 0, 0.02f, 0.0f);
        LN("mlp.c_proj.weight", 2, 4 * d, d, 0.03f, 0.0f);
        LN("mlp.c_proj.bias", 1, d, 0, 0.02f, 0.0f);
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    lmd_error err;
    int rc = lmd_st_write(path, t, k, &err);
    if (rc < 0) fprintf(stderr, "%s\n", err.msg);
    for (size_t i = 0; i < k; i++) free(bufs[i]);
    free(bufs), free(names), free(t);
    return rc;
}

static double sgemm_gflops(void) {
    /* the shape of the MLP's first product for a 4096-token batch */
    const int M = 2048, N = 3072, K = 768;
    float *A = malloc((size_t)M * K * 4), *B = malloc((size_t)K * N * 4), *C = malloc((size_t)M * N * 4);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = frand();
    for (size_t i = 0; i < (size_t)K * N; i++) B[i] = frand();
    double best = 0;
    for (int r = 0; r < 6; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, B, N, 0, C, N);
        double g = 2.0 * M * N * K / (now() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(A), free(B), free(C);
    return best;
}

int main(int argc, char **argv) {
    /* the same settings as the lmdiff binary (src/cli/main.c) */
    if (lmd_runtime_env_tune()) execv("/proc/self/exe", argv);
    const char *dir = "/tmp/lmdiff-bench-gpt2-124m";
    int n_texts = 64, len = 128;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--texts") && i + 1 < argc) n_texts = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--len") && i + 1 < argc) len = atoi(argv[++i]);
        else dir = argv[i];
    }
    const int L = 12, d = 768, V = 50257, P = 1024;
    char st[4096];
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    struct stat sb;
    if (stat(st, &sb) != 0) {
        printf("generating a random GPT-2-124M-shaped model in %s ...\n", dir);
        fflush(stdout);
        /* in a child, so that the generator's buffers do not count in our peak RSS */
        pid_t pid = fork();
        if (pid == 0) _exit(make_model(dir, L, d, V, P) < 0 ? 1 : 0);
        int status = 1;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || stat(st, &sb) != 0) return 1;
    }
    /* the ceiling is measured before and after the scoring and the higher
     * one is used: on a shared machine a single burst can be slowed by
     * others, which would flatter the ratio */
    double ceiling = sgemm_gflops();
    printf("OpenBLAS kernels: %s\n", lmd_blas_corename());

    lmd_error err;
    lmd_model *m;
    double t0 = now();
    if (lmd_model_load(dir, &m, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t_load = now() - t0;
    lmd_model_info info;
    lmd_model_get_info(m, &info);
    printf("load: %.3f s (%lld parameters, %.1f MB of weights)\n", t_load,
           (long long)info.n_params, (double)sb.st_size / 1e6);

    int32_t **ids = malloc((size_t)n_texts * sizeof *ids);
    size_t *n = malloc((size_t)n_texts * sizeof *n);
    for (int t = 0; t < n_texts; t++) {
        ids[t] = malloc((size_t)len * sizeof **ids);
        n[t] = (size_t)len;
        for (int i = 0; i < len; i++) ids[t][i] = (int32_t)((frand() + 1) * 0.5 * (V - 1));
    }
    lmd_scores *out = calloc((size_t)n_texts, sizeof *out);
    lmd_score_opts so = {.top_k = 10};
    /* warm-up on two texts: page in the weights, start the threads */
    if (lmd_score_ids(m, (const int32_t *const *)ids, n, 2, &so, out, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    for (int t = 0; t < 2; t++) lmd_scores_free(&out[t]);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        t0 = now();
        if (lmd_score_ids(m, (const int32_t *const *)ids, n, (size_t)n_texts, &so, out, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double dt = now() - t0;
        if (dt < best) best = dt;
        for (int t = 0; t < n_texts; t++) lmd_scores_free(&out[t]);
    }
    double ceiling2 = sgemm_gflops();
    printf("sgemm ceiling (2048x768 * 768x3072, best of 6): %.1f GFLOP/s before, %.1f after\n",
           ceiling, ceiling2);
    if (ceiling2 > ceiling) ceiling = ceiling2;
    double tokens = (double)n_texts * len;
    /* attention: QK^T and PV, each 2*ctx*d per position, ctx averaging (len+1)/2 */
    double attn = 2.0 * 2.0 * L * d * ((len + 1) / 2.0);
    double fpt = info.flops_per_token + attn;
    double tps = tokens / best;
    printf("score: %d texts x %d tokens in %.3f s (best of 3) = %.1f tokens/s\n", n_texts, len,
           best, tps);
    printf("FLOPs per token: %.1f M (weights %.1f M + attention %.1f M)\n", fpt / 1e6,
           info.flops_per_token / 1e6, attn / 1e6);
    printf("ratio (tokens/s x FLOPs/token) / sgemm FLOP/s = %.3f\n", tps * fpt / (ceiling * 1e9));
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS %.1f MB = weights %.1f MB + %.1f MB\n", ru.ru_maxrss / 1024.0,
           (double)sb.st_size / 1e6, ru.ru_maxrss / 1024.0 - (double)sb.st_size / 1048576.0);
    for (int t = 0; t < n_texts; t++) free(ids[t]);
    free(ids), free(n), free(out);
    lmd_model_free(m);
    return 0;
}
