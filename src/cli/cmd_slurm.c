/* cmd_slurm.c - `lmdiff slurm preprocess` spreads `lmdiff preprocess` over
 * a Slurm cluster: one job array per model (task K = `analyze --shard
 * K/N`), then one job that merges the shards and compares, submitted with
 * afterok dependencies.  Rerunning it submits only the shards whose cache
 * is missing.  `lmdiff slurm status D` reports every shard from the files
 * in D and from squeue.  Slurm does the scheduling; we only write scripts
 * and call sbatch, squeue and scancel.  Layout: slurm.h; docs/cluster.md. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "analysis/corpus.h"
#include "args.h"
#include "cli.h"
#include "corpus_cli.h"
#include "model/kernel/backend.h"
#include "slurm.h"

static const char *help =
    "usage: lmdiff slurm preprocess M1_DIR M2_DIR DATASET --output-dir D --shards N\n"
    "                 [--partition P] [--time T] [--cpus-per-task C] [--mem M]\n"
    "                 [--account A] [--max-running K] [--gpus G] [--top-k K]\n"
    "                 [--max-clamp-rank C]\n"
    "                 [--first-n N] [--name1 NAME] [--name2 NAME] [--batch-tokens N]\n"
    "                 [--no-verify] [--precision P] [--device D] [--pack-weights]\n"
    "                 [--dry-run]\n"
    "       lmdiff slurm status D\n\n"
    "preprocess writes sbatch scripts into D/slurm and submits them: for each model a\n"
    "job array of N tasks (task K runs 'lmdiff analyze --shard K/N', --requeue, one\n"
    "log per task in D/slurm/logs), and a job that runs after both arrays succeed\n"
    "(afterok): 'lmdiff cache merge' for each model, then 'lmdiff preprocess', which\n"
    "reuses the merged caches and writes the comparisons and metadata.json into D -\n"
    "the same files a single 'lmdiff preprocess' writes.  Rerun the same command after\n"
    "a failure: it submits only the shards whose cache is missing (a partial one is\n"
    "resumed).  The nodes must share D, the models, the dataset and this binary's\n"
    "path (docs/cluster.md).\n\n"
    "  --shards N          shards per model (contiguous, balanced by bytes)\n"
    "  --partition, --time, --mem, --account   passed to sbatch as given\n"
    "  --cpus-per-task C   CPUs (and lmdiff threads) per task (default 1)\n"
    "  --max-running K     at most K tasks of an array at once (sbatch --array=...%K)\n"
    "  --gpus G            one GPU per shard task (--gres=gpu:1, analyze --device\n"
    "                      cuda), at most G tasks of an array at once\n"
    "  --precision P, --pack-weights   passed to every analyze task and to the merge\n"
    "                      job's preprocess, so the caches are scored as a local\n"
    "                      'lmdiff preprocess' with the same options scores them\n"
    "  --device D          the analyze tasks' device: cpu or auto; cuda or cuda:N\n"
    "                      only with --gpus (the default there is cuda)\n"
    "  --dry-run           write and print the scripts, submit nothing\n"
    "  --top-k, --max-clamp-rank, --first-n, --name1, --name2, --batch-tokens,\n"
    "  --no-verify         as for 'lmdiff preprocess' / 'lmdiff analyze'\n\n"
    "status prints every shard's state (done, running, pending, failed with its log)\n"
    "and the merge job's; exit 0 when D is complete, 1 when a shard or the merge\n"
    "failed, 3 while work is queued, running or not submitted.\n";

/* ------------------------------------------------------------ processes */

/* Runs argv, its stdout into *out (malloc'ed, may be NULL); the exit status,
 * 127 when it cannot be started. */
