/* benchlib.c - see benchlib.h. */
#include "benchlib.h"

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
#include "model/matmul.h"
#include "model/model.h"

double bl_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

double bl_cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

long bl_minflt(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
float bl_frand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

int bl_write_byte_vocab(FILE *f, int n) {
    int id = 0, extra = 0;
    for (int b = 0; b < 256; b++, id++) { /* GPT-2's byte -> printable code point map */
        int cp = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174) ? b : 256 + extra++;
        char u[8];
        int k = 0;
        if (cp < 0x80)
            u[k++] = (char)cp;
        else
            u[k++] = (char)(0xC0 | (cp >> 6)), u[k++] = (char)(0x80 | (cp & 0x3F));
        u[k] = 0;
        fprintf(f, "%s\"%s%s\":%d", id ? "," : "", cp == '"' || cp == '\\' ? "\\" : "", u, id);
    }
    for (; id < n; id++)
        fprintf(f, ",\"filler%d\":%d", id, id);
    return id;
}

int bl_write_byte_tokenizer(const char *dir, int V) {
    char path[4096];
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputc('{', f);
    int id = bl_write_byte_vocab(f, V - 1);
    fprintf(f, ",\"<|endoftext|>\":%d}", id);
    fclose(f);
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    f = fopen(path, "w");
    if (!f) return -1;
    fputs("#version: 0.2\n", f);
    return fclose(f);
}

static const bl_llama_shape SHAPES[] = {
    {"1b", 16, 2048, 32, 8, 8192, 128256, 131072, 1, 0, 0, 0, 0},
    {"7b", 32, 4096, 32, 32, 11008, 32000, 4096, 0, 0, 0, 0, 0},
    {"qwen3-0.6b", 28, 1024, 16, 8, 3072, 151936, 40960, 1, 1, 128, 0, 0},
    {"moe", 4, 2048, 32, 4, 768, 151936, 40960, 0, 1, 128, 128, 8},
    {"small", 2, 256, 8, 2, 512, 1000, 512, 1, 0, 0, 0, 0}, /* smoke tests */
    {"small-moe", 2, 256, 8, 2, 128, 1000, 512, 1, 1, 64, 8, 2},
};

const bl_llama_shape *bl_llama_shape_named(const char *name) {
    for (size_t i = 0; i < sizeof SHAPES / sizeof *SHAPES; i++)
        if (!strcmp(SHAPES[i].name, name)) return &SHAPES[i];
    return NULL;
}

/* one tensor to generate: values base + scale * uniform[-1, 1) */
typedef struct tdesc {
    char name[160];
    int ndim;
    long s0, s1;
    float scale, base;
} tdesc;

/* Streams a safetensors file: the header, then every tensor in chunks. */
static int write_tensors(const char *dir, const tdesc *t, size_t k, int bf16) {
    const size_t es = bf16 ? 2 : 4;
    lmd_buf h = {0};
    lmd_buf_printf(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    size_t off = 0;
    for (size_t i = 0; i < k; i++) {
        size_t nb = (size_t)t[i].s0 * (size_t)(t[i].ndim == 2 ? t[i].s1 : 1) * es;
        lmd_buf_printf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[%ld", t[i].name,
                       bf16 ? "BF16" : "F32", t[i].s0);
        if (t[i].ndim == 2) lmd_buf_printf(&h, ",%ld", t[i].s1);
        lmd_buf_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + nb);
        off += nb;
    }
    lmd_buf_printf(&h, "}");
    while (h.len % 8)
        lmd_buf_printf(&h, " ");
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    uint64_t hl = h.len;
    fwrite(&hl, 8, 1, f);
    fwrite(h.data, 1, h.len, f);
    lmd_buf_free(&h);
    const size_t CH = 1 << 20;
    float *buf = malloc(CH * 4);
    uint16_t *b16 = malloc(CH * 2);
    for (size_t i = 0; i < k; i++) {
        size_t n = (size_t)t[i].s0 * (size_t)(t[i].ndim == 2 ? t[i].s1 : 1);
        for (size_t a = 0; a < n; a += CH) {
            size_t c = n - a < CH ? n - a : CH;
            for (size_t q = 0; q < c; q++)
                buf[q] = t[i].base + t[i].scale * bl_frand();
            if (bf16) {
                lmd_f32_to_bf16(buf, b16, c);
                fwrite(b16, 2, c, f);
            } else {
                fwrite(buf, 4, c, f);
            }
        }
    }
    free(buf), free(b16);
    return fclose(f) == 0 ? 0 : -1;
}

