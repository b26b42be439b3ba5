/* bench_mlm.c - pseudo-likelihood speed on a BERT-base-shaped masked LM
 * with random weights (generated here, never committed): 12 layers, 768
 * wide, 12 heads, 3072 inner, vocabulary 30522, 512 positions.
 *
 * Prints: the sgemm GFLOP/s of this machine measured in the same run (the
 * ceiling; also per CPU second, see cpu_now), scored tokens/s for texts of 128 tokens (128 masked
 * copies of 130 tokens each, [CLS] and [SEP] included), the FLOPs the engine executes per scored
 * token, the ratio of achieved FLOP/s to the ceiling, and the encoder time of one batch of copies
 * with the last layer at every row (plain forward) against the last layer at the masked rows only.
 *
 * usage: bench_mlm [DIR] [--texts N] [--len L]
 *        (DIR default /tmp/lmdiff-bench-bert-base; N default 1, L 128) */
#include <cblas.h>
#include <math.h>
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
#include "model/model.h"
#include "model/safetensors.h"

/* tokenizer.json: a byte-level BPE vocabulary of V-3 entries (the 256 byte
 * symbols, then fillers), no merges, [CLS] [SEP] [MASK] as added tokens at
 * V-3..V-1 and a BertProcessing post-processor.  Enough for random ids. */
static int write_tokenizer(const char *dir, int V) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f, "{\"version\":\"1.0\",\"added_tokens\":[");
    const char *sp[] = {"[CLS]", "[SEP]", "[MASK]"};
    for (int i = 0; i < 3; i++)
        fprintf(f,
                "%s{\"id\":%d,\"content\":\"%s\",\"single_word\":false,\"lstrip\":false,"
                "\"rstrip\":false,\"normalized\":false,\"special\":true}",
                i ? "," : "", V - 3 + i, sp[i]);
    fprintf(f,
            "],\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"ByteLevel\","
            "\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true},"
            "\"post_processor\":{\"type\":\"BertProcessing\",\"sep\":[\"[SEP]\",%d],"
            "\"cls\":[\"[CLS]\",%d]},\"decoder\":{\"type\":\"ByteLevel\"},"
            "\"model\":{\"type\":\"BPE\",\"vocab\":{",
            V - 2, V - 3);
    bl_write_byte_vocab(f, V - 3);
    fprintf(f, "},\"merges\":[]}}\n");
    fclose(f);
    return 0;
}