static int run(char *const argv[], char **out) {
    int fd[2];
    if (out) *out = NULL;
    if (pipe(fd) < 0) return 127;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return 127;
    }
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fd[1]);
    lmd_buf b = {0};
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd[0], chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0) lmd_buf_put(&b, chunk, (size_t)n);
    close(fd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    if (out && lmd_buf_put(&b, "", 1) == 0)
        *out = b.data;
    else
        lmd_buf_free(&b);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* One line of squeue: a task of one of our jobs. */
typedef struct qjob {
    int what;    /* 0, 1: analyze arrays; 2: merge */
    uint32_t k;  /* array task (0 for the merge job) */
    char id[32]; /* "12_3" */
    char state[24], reason[64];
} qjob;

/* Our jobs in the queue; -1 when squeue cannot be asked. */
static int queue_read(const slurm_plan *p, qjob **out, size_t *n) {
    *out = NULL;
    *n = 0;
    char names[3][32], list[100];
    for (int i = 0; i < 3; i++)
        slurm_job_name(p, i, names[i]);
    snprintf(list, sizeof list, "%s,%s,%s", names[0], names[1], names[2]);
    char *argv[] = {"squeue", "-h", "-r", "-n", list, "-o", "%j|%i|%K|%T|%r", NULL};
    char *text;
    if (run(argv, &text) != 0) {
        free(text);
        return -1;
    }
    size_t cap = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char *f[5] = {0};
        int nf = 0;
        for (char *s = line; nf < 5; nf++) {
            f[nf] = s;
            char *bar = strchr(s, '|');
            if (!bar) {
                nf++;
                break;
            }
            *bar = 0;
            s = bar + 1;
        }
        if (nf < 5) continue;
        int what = -1;
        for (int i = 0; i < 3; i++)
            if (!strcmp(f[0], names[i])) what = i;
        if (what < 0) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            qjob *q = realloc(*out, cap * sizeof *q);
            if (!q) break;
            *out = q;
        }
        qjob *q = &(*out)[(*n)++];
        q->what = what;
        q->k = what < 2 ? (uint32_t)strtoul(f[2], NULL, 10) : 0;
        snprintf(q->id, sizeof q->id, "%s", f[1]);
        snprintf(q->state, sizeof q->state, "%s", f[3]);
        snprintf(q->reason, sizeof q->reason, "%s", f[4]);
    }
    free(text);
    return 0;
}

static const qjob *queue_find(const qjob *q, size_t n, int what, uint32_t k) {
    for (size_t i = 0; i < n; i++)
        if (q[i].what == what && q[i].k == k) return &q[i];
    return NULL;
}

/* The exit code a script recorded in D/slurm/exit, or -1 when none. */
static int exit_code(const slurm_plan *p, const char *what) {
    char *path = slurm_exit_path(p, what);
    FILE *f = path ? fopen(path, "r") : NULL;
    free(path);
    int rc = -1;
    if (f && fscanf(f, "%d", &rc) != 1) rc = -1;
    if (f) fclose(f);
    return rc;
}

static void exit_clear(const slurm_plan *p, const char *what) {
    char *path = slurm_exit_path(p, what);
    if (path) unlink(path);
    free(path);
}

/* ------------------------------------------------------------ preprocess */

/* "1-3,5,7-9": the shards in missing[0..n) (ascending) as an --array list. */
static int array_list(const uint32_t *k, size_t n, lmd_buf *b) {
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j + 1 < n && k[j + 1] == k[j] + 1)
            j++;
        if (lmd_buf_printf(b, "%s%" PRIu32, i ? "," : "", k[i]) < 0) return -1;
        if (j > i && lmd_buf_printf(b, "-%" PRIu32, k[j]) < 0) return -1;
        i = j + 1;
    }
    return 0;
}

/* sbatch --parsable ARGS SCRIPT: the job id into id; -1 after printing. */
static int submit(const char *array, const char *dep, const char *script, char id[32]) {
    char *argv[6];
    int a = 0;
    argv[a++] = "sbatch";
    argv[a++] = "--parsable";
    if (array) argv[a++] = (char *)array;
    if (dep) argv[a++] = (char *)dep;
    argv[a++] = (char *)script;
    argv[a] = NULL;
    char *out;
    int rc = run(argv, &out);
    if (rc != 0 || !out || !*out) {
        free(out);
        if (rc == 127)
            cli_error("cannot run sbatch (is Slurm's client installed?)");
        else
            cli_error("sbatch %s failed (exit %d)", script, rc);
        return -1;
    }
    out[strcspn(out, ";\n")] = 0; /* "id[;cluster]" */
    snprintf(id, 32, "%s", out);
    free(out);
    return 0;
}