static void add(tdesc *t, size_t *k, const char *prefix, const char *name, int nd, long s0, long s1,
                float scale, float base) {
    snprintf(t[*k].name, sizeof t[*k].name, "%s%s", prefix, name);
    t[*k].ndim = nd, t[*k].s0 = s0, t[*k].s1 = s1, t[*k].scale = scale, t[*k].base = base;
    (*k)++;
}

/* dir (made if missing) /config.json, open for writing; NULL on failure. */
static FILE *open_config(const char *dir) {
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    return fopen(path, "w");
}

/* The config.json of a Llama, Qwen3 or Qwen3-MoE shape. */
static int write_llama_config(const char *dir, const bl_llama_shape *s, int bf16) {
    FILE *f = open_config(dir);
    if (!f) return -1;
    const char *arch = s->E       ? "Qwen3MoeForCausalLM"
                       : s->qwen3 ? "Qwen3ForCausalLM"
                                  : "LlamaForCausalLM";
    const char *type = s->E ? "qwen3_moe" : s->qwen3 ? "qwen3" : "llama";
    fprintf(f,
            "{\"architectures\":[\"%s\"],\"model_type\":\"%s\",\"head_dim\":%d,"
            "\"num_experts\":%d,\"num_experts_per_tok\":%d,\"moe_intermediate_size\":%d,"
            "\"norm_topk_prob\":true,\"hidden_size\":%d,\"num_hidden_layers\":%d,"
            "\"num_attention_heads\":%d,\"num_key_value_heads\":%d,\"intermediate_size\":%d,"
            "\"vocab_size\":%d,\"max_position_embeddings\":%d,\"rms_norm_eps\":1e-5,"
            "\"rope_theta\":500000.0,\"hidden_act\":\"silu\",\"tie_word_embeddings\":%s,"
            "\"bos_token_id\":%d,\"eos_token_id\":%d,\"torch_dtype\":\"%s\"}\n",
            arch, type, s->D ? s->D : s->d / s->H, s->E, s->k, s->inter, s->d, s->L, s->H, s->KV,
            s->inter, s->V, s->P, s->tie ? "true" : "false", s->V - 1, s->V - 1,
            bf16 ? "bfloat16" : "float32");
    return fclose(f);
}

/* One layer's MLP: dense, or the router and E experts. */
static void add_mlp(tdesc *t, size_t *k, const char *p, const bl_llama_shape *s, float ws,
                    float wi) {
    if (!s->E) {
        add(t, k, p, "mlp.gate_proj.weight", 2, s->inter, s->d, ws, 0);
        add(t, k, p, "mlp.up_proj.weight", 2, s->inter, s->d, ws, 0);
        add(t, k, p, "mlp.down_proj.weight", 2, s->d, s->inter, wi, 0);
        return;
    }
    add(t, k, p, "mlp.gate.weight", 2, s->E, s->d, ws, 0);
    for (int e = 0; e < s->E; e++) {
        char x[64];
        snprintf(x, sizeof x, "mlp.experts.%d.gate_proj.weight", e);
        add(t, k, p, x, 2, s->inter, s->d, ws, 0);
        snprintf(x, sizeof x, "mlp.experts.%d.up_proj.weight", e);
        add(t, k, p, x, 2, s->inter, s->d, ws, 0);
        snprintf(x, sizeof x, "mlp.experts.%d.down_proj.weight", e);
        add(t, k, p, x, 2, s->d, s->inter, wi, 0);
    }
}

