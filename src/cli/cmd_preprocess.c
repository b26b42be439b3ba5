/* cmd_preprocess.c - `lmdiff preprocess`: everything the web app's corpus
 * view needs for two models and one dataset, in one folder: both analysis
 * caches, both comparisons, and metadata.json.  A cache already there is
 * reused only when it was built from the same dataset, weights, tokenizer
 * and top-k (its hashes say so), never because of its name alone. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "analysis/corpus.h"
#include "analysis/kl.h"
#include "args.h"
#include "base/progress.h"
#include "cli.h"
#include "corpus_cli.h"
#include "model/format/modelref.h"

static const char *help =
    "usage: lmdiff preprocess M1_DIR M2_DIR DATASET --output-dir DIR [--top-k K]\n"
    "                         [--max-clamp-rank C] [--first-n N] [--name1 NAME]\n"
    "                         [--name2 NAME] [--force] [--no-verify] [--threads N]\n"
    "                         [--shard K/N] [--batch-tokens N]\n"
    "                         [--max-text-tokens N] [--no-kl]\n"
    "                         " CLI_MODEL_USAGE "\n\n"
    "Builds, in DIR:\n"
    "  <dataset>_._<m1>.h5, <dataset>_._<m2>.h5   the analysis caches ('lmdiff analyze')\n"
    "  <m1>_<m2>_<name>.kl                         KL(P1||P2) and KL(P2||P1) per token\n"
    "                                              (one tokenizer; both models at once)\n"
    "  <m1>_<m2>_<name>.csv/.lmdt and the reverse  the comparisons ('lmdiff compare')\n"
    "  metadata.json                               what was built from what\n"
    "Models with different tokenizers are compared by byte-aligned segments\n"
    "(<m1>_<m2>_<name>.segments.csv; the tables get the segment columns).\n"
    "A cache already in DIR is reused when\n"
    "its dataset checksum, weights hash, vocab hash and top-k match; otherwise it is\n"
    "rebuilt.  An interrupted run is resumed.\n\n"
    "  --output-dir DIR    the folder to build in (required; -o DIR for short)\n"
    "  --top-k K           predictions kept per token (default 10)\n"
    "  --max-clamp-rank C  the C of clamped_rank_diff (default 50)\n"
    "  --first-n N         only the first N texts\n"
    "  --name1/--name2     the models' names (default: their folders' names)\n"
    "  --force             rebuild the caches even when they match\n"
    "  --no-verify         accept a dataset whose header checksum does not match\n"
    "  --threads N         threads (default: all cores)\n"
    "  --batch-tokens N    tokens scored per batch, also by the KL pass (default 8192)\n"
    "  --shard K/N         only shard K of N (see 'lmdiff analyze --help'): both\n"
    "                      models' NAME.shard-K-of-N.h5 in DIR, no comparison;\n"
    "                      'lmdiff cache merge' joins them (docs/cluster.md)\n"
    "  --max-text-tokens N a longer text is an error (default 1000000; memory grows\n"
    "                      with the longest text, about 130 bytes a token)\n"
    "  --no-kl             no KL pass: the tables' kl columns stay empty (the pass\n"
    "                      runs both models again, both in memory)\n" CLI_PRECISION_HELP;

/* Whether a cache keeps token byte spans (text 0; an empty cache needs none). */
static int has_spans(const char *path) {
    lmd_cache *c;
    lmd_error err;
    if (lmd_cache_open(path, &c, &err) < 0) return 0;
    lmd_span *sp = NULL;
    size_t n;
    int rc = lmd_cache_get_info(c)->n_texts ? lmd_cache_read_spans(c, 0, &sp, &n, &err) : 0;
    free(sp);
    lmd_cache_close(c);
    return rc == 0;
}

static int write_metadata(const char *dir, cJSON *meta, lmd_error *err) {
    char *path = lmd_path_join(dir, "metadata.json");
    char *text = cJSON_Print(meta);
    int rc = -1;
    lmd_atomic a;
    if (!path || !text)
        lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    else if (lmd_atomic_open(&a, path, err) == 0) {
        fputs(text, a.f);
        fputc('\n', a.f);
        rc = lmd_atomic_commit(&a, err);
    }
    free(path);
    free(text);
    return rc;
}