static void jobs_note(const slurm_plan *p, const char *what, const char *id, const char *tasks) {
    char *path = slurm_path(p, "jobs.tsv");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "%s\t%s\t%s\n", what, id, tasks);
        fclose(f);
    }
    free(path);
}

static void print_file(const char *path) {
    char *text;
    size_t len;
    lmd_error err;
    if (lmd_read_file(path, &text, &len, &err) < 0) return;
    printf("==> %s <==\n", path);
    fwrite(text, 1, len, stdout);
    putchar('\n');
    free(text);
}

/* Early checks, as `lmdiff preprocess` makes them: shared tokenizer, valid
 * dataset. */
static int check_inputs(slurm_plan *p) {
    lmd_tokenizer *t[2] = {NULL, NULL};
    lmd_error err;
    int rc = -1;
    for (int i = 0; i < 2; i++)
        if (lmd_tokenizer_load(p->model_dir[i], &t[i], &err) < 0) {
            cli_error("%s", err.msg);
            goto done;
        }
    if (!lmd_tokenizers_compatible(t[0], t[1])) {
        cli_error("%s and %s have different tokenizers, so their tokens cannot be compared",
                  p->model_dir[0], p->model_dir[1]);
        goto done;
    }
    lmd_dataset_reader *r;
    lmd_dataset_summary sum;
    if (lmd_dataset_open(p->dataset, &r, &err) < 0) {
        cli_error("%s", err.msg);
        goto done;
    }
    int s = lmd_dataset_scan(r, !p->no_verify, &sum, &err);
    lmd_dataset_close(r);
    if (s < 0) {
        cli_error("%s", err.msg);
        goto done;
    }
    memcpy(p->dataset_checksum, sum.checksum, sizeof p->dataset_checksum);
    rc = 0;
done:
    for (int i = 0; i < 2; i++)
        if (t[i]) lmd_tokenizer_free(t[i]);
    return rc;
}

/* The model options the jobs get (cli_model_opts checks them as preprocess
 * does); a GPU device only where Slurm gives the task one (--gpus). */
static int model_opts(slurm_plan *p, const char *prec, const char *device) {
    const char *cmd = "slurm preprocess";
    lmd_model_opts mo;
    if (cli_model_opts(cmd, prec, device, &mo)) return 2;
    int gpu = device && lmd_backend_cuda_index(device) >= 0;
    if (device && !gpu && strcmp(device, "cpu") && strcmp(device, "auto"))
        return cli_usage_error(cmd, "--device must be cpu, cuda, cuda:N or auto, not '%s'", device);
    if (p->gpus && device && !gpu)
        return cli_usage_error(cmd,
                               "--gpus runs the shard tasks on their GPU: --device %s "
                               "contradicts it",
                               device);
    if (!p->gpus && gpu)
        return cli_usage_error(cmd, "--device %s needs --gpus G (a task gets a GPU only then)",
                               device);
    p->pack_weights = cli_pack_weights_flag != NULL;
    if (prec && !(p->precision = strdup(lmd_precision_name(mo.precision)))) /* its spelling */
        return cli_error("out of memory");
    if (!device && p->gpus) device = "cuda";
    if (device && !(p->device = strdup(device))) return cli_error("out of memory");
    return 0;
}

static char *absolute(const char *path) {
    char *r = realpath(path, NULL);
    if (!r) cli_error("%s: %s", path, strerror(errno));
    return r;
}

