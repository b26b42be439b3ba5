/* benchlib.h - what the benchmarks share: clocks (wall and process CPU),
 * one random generator, random model folders of real shapes (GPT-2, Llama;
 * weights streamed to disk, F32 or BF16), the matrix-product ceilings of
 * this machine (OpenBLAS sgemm, oneDNN BF16 through lmd_matmul) and peak
 * memory. */
#ifndef LMD_BENCHLIB_H
#define LMD_BENCHLIB_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

double bl_now(void);     /* wall seconds (monotonic) */
double bl_cpu_now(void); /* CPU seconds of the whole process, all threads */
float bl_frand(void);    /* uniform in [-1, 1) */

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
/* Runs make(arg) in a child unless dir/model.safetensors exists; 0 when the
 * file is there afterwards. */
int bl_make_in_child(const char *dir, int (*make)(const char *dir, const void *arg),
                     const void *arg);

/* Matrix-product ceilings: best GFLOP/s of reps products Y[M x N] = X[M x K]
 * W^T with W stored [N x K] (the layout of nn.Linear weights), by wall time;
 * *per_cpu (optional) the best by process CPU time. */
double bl_sgemm_gflops(int M, int N, int K, int reps, double *per_cpu);
/* The same through lmd_matmul with weights stored as dt (LMD_F16,
 * LMD_BF16, LMD_F32) and BF16 products (oneDNN) when bf16 (dt must then be
 * LMD_BF16); 0 when oneDNN has no BF16 product here. */
double bl_matmul_gflops(int dt, int bf16, int M, int N, int K, int reps, double *per_cpu);

/* Peak resident memory (VmHWM) and current file-backed / anonymous
 * resident memory, in GB. */
void bl_memory(double *peak, double *file, double *anon);

#endif