/* DIR/<m1>_<m2>_<dataset>.kl, from the file-safe names (as compare names its
 * outputs).  Malloc'ed; NULL when out of memory. */
static char *kl_file(const char *dir, char *const names[2], const char *dataset) {
    char *a = lmd_file_safe_name(names[0]), *b = lmd_file_safe_name(names[1]);
    char *d = lmd_file_safe_name(dataset);
    lmd_buf p = {0};
    if (!a || !b || !d || lmd_buf_printf(&p, "%s/%s_%s_%s.kl", dir, a, b, d) < 0) {
        lmd_buf_free(&p);
        p.data = NULL;
    }
    free(a), free(b), free(d);
    return p.data;
}

/* The KL pass (kl_pair.c): both models over model 1's cached token ids.  A
 * pair file already there is reused when it names this dataset and both
 * caches' weights. */
static int kl_pass(lmd_model *const m[2], char *const cache[2], const char *path, int force,
                   int batch_tokens, lmd_error *err) {
    lmd_cache *c[2] = {NULL, NULL};
    lmd_kl_pair *old = NULL;
    int rc = -1;
    if (lmd_cache_open(cache[0], &c[0], err) < 0 || lmd_cache_open(cache[1], &c[1], err) < 0)
        goto done;
    const lmd_cache_info *in[2] = {lmd_cache_get_info(c[0]), lmd_cache_get_info(c[1])};
    if (!force && lmd_file_exists(path) && lmd_kl_pair_open(path, &old, err) == 0 &&
        lmd_kl_pair_matches(old, in[0]->dataset_checksum, in[0]->weights_hash,
                            in[1]->weights_hash) &&
        lmd_kl_pair_n_texts(old) == in[0]->n_texts) {
        fprintf(stderr, "[kl] reusing %s\n", path);
        rc = 0;
        goto done;
    }
    lmd_progress *p = lmd_progress_new("[kl] both models", "texts", 0);
    uint64_t resumed = 0;
    lmd_kl_pair_opts ko = {lmd_progress_cb,      p,     &corpus_cancel,
                           (size_t)batch_tokens, force, &resumed};
    rc = lmd_kl_pair_write(m[0], m[1], cache[0], in[1]->weights_hash, path, &ko, err);
    lmd_progress_end(p);
    if (resumed)
        fprintf(stderr, "[kl] resumed %s after %" PRIu64 " of %" PRIu64 " texts\n", path, resumed,
                in[0]->n_texts);
    if (rc == 0) fprintf(stderr, "[kl] wrote %s\n", path);
done:
    lmd_kl_pair_close(old);
    lmd_cache_close(c[0]);
    lmd_cache_close(c[1]);
    return rc;
}

