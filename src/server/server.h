/* server.h - `lmdiff serve`: the HTTP server of the web app (its own HTTP/1.1 layer).
 * The app holds the models and preprocessed datasets; the server answers the
 * JSON API of docs/api.md and serves the web bundle. */
#ifndef LMD_SERVER_H
#define LMD_SERVER_H

#include <stddef.h>

#include "lmdiff.h"

typedef struct lmd_app lmd_app;

typedef struct lmd_server_config {
    const char *host;      /* default 127.0.0.1 */
    int port;              /* default 8000; 0 = any free port */
    int threads;           /* HTTP threads (parse, queue, answer), default 4 */
    const char *web_dir;   /* serve the web app from here instead of the embedded bundle */
    size_t max_body;       /* bytes, default 1 MiB */
    size_t max_text_tokens; /* per analyze request, default 4096 */
    int timeout_s;         /* idle connection timeout, default 30 */
    int workers;           /* analyses running at once (the pool), default 2 */
    int queue;             /* analyses waiting for a worker before 503, default 32 */
    int score_threads;     /* OpenMP threads per analysis; 0 = cores / workers */
    int header_timeout_s;  /* a request's headers must be in within this, default 10 */
    int body_timeout_s;    /* and its body within this after the headers, default 30 */
    unsigned max_connections; /* default 1000 (fewer when open files are limited) */
    unsigned max_per_ip;      /* connections from one address, default 64 */
    const char *allow_hosts;  /* more names for the Host header, comma-separated */
    int listen_fd;         /* a socket from lmd_server_listen, or -1: bind host:port */
} lmd_server_config;
/* Every field at its default (0 = default), no socket yet. */
#define LMD_SERVER_CONFIG_INIT                                                                     \
    { .host = "127.0.0.1", .port = 8000, .listen_fd = -1 }

/* Binds and listens on cfg->host:cfg->port (port 0: any free one); sets
 * cfg->listen_fd and cfg->port.  A supervisor binds once so that a
 * restarted server keeps the same address. */
int lmd_server_listen(lmd_server_config *cfg, lmd_error *err);

lmd_app *lmd_app_new(void);
void lmd_app_free(lmd_app *app);
/* How the models added from now on load (default LMD_MODEL_OPTS_INIT). */
void lmd_app_set_model_opts(lmd_app *app, const lmd_model_opts *o);
/* Adds a model folder (loaded now); its id is the folder's basename, made
 * unique.  Adding the same folder twice returns the first id. */
int lmd_app_add_model(lmd_app *app, const char *dir, const char **id, lmd_error *err);
/* Where the app reports what it serves with less than it was given (a
 * dataset without its KL pair file); NULL (the default): nowhere. */
typedef void (*lmd_warn_fn)(void *ctx, const char *msg);
void lmd_app_set_warn(lmd_app *app, lmd_warn_fn fn, void *ctx);
/* Adds a folder written by `lmdiff preprocess` (metadata.json, caches and
 * comparison tables); its two models are added too.  When the KL pair file
 * a table names is missing or does not match, the dataset is served without
 * KL (its kl columns NaN) and the warning function says so. */
int lmd_app_add_config_dir(lmd_app *app, const char *dir, lmd_error *err);
/* Adds every preprocessed folder under dir (NULL: the build's demo folder
 * that `make run` fills). */
int lmd_app_add_demo(lmd_app *app, const char *dir, lmd_error *err);
size_t lmd_app_n_models(const lmd_app *app);

/* Starts serving; returns when SIGINT or SIGTERM arrives (0) or on a start-up
 * error (-1).  Prints the URL on stdout once listening. */
int lmd_server_run(lmd_app *app, const lmd_server_config *cfg, lmd_error *err);

/* Embedded web bundle (generated at build time from web/dist). */
typedef struct lmd_asset {
    const char *path; /* "/index.html", "/assets/index-abc123.js" */
    const unsigned char *data;
    size_t len;
} lmd_asset;
extern const lmd_asset lmd_assets[];
extern const size_t lmd_n_assets;

#endif
