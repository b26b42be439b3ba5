/* bench_gguf.c - lmdiff beside llama.cpp on the same GGUF files, in one run.
 *
 * Writes a random Llama model of a real shape (bl_write_llama, BF16 values)
 * to PREFIX-SHAPE-hf, then GGUFs of it with lmdiff's own writer
 * (lmd_gguf_convert: BF16, Q8_0, Q4_0) as PREFIX-SHAPE-TYPE.gguf, and a text
 * of 2 x LEN random letters (the byte-level vocabulary: one token a letter).
 * Each file is scored as two texts of LEN tokens, logits for every position:
 *   lmdiff  at each precision that applies: f32 (tiles dequantized exactly,
 *           sgemm) and bf16 (oneDNN BF16 products) where the CPU has them;
 *   llama.cpp (only with --llama-cpp DIR): DIR/llama-perplexity on the same
 *           file and text, context LEN, so the text is its two chunks of LEN.
 * The runs alternate (lmdiff f32, lmdiff bf16, llama.cpp, again) --reps
 * times; each reports its best.  Prints tokens/s of each, the ratios
 * lmdiff / llama.cpp, and lmdiff's ratio to the sgemm and oneDNN BF16
 * ceilings measured in the same run.
 *
 * llama.cpp's side (sources read: ggml-org/llama.cpp tools/perplexity/
 * perplexity.cpp, common/arg.cpp, src/llama-context.cpp):
 *   llama-perplexity -m FILE -f TEXT -c LEN -b LEN -ub LEN -t T -tb T -nr
 * - perplexity() wants at least 2 x n_ctx tokens and scores chunks of n_ctx
 *   tokens, one llama_decode per chunk when n_batch = n_ctx ("-b", "-ub":
 *   the logical and physical batch); every position goes through the layers,
 *   but it asks for logits (the output matrix) only from n_ctx/2 on
 *   (batch.logits = pos >= first): its FLOPs per token are lower by half the
 *   output matrix, so an equal-work ratio is printed too.
 * - "-nr" / "--no-repack" (params.no_extra_bufts): ggml's plain CPU weight
 *   layout; its AMX repacking crashed on the CPU of issue #16.
 * - the timing comes from llama_perf_context_print, one line
 *   "llama_perf_context_print: prompt eval time = %10.2f ms / %5d tokens
 *   (%8.2f ms per token, %8.2f tokens per second)" on stderr: the time of
 *   the decodes (model load excluded, as lmdiff's timing excludes it).
 *
 * usage: bench_gguf [--dir PREFIX] [--shape 1b|small] [--types bf16,q8_0,q4_0]
 *                   [--len LEN] [--reps R] [--llama-cpp DIR]
 *        (default /tmp/lmdiff-bench-gguf, 1b, all three, 512, 2; threads:
 *        OMP_NUM_THREADS, given to llama.cpp as -t) */
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/base.h"
#include "benchlib.h"
#include "lmdiff.h"
#include "model/format/gguf_convert.h"
#include "model/matmul.h"

static const struct {
    const char *name;
    lmd_dtype dt;
} types[] = {{"bf16", LMD_BF16}, {"q8_0", LMD_Q8_0}, {"q4_0", LMD_Q4_0}};
#define N_TYPES 3

typedef struct run_cfg {
    const char *prefix, *llama_dir;
    const bl_llama_shape *s;
    int want[N_TYPES], len, reps, threads;
    char text[2048];
} run_cfg;

static int make_hf(const char *dir, const void *arg) {
    return bl_write_llama(dir, arg, 1);
}

/* PREFIX-SHAPE-TYPE.gguf from the HF folder, in a child (the converter holds
 * the stored tensors until the write). */
static int make_gguf(const char *hf, const char *out, lmd_dtype dt) {
    struct stat sb;
    if (stat(out, &sb) == 0) return 0;
    printf("writing %s ...\n", out);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        lmd_error err;
        int rc = lmd_gguf_convert(hf, out, dt, &err);
        if (rc < 0) fprintf(stderr, "bench_gguf: %s\n", err.msg);
        _exit(rc < 0 ? 1 : 0);
    }
    int status = 1;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && stat(out, &sb) == 0 ? 0 : -1;
}

/* 2 x len random lowercase letters (the same text on every run: fixed seed). */
static int write_text(const char *path, int len) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    unsigned x = 12345;
    for (int i = 0; i < 2 * len; i++) {
        x = x * 1103515245u + 12345u;
        fputc('a' + (int)((x >> 16) % 26), f);
    }
    return fclose(f);
}