static int make_model(const char *dir, int L, int d, int inner, int V, int P) {
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fprintf(f,
            "{\"architectures\":[\"BertForMaskedLM\"],\"model_type\":\"bert\",\"hidden_size\":%d,"
            "\"num_hidden_layers\":%d,\"num_attention_heads\":%d,\"intermediate_size\":%d,"
            "\"max_position_embeddings\":%d,\"vocab_size\":%d,\"type_vocab_size\":2,"
            "\"hidden_act\":\"gelu\",\"layer_norm_eps\":1e-12,"
            "\"position_embedding_type\":\"absolute\"}\n",
            d, L, d / 64, inner, P, V);
    fclose(f);
    if (write_tokenizer(dir, V) < 0) return -1;
    size_t nt = 16 + 16 * (size_t)L, k = 0;
    lmd_st_out *t = calloc(nt, sizeof *t);
    char(*names)[96] = calloc(nt, 96);
    float **bufs = calloc(nt, sizeof *bufs);
#define ADD(nm, nd, s0, s1, scale, base)                                                           \
    do {                                                                                           \
        snprintf(names[k], 96, "%s", nm);                                                          \
        size_t cnt = (size_t)(s0) * (nd == 2 ? (size_t)(s1) : 1);                                  \
        bufs[k] = malloc(cnt * 4);                                                                 \
        for (size_t q = 0; q < cnt; q++)                                                           \
            bufs[k][q] = (base) + (scale)*bl_frand();                                              \
        t[k] = (lmd_st_out){names[k], "F32", nd, {s0, s1}, bufs[k], cnt * 4};                      \
        k++;                                                                                       \
    } while (0)
    ADD("bert.embeddings.word_embeddings.weight", 2, V, d, 0.05f, 0.0f);
    ADD("bert.embeddings.position_embeddings.weight", 2, P, d, 0.02f, 0.0f);
    ADD("bert.embeddings.token_type_embeddings.weight", 2, 2, d, 0.02f, 0.0f);
    ADD("bert.embeddings.LayerNorm.weight", 1, d, 0, 0.1f, 1.0f);
    ADD("bert.embeddings.LayerNorm.bias", 1, d, 0, 0.02f, 0.0f);
    for (int l = 0; l < L; l++) {
        char n[96];
#define LN(suffix, nd, s0, s1, scale, base)                                                        \
    snprintf(n, sizeof n, "bert.encoder.layer.%d.%s", l, suffix);                                  \
    ADD(n, nd, s0, s1, scale, base)
        LN("attention.self.query.weight", 2, d, d, 0.05f, 0.0f);
        LN("attention.self.query.bias", 1, d, 0, 0.02f, 0.0f);
        LN("attention.self.key.weight", 2, d, d, 0.05f, 0.0f);
        LN("attention.self.key.bias", 1, d, 0, 0.02f, 0.0f);
        LN("attention.self.value.weight", 2, d, d, 0.05f, 0.0f);
        LN("attention.self.value.bias", 1, d, 0, 0.02f, 0.0f);
        LN("attention.output.dense.weight", 2, d, d, 0.03f, 0.0f);
        LN("attention.output.dense.bias", 1, d, 0, 0.02f, 0.0f);
        LN("attention.output.LayerNorm.weight", 1, d, 0, 0.1f, 1.0f);
        LN("attention.output.LayerNorm.bias", 1, d, 0, 0.02f, 0.0f);
        LN("intermediate.dense.weight", 2, inner, d, 0.05f, 0.0f);
        LN("intermediate.dense.bias", 1, inner, 0, 0.02f, 0.0f);
        LN("output.dense.weight", 2, d, inner, 0.03f, 0.0f);
        LN("output.dense.bias", 1, d, 0, 0.02f, 0.0f);
        LN("output.LayerNorm.weight", 1, d, 0, 0.1f, 1.0f);
        LN("output.LayerNorm.bias", 1, d, 0, 0.02f, 0.0f);
    }
    ADD("cls.predictions.transform.dense.weight", 2, d, d, 0.05f, 0.0f);
    ADD("cls.predictions.transform.dense.bias", 1, d, 0, 0.02f, 0.0f);
    ADD("cls.predictions.transform.LayerNorm.weight", 1, d, 0, 0.1f, 1.0f);
    ADD("cls.predictions.transform.LayerNorm.bias", 1, d, 0, 0.02f, 0.0f);
    ADD("cls.predictions.bias", 1, V, 0, 0.02f, 0.0f);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    lmd_error err;
    int rc = lmd_st_write(path, t, k, &err);
    if (rc < 0) fprintf(stderr, "%s\n", err.msg);
    for (size_t i = 0; i < k; i++)
        free(bufs[i]);
    free(bufs), free(names), free(t);
    return rc;
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
    if (stat(st, &sb) != 0) {
        printf("generating a random BERT-base-shaped model in %s ...\n", dir);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) _exit(make_model(dir, L, d, inner, V, P) < 0 ? 1 : 0);
        int status = 1;
        waitpid(pid, &status, 0);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || stat(st, &sb) != 0) return 1;
    }
    double ceiling_cpu, ceiling2_cpu;
    double ceiling = bl_sgemm_gflops(2048, 3072, 768, 6, &ceiling_cpu);
    printf("OpenBLAS kernels: %s\n", lmd_blas_corename());
    lmd_error err;
    lmd_model *m;
    double t0 = bl_now();
    if (lmd_model_load(dir, &m, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("load: %.3f s (%.1f MB of weights)\n", bl_now() - t0, (double)sb.st_size / 1e6);

    int32_t **ids = malloc((size_t)n_texts * sizeof *ids);
    size_t *n = malloc((size_t)n_texts * sizeof *n);
    for (int t = 0; t < n_texts; t++) {
        ids[t] = malloc((size_t)len * sizeof **ids);
        n[t] = (size_t)len;
        for (int i = 0; i < len; i++)
            ids[t][i] = (int32_t)((bl_frand() + 1) * 0.5 * (V - 4));
    }
    lmd_scores *out = calloc((size_t)n_texts, sizeof *out);
    lmd_score_opts so = {.top_k = 10};
    /* one timed run (each text is 128 forwards of 130 tokens; the machine is
     * shared, so no repetitions) after a small warm-up that pages in the
     * weights */
    const int32_t *w0 = ids[0];
    size_t wn = 8;
    if (lmd_score_ids(m, &w0, &wn, 1, &so, out, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    lmd_scores_free(&out[0]);
    t0 = bl_now();
    double c0 = bl_cpu_now();
    if (lmd_score_ids(m, (const int32_t *const *)ids, n, (size_t)n_texts, &so, out, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double dt = bl_now() - t0, dc = bl_cpu_now() - c0;
    for (int t = 0; t < n_texts; t++)
        lmd_scores_free(&out[t]);

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
    double t_full = 1e30, t_sel = 1e30, c_full = 1e30, c_sel = 1e30;
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
    double ceiling2 = bl_sgemm_gflops(2048, 3072, 768, 6, &ceiling2_cpu);
    if (rc1 < 0 || rc2 < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("sgemm ceiling (2048x768 * 768x3072, best of 6): %.1f GFLOP/s before, %.1f after\n",
           ceiling, ceiling2);
    if (ceiling2 > ceiling) ceiling = ceiling2;
    if (ceiling2_cpu > ceiling_cpu) ceiling_cpu = ceiling2_cpu;
    printf("  per CPU second: %.1f GFLOP before, %.1f after\n", ceiling_cpu, ceiling2_cpu);
    printf("score: %d texts x %d tokens (%d masked copies of %d tokens each) in %.2f s = %.1f "
           "scored tokens/s\n",
           n_texts, len, len, len + 2, dt, tps);
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
    for (int t = 0; t < n_texts; t++)
        free(ids[t]);
    free(ids), free(n), free(out);
    lmd_model_free(m);
    return 0;
}
