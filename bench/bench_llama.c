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
 * time, tokens/s (best of --reps), the ratio (tokens/s x FLOPs/token) /
 * sgemm FLOP/s, and peak RSS split into the mapped weights (file pages) and
 * the rest.
 *
 * usage: bench_llama [--dir PREFIX] [--shape 1b|7b|qwen3-0.6b|moe] [--dtype F32|BF16]
 *                    [--texts N] [--len L] [--reps R]
 *        (default /tmp/lmdiff-bench-llama, 1b, BF16, 4 texts x 128, 2 reps) */
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
#include "lmdiff.h"

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

typedef struct shape {
    const char *name;
    int L, d, H, KV, inter, V, P, tie;
    int qwen3, D, E, k; /* Qwen3 (q/k norms), head size (0: d/H), experts (0: dense), per token */
} shape;

static const shape SHAPES[] = {
    {"1b", 16, 2048, 32, 8, 8192, 128256, 131072, 1, 0, 0, 0, 0},
    {"7b", 32, 4096, 32, 32, 11008, 32000, 4096, 0, 0, 0, 0, 0},
    {"qwen3-0.6b", 28, 1024, 16, 8, 3072, 151936, 40960, 1, 1, 128, 0, 0},
    {"moe", 4, 2048, 32, 4, 768, 151936, 40960, 0, 1, 128, 128, 8},
    {"small", 2, 256, 8, 2, 512, 1000, 512, 1, 0, 0, 0, 0},   /* smoke tests of the tool */
    {"small-moe", 2, 256, 8, 2, 128, 1000, 512, 1, 1, 64, 8, 2},
};

/* byte-level vocabulary of V entries (256 byte symbols, fillers, BOS last) */
static int write_tokenizer(const char *dir, int V) {
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputc('{', f);
    int id = 0, extra = 0;
    for (int b = 0; b < 256; b++, id++) {
        int cp = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174) ? b : 256 + extra++;
        char u[8];
        int n = 0;
        if (cp < 0x80)
            u[n++] = (char)cp;
        else
            u[n++] = (char)(0xC0 | (cp >> 6)), u[n++] = (char)(0x80 | (cp & 0x3F));
        u[n] = 0;
        fprintf(f, "%s\"%s%s\":%d", id ? "," : "", cp == '"' || cp == '\\' ? "\\" : "", u, id);
    }
    for (; id < V - 1; id++)
        fprintf(f, ",\"filler%d\":%d", id, id);
    fprintf(f, ",\"<|endoftext|>\":%d}", id);
    fclose(f);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    f = fopen(path, "w");
    if (!f) return -1;
    fputs("#version: 0.2\n", f);
    fclose(f);
    return 0;
}

typedef struct tdesc {
    char name[96];
    int ndim;
    long s0, s1;
    float scale, base; /* values base + scale * uniform[-1, 1) */
} tdesc;

