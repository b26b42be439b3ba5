/* slurm.h - what `lmdiff slurm` (cmd_slurm.c) shares with the writer of its
 * sbatch scripts (slurm_scripts.c).  Layout of an output folder D:
 *   D/shards/NAME.shard-K-of-N.h5     the shard caches (analyze --shard)
 *   D/slurm/analyze-1.sbatch, -2       one job array per model
 *   D/slurm/merge.sbatch               cache merge x2, then preprocess
 *   D/slurm/logs/, D/slurm/exit/       per-task logs and exit codes
 *   D/slurm/plan.json, jobs.tsv        what was asked, what was submitted
 *   D/<caches>, comparisons, metadata.json   as `lmdiff preprocess` makes
 * docs/cluster.md describes it for users. */
#ifndef LMD_CLI_SLURM_H
#define LMD_CLI_SLURM_H

#include <stdint.h>
#include <stdio.h>

typedef struct slurm_plan {
    char *lmdiff;                 /* this binary, absolute */
    char *model_dir[2], *name[2]; /* absolute folders; names in the caches */
    char *dataset, *out_dir;      /* absolute */
    char *cache[2];               /* merged caches' file names (in out_dir) */
    char tag[9];                  /* job names: lmdiff-<what>-<tag>, from out_dir */
    char dataset_checksum[65];
    uint32_t shards;
    /* sbatch settings (NULL / 0: not given) */
    char *partition, *time, *mem, *account; /* owned, like every string here */
    int cpus, max_running;
    int gpus; /* > 0: each analyze task gets one GPU (--device cuda), gpus tasks at once */
    /* model options, as `lmdiff preprocess` takes them (NULL / 0: not given) */
    char *precision; /* --precision, to every job */
    char *device;    /* --device of the analyze tasks ("cuda" with --gpus) */
    int pack_weights;
    /* analyze / preprocess settings */
    int top_k, max_clamp, batch_tokens, no_verify;
    uint64_t first_n;
} slurm_plan;

/* D/slurm/<name> (malloc'ed). */
char *slurm_path(const slurm_plan *p, const char *name);
/* D/shards/<cache i>.shard-K-of-N.h5 (malloc'ed). */
char *slurm_shard_path(const slurm_plan *p, int model, uint32_t k);
/* D/slurm/exit/<what>.rc for "analyze-1-K" etc. (malloc'ed). */
char *slurm_exit_path(const slurm_plan *p, const char *what);
/* "lmdiff-a1-<tag>", "lmdiff-a2-<tag>", "lmdiff-mc-<tag>" for what 0, 1, 2. */
void slurm_job_name(const slurm_plan *p, int what, char buf[32]);

/* Writes the three scripts into D/slurm (atomically); 0 or -1 after
 * printing the error. */
int slurm_write_scripts(const slurm_plan *p);
/* Writes D/slurm/plan.json; reads it back for `status`. */
int slurm_write_plan(const slurm_plan *p);
/* 0 when D has no plan.json or one of the same inputs (models, names,
 * dataset and its checksum, shards, top-k, first-n, batch tokens); else -1
 * after printing which input differs. */
int slurm_plan_check(const slurm_plan *p);
int slurm_read_plan(const char *out_dir, slurm_plan *p);
void slurm_plan_free(slurm_plan *p);

#endif