/* The plan from the command line; 2 on a usage error, 1 on another. */
static int plan_from_args(int argc, char **argv, slurm_plan *p, int *dry_run) {
    const char *out = NULL, *shards = NULL, *part = NULL, *tm = NULL, *cpus = NULL, *mem = NULL,
               *acct = NULL, *maxrun = NULL, *topk = NULL, *clamp = NULL, *firstn = NULL,
               *n1 = NULL, *n2 = NULL, *batch = NULL, *nover = NULL, *dry = NULL, *hlp = NULL,
               *gpus = NULL, *prec = NULL, *device = NULL;
    const char *pos[3] = {0};
    cli_opt opts[] = {{"--output-dir", 1, &out},     {"--shards", 1, &shards},
                      {"--partition", 1, &part},     {"--time", 1, &tm},
                      {"--cpus-per-task", 1, &cpus}, {"--mem", 1, &mem},
                      {"--account", 1, &acct},       {"--max-running", 1, &maxrun},
                      {"--top-k", 1, &topk},         {"--max-clamp-rank", 1, &clamp},
                      {"--first-n", 1, &firstn},     {"--name1", 1, &n1},
                      {"--name2", 1, &n2},           {"--batch-tokens", 1, &batch},
                      {"--no-verify", 0, &nover},    {"--dry-run", 0, &dry},
                      {"--help", 0, &hlp},           {"--gpus", 1, &gpus},
                      {"--precision", 1, &prec},     {"--device", 1, &device},
                      CLI_PACK_WEIGHTS_OPT};
    char **a = corpus_argv(argc, argv);
    if (!a) return cli_error("out of memory");
    int np = cli_parse("slurm preprocess", argc, a, opts, sizeof opts / sizeof *opts, pos, 3);
    free(a);
    if (np < 0) return 2;
    if (hlp) return fputs(help, stdout), -1;
    const char *cmd = "slurm preprocess";
    if (np != 3) return cli_usage_error(cmd, "needs M1_DIR, M2_DIR and DATASET");
    if (!out || !shards) return cli_usage_error(cmd, "needs --output-dir D and --shards N");
    long v;
    memset(p, 0, sizeof *p);
    if (cli_int(cmd, "--shards", shards, 1, LMD_MAX_SHARDS, &v) < 0) return 2;
    p->shards = (uint32_t)v;
    p->cpus = 1;
    if (cpus && cli_int(cmd, "--cpus-per-task", cpus, 1, 4096, &v) < 0) return 2;
    if (cpus) p->cpus = (int)v;
    if (maxrun && cli_int(cmd, "--max-running", maxrun, 1, 1 << 30, &v) < 0) return 2;
    if (maxrun) p->max_running = (int)v;
    if (gpus && cli_int(cmd, "--gpus", gpus, 1, 1 << 20, &v) < 0) return 2;
    if (gpus) p->gpus = (int)v;
    p->top_k = 10;
    if (topk && cli_int(cmd, "--top-k", topk, 1, 100000, &v) < 0) return 2;
    if (topk) p->top_k = (int)v;
    p->max_clamp = LMD_DEFAULT_MAX_CLAMP;
    if (clamp && cli_int(cmd, "--max-clamp-rank", clamp, 1, 1 << 30, &v) < 0) return 2;
    if (clamp) p->max_clamp = (int)v;
    if (firstn && cli_int(cmd, "--first-n", firstn, 1, LONG_MAX, &v) < 0) return 2;
    if (firstn) p->first_n = (uint64_t)v;
    if (batch && cli_int(cmd, "--batch-tokens", batch, 1, 1 << 24, &v) < 0) return 2;
    if (batch) p->batch_tokens = (int)v;
    p->no_verify = nover != NULL;
    *dry_run = dry != NULL;
    int mrc = model_opts(p, prec, device);
    if (mrc) return mrc;
    /* sbatch values go into #SBATCH lines: one line, no NUL tricks */
    const char *sv[] = {part, tm, mem, acct};
    char **dst[] = {&p->partition, &p->time, &p->mem, &p->account};
    for (int i = 0; i < 4; i++) {
        if (sv[i] && (!*sv[i] || strpbrk(sv[i], "\n\r")))
            return cli_usage_error(cmd, "an sbatch option value must be one non-empty line");
        if (sv[i]) *dst[i] = strdup(sv[i]);
    }
    p->name[0] = n1 ? strdup(n1) : corpus_model_name(pos[0]);
    p->name[1] = n2 ? strdup(n2) : corpus_model_name(pos[1]);
    if (!p->name[0] || !p->name[1]) return cli_error("out of memory");
    if (!*p->name[0] || !*p->name[1] || !strcmp(p->name[0], p->name[1]))
        return cli_usage_error(cmd, "the two models need different names: use --name1/--name2");
    lmd_error err;
    if (lmd_mkdirs(out, &err) < 0) return cli_error("%s", err.msg);
    if (!(p->model_dir[0] = absolute(pos[0])) || !(p->model_dir[1] = absolute(pos[1])) ||
        !(p->dataset = absolute(pos[2])) || !(p->out_dir = absolute(out)) ||
        !(p->lmdiff = absolute("/proc/self/exe")))
        return 1;
    for (int i = 0; i < 2; i++)
        if (!(p->cache[i] = lmd_cache_default_name(p->dataset, p->name[i], p->first_n)))
            return cli_error("out of memory");
    char hex[65];
    lmd_sha256_hex(p->out_dir, strlen(p->out_dir), hex);
    snprintf(p->tag, sizeof p->tag, "%.8s", hex);
    return 0;
}