/* Reads llama.cpp's output: the prompt eval line of llama_perf_context_print
 * gives *ms and *tokens.  0 when found. */
static int parse_llama_perf(FILE *f, double *ms, int *tokens, char *last, size_t last_len) {
    char line[4096];
    int found = -1;
    last[0] = 0;
    while (fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "prompt eval time =");
        double m;
        int n;
        if (p && sscanf(p, "prompt eval time = %lf ms / %d tokens", &m, &n) == 2 && m > 0 && n > 0)
            *ms = m, *tokens = n, found = 0;
        if (line[0] != '\n') snprintf(last, last_len, "%s", line);
    }
    return found;
}

/* CPU seconds (user + sys) of the waited-for children so far. */
static double children_cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* One llama-perplexity run; tokens/s from its own timing, or -1 (said why).
 * *cpu: the CPU seconds of the whole process (load and warm-up included). */
static double run_llama(const run_cfg *c, const char *gguf, double *cpu) {
    char cmd[8192], last[4096];
    snprintf(cmd, sizeof cmd,
             "'%s/llama-perplexity' -m '%s' -f '%s' -c %d -b %d -ub %d -t %d -tb %d -nr 2>&1",
             c->llama_dir, gguf, c->text, c->len, c->len, c->len, c->threads, c->threads);
    const double c0 = children_cpu();
    FILE *f = popen(cmd, "r");
    if (!f) return fprintf(stderr, "bench_gguf: cannot run %s\n", cmd), -1;
    double ms = 0;
    int n = 0, found = parse_llama_perf(f, &ms, &n, last, sizeof last);
    int st = pclose(f);
    *cpu = children_cpu() - c0;
    if (st != 0 || found < 0) {
        fprintf(stderr, "bench_gguf: %s/llama-perplexity %s (exit status %d); its last line: %s\n",
                c->llama_dir, found < 0 ? "printed no \"prompt eval time =\" line" : "failed",
                WIFEXITED(st) ? WEXITSTATUS(st) : -1, last);
        return -1;
    }
    if (n != 2 * c->len)
        fprintf(stderr, "bench_gguf: note: llama.cpp evaluated %d tokens, not %d\n", n, 2 * c->len);
    return n / (ms / 1e3);
}

/* The text's two halves as token ids, through the model's tokenizer. */
static int text_ids(const lmd_model *m, const run_cfg *c, int32_t *ids[2], size_t n[2]) {
    char *buf;
    size_t len;
    lmd_error err;
    if (lmd_read_file(c->text, &buf, &len, &err) < 0) return fprintf(stderr, "%s\n", err.msg), -1;
    int rc = 0;
    for (int h = 0; h < 2 && rc == 0; h++) {
        rc = lmd_tokenize(lmd_model_tokenizer(m), buf + h * (size_t)c->len, (size_t)c->len, &ids[h],
                          &n[h], &err);
        if (rc < 0) fprintf(stderr, "%s\n", err.msg);
    }
    free(buf);
    return rc;
}

/* One lmdiff run: both halves in one batch, wall seconds (*cpu: process CPU
 * seconds), or -1. */
static double run_lmdiff(const lmd_model *m, int32_t *ids[2], size_t n[2], double *cpu) {
    lmd_score_opts so = LMD_SCORE_OPTS_INIT;
    lmd_scores out[2] = {0};
    lmd_error err;
    double t0 = bl_now(), c0 = bl_cpu_now();
    if (lmd_score_ids(m, (const int32_t *const *)ids, n, 2, &so, out, &err) < 0)
        return fprintf(stderr, "%s\n", err.msg), -1;
    double dt = bl_now() - t0;
    *cpu = bl_cpu_now() - c0;
    lmd_scores_free(&out[0]), lmd_scores_free(&out[1]);
    return dt;
}

/* Scores of one GGUF: lmdiff at each precision and llama.cpp, alternating. */
typedef struct result {
    double lmd[2];      /* best tokens/s, f32 and bf16 (0: not run) */
    double lmd_cpu[2];  /* best tokens per CPU second (all threads) */
    double llama;       /* best tokens/s of llama.cpp (0: not run) */
    double llama_cpu;   /* best tokens per CPU second of its whole process */
    double fpt, fpt_ll; /* FLOPs per token: lmdiff's, llama.cpp's (half the head) */
} result;