int bl_write_llama(const char *dir, const bl_llama_shape *s, int bf16) {
    if (write_llama_config(dir, s, bf16) < 0 || bl_write_byte_tokenizer(dir, s->V) < 0) return -1;
    const long D = s->D ? s->D : s->d / s->H;
    size_t k = 0;
    tdesc *t = calloc(3 + (11 + 3 * (size_t)s->E) * (size_t)s->L, sizeof *t);
    if (!t) return -1;
    float ws = 1.7f / sqrtf((float)s->d), wi = 1.7f / sqrtf((float)s->inter);
    add(t, &k, "", "model.embed_tokens.weight", 2, s->V, s->d, 0.05f, 0);
    for (int l = 0; l < s->L; l++) {
        char p[64];
        snprintf(p, sizeof p, "model.layers.%d.", l);
        add(t, &k, p, "input_layernorm.weight", 1, s->d, 1, 0.1f, 1.0f);
        add(t, &k, p, "self_attn.q_proj.weight", 2, s->H * D, s->d, ws, 0);
        add(t, &k, p, "self_attn.k_proj.weight", 2, s->KV * D, s->d, ws, 0);
        add(t, &k, p, "self_attn.v_proj.weight", 2, s->KV * D, s->d, ws, 0);
        add(t, &k, p, "self_attn.o_proj.weight", 2, s->d, s->H * D, ws, 0);
        add(t, &k, p, "post_attention_layernorm.weight", 1, s->d, 1, 0.1f, 1.0f);
        if (s->qwen3) {
            add(t, &k, p, "self_attn.q_norm.weight", 1, D, 1, 0.1f, 1.0f);
            add(t, &k, p, "self_attn.k_norm.weight", 1, D, 1, 0.1f, 1.0f);
        }
        add_mlp(t, &k, p, s, ws, wi);
    }
    add(t, &k, "", "model.norm.weight", 1, s->d, 1, 0.1f, 1.0f);
    if (!s->tie) add(t, &k, "", "lm_head.weight", 2, s->V, s->d, ws, 0);
    int rc = write_tensors(dir, t, k, bf16);
    free(t);
    return rc;
}

int bl_write_gpt2(const char *dir, int L, int d, int V, int P, int bf16) {
    FILE *f = open_config(dir);
    if (!f) return -1;
    fprintf(f,
            "{\"architectures\":[\"GPT2LMHeadModel\"],\"model_type\":\"gpt2\",\"n_embd\":%d,"
            "\"n_layer\":%d,\"n_head\":%d,\"n_positions\":%d,\"vocab_size\":%d,"
            "\"bos_token_id\":%d,\"eos_token_id\":%d,\"activation_function\":\"gelu_new\"}\n",
            d, L, d / 64, P, V, V - 1, V - 1);
    fclose(f);
    if (bl_write_byte_tokenizer(dir, V) < 0) return -1;
    size_t k = 0;
    tdesc *t = calloc(4 + 12 * (size_t)L, sizeof *t);
    add(t, &k, "transformer.", "wte.weight", 2, V, d, 0.05f, 0);
    add(t, &k, "transformer.", "wpe.weight", 2, P, d, 0.02f, 0);
    add(t, &k, "transformer.", "ln_f.weight", 1, d, 0, 0.1f, 1.0f);
    add(t, &k, "transformer.", "ln_f.bias", 1, d, 0, 0.02f, 0);
    for (int l = 0; l < L; l++) {
        char p[64];
        snprintf(p, sizeof p, "transformer.h.%d.", l);
        add(t, &k, p, "ln_1.weight", 1, d, 0, 0.1f, 1.0f);
        add(t, &k, p, "ln_1.bias", 1, d, 0, 0.02f, 0);
        add(t, &k, p, "attn.c_attn.weight", 2, d, 3L * d, 0.05f, 0);
        add(t, &k, p, "attn.c_attn.bias", 1, 3L * d, 0, 0.02f, 0);
        add(t, &k, p, "attn.c_proj.weight", 2, d, d, 0.03f, 0);
        add(t, &k, p, "attn.c_proj.bias", 1, d, 0, 0.02f, 0);
        add(t, &k, p, "ln_2.weight", 1, d, 0, 0.1f, 1.0f);
        add(t, &k, p, "ln_2.bias", 1, d, 0, 0.02f, 0);
        add(t, &k, p, "mlp.c_fc.weight", 2, d, 4L * d, 0.05f, 0);
        add(t, &k, p, "mlp.c_fc.bias", 1, 4L * d, 0, 0.02f, 0);
        add(t, &k, p, "mlp.c_proj.weight", 2, 4L * d, d, 0.03f, 0);
        add(t, &k, p, "mlp.c_proj.bias", 1, d, 0, 0.02f, 0);
    }
    int rc = write_tensors(dir, t, k, bf16);
    free(t);
    return rc;
}