/* Shards of model i whose cache is missing, ascending. */
static uint32_t *missing_shards(const slurm_plan *p, int i, size_t *n) {
    uint32_t *m = malloc(p->shards * sizeof *m);
    *n = 0;
    for (uint32_t k = 1; m && k <= p->shards; k++) {
        char *s = slurm_shard_path(p, i, k);
        if (!s || !lmd_file_exists(s)) m[(*n)++] = k;
        free(s);
    }
    return m;
}

static int merge_done(const slurm_plan *p) {
    char *meta = lmd_path_join(p->out_dir, "metadata.json");
    int done = meta && lmd_file_exists(meta) && exit_code(p, "merge") == 0;
    free(meta);
    return done;
}

/* Nothing of ours may run twice at once: a queued analyze task or a running
 * merge stops the rerun; a merge job left waiting for a failed array is
 * cancelled (a new one replaces it). */
static int settle_queue(const slurm_plan *p) {
    qjob *q;
    size_t n;
    if (queue_read(p, &q, &n) < 0)
        return cli_error("squeue failed: cannot see the queue (is Slurm reachable?)");
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (q[i].what < 2)
            rc = cli_error("shard %" PRIu32 "/%" PRIu32 " of %s is still %s (job %s): wait for "
                           "it or scancel it, then rerun",
                           q[i].k, p->shards, p->name[q[i].what], q[i].state, q[i].id);
        else if (strcmp(q[i].state, "PENDING"))
            rc = cli_error("the merge job %s is %s: wait for it", q[i].id, q[i].state);
    for (size_t i = 0; i < n && !rc; i++)
        if (q[i].what == 2) {
            char *argv[] = {"scancel", q[i].id, NULL};
            fprintf(stderr, "cancelling the waiting merge job %s (%s)\n", q[i].id, q[i].reason);
            if (run(argv, NULL) != 0) rc = cli_error("scancel %s failed", q[i].id);
        }
    free(q);
    return rc;
}

