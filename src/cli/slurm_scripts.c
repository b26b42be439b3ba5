/* slurm_scripts.c - the sbatch scripts of `lmdiff slurm preprocess` and its
 * plan.json (layout in slurm.h).  The scripts are meant to be read: a
 * header says what they do, every setting is an #SBATCH line, and the one
 * lmdiff command they run is spelled out with absolute paths (the nodes
 * share the filesystem). */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/corpus.h"
#include "cli.h"
#include "slurm.h"

char *slurm_path(const slurm_plan *p, const char *name) {
    char *d = lmd_path_join(p->out_dir, "slurm");
    char *r = d ? lmd_path_join(d, name) : NULL;
    free(d);
    return r;
}

char *slurm_shard_path(const slurm_plan *p, int model, uint32_t k) {
    char *d = lmd_path_join(p->out_dir, "shards");
    char *n = lmd_shard_file_name(p->cache[model], k, p->shards);
    char *r = d && n ? lmd_path_join(d, n) : NULL;
    free(d);
    free(n);
    return r;
}

char *slurm_exit_path(const slurm_plan *p, const char *what) {
    char name[128];
    snprintf(name, sizeof name, "exit/%s.rc", what);
    return slurm_path(p, name);
}

void slurm_job_name(const slurm_plan *p, int what, char buf[32]) {
    static const char *const w[] = {"a1", "a2", "mc"};
    snprintf(buf, 32, "lmdiff-%s-%s", w[what], p->tag);
}

/* s in single quotes for bash ('\'' for a quote). */
static void put_quoted(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++)
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    fputc('\'', f);
}

static void sbatch_common(FILE *f, const slurm_plan *p) {
    if (p->partition) fprintf(f, "#SBATCH --partition=%s\n", p->partition);
    if (p->account) fprintf(f, "#SBATCH --account=%s\n", p->account);
    if (p->time) fprintf(f, "#SBATCH --time=%s\n", p->time);
    if (p->mem) fprintf(f, "#SBATCH --mem=%s\n", p->mem);
    fprintf(f, "#SBATCH --cpus-per-task=%d\n", p->cpus);
    fprintf(f, "#SBATCH --open-mode=append\n");
}

/* Ends a script: its exit code goes to D/slurm/exit/<what>.rc, atomically,
 * for `lmdiff slurm status`. */
static void put_exit(FILE *f, const slurm_plan *p, const char *what_expr) {
    char *ed = slurm_path(p, "exit");
    fputs("rc=$?\nrcfile=", f);
    put_quoted(f, ed ? ed : "exit");
    fprintf(f, "/%s.rc\n", what_expr);
    fputs("echo \"$rc\" > \"$rcfile.tmp.$$\" && mv -f \"$rcfile.tmp.$$\" \"$rcfile\"\n", f);
    fputs("echo \"== exit $rc at $(date -u +%FT%TZ)\"\nexit \"$rc\"\n", f);
    free(ed);
}

/* The model options of a job's lmdiff command (values checked: plain
 * words); the device only for analyze (the merge job has no GPU: its
 * preprocess reuses the caches and runs the KL pass on the CPU). */
static void put_model_opts(FILE *f, const slurm_plan *p, int with_device) {
    if (p->precision) fprintf(f, " --precision %s", p->precision);
    if (with_device && p->device) fprintf(f, " --device %s", p->device); /* the task's GPU */
    if (p->pack_weights) fputs(" --pack-weights", f);
}