/* tokenizer.json: a byte-level BPE vocabulary of V-3 entries (the 256 byte
 * symbols, then fillers), no merges, [CLS] [SEP] [MASK] as added tokens at
 * V-3..V-1 and a BertProcessing post-processor.  Enough for random ids. */
static int write_bert_tokenizer(const char *dir, int V) {
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
    return fclose(f);
}

/* One BERT layer's tensors (prefix p). */
static void add_bert_layer(tdesc *t, size_t *k, const char *p, int d, int inner) {
    static const char *const qkv[] = {"query", "key", "value"};
    char x[96];
    for (int i = 0; i < 3; i++) {
        snprintf(x, sizeof x, "attention.self.%s.weight", qkv[i]);
        add(t, k, p, x, 2, d, d, 0.05f, 0);
        snprintf(x, sizeof x, "attention.self.%s.bias", qkv[i]);
        add(t, k, p, x, 1, d, 0, 0.02f, 0);
    }
    add(t, k, p, "attention.output.dense.weight", 2, d, d, 0.03f, 0);
    add(t, k, p, "attention.output.dense.bias", 1, d, 0, 0.02f, 0);
    add(t, k, p, "attention.output.LayerNorm.weight", 1, d, 0, 0.1f, 1.0f);
    add(t, k, p, "attention.output.LayerNorm.bias", 1, d, 0, 0.02f, 0);
    add(t, k, p, "intermediate.dense.weight", 2, inner, d, 0.05f, 0);
    add(t, k, p, "intermediate.dense.bias", 1, inner, 0, 0.02f, 0);
    add(t, k, p, "output.dense.weight", 2, d, inner, 0.03f, 0);
    add(t, k, p, "output.dense.bias", 1, d, 0, 0.02f, 0);
    add(t, k, p, "output.LayerNorm.weight", 1, d, 0, 0.1f, 1.0f);
    add(t, k, p, "output.LayerNorm.bias", 1, d, 0, 0.02f, 0);
}