static int slurm_preprocess(int argc, char **argv) {
    slurm_plan p;
    int dry = 0, rc = plan_from_args(argc, argv, &p, &dry);
    if (rc) {
        slurm_plan_free(&p);
        return rc < 0 ? 0 : rc;
    }
    rc = 1;
    char *scripts[3] = {slurm_path(&p, "analyze-1.sbatch"), slurm_path(&p, "analyze-2.sbatch"),
                        slurm_path(&p, "merge.sbatch")};
    if (check_inputs(&p) < 0 || slurm_plan_check(&p) < 0 || slurm_write_scripts(&p) < 0 ||
        slurm_write_plan(&p) < 0)
        goto done;
    if (dry) {
        for (int i = 0; i < 3; i++)
            print_file(scripts[i]);
        printf("# would run: sbatch %s; sbatch %s; sbatch --dependency=afterok:<both> %s\n",
               scripts[0], scripts[1], scripts[2]);
        rc = 0;
        goto done;
    }
    if (settle_queue(&p) < 0) goto done;
    char ids[2][32] = {"", ""};
    int any = 0;
    for (int i = 0; i < 2; i++) {
        size_t n;
        uint32_t *m = missing_shards(&p, i, &n);
        lmd_buf arr = {0}, list = {0}; /* "--array=LIST%K", "LIST" */
        if (!m || array_list(m, n, &list) < 0 ||
            lmd_buf_printf(&arr, "--array=%s", n ? list.data : "") < 0 ||
            (p.max_running && lmd_buf_printf(&arr, "%%%d", p.max_running) < 0)) {
            lmd_buf_free(&list);
            free(m);
            lmd_buf_free(&arr);
            cli_error("out of memory");
            goto done;
        }
        for (size_t j = 0; j < n; j++) {
            char what[32];
            snprintf(what, sizeof what, "analyze-%d-%" PRIu32, i + 1, m[j]);
            exit_clear(&p, what);
        }
        int s = n ? submit(arr.data, NULL, scripts[i], ids[i]) : 0;
        if (n && s == 0) {
            fprintf(stderr, "%s: submitted %zu of %" PRIu32 " shards (%s) as job %s\n", p.name[i],
                    n, p.shards, list.data, ids[i]);
            jobs_note(&p, i ? "analyze-2" : "analyze-1", ids[i], arr.data + 8);
            any = 1;
        } else if (!n) {
            fprintf(stderr, "%s: all %" PRIu32 " shards are done\n", p.name[i], p.shards);
        }
        free(m);
        lmd_buf_free(&arr);
        lmd_buf_free(&list);
        if (s < 0) goto done;
    }
    if (!any && merge_done(&p)) {
        fprintf(stderr, "nothing to submit: %s is complete\n", p.out_dir);
        printf("%s\n", p.out_dir);
        rc = 0;
        goto done;
    }
    char dep[128] = "", mid[32];
    if (any)
        snprintf(dep, sizeof dep, "--dependency=afterok%s%s%s%s", *ids[0] ? ":" : "", ids[0],
                 *ids[1] ? ":" : "", ids[1]);
    exit_clear(&p, "merge");
    if (submit(NULL, any ? dep : NULL, scripts[2], mid) < 0) goto done;
    fprintf(stderr, "merge and compare: submitted as job %s%s\n", mid,
            any ? " (after the shards succeed)" : "");
    jobs_note(&p, "merge", mid, "-");
    fprintf(stderr, "follow it with: lmdiff slurm status %s\n", p.out_dir);
    printf("%s\n", p.out_dir);
    rc = 0;
done:
    for (int i = 0; i < 3; i++)
        free(scripts[i]);
    slurm_plan_free(&p);
    return rc;
}

/* ------------------------------------------------------------ status */

/* The last line of a log that starts with "lmdiff:" (the error), or NULL. */
static char *log_error(const char *path) {
    char *text;
    size_t len;
    lmd_error err;
    if (lmd_read_file(path, &text, &len, &err) < 0) return NULL;
    char *last = NULL;
    for (char *s = text; s && *s;) {
        char *e = strchr(s, '\n');
        if (!strncmp(s, "lmdiff: ", 8)) last = s;
        s = e ? e + 1 : NULL;
    }
    char *r = last ? strndup(last, strcspn(last, "\n")) : NULL;
    free(text);
    return r;
}