static int write_analyze(const slurm_plan *p, int i) {
    char name[32], file[32], what[32];
    slurm_job_name(p, i, name);
    snprintf(file, sizeof file, "analyze-%d.sbatch", i + 1);
    snprintf(what, sizeof what, "analyze-%d-$K", i + 1);
    char *path = slurm_path(p, file), *logs = slurm_path(p, "logs"),
         *shards = lmd_path_join(p->out_dir, "shards/");
    lmd_atomic a;
    lmd_error err;
    int rc = -1;
    if (!path || !logs || !shards || lmd_atomic_open(&a, path, &err) < 0) goto done;
    FILE *f = a.f;
    fprintf(f,
            "#!/bin/bash\n"
            "# lmdiff %s: the analysis cache of model %d (%s) on %s, in %" PRIu32 " shards:\n"
            "# array task K runs 'lmdiff analyze --shard K/%" PRIu32 "' into %s.\n"
            "# Made by 'lmdiff slurm preprocess'; rerunning that command submits the shards\n"
            "# that are missing.  A requeued or resubmitted task resumes its partial file.\n"
            "# The nodes must share this filesystem (docs/cluster.md).\n",
            LMD_VERSION, i + 1, p->name[i], p->dataset, p->shards, p->shards, shards);
    fprintf(f, "#SBATCH --job-name=%s\n", name);
    fprintf(f, "#SBATCH --array=1-%" PRIu32, p->shards);
    int at_once = p->max_running; /* with GPUs: one per task, at most gpus tasks at once */
    if (p->gpus && (!at_once || p->gpus < at_once)) at_once = p->gpus;
    if (at_once) fprintf(f, "%%%d", at_once);
    fprintf(f, "\n#SBATCH --requeue\n#SBATCH --output=\"%s/analyze-%d-shard-%%a.log\"\n", logs,
            i + 1);
    sbatch_common(f, p);
    if (p->gpus) fprintf(f, "#SBATCH --gres=gpu:1\n");
    fprintf(f,
            "\nK=${SLURM_ARRAY_TASK_ID:?submit this script with sbatch}\n"
            "echo \"== shard $K/%" PRIu32 " of %s on $(hostname) at $(date -u +%%FT%%TZ) "
            "(job ${SLURM_JOB_ID:-?}, restart ${SLURM_RESTART_COUNT:-0})\"\n",
            p->shards, p->name[i]);
    put_quoted(f, p->lmdiff);
    fputs(" analyze ", f);
    put_quoted(f, p->model_dir[i]);
    fputc(' ', f);
    put_quoted(f, p->dataset);
    fprintf(f, " --shard \"$K/%" PRIu32 "\" \\\n    --name ", p->shards);
    put_quoted(f, p->name[i]);
    fprintf(f, " --top-k %d", p->top_k);
    if (p->first_n) fprintf(f, " --first-n %" PRIu64, p->first_n);
    if (p->batch_tokens) fprintf(f, " --batch-tokens %d", p->batch_tokens);
    if (p->no_verify) fputs(" --no-verify", f);
    put_model_opts(f, p, 1);
    fputs(" --threads \"${SLURM_CPUS_PER_TASK:-1}\" \\\n    -o ", f);
    put_quoted(f, shards);
    fputs(" --resume\n", f);
    put_exit(f, p, what);
    rc = lmd_atomic_commit(&a, &err);
done:
    if (rc < 0) cli_error("%s", path ? err.msg : "out of memory");
    free(path);
    free(logs);
    free(shards);
    return rc;
}

