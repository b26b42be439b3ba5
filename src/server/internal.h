/* internal.h - what the parts of the server share. */
#ifndef LMD_SERVER_INTERNAL_H
#define LMD_SERVER_INTERNAL_H

#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>

#include "analysis/corpus.h"
#include "analysis/diff.h"
#include "base/base.h"
#include "server/server.h"

typedef struct app_model {
    char *id, *dir;
    lmd_model *model;
    char group[65];
} app_model;

/* A folder of `lmdiff preprocess`: one dataset scored by one model pair,
 * with the per-text tables of both directions and both caches. */
typedef struct app_dataset {
    char *id;              /* unique over the app */
    char *name;            /* the dataset's name */
    char *dir;             /* the preprocess output folder */
    const char *m1, *m2;   /* model ids (owned by the app's models) */
    uint64_t n_texts;
    lmd_table *table[2];   /* m1 -> m2, m2 -> m1 */
    lmd_cache *cache[2];   /* m1, m2 */
} app_dataset;

struct lmd_app {
    app_model *models;
    size_t n_models;
    app_dataset *datasets;
    size_t n_datasets;
};

typedef struct lmd_server {
    lmd_app *app;
    lmd_server_config cfg;
    char *web_root; /* realpath of --web, or NULL for the embedded bundle */
} lmd_server;

int lmd_http_send(struct MHD_Connection *c, int status, const char *type, const void *data,
                  size_t len, const char *cache);
int lmd_http_json(struct MHD_Connection *c, int status, const lmd_buf *b);
/* A 405 with the Allow header. */
int lmd_http_method(struct MHD_Connection *c, const char *allow, const char *url);
int lmd_http_error(struct MHD_Connection *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int lmd_api_datasets(lmd_server *s, struct MHD_Connection *c);
int lmd_api_search(lmd_server *s, struct MHD_Connection *c);
int lmd_api_route(lmd_server *s, struct MHD_Connection *c, const char *url, const char *method,
                  const char *body, size_t len);
/* POST /api/analyze by segments (analyze_segments.c). */
int lmd_api_analyze_segments(lmd_server *s, struct MHD_Connection *c, const app_model *m1,
                             const app_model *m2, const char *text, size_t tl);
int lmd_static_init(lmd_server *s, lmd_error *err);
void lmd_static_free(lmd_server *s);
int lmd_static_serve(lmd_server *s, struct MHD_Connection *c, const char *url);

const app_model *lmd_app_find_model(const lmd_app *app, const char *id);
void lmd_app_dataset_free(app_dataset *ds);

#endif