/* One shard's line; returns 0 done, 1 failed, 3 otherwise. */
static int shard_status(const slurm_plan *p, int i, uint32_t k, const qjob *q, size_t nq) {
    char *path = slurm_shard_path(p, i, k), what[32], logname[64];
    snprintf(what, sizeof what, "analyze-%d-%" PRIu32, i + 1, k);
    snprintf(logname, sizeof logname, "logs/analyze-%d-shard-%" PRIu32 ".log", i + 1, k);
    int done = path && lmd_file_exists(path), code = exit_code(p, what), rc = 3;
    const qjob *j = queue_find(q, nq, i, k);
    char partial[PATH_MAX];
    snprintf(partial, sizeof partial, "%s.partial", path ? path : "");
    printf("  shard %" PRIu32 "/%" PRIu32 "  ", k, p->shards);
    if (done) {
        printf("done\n");
        rc = 0;
    } else if (j) {
        printf("%s (job %s%s%s)\n", j->state, j->id, strcmp(j->reason, "None") ? ", " : "",
               strcmp(j->reason, "None") ? j->reason : "");
    } else if (code > 0) {
        char *log = slurm_path(p, logname), *e = log ? log_error(log) : NULL;
        printf("FAILED (exit %d%s); log %s%s%s\n", code,
               code == 130 ? ": stopped, its partial cache is kept" : "", log ? log : "",
               e ? ": " : "", e ? e : "");
        free(log);
        free(e);
        rc = 1;
    } else if (lmd_journal_exists(partial)) {
        printf("stopped (cancelled or killed); %s is kept and resumed by a rerun\n", partial);
        rc = 1;
    } else {
        printf("missing (not run, or cancelled before it started)\n");
    }
    free(path);
    return rc;
}

static int slurm_status(int argc, char **argv) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return fputs(help, stdout), 0;
    if (argc != 2) return cli_usage_error("slurm status", "needs the output folder D");
    slurm_plan p;
    if (slurm_read_plan(argv[1], &p) < 0) return 1;
    qjob *q = NULL;
    size_t nq = 0;
    int have_q = queue_read(&p, &q, &nq) == 0;
    printf("%s: %s vs %s on %s, %" PRIu32 " shards per model%s\n", p.out_dir, p.name[0], p.name[1],
           p.dataset, p.shards, have_q ? "" : " (squeue unavailable: files only)");
    int failed = 0, pending = 0;
    for (int i = 0; i < 2; i++) {
        uint32_t ndone = 0;
        printf("%s:\n", p.name[i]);
        for (uint32_t k = 1; k <= p.shards; k++) {
            int s = shard_status(&p, i, k, q, nq);
            ndone += s == 0;
            failed |= s == 1;
            pending |= s == 3;
        }
        printf("  %" PRIu32 " of %" PRIu32 " shards done\n", ndone, p.shards);
    }
    const qjob *m = queue_find(q, nq, 2, 0);
    int code = exit_code(&p, "merge");
    printf("merge and compare: ");
    if (m) {
        printf("%s (job %s, %s)%s\n", m->state, m->id, m->reason,
               failed ? ": blocked by the failed shards above; rerun 'lmdiff slurm preprocess' "
                        "to resubmit them"
                      : "");
        pending = 1;
    } else if (code == 0 && merge_done(&p)) {
        printf("done: %s/metadata.json\n", p.out_dir);
    } else if (code > 0) {
        char *log = slurm_path(&p, "logs/merge.log"), *e = log ? log_error(log) : NULL;
        printf("FAILED (exit %d); log %s%s%s\n", code, log ? log : "", e ? ": " : "", e ? e : "");
        free(log);
        free(e);
        failed = 1;
    } else {
        printf("not run%s\n", failed ? " (the shards above failed)" : "");
        pending = 1;
    }
    free(q);
    slurm_plan_free(&p);
    return failed ? 1 : pending ? 3 : 0;
}

int cmd_slurm(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "preprocess")) return slurm_preprocess(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "status")) return slurm_status(argc - 1, argv + 1);
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")))
        return fputs(help, stdout), 0;
    return cli_usage_error("slurm", "needs a subcommand: preprocess or status");
}