static int write_merge(const slurm_plan *p) {
    char name[32];
    slurm_job_name(p, 2, name);
    char *path = slurm_path(p, "merge.sbatch"), *logs = slurm_path(p, "logs");
    lmd_atomic a;
    lmd_error err;
    int rc = -1;
    if (!path || !logs || lmd_atomic_open(&a, path, &err) < 0) goto done;
    FILE *f = a.f;
    fprintf(f,
            "#!/bin/bash\n"
            "# lmdiff %s: joins the %" PRIu32 " shard caches of each model ('lmdiff cache merge')\n"
            "# and compares the two caches ('lmdiff preprocess' reuses them, then writes the\n"
            "# comparisons and metadata.json into %s).\n"
            "# Submitted with --dependency=afterok on both analyze arrays: a failed shard\n"
            "# keeps it waiting; 'lmdiff slurm status' names the shard.\n",
            LMD_VERSION, p->shards, p->out_dir);
    fprintf(f, "#SBATCH --job-name=%s\n#SBATCH --output=\"%s/merge.log\"\n", name, logs);
    sbatch_common(f, p);
    fputs("\necho \"== merge and compare on $(hostname) at $(date -u +%FT%TZ)\"\n(\nset -e\n", f);
    for (int i = 0; i < 2; i++) {
        char *one = slurm_shard_path(p, i, 1), *out = lmd_path_join(p->out_dir, p->cache[i]);
        if (!one || !out) {
            free(one);
            free(out);
            goto done;
        }
        /* the shards by a glob: NAME.shard-*-of-N.h5 */
        char *dash = strstr(one, ".shard-");
        *dash = 0;
        put_quoted(f, p->lmdiff);
        fputs(" cache merge ", f);
        put_quoted(f, one);
        fprintf(f, ".shard-*-of-%" PRIu32 ".h5 \\\n    -o ", p->shards);
        put_quoted(f, out);
        fputs(" --force\n", f);
        free(one);
        free(out);
    }
    put_quoted(f, p->lmdiff);
    fputs(" preprocess ", f);
    put_quoted(f, p->model_dir[0]);
    fputc(' ', f);
    put_quoted(f, p->model_dir[1]);
    fputc(' ', f);
    put_quoted(f, p->dataset);
    fputs(" \\\n    --output-dir ", f);
    put_quoted(f, p->out_dir);
    fputs(" --name1 ", f);
    put_quoted(f, p->name[0]);
    fputs(" --name2 ", f);
    put_quoted(f, p->name[1]);
    fprintf(f, " --top-k %d --max-clamp-rank %d", p->top_k, p->max_clamp);
    if (p->first_n) fprintf(f, " --first-n %" PRIu64, p->first_n);
    if (p->no_verify) fputs(" --no-verify", f);
    /* the KL pass's batches, as a single run's (its rounding depends on them) */
    if (p->batch_tokens) fprintf(f, " --batch-tokens %d", p->batch_tokens);
    put_model_opts(f, p, 0);
    fputs(" --threads \"${SLURM_CPUS_PER_TASK:-1}\"\n)\n", f);
    put_exit(f, p, "merge");
    rc = lmd_atomic_commit(&a, &err);
done:
    if (rc < 0) cli_error("%s", path ? err.msg : "out of memory");
    free(path);
    free(logs);
    return rc;
}

int slurm_write_scripts(const slurm_plan *p) {
    const char *dirs[] = {"logs", "exit"};
    lmd_error err;
    for (int i = 0; i < 2; i++) {
        char *d = slurm_path(p, dirs[i]);
        int bad = !d || lmd_mkdirs(d, &err) < 0;
        if (bad) cli_error("%s", d ? err.msg : "out of memory");
        free(d);
        if (bad) return -1;
    }
    char *sh = lmd_path_join(p->out_dir, "shards");
    int bad = !sh || lmd_mkdirs(sh, &err) < 0;
    if (bad) cli_error("%s", sh ? err.msg : "out of memory");
    free(sh);
    if (bad) return -1;
    return write_analyze(p, 0) < 0 || write_analyze(p, 1) < 0 || write_merge(p) < 0 ? -1 : 0;
}

static cJSON *plan_json(const slurm_plan *p) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "lmdiff", p->lmdiff);
    cJSON_AddStringToObject(j, "m1_dir", p->model_dir[0]);
    cJSON_AddStringToObject(j, "m2_dir", p->model_dir[1]);
    cJSON_AddStringToObject(j, "m1", p->name[0]);
    cJSON_AddStringToObject(j, "m2", p->name[1]);
    cJSON_AddStringToObject(j, "dataset", p->dataset);
    cJSON_AddStringToObject(j, "cache1", p->cache[0]);
    cJSON_AddStringToObject(j, "cache2", p->cache[1]);
    cJSON_AddStringToObject(j, "tag", p->tag);
    cJSON_AddNumberToObject(j, "shards", p->shards);
    cJSON_AddStringToObject(j, "dataset_checksum", p->dataset_checksum);
    cJSON_AddNumberToObject(j, "top_k", p->top_k);
    cJSON_AddNumberToObject(j, "first_n", (double)p->first_n);
    cJSON_AddNumberToObject(j, "batch_tokens", p->batch_tokens);
    /* the shards of a folder all come from one device and one precision
     * (absent: the CPU and auto, the defaults, as before these options) */
    if (p->device && strcmp(p->device, "cpu")) cJSON_AddStringToObject(j, "device", p->device);
    if (p->precision && strcmp(p->precision, "auto"))
        cJSON_AddStringToObject(j, "precision", p->precision);
    return j;
}