/* Streams a safetensors file: header, then every tensor generated in chunks. */
static int make_model(const char *dir, const shape *s, int bf16) {
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const int D = s->D ? s->D : s->d / s->H;
    fprintf(f,
            "{\"architectures\":[\"%s\"],\"model_type\":\"%s\",\"head_dim\":%d,"
            "\"num_experts\":%d,\"num_experts_per_tok\":%d,\"moe_intermediate_size\":%d,"
            "\"norm_topk_prob\":true,\"hidden_size\":%d,\"num_hidden_layers\":%d,\"num_attention_heads\":%d,"
            "\"num_key_value_heads\":%d,\"intermediate_size\":%d,\"vocab_size\":%d,"
            "\"max_position_embeddings\":%d,\"rms_norm_eps\":1e-5,\"rope_theta\":500000.0,"
            "\"hidden_act\":\"silu\",\"tie_word_embeddings\":%s,\"bos_token_id\":%d,"
            "\"eos_token_id\":%d,\"torch_dtype\":\"%s\"}\n",
            s->E ? "Qwen3MoeForCausalLM" : s->qwen3 ? "Qwen3ForCausalLM" : "LlamaForCausalLM",
            s->E ? "qwen3_moe" : s->qwen3 ? "qwen3" : "llama", D, s->E, s->k, s->inter, s->d, s->L, s->H, s->KV, s->inter, s->V, s->P, s->tie ? "true" : "false", s->V - 1,
            s->V - 1, bf16 ? "bfloat16" : "float32");
    fclose(f);
    if (write_tokenizer(dir, s->V) < 0) return -1;
    size_t nt = 2 + (11 + 3 * (size_t)s->E) * (size_t)s->L + 1, k = 0;
    tdesc *t = calloc(nt, sizeof *t);
    float ws = 1.7f / sqrtf((float)s->d), wi = 1.7f / sqrtf((float)s->inter);
#define T2(nm, a, b, sc) t[k++] = (tdesc){nm, 2, a, b, sc, 0}
    T2("model.embed_tokens.weight", s->V, s->d, 0.05f);
    for (int l = 0; l < s->L; l++) {
        char p[32];
        snprintf(p, sizeof p, "model.layers.%d.", l);
#define LT(suffix, nd, a, b, sc, bs)                                                               \
    do {                                                                                           \
        snprintf(t[k].name, sizeof t[k].name, "%s%s", p, suffix);                                  \
        t[k].ndim = nd, t[k].s0 = a, t[k].s1 = b, t[k].scale = sc, t[k].base = bs;                 \
        k++;                                                                                       \
    } while (0)
        LT("input_layernorm.weight", 1, s->d, 1, 0.1f, 1.0f);
        LT("self_attn.q_proj.weight", 2, (long)s->H * D, s->d, ws, 0);
        LT("self_attn.k_proj.weight", 2, (long)s->KV * D, s->d, ws, 0);
        LT("self_attn.v_proj.weight", 2, (long)s->KV * D, s->d, ws, 0);
        LT("self_attn.o_proj.weight", 2, s->d, (long)s->H * D, ws, 0);
        LT("post_attention_layernorm.weight", 1, s->d, 1, 0.1f, 1.0f);
        if (s->qwen3) {
            LT("self_attn.q_norm.weight", 1, D, 1, 0.1f, 1.0f);
            LT("self_attn.k_norm.weight", 1, D, 1, 0.1f, 1.0f);
        }
        if (s->E) {
            LT("mlp.gate.weight", 2, s->E, s->d, ws, 0);
            for (int e = 0; e < s->E; e++) {
                char x[48];
                snprintf(x, sizeof x, "mlp.experts.%d.gate_proj.weight", e);
                LT(x, 2, s->inter, s->d, ws, 0);
                snprintf(x, sizeof x, "mlp.experts.%d.up_proj.weight", e);
                LT(x, 2, s->inter, s->d, ws, 0);
                snprintf(x, sizeof x, "mlp.experts.%d.down_proj.weight", e);
                LT(x, 2, s->d, s->inter, wi, 0);
            }
            continue;
        }
        LT("mlp.gate_proj.weight", 2, s->inter, s->d, ws, 0);
        LT("mlp.up_proj.weight", 2, s->inter, s->d, ws, 0);
        LT("mlp.down_proj.weight", 2, s->d, s->inter, wi, 0);
    }
    snprintf(t[k].name, sizeof t[k].name, "model.norm.weight");
    t[k].ndim = 1, t[k].s0 = s->d, t[k].s1 = 1, t[k].scale = 0.1f, t[k].base = 1.0f, k++;
    if (!s->tie) T2("lm_head.weight", s->V, s->d, ws);
    /* header */
    const size_t es = bf16 ? 2 : 4;
    lmd_buf h = {0};
    lmd_buf_printf(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t off = 0;
    for (size_t i = 0; i < k; i++) {
        size_t n = (size_t)t[i].s0 * (size_t)t[i].s1, nb = n * es;
        if (t[i].ndim == 1)
            lmd_buf_printf(&h,
                           ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%ld],\"data_offsets\":[%zu,%zu]}",
                           t[i].name, bf16 ? "BF16" : "F32", t[i].s0, off, off + nb);
        else
            lmd_buf_printf(
                &h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%ld,%ld],\"data_offsets\":[%zu,%zu]}",
                t[i].name, bf16 ? "BF16" : "F32", t[i].s0, t[i].s1, off, off + nb);
        off += nb;
    }
    lmd_buf_printf(&h, "}");
    while (h.len % 8)
        lmd_buf_printf(&h, " ");
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    f = fopen(path, "wb");
    if (!f) return -1;
    uint64_t hl = h.len;
    fwrite(&hl, 8, 1, f);
    fwrite(h.data, 1, h.len, f);
    lmd_buf_free(&h);
    const size_t CH = 1 << 20;
    float *buf = malloc(CH * 4);
    uint16_t *b16 = malloc(CH * 2);
    for (size_t i = 0; i < k; i++) {
        size_t n = (size_t)t[i].s0 * (size_t)t[i].s1;
        for (size_t a = 0; a < n; a += CH) {
            size_t c = n - a < CH ? n - a : CH;
            for (size_t q = 0; q < c; q++)
                buf[q] = t[i].base + t[i].scale * frand();
            if (bf16) {
                for (size_t q = 0; q < c; q++) {
                    uint32_t u;
                    memcpy(&u, &buf[q], 4);
                    b16[q] = (uint16_t)((u + 0x7FFF + ((u >> 16) & 1)) >> 16);
                }
                fwrite(b16, 2, c, f);
            } else {
                fwrite(buf, 4, c, f);
            }
        }
    }
    free(buf), free(b16), free(t);
    return fclose(f) == 0 ? 0 : -1;
}

