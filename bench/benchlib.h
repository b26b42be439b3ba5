/* benchlib.h - what the benchmarks share: clocks (wall and process CPU),
 * one random generator, random model folders of real shapes (GPT-2, Llama,
 * BERT; weights streamed to disk, F32 or BF16), random texts and a timed
 * scoring run, the matrix-product ceilings of this machine (OpenBLAS sgemm,
 * oneDNN BF16 through lmd_matmul) and peak memory. */
#ifndef LMD_BENCHLIB_H
#define LMD_BENCHLIB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lmdiff.h"

double bl_now(void);     /* wall seconds (monotonic) */
double bl_cpu_now(void); /* CPU seconds of the whole process, all threads */
/* minor page faults of this process so far: each is a fresh page touched
 * (zeroed by the kernel), a count that the machine's load does not move */
long bl_minflt(void);
float bl_frand(void); /* uniform in [-1, 1) */

/* A byte-level BPE vocabulary of V ids (256 byte symbols, fillers,
 * <|endoftext|> last) as vocab.json + an empty merges.txt: enough for random
 * ids and byte-level texts. */
int bl_write_byte_tokenizer(const char *dir, int V);
/* The entries of a byte-level vocabulary (no braces): the 256 byte symbols
 * (GPT-2's printable map), then "fillerI" up to id n-1; returns n. */
int bl_write_byte_vocab(FILE *f, int n);

typedef struct bl_llama_shape {
    const char *name;
    int L, d, H, KV, inter, V, P, tie;
    int qwen3, D, E, k; /* Qwen3 (q/k norms), head size (0: d/H), experts (0: dense), per token */
} bl_llama_shape;
/* "1b" (Llama-3.2-1B), "7b" (Llama-2-7B), "qwen3-0.6b", "moe" (4 layers of
 * Qwen3-30B-A3B), "small", "small-moe"; NULL if unknown */
const bl_llama_shape *bl_llama_shape_named(const char *name);

/* Random model folders (config.json, tokenizer, model.safetensors streamed
 * in chunks); bf16: the F32 values rounded.  Run them in a child process
 * (bl_make_in_child) so the generator's buffers stay out of peak RSS. */
int bl_write_llama(const char *dir, const bl_llama_shape *s, int bf16);
int bl_write_gpt2(const char *dir, int L, int d, int V, int P, int bf16);
/* A BertForMaskedLM (F32): L layers of width d (heads of 64), inner width,
 * vocabulary V whose last three ids are [CLS] [SEP] [MASK] (a byte-level
 * tokenizer.json with BertProcessing), P positions. */
int bl_write_bert(const char *dir, int L, int d, int inner, int V, int P);
/* Runs make(arg) in a child unless dir/model.safetensors exists; 0 when the
 * file is there afterwards. */
int bl_make_in_child(const char *dir, int (*make)(const char *dir, const void *arg),
                     const void *arg);

/* n_texts texts of len ids uniform in [0, hi); *n gets their lengths.
 * Free with bl_free_texts. */
int32_t **bl_random_texts(int n_texts, int len, int hi, size_t **n);
void bl_free_texts(int32_t **ids, size_t *n, int n_texts);
/* The model of dir (opts may be NULL), its load time in *seconds; NULL,
 * with the message on stderr, when it is refused. */
lmd_model *bl_load(const char *dir, const lmd_model_opts *opts, double *seconds);
/* One lmd_score_ids of the texts into out (freed afterwards when free_out):
 * its wall and process CPU seconds; -1, with the message on stderr, when it
 * fails. */
int bl_score_timed(lmd_model *m, int32_t *const *ids, const size_t *n, size_t n_texts,
                   const lmd_score_opts *so, lmd_scores *out, int free_out, double *wall,
                   double *cpu);

/* Matrix-product ceilings: best GFLOP/s of reps products Y[M x N] = X[M x K]
 * W^T with W stored [N x K] (the layout of nn.Linear weights), by wall time;
 * *per_cpu (optional) the best by process CPU time. */
double bl_sgemm_gflops(int M, int N, int K, int reps, double *per_cpu);
/* The sgemm ceiling measured again after the timed work and printed with
 * the one measured before; returns the higher, so that other work on a
 * shared machine slowing one of the two measures does not flatter the
 * ratios.  per_cpu (optional): in, the per-CPU-second ceiling before; out,
 * the higher of the two (printed too). */
double bl_sgemm_again(double before, int M, int N, int K, int reps, double *per_cpu);
/* The same through lmd_matmul with weights stored as dt (LMD_F16,
 * LMD_BF16, LMD_F32) and BF16 products (oneDNN) when bf16 (dt must then be
 * LMD_BF16); 0 when oneDNN has no BF16 product here. */
double bl_matmul_gflops(int dt, int bf16, int M, int N, int K, int reps, double *per_cpu);

/* Peak resident memory (VmHWM) and current file-backed / anonymous
 * resident memory, in GB. */
void bl_memory(double *peak, double *file, double *anon);

#endif