int slurm_plan_check(const slurm_plan *p) {
    char *path = slurm_path(p, "plan.json"), *text = NULL;
    size_t len;
    lmd_error err;
    if (!path || !lmd_file_exists(path) || lmd_read_file(path, &text, &len, &err) < 0) {
        free(path);
        return 0; /* a first run */
    }
    cJSON *old = cJSON_Parse(text), *now = plan_json(p);
    free(text);
    const char *diff = NULL;
    for (const cJSON *e = now ? now->child : NULL; e && !diff && old; e = e->next) {
        if (!strcmp(e->string, "lmdiff") || !strcmp(e->string, "tag")) continue;
        if (!cJSON_Compare(e, cJSON_GetObjectItemCaseSensitive(old, e->string), 1))
            diff = e->string;
    }
    for (const cJSON *e = old ? old->child : NULL; e && !diff && now; e = e->next)
        if (e->string && !cJSON_GetObjectItemCaseSensitive(now, e->string)) diff = e->string;
    int rc = 0;
    if (diff || !old) {
        cli_error("%s was made for other inputs (%s differs): use another --output-dir, or "
                  "remove %s/slurm and %s/shards to start over",
                  path, old ? diff : "it cannot be read", p->out_dir, p->out_dir);
        rc = -1;
    }
    cJSON_Delete(old);
    cJSON_Delete(now);
    free(path);
    return rc;
}

int slurm_write_plan(const slurm_plan *p) {
    cJSON *j = plan_json(p);
    char *text = cJSON_Print(j), *path = slurm_path(p, "plan.json");
    cJSON_Delete(j);
    lmd_atomic a;
    lmd_error err;
    int rc = -1;
    if (text && path && lmd_atomic_open(&a, path, &err) == 0) {
        fprintf(a.f, "%s\n", text);
        rc = lmd_atomic_commit(&a, &err);
    }
    if (rc < 0) cli_error("%s", text && path ? err.msg : "out of memory");
    free(text);
    free(path);
    return rc;
}

static char *json_str(const cJSON *j, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? strdup(v->valuestring) : NULL;
}

int slurm_read_plan(const char *out_dir, slurm_plan *p) {
    memset(p, 0, sizeof *p);
    char *d = lmd_path_join(out_dir, "slurm"), *path = d ? lmd_path_join(d, "plan.json") : NULL;
    free(d);
    char *text = NULL;
    size_t len;
    lmd_error err;
    if (!path || lmd_read_file(path, &text, &len, &err) < 0) {
        cli_error("%s: not a folder of 'lmdiff slurm preprocess' (%s)", out_dir,
                  path ? err.msg : "out of memory");
        free(path);
        return -1;
    }
    cJSON *j = cJSON_Parse(text);
    free(text);
    p->out_dir = strdup(out_dir);
    p->lmdiff = json_str(j, "lmdiff");
    p->model_dir[0] = json_str(j, "m1_dir");
    p->model_dir[1] = json_str(j, "m2_dir");
    p->name[0] = json_str(j, "m1");
    p->name[1] = json_str(j, "m2");
    p->dataset = json_str(j, "dataset");
    p->cache[0] = json_str(j, "cache1");
    p->cache[1] = json_str(j, "cache2");
    char *tag = json_str(j, "tag");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(j, "shards");
    p->shards = cJSON_IsNumber(n) && n->valuedouble >= 1 && n->valuedouble <= LMD_MAX_SHARDS
                    ? (uint32_t)n->valuedouble
                    : 0;
    cJSON_Delete(j);
    if (tag) snprintf(p->tag, sizeof p->tag, "%s", tag);
    free(tag);
    if (!p->out_dir || !p->name[0] || !p->name[1] || !p->cache[0] || !p->cache[1] || !p->dataset ||
        !p->shards || !p->tag[0]) {
        cli_error("%s: damaged or incomplete", path);
        free(path);
        slurm_plan_free(p);
        return -1;
    }
    free(path);
    return 0;
}

void slurm_plan_free(slurm_plan *p) {
    char **s[] = {&p->lmdiff,  &p->model_dir[0], &p->model_dir[1], &p->name[0],   &p->name[1],
                  &p->dataset, &p->out_dir,      &p->cache[0],     &p->cache[1],  &p->partition,
                  &p->time,    &p->mem,          &p->account,      &p->precision, &p->device};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        free(*s[i]);
        *s[i] = NULL;
    }
}