static const char *file_part(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int cmd_preprocess(int argc, char **argv) {
    const char *out = NULL, *out2 = NULL, *topk = NULL, *clamp = NULL, *firstn = NULL,
               *name1 = NULL, *name2 = NULL, *force = NULL, *nover = NULL, *threads = NULL,
               *hlp = NULL, *shard = NULL, *batch = NULL, *prec = NULL, *verbose = NULL,
               *maxtok = NULL, *nokl = NULL, *device = NULL;
    const char *pos[3] = {0};
    cli_opt opts[] = {{"--output-dir", 1, &out},     {"--output", 1, &out2},
                      {"--top-k", 1, &topk},         {"--max-clamp-rank", 1, &clamp},
                      {"--first-n", 1, &firstn},     {"--name1", 1, &name1},
                      {"--name2", 1, &name2},        {"--force", 0, &force},
                      {"--no-verify", 0, &nover},    {"--threads", 1, &threads},
                      {"--help", 0, &hlp},           {"--shard", 1, &shard},
                      {"--batch-tokens", 1, &batch}, {"--precision", 1, &prec},
                      {"--verbose", 0, &verbose},    {"--max-text-tokens", 1, &maxtok},
                      {"--no-kl", 0, &nokl},         {"--device", 1, &device},
                      CLI_PACK_WEIGHTS_OPT};
    char **a = corpus_argv(argc, argv);
    if (!a) return cli_error("out of memory");
    int np = cli_parse("preprocess", argc, a, opts, sizeof opts / sizeof *opts, pos, 3);
    free(a);
    if (np < 0) return 2;
    if (hlp) return fputs(help, stdout), 0;
    if (np != 3) return cli_usage_error("preprocess", "needs M1_DIR, M2_DIR and DATASET");
    if (!out) out = out2;
    if (!out) return cli_usage_error("preprocess", "needs --output-dir DIR");
    lmd_analyze_opts o = {0};
    long v;
    if (topk && cli_int("preprocess", "--top-k", topk, 1, 100000, &v) < 0) return 2;
    o.top_k = topk ? (int)v : 10;
    if (firstn && cli_int("preprocess", "--first-n", firstn, 1, LONG_MAX, &v) < 0) return 2;
    o.first_n = firstn ? (uint64_t)v : 0;
    if (threads && cli_int("preprocess", "--threads", threads, 1, 4096, &v) < 0) return 2;
    o.n_threads = threads ? (int)v : 0;
    int max_clamp = LMD_DEFAULT_MAX_CLAMP;
    if (clamp && cli_int("preprocess", "--max-clamp-rank", clamp, 1, 1 << 30, &v) < 0) return 2;
    if (clamp) max_clamp = (int)v;
    o.no_verify = nover != NULL;
    if (batch && cli_int("preprocess", "--batch-tokens", batch, 1, 1 << 24, &v) < 0) return 2;
    o.batch_tokens = batch ? (int)v : 0;
    if (shard && lmd_shard_parse(shard, &o.shard_k, &o.shard_n) < 0)
        return cli_usage_error("preprocess", "--shard wants K/N with 1 <= K <= N <= %d, not '%s'",
                               LMD_MAX_SHARDS, shard);
    if (maxtok && cli_int("preprocess", "--max-text-tokens", maxtok, 1, LONG_MAX, &v) < 0) return 2;
    o.max_text_tokens = maxtok ? (uint64_t)v : 0;
    const char *dirs[2] = {pos[0], pos[1]}, *dataset = pos[2];

    lmd_error err;
    char *names[2] = {name1 ? strdup(name1) : corpus_model_name(dirs[0]),
                      name2 ? strdup(name2) : corpus_model_name(dirs[1])};
    char *cache[2] = {NULL, NULL}, *whash[2] = {NULL, NULL};
    const char *precs[2] = {"f32", "f32"};
    lmd_tokenizer *tok[2] = {NULL, NULL};
    lmd_model *kept[2] = {NULL, NULL}; /* for the KL pass */
    char *klpath = NULL;
    lmd_dataset_reader *r = NULL;
    lmd_compare_out co = {0};
    cJSON *meta = NULL;
    char vhash[65] = "", vhash2[65] = "";
    int rc = 1;
    if (!names[0] || !names[1]) {
        cli_error("out of memory");
        goto done;
    }
    if (!*names[0] || !*names[1] || !strcmp(names[0], names[1])) {
        rc = cli_usage_error("preprocess",
                             "the two models need different names (both are '%s'): "
                             "use --name1/--name2",
                             names[0]);
        goto done;
    }
    if (lmd_mkdirs(out, &err) < 0) {
        cli_error("%s", err.msg);
        goto done;
    }
    /* fail early: tokenizers and dataset, before any long work */
    for (int i = 0; i < 2; i++)
        if (lmd_tokenizer_load(dirs[i], &tok[i], &err) < 0) {
            cli_error("%s", err.msg);
            goto done;
        }
    /* different tokenizers: compare writes the segment measures */
    int by_segments = !lmd_tokenizers_compatible(tok[0], tok[1]);
    int want_kl = !by_segments && !nokl && !o.shard_n; /* causal LMs only: see the loop */
    lmd_tokenizer_hash(tok[0], vhash);
    lmd_tokenizer_hash(tok[1], vhash2);
    lmd_dataset_summary sum;
    if (lmd_dataset_open(dataset, &r, &err) < 0 ||
        lmd_dataset_scan(r, !o.no_verify, &sum, &err) < 0) {
        cli_error("%s", err.msg);
        goto done;
    }
    corpus_catch_signals();
    for (int i = 0; i < 2; i++) {
        lmd_model *m;
        fprintf(stderr, "[%d/3] %s: loading %s\n", i + 1, names[i], dirs[i]);
        int lrc = cli_load_model("preprocess", dirs[i], prec, device, verbose != NULL, &m);
        if (lrc) {
            rc = lrc;
            goto done;
        }
        lmd_model_info mi;
        lmd_model_get_info(m, &mi);
        if (mi.masked_lm && want_kl) { /* pseudo-likelihoods have no full distributions */
            fprintf(stderr, "[kl] no KL: %s is a masked LM\n", names[i]);
            want_kl = 0;
            lmd_model_free(kept[0]);
            kept[0] = NULL;
        }
        lmd_analyze_opts mo = o;
        mo.model_name = names[i];
        lmd_cache_info want;
        char *base = lmd_cache_default_name(dataset, names[i], o.first_n);
        if (base && o.shard_n) {
            char *sb = lmd_shard_file_name(base, o.shard_k, o.shard_n);
            free(base);
            base = sb;
        }
        cache[i] = base ? lmd_path_join(out, base) : NULL;
        free(base);
        if (!cache[i] ||
            lmd_analyze_expected_info(m, lmd_dataset_get_meta(r), &sum, &mo, &want, &err) < 0) {
            cli_error("%s", cache[i] ? err.msg : "out of memory");
            lmd_model_free(m);
            goto done;
        }
        whash[i] = strdup(want.weights_hash);
        precs[i] = lmd_cache_precision(&want)[0] == 'b' ? "bf16" : "f32"; /* want is freed */
        int reuse = 0;
        if (lmd_file_exists(cache[i])) {
            char why[512];
            int match = lmd_cache_matches(cache[i], &want, why, sizeof why);
            if (match == 1 && by_segments && !has_spans(cache[i])) {
                match = 0;
                snprintf(why, sizeof why, "it has no token byte spans, which segments need");
            }
            if (match == 1 && !force) {
                fprintf(stderr, "[%d/3] %s: reusing %s (%s)\n", i + 1, names[i], cache[i], why);
                reuse = 1;
            } else {
                fprintf(stderr, "[%d/3] %s: rebuilding %s (%s)\n", i + 1, names[i], cache[i],
                        force ? "--force" : why);
                mo.force = 1;
            }
        } else {
            size_t pl = strlen(cache[i]) + 9;
            char *partial = malloc(pl);
            snprintf(partial, pl, "%s.partial", cache[i]);
            if (lmd_journal_exists(partial) && !force) {
                fprintf(stderr, "[%d/3] %s: resuming %s\n", i + 1, names[i], partial);
                mo.resume = 1;
            }
            mo.force = force != NULL;
            free(partial);
        }
        lmd_cache_info_free(&want);
        if (!reuse) {
            char label[128];
            snprintf(label, sizeof label, "[%d/3] analyze %s", i + 1, names[i]);
            lmd_progress *p = lmd_progress_new(label, "texts", 0);
            mo.progress = lmd_progress_cb;
            mo.progress_ctx = p;
            mo.cancel = &corpus_cancel;
            lmd_analyze_stats st;
            int arc = lmd_analyze(m, dataset, cache[i], &mo, &st, &err);
            lmd_progress_end(p);
            if (arc < 0) {
                cli_error("%s", err.msg);
                lmd_model_free(m);
                rc = st.interrupted ? 130 : 1;
                goto done;
            }
            fprintf(stderr, "[%d/3] %s: wrote %s (%" PRIu64 " texts, %.0f tokens/s)\n", i + 1,
                    names[i], cache[i], st.n_texts,
                    st.seconds > 0 ? (double)st.n_tokens / st.seconds : 0.0);
        }
        if (want_kl)
            kept[i] = m;
        else
            lmd_model_free(m);
    }
    if (o.shard_n) { /* the comparison needs every shard: cache merge, then preprocess */
        fprintf(stderr, "shard %" PRIu32 "/%" PRIu32 " of both models done\n", o.shard_k,
                o.shard_n);
        printf("%s\n%s\n", cache[0], cache[1]);
        rc = 0;
        goto done;
    }
    if (want_kl) {
        klpath = kl_file(out, names, lmd_dataset_get_meta(r)->name);
        int krc = klpath ? kl_pass(kept, cache, klpath, force != NULL, o.batch_tokens, &err) : -1;
        for (int i = 0; i < 2; i++)
            lmd_model_free(kept[i]), kept[i] = NULL;
        if (krc < 0) {
            cli_error("%s", klpath ? err.msg : "out of memory");
            rc = corpus_cancel ? 130 : 1;
            goto done;
        }
    }
    /* forked readers: this process has OpenMP threads, but the workers use none */
    lmd_compare_opts copts = {.max_clamp_rank = max_clamp,
                              .force = 1,
                              .cancel = &corpus_cancel,
                              .workers = (int)sysconf(_SC_NPROCESSORS_ONLN),
                              .kl_path = klpath};
    lmd_progress *p = lmd_progress_new("[3/3] compare", "texts", 0);
    copts.progress = lmd_progress_cb;
    copts.progress_ctx = p;
    int crc = lmd_compare(cache[0], cache[1], out, &copts, &co, &err);
    lmd_progress_end(p);
    if (crc < 0) {
        cli_error("%s", err.msg);
        rc = corpus_cancel ? 130 : 1;
        goto done;
    }
    fprintf(stderr, "[3/3] compared %" PRIu64 " texts\n", co.n_texts);

    const lmd_dataset_meta *dm = lmd_dataset_get_meta(r);
    char *abs1 = realpath(dirs[0], NULL), *abs2 = realpath(dirs[1], NULL);
    meta = cJSON_CreateObject();
    /* the original's keys */
    cJSON_AddStringToObject(meta, "m1", names[0]);
    cJSON_AddStringToObject(meta, "m2", names[1]);
    cJSON_AddStringToObject(meta, "dataset", dataset);
    cJSON_AddNumberToObject(meta, "top_k", o.top_k);
    cJSON_AddNumberToObject(meta, "max_clamp_rank", max_clamp);
    /* ours */
    cJSON_AddStringToObject(meta, "lmdiff_version", LMD_VERSION);
    cJSON_AddStringToObject(meta, "dataset_name", dm->name);
    cJSON_AddStringToObject(meta, "dataset_type", dm->type);
    cJSON_AddStringToObject(meta, "dataset_checksum", sum.checksum);
    cJSON_AddNumberToObject(meta, "n_texts", (double)co.n_texts);
    cJSON_AddNumberToObject(meta, "first_n", (double)o.first_n);
    cJSON_AddStringToObject(meta, "vocab_hash", vhash);
    if (by_segments) {
        cJSON_AddStringToObject(meta, "m2_vocab_hash", vhash2);
        cJSON_AddBoolToObject(meta, "segments", 1);
    }
    cJSON_AddStringToObject(meta, "m1_dir", abs1 ? abs1 : dirs[0]);
    cJSON_AddStringToObject(meta, "m2_dir", abs2 ? abs2 : dirs[1]);
    cJSON_AddStringToObject(meta, "m1_weights_hash", whash[0] ? whash[0] : "");
    cJSON_AddStringToObject(meta, "m2_weights_hash", whash[1] ? whash[1] : "");
    cJSON_AddStringToObject(meta, "m1_precision", precs[0]);
    cJSON_AddStringToObject(meta, "m2_precision", precs[1]);
    free(abs1);
    free(abs2);
    cJSON *caches = cJSON_AddObjectToObject(meta, "caches");
    cJSON_AddStringToObject(caches, "m1", file_part(cache[0]));
    cJSON_AddStringToObject(caches, "m2", file_part(cache[1]));
    cJSON *cmp = cJSON_AddObjectToObject(meta, "comparisons");
    for (int d = 0; d < 2; d++) {
        cJSON *e = cJSON_AddObjectToObject(cmp, d ? "m2_m1" : "m1_m2");
        cJSON_AddStringToObject(e, by_segments ? "segments_csv" : "csv", file_part(co.csv[d]));
        cJSON_AddStringToObject(e, "table", file_part(co.table[d]));
    }
    if (klpath) cJSON_AddStringToObject(meta, "kl", file_part(klpath));
    if (write_metadata(out, meta, &err) < 0) {
        cli_error("%s", err.msg);
        goto done;
    }
    printf("%s\n", out);
    rc = 0;
done:
    cJSON_Delete(meta);
    free(klpath);
    lmd_compare_out_free(&co);
    if (r) lmd_dataset_close(r);
    for (int i = 0; i < 2; i++) {
        if (tok[i]) lmd_tokenizer_free(tok[i]);
        lmd_model_free(kept[i]);
        free(names[i]);
        free(cache[i]);
        free(whash[i]);
    }
    return rc;
}