static double sgemm_gflops(void) {
    /* the shape of the MLP's up projection for a batch of 512 tokens */
    const int M = 512, N = 8192, K = 2048;
    float *A = malloc((size_t)M * K * 4), *B = malloc((size_t)K * N * 4),
          *C = malloc((size_t)M * N * 4);
    for (size_t i = 0; i < (size_t)M * K; i++)
        A[i] = frand();
    for (size_t i = 0; i < (size_t)K * N; i++)
        B[i] = frand();
    double best = 0;
    for (int r = 0; r < 4; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, A, K, B, K, 0, C, N);
        double g = 2.0 * M * N * K / (now() - t0) / 1e9;
        if (g > best) best = g;
    }
    free(A), free(B), free(C);
    return best;
}

static long status_kb(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long v = -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, kl) && line[kl] == ':') v = atol(line + kl + 1);
    fclose(f);
    return v;
}

int main(int argc, char **argv) {
    if (lmd_runtime_env_tune()) execv("/proc/self/exe", argv);
    const char *prefix = "/tmp/lmdiff-bench-llama", *shape_name = "1b", *dtype = "BF16";
    int n_texts = 4, len = 128, reps = 2;
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
        else {
            fprintf(stderr, "usage: bench_llama [--dir PREFIX] [--shape 1b|7b|qwen3-0.6b|moe] [--dtype F32|BF16] "
                            "[--texts N] [--len L] [--reps R]\n");
            return 2;
        }
    }
    const shape *s = NULL;
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++)
        if (!strcmp(SHAPES[i].name, shape_name)) s = &SHAPES[i];
    int bf16 = !strcmp(dtype, "BF16");
    if (!s || (!bf16 && strcmp(dtype, "F32")) || n_texts < 1 || len < 1 || reps < 1) {
        fprintf(stderr, "bench_llama: bad --shape, --dtype, --texts, --len or --reps\n");
        return 2;
    }
    char dir[2048], st[2200];
    snprintf(dir, sizeof dir, "%s-%s-%s", prefix, s->name, bf16 ? "bf16" : "f32");
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    struct stat sb;
    if (stat(st, &sb) != 0) {
        printf("writing a random %s-shaped %s model to %s ...\n", s->name, dtype, dir);
        fflush(stdout);
        double t0 = now();
        pid_t pid = fork(); /* the generator's buffers stay out of our peak RSS */
        if (pid == 0) _exit(make_model(dir, s, bf16) < 0 ? 1 : 0);
        int status = 1;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || stat(st, &sb) != 0) return 1;
        printf("  written in %.1f s\n", now() - t0);
    }
    double ceiling = sgemm_gflops();
    printf("OpenBLAS kernels: %s, threads %d\n", lmd_blas_corename(), omp_get_max_threads());

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
    printf("model: %s shape, %s weights, %lld parameters, %.2f GB file; load %.3f s\n",
           s->name, dtype, (long long)info.n_params, (double)sb.st_size / 1e9, t_load);

    int32_t **ids = malloc((size_t)n_texts * sizeof *ids);
    size_t *n = malloc((size_t)n_texts * sizeof *n);
    for (int t = 0; t < n_texts; t++) {
        ids[t] = malloc((size_t)len * sizeof **ids);
        n[t] = (size_t)len;
        for (int i = 0; i < len; i++)
            ids[t][i] = (int32_t)((frand() + 1) * 0.5 * (s->V - 2));
    }
    lmd_scores *out = calloc((size_t)n_texts, sizeof *out);
    lmd_score_opts so = {.top_k = 10};
    /* warm-up: one text of 8 tokens pages the weights in */
    size_t n8 = len < 8 ? (size_t)len : 8;
    t0 = now();
    if (lmd_score_ids(m, (const int32_t *const *)ids, &n8, 1, &so, out, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("first text of %zu tokens (weights paged in): %.2f s; logprob of its tokens:", n8,
           now() - t0);
    for (size_t i = 0; i < out[0].n; i++)
        printf(" %.3f", out[0].logprob[i]);
    printf("\n");
    lmd_scores_free(&out[0]);
    double best = 1e30;
    for (int rep = 0; rep < reps; rep++) {
        t0 = now();
        if (lmd_score_ids(m, (const int32_t *const *)ids, n, (size_t)n_texts, &so, out, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            return 1;
        }
        double dt = now() - t0;
        if (dt < best) best = dt;
        for (int t = 0; t < n_texts; t++)
            lmd_scores_free(&out[t]);
    }
    double ceiling2 = sgemm_gflops();
    printf("sgemm ceiling (512x2048 * 2048x8192, best of 4): %.1f GFLOP/s before, %.1f after\n",
           ceiling, ceiling2);
    if (ceiling2 > ceiling) ceiling = ceiling2;
    double tokens = (double)n_texts * len;
    const int D = s->D ? s->D : s->d / s->H;
    double attn = 2.0 * 2.0 * s->L * (double)s->H * D * ((len + 1) / 2.0);
    double fpt = info.flops_per_token + attn;
    double tps = tokens / best;
    printf("score: %d texts x %d tokens in %.3f s (best of %d) = %.2f tokens/s\n", n_texts, len,
           best, reps, tps);
    printf("FLOPs per token: %.3f G (weights %.3f G + attention %.3f G)\n", fpt / 1e9,
           info.flops_per_token / 1e9, attn / 1e9);
    printf("ratio (tokens/s x FLOPs/token) / sgemm FLOP/s = %.3f\n", tps * fpt / (ceiling * 1e9));
    long hwm = status_kb("VmHWM"), anon = status_kb("RssAnon"), file = status_kb("RssFile");
    printf("peak RSS %.2f GB; now: %.2f GB file pages (the mapped weights) + %.2f GB anonymous\n",
           hwm / 1048576.0, file / 1048576.0, anon / 1048576.0);
    for (int t = 0; t < n_texts; t++)
        free(ids[t]);
    free(ids), free(n), free(out);
    lmd_model_free(m);
    return 0;
}
