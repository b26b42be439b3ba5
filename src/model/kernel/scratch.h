/* scratch.h - working memory a thread keeps from one forward to the next.
 *
 * Each slot is one buffer per thread that grows to the largest size asked
 * for and is then kept, so that a batch's activations, the products' BF16
 * inputs, oneDNN's scratchpad and the scorers' blocks of logits land on
 * pages already touched by the previous batch: fresh memory costs a page
 * fault and the kernel's zeroing per page (~6 ms per MB on this project's
 * VM; docs/performance.md).  The contents are not kept across calls.  A
 * slot is used by one function at a time on a thread (hence one slot per
 * user: a forward's buffers are in use while its products run).  What a
 * thread holds is bounded by its largest batch; lmd_scratch_release frees
 * it (lmd_model_free does, for its thread), and a thread's exit does. */
#ifndef LMD_SCRATCH_H
#define LMD_SCRATCH_H

#include <stddef.h>

typedef enum lmd_scratch_slot {
    LMD_SCR_FORWARD, /* an architecture's forward: its activations */
    LMD_SCR_BF16_IN, /* a product's activations rounded to BF16 */
    LMD_SCR_DENSE,   /* a product's dense output before its strided copy */
    LMD_SCR_WEIGHTS, /* weights widened or rounded, tile by tile */
    LMD_SCR_DNNL,    /* oneDNN's scratchpad */
    LMD_SCR_ATTN,    /* attention: the query blocks' scores, per OpenMP thread */
    LMD_SCR_SCORE,   /* the scorer: hidden rows, per-thread row scratch */
    LMD_SCR_LOGITS,  /* the scorer: the block of logits (2 MB pages) */
    LMD_SCR_ROWS,    /* the CPU backend's score_rows: row scratch, top-k */
    LMD_SCR_N
} lmd_scratch_slot;

/* The calling thread's buffer of `slot`, at least `bytes` long and 64-byte
 * aligned, or NULL when out of memory (the slot then holds nothing). */
void *lmd_scratch(lmd_scratch_slot slot, size_t bytes);

/* n buffers of sizes[i] bytes, each 64-byte aligned, cut from one slot into
 * out[i]; -1 when out of memory. */
int lmd_scratch_parts(lmd_scratch_slot slot, int n, const size_t *sizes, void **out);

/* Bytes the calling thread holds in `slot`. */
size_t lmd_scratch_size(lmd_scratch_slot slot);

/* Bytes the calling thread holds in all its slots. */
size_t lmd_scratch_held(void);

/* Frees the calling thread's slots. */
void lmd_scratch_release(void);

#endif