static int bench_type(const run_cfg *c, const char *gguf, result *r) {
    static const lmd_precision prec[2] = {LMD_PRECISION_F32, LMD_PRECISION_BF16};
    lmd_model *m[2] = {0};
    lmd_error err;
    int np = lmd_bf16_available(NULL) ? 2 : 1, rc = -1;
    int32_t *ids[2] = {0};
    size_t n[2];
    for (int p = 0; p < np; p++) {
        lmd_model_opts mo = {.precision = prec[p]};
        if (lmd_model_load_opts(gguf, &mo, &m[p], &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            goto done;
        }
    }
    lmd_model_info info;
    lmd_model_get_info(m[0], &info);
    const bl_llama_shape *s = c->s;
    const double attn = 2.0 * 2.0 * s->L * (double)s->H * (s->d / s->H) * ((c->len + 1) / 2.0),
                 head = 2.0 * s->V * (double)s->d;
    r->fpt = info.flops_per_token + attn, r->fpt_ll = r->fpt - head / 2;
    if (text_ids(m[0], c, ids, n) < 0) goto done;
    if (n[0] != (size_t)c->len || n[1] != (size_t)c->len)
        fprintf(stderr, "bench_gguf: note: the halves are %zu and %zu tokens, not %d\n", n[0], n[1],
                c->len);
    double cpu;
    size_t n8[2] = {8, 8}; /* warm-up: pages the weights in, oneDNN primitives */
    for (int p = 0; p < np; p++)
        if (run_lmdiff(m[p], ids, n8, &cpu) < 0) goto done;
    for (int rep = 0; rep < c->reps; rep++) {
        for (int p = 0; p < np; p++) {
            double dt = run_lmdiff(m[p], ids, n, &cpu);
            if (dt < 0) goto done;
            const double tok = (double)(n[0] + n[1]);
            if (tok / dt > r->lmd[p]) r->lmd[p] = tok / dt;
            if (tok / cpu > r->lmd_cpu[p]) r->lmd_cpu[p] = tok / cpu;
        }
        if (c->llama_dir) {
            double tps = run_llama(c, gguf, &cpu);
            if (tps < 0) goto done;
            if (tps > r->llama) r->llama = tps;
            if (2.0 * c->len / cpu > r->llama_cpu) r->llama_cpu = 2.0 * c->len / cpu;
        }
    }
    rc = 0;
done:
    free(ids[0]), free(ids[1]);
    lmd_model_free(m[0]), lmd_model_free(m[1]);
    return rc;
}

static void print_result(const run_cfg *c, const char *type, const result *r, double sg,
                         double bf) {
    static const char *pname[2] = {"f32", "bf16"};
    for (int p = 0; p < 2; p++) {
        if (!r->lmd[p]) continue;
        double g = r->lmd[p] * r->fpt / 1e9;
        printf("%-5s lmdiff %-4s %8.2f tokens/s (%.2f per CPU s) | %6.1f GFLOP/s = %.3f of sgemm",
               type, pname[p], r->lmd[p], r->lmd_cpu[p], g, g / sg);
        if (bf > 0) printf(", %.3f of oneDNN BF16", g / bf);
        if (r->llama)
            printf(" | x%.2f llama.cpp (x%.2f at equal work)", r->lmd[p] / r->llama,
                   r->lmd[p] * r->fpt / (r->llama * r->fpt_ll));
        printf("\n");
    }
    if (r->llama)
        printf("%-5s llama.cpp   %8.2f tokens/s (%.2f per CPU s of the whole process, load "
               "included) | llama-perplexity -t %d, its prompt eval time\n",
               type, r->llama, r->llama_cpu, c->threads);
}

static int usage(void) {
    fprintf(stderr, "usage: bench_gguf [--dir PREFIX] [--shape 1b|small] [--types bf16,q8_0,q4_0] "
                    "[--len LEN] [--reps R] [--llama-cpp DIR]\n");
    return 2;
}

static int parse_args(int argc, char **argv, run_cfg *c) {
    const char *shape = "1b", *tl = "bf16,q8_0,q4_0";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return usage();
        if (!strcmp(a, "--dir"))
            c->prefix = v;
        else if (!strcmp(a, "--shape"))
            shape = v;
        else if (!strcmp(a, "--types"))
            tl = v;
        else if (!strcmp(a, "--len"))
            c->len = atoi(v);
        else if (!strcmp(a, "--reps"))
            c->reps = atoi(v);
        else if (!strcmp(a, "--llama-cpp"))
            c->llama_dir = v;
        else
            return usage();
        i++;
    }
    if (strchr(c->prefix, '\'') || (c->llama_dir && strchr(c->llama_dir, '\''))) {
        fprintf(stderr, "bench_gguf: --dir and --llama-cpp must not hold a ' (a shell quote)\n");
        return 2;
    }
    c->s = bl_llama_shape_named(shape);
    int any = 0;
    for (int t = 0; t < N_TYPES; t++) {
        const char *p = strstr(tl, types[t].name);
        size_t k = strlen(types[t].name);
        c->want[t] = p && (p == tl || p[-1] == ',') && (p[k] == 0 || p[k] == ',');
        any |= c->want[t];
    }
    if (!c->s || c->s->E || c->s->qwen3 || !any || c->len < 16 || c->reps < 1) {
        fprintf(stderr, "bench_gguf: bad --shape (a dense Llama: 1b, small), --types, --len "
                        "(16 or more) or --reps\n");
        return 2;
    }
    return 0;
}