int bl_write_bert(const char *dir, int L, int d, int inner, int V, int P) {
    FILE *f = open_config(dir);
    if (!f) return -1;
    fprintf(f,
            "{\"architectures\":[\"BertForMaskedLM\"],\"model_type\":\"bert\",\"hidden_size\":%d,"
            "\"num_hidden_layers\":%d,\"num_attention_heads\":%d,\"intermediate_size\":%d,"
            "\"max_position_embeddings\":%d,\"vocab_size\":%d,\"type_vocab_size\":2,"
            "\"hidden_act\":\"gelu\",\"layer_norm_eps\":1e-12,"
            "\"position_embedding_type\":\"absolute\"}\n",
            d, L, d / 64, inner, P, V);
    if (fclose(f) != 0 || write_bert_tokenizer(dir, V) < 0) return -1;
    size_t k = 0;
    tdesc *t = calloc(10 + 16 * (size_t)L, sizeof *t);
    if (!t) return -1;
    add(t, &k, "bert.embeddings.", "word_embeddings.weight", 2, V, d, 0.05f, 0);
    add(t, &k, "bert.embeddings.", "position_embeddings.weight", 2, P, d, 0.02f, 0);
    add(t, &k, "bert.embeddings.", "token_type_embeddings.weight", 2, 2, d, 0.02f, 0);
    add(t, &k, "bert.embeddings.", "LayerNorm.weight", 1, d, 0, 0.1f, 1.0f);
    add(t, &k, "bert.embeddings.", "LayerNorm.bias", 1, d, 0, 0.02f, 0);
    for (int l = 0; l < L; l++) {
        char p[64];
        snprintf(p, sizeof p, "bert.encoder.layer.%d.", l);
        add_bert_layer(t, &k, p, d, inner);
    }
    add(t, &k, "cls.predictions.", "transform.dense.weight", 2, d, d, 0.05f, 0);
    add(t, &k, "cls.predictions.", "transform.dense.bias", 1, d, 0, 0.02f, 0);
    add(t, &k, "cls.predictions.", "transform.LayerNorm.weight", 1, d, 0, 0.1f, 1.0f);
    add(t, &k, "cls.predictions.", "transform.LayerNorm.bias", 1, d, 0, 0.02f, 0);
    add(t, &k, "cls.predictions.", "bias", 1, V, 0, 0.02f, 0);
    int rc = write_tensors(dir, t, k, 0);
    free(t);
    return rc;
}

int bl_make_in_child(const char *dir, int (*make)(const char *dir, const void *arg),
                     const void *arg) {
    char st[4200];
    struct stat sb;
    snprintf(st, sizeof st, "%s/model.safetensors", dir);
    if (stat(st, &sb) == 0) return 0;
    printf("writing a random model to %s ...\n", dir);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) _exit(make(dir, arg) < 0 ? 1 : 0);
    int status = 1;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 && stat(st, &sb) == 0 ? 0 : -1;
}

int32_t **bl_random_texts(int n_texts, int len, int hi, size_t **n) {
    int32_t **ids = malloc((size_t)n_texts * sizeof *ids);
    *n = malloc((size_t)n_texts * sizeof **n);
    for (int t = 0; t < n_texts; t++) {
        ids[t] = malloc((size_t)len * sizeof **ids);
        (*n)[t] = (size_t)len;
        for (int i = 0; i < len; i++)
            ids[t][i] = (int32_t)((bl_frand() + 1) * 0.5 * hi);
    }
    return ids;
}

void bl_free_texts(int32_t **ids, size_t *n, int n_texts) {
    for (int t = 0; t < n_texts; t++)
        free(ids[t]);
    free(ids), free(n);
}

lmd_model *bl_load(const char *dir, const lmd_model_opts *opts, double *seconds) {
    lmd_error err;
    lmd_model *m;
    double t0 = bl_now();
    int rc = opts ? lmd_model_load_opts(dir, opts, &m, &err) : lmd_model_load(dir, &m, &err);
    *seconds = bl_now() - t0;
    if (rc < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return NULL;
    }
    return m;
}

