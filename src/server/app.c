/* app.c - the models and datasets one `lmdiff serve` process offers.  Models
 * are loaded once at start and shared read-only by all request threads. */
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

lmd_app *lmd_app_new(void) {
    lmd_app *app = calloc(1, sizeof(lmd_app));
    if (app) app->model_opts = (lmd_model_opts)LMD_MODEL_OPTS_INIT;
    return app;
}

void lmd_app_set_model_opts(lmd_app *app, const lmd_model_opts *o) { app->model_opts = *o; }

void lmd_app_set_warn(lmd_app *app, lmd_warn_fn fn, void *ctx) {
    app->warn = fn;
    app->warn_ctx = ctx;
}

void lmd_app_free(lmd_app *app) {
    if (!app) return;
    for (size_t i = 0; i < app->n_models; i++) {
        free(app->models[i].id);
        free(app->models[i].dir);
        lmd_model_free(app->models[i].model);
    }
    for (size_t i = 0; i < app->n_datasets; i++) lmd_app_dataset_free(&app->datasets[i]);
    free(app->models);
    free(app->datasets);
    free(app);
}

size_t lmd_app_n_models(const lmd_app *app) { return app->n_models; }

const app_model *lmd_app_find_model(const lmd_app *app, const char *id) {
    for (size_t i = 0; i < app->n_models; i++)
        if (!strcmp(app->models[i].id, id)) return &app->models[i];
    return NULL;
}

int lmd_app_add_model(lmd_app *app, const char *dir, const char **id, lmd_error *err) {
    char real[PATH_MAX];
    if (!strncmp(dir, "ollama:", 7) || !strncmp(dir, "hf:", 3)) /* a reference (modelref.c) */
        snprintf(real, sizeof real, "%s", dir);
    else if (!realpath(dir, real))
        return lmd_fail_code(err, LMD_ERR_NOT_FOUND, "%s: no such folder", dir);
    for (size_t i = 0; i < app->n_models; i++)
        if (!strcmp(app->models[i].dir, real)) {
            if (id) *id = app->models[i].id;
            return 0;
        }
    app_model *p = realloc(app->models, (app->n_models + 1) * sizeof *p);
    if (!p) return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    app->models = p;
    app_model *m = &p[app->n_models];
    memset(m, 0, sizeof *m);
    if (lmd_model_load_opts(real, &app->model_opts, &m->model, err) < 0) return -1;
    lmd_tokenizer_hash(lmd_model_tokenizer(m->model), m->group);
    m->dir = strdup(real);
    /* the id: the basename, with -2, -3, ... when another folder has it */
    char base[PATH_MAX];
    lmd_model_info info; /* hf:ORG/NAME: the hub name */
    lmd_model_get_info(m->model, &info);
    snprintf(base, sizeof base, "%s", strncmp(dir, "hf:", 3) ? basename(real) : info.name);
    char cand[PATH_MAX + 16];
    snprintf(cand, sizeof cand, "%s", base);
    for (int k = 2; lmd_app_find_model(app, cand); k++) snprintf(cand, sizeof cand, "%s-%d", base, k);
    m->id = strdup(cand);
    if (!m->dir || !m->id) {
        free(m->dir), free(m->id);
        lmd_model_free(m->model);
        return lmd_fail_code(err, LMD_ERR_NO_MEMORY, "out of memory");
    }
    app->n_models++;
    if (id) *id = m->id;
    return 0;
}

int lmd_app_add_demo(lmd_app *app, const char *dir, lmd_error *err) {
    /* the folder `make run` fills: one preprocessed folder per pair and dataset */
    const char *root = dir ? dir : LMD_SOURCE_DIR "/build/demo";
    DIR *d = opendir(root);
    if (!d)
        return lmd_fail_code(err, LMD_ERR_NOT_FOUND,
                             "%s: no demo data; run 'make run' once (it preprocesses the demo "
                             "models), or give --config DIR or --m1 DIR --m2 DIR",
                             root);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *sub = lmd_path_join(root, e->d_name);
        char *meta = sub ? lmd_path_join(sub, "metadata.json") : NULL;
        if (meta && lmd_file_exists(meta)) {
            char **p = realloc(names, (n + 1) * sizeof *p);
            if (p) names = p, names[n++] = sub, sub = NULL;
        }
        free(meta);
        free(sub);
    }
    closedir(d);
    /* in name order, so that ids and the model list are stable */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    for (size_t i = 0; i < n && rc == 0; i++) rc = lmd_app_add_config_dir(app, names[i], err);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (rc == 0 && n == 0)
        return lmd_fail_code(err, LMD_ERR_NOT_FOUND,
                             "%s: no preprocessed folders; run 'make run' once", root);
    return rc;
}