/* The llama.cpp tool must be there before anything is written. */
static int check_llama_dir(const char *dir) {
    char p[4200];
    snprintf(p, sizeof p, "%s/llama-perplexity", dir);
    if (access(p, X_OK) == 0) return 0;
    fprintf(stderr,
            "bench_gguf: %s: %s (--llama-cpp wants a llama.cpp build's bin folder, which holds "
            "llama-perplexity)\n",
            p, strerror(errno));
    return 2;
}

int main(int argc, char **argv) {
    /* OMP_WAIT_POLICY=passive: idle OpenMP threads must not spin while llama.cpp runs */
    if (lmd_runtime_env_tune()) execv("/proc/self/exe", argv);
    run_cfg c = {.prefix = "/tmp/lmdiff-bench-gguf", .len = 512, .reps = 2};
    int rc = parse_args(argc, argv, &c);
    if (rc) return rc;
    if (c.llama_dir && check_llama_dir(c.llama_dir)) return 2;
    c.threads = omp_get_max_threads();
    char hf[2100], gguf[2200];
    snprintf(hf, sizeof hf, "%s-%s-hf", c.prefix, c.s->name);
    snprintf(c.text, sizeof c.text, "%s-%s-text%d.txt", c.prefix, c.s->name, c.len);
    if (bl_make_in_child(hf, make_hf, c.s) < 0 || write_text(c.text, c.len) < 0) {
        fprintf(stderr, "bench_gguf: cannot write %s or %s\n", hf, c.text);
        return 1;
    }
    const char *impl = NULL;
    lmd_bf16_available(&impl);
    printf("bench_gguf: %s shape, a text of 2 x %d tokens scored as its two halves (logits for "
           "every position), %d threads, best of %d; oneDNN BF16: %s\n",
           c.s->name, c.len, c.threads, c.reps, impl ? impl : "none (f32 only)");
    double sg = bl_sgemm_gflops(512, 8192, 2048, 4, NULL);
    double bf = impl ? bl_matmul_gflops(LMD_BF16, 1, 512, 8192, 2048, 4, NULL) : 0;
    result r[N_TYPES] = {0};
    for (int t = 0; t < N_TYPES; t++) {
        if (!c.want[t]) continue;
        snprintf(gguf, sizeof gguf, "%s-%s-%s.gguf", c.prefix, c.s->name, types[t].name);
        if (make_gguf(hf, gguf, types[t].dt) < 0 || bench_type(&c, gguf, &r[t]) < 0) return 1;
    }
    /* the ceilings before and after the runs; the higher one is the ceiling */
    double sg2 = bl_sgemm_gflops(512, 8192, 2048, 4, NULL);
    double bf2 = impl ? bl_matmul_gflops(LMD_BF16, 1, 512, 8192, 2048, 4, NULL) : 0;
    printf("ceilings (512x2048 * 2048x8192, best of 4, before / after): sgemm %.1f / %.1f "
           "GFLOP/s, oneDNN BF16 %.1f / %.1f GFLOP/s\n",
           sg, sg2, bf, bf2);
    for (int t = 0; t < N_TYPES; t++)
        if (c.want[t])
            print_result(&c, types[t].name, &r[t], sg > sg2 ? sg : sg2, bf > bf2 ? bf : bf2);
    if (c.llama_dir)
        printf("equal work: llama-perplexity computes logits for the second half of each chunk "
               "only; the ratio in brackets weighs each side by its own FLOPs per token\n");
    return 0;
}