int bl_score_timed(lmd_model *m, int32_t *const *ids, const size_t *n, size_t n_texts,
                   const lmd_score_opts *so, lmd_scores *out, int free_out, double *wall,
                   double *cpu) {
    lmd_error err;
    double t0 = bl_now(), c0 = bl_cpu_now();
    if (lmd_score_ids(m, (const int32_t *const *)ids, n, n_texts, so, out, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *wall = bl_now() - t0, *cpu = bl_cpu_now() - c0;
    for (size_t t = 0; free_out && t < n_texts; t++)
        lmd_scores_free(&out[t]);
    return 0;
}

double bl_sgemm_gflops(int M, int N, int K, int reps, double *per_cpu) {
    float *A = malloc((size_t)M * K * 4), *B = malloc((size_t)K * N * 4),
          *C = malloc((size_t)M * N * 4);
    for (size_t i = 0; i < (size_t)M * K; i++)
        A[i] = bl_frand();
    for (size_t i = 0; i < (size_t)K * N; i++)
        B[i] = bl_frand();
    double best = 0, best_cpu = 0;
    for (int r = 0; r < reps; r++) {
        double t0 = bl_now(), c0 = bl_cpu_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1, A, K, B, K, 0, C, N);
        double g = 2.0 * M * N * K / (bl_now() - t0) / 1e9,
               gc = 2.0 * M * N * K / (bl_cpu_now() - c0) / 1e9;
        if (g > best) best = g;
        if (gc > best_cpu) best_cpu = gc;
    }
    if (per_cpu) *per_cpu = best_cpu;
    free(A), free(B), free(C);
    return best;
}

double bl_sgemm_again(double before, int M, int N, int K, int reps, double *per_cpu) {
    double cpu = 0, after = bl_sgemm_gflops(M, N, K, reps, &cpu);
    printf("sgemm ceiling (%dx%d * %dx%d, best of %d): %.1f GFLOP/s before, %.1f after\n", M, K, K,
           N, reps, before, after);
    if (per_cpu) {
        printf("  per CPU second: %.1f GFLOP before, %.1f after\n", *per_cpu, cpu);
        if (cpu > *per_cpu) *per_cpu = cpu;
    }
    return after > before ? after : before;
}

double bl_matmul_gflops(int dt, int bf16, int M, int N, int K, int reps, double *per_cpu) {
    if (per_cpu) *per_cpu = 0;
    if (bf16 && !lmd_bf16_available(NULL)) return 0;
    float *X = malloc((size_t)M * K * 4), *Y = malloc((size_t)M * N * 4),
          *w = malloc((size_t)N * K * 4);
    uint16_t *W = malloc((size_t)N * K * 2);
    for (size_t i = 0; i < (size_t)M * K; i++)
        X[i] = bl_frand();
    for (size_t i = 0; i < (size_t)N * K; i++)
        w[i] = bl_frand() * 0.5f;
    if (dt == LMD_F16)
        for (size_t i = 0; i < (size_t)N * K; i++) { /* |w| < 1: F16 normal range */
            _Float16 h = (_Float16)w[i];
            memcpy(&W[i], &h, 2);
        }
    else
        lmd_f32_to_bf16(w, W, (size_t)N * K);
    lmd_mat m = {.data = dt == LMD_F32 ? (const void *)w : (const void *)W,
                 .dtype = (lmd_dtype)dt,
                 .n_out = N,
                 .n_in = K,
                 .bf16_products = bf16};
    double best = 0, best_cpu = 0;
    lmd_matmul(X, (size_t)M, &m, Y, (size_t)N, 0); /* creates the primitive */
    for (int r = 0; r < reps; r++) {
        double t0 = bl_now(), c0 = bl_cpu_now();
        lmd_matmul(X, (size_t)M, &m, Y, (size_t)N, 0);
        double g = 2.0 * M * N * K / (bl_now() - t0) / 1e9,
               gc = 2.0 * M * N * K / (bl_cpu_now() - c0) / 1e9;
        if (g > best) best = g;
        if (gc > best_cpu) best_cpu = gc;
    }
    if (per_cpu) *per_cpu = best_cpu;
    free(X), free(Y), free(w), free(W);
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

void bl_memory(double *peak, double *file, double *anon) {
    *peak = status_kb("VmHWM") / 1048576.0;
    *file = status_kb("RssFile") / 1048576.0;
    *anon = status_kb("RssAnon") / 1048576.0;
}
