/* cmd_serve.c - `lmdiff serve`: the web app and its JSON API.  A supervisor
 * process restarts the server if it ever dies from a crash, so one bad
 * request cannot take the service down for good. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "server/server.h"

static const char *help =
    "usage: lmdiff serve [--config DIR ...] [--m1 DIR --m2 DIR] [options]\n\n"
    "Serves the lmdiff web app and its JSON API (docs/api.md).\n\n"
    "  --config DIR   a folder written by 'lmdiff preprocess' (repeatable): its two\n"
    "                 models and its dataset become available\n"
    "  --m1 DIR --m2 DIR  live mode: two model folders, no datasets\n"
    "  (no models)    the embedded demo: the folders 'make run' prepared\n"
    "  --host H       address to bind (default 127.0.0.1)\n"
    "  --port P       port (default 8000; 0 = any free port)\n"
    "  --threads N    HTTP threads: they parse, queue and answer (default 4)\n"
    "  --workers N    analyses that run at once (default 2)\n"
    "  --queue N      analyses that may wait for a worker; more get 503 (default 32)\n"
    "  --web DIR      serve the web app from DIR instead of the embedded bundle\n"
    "  --max-body B   largest request body in bytes (default 1048576)\n"
    "  --max-tokens N longest text to analyze, in tokens (default 4096)\n"
    "  --timeout S    idle connection timeout in seconds (default 30)\n"
    "  --header-timeout S  a request's headers must arrive within S seconds (default 10)\n"
    "  --body-timeout S    and its body within S seconds more (default 30)\n"
    "  --max-connections N open connections (default 1000)\n"
    "  --max-per-ip N      open connections from one address (default 64)\n"
    "  --allow-host NAMES  more names the Host header may give, comma-separated (the\n"
    "                 bound address, and localhost on 127.x, are always accepted)\n"
    "  --no-supervise run the server in this process (no restart after a crash)\n"
    "  --precision P  auto (default), f32 or bf16: how the models' products run\n"
    "                 (docs/scoring.md)\n"
    "  --device D     cpu (default), cuda, cuda:N or auto (docs/cli.md); a GPU needs\n"
    "                 --no-supervise (a CUDA context does not survive fork)\n"
    "  --pack-weights reorder BF16 weights at load for faster products (same\n"
    "                 results; seconds more to load; docs/scoring.md)\n";

static volatile sig_atomic_t child_pid, stopping;
static void forward(int sig) {
    stopping = 1;
    if (child_pid > 0) kill((pid_t)child_pid, sig);
}

/* Runs fn() in a child; restarts it when it dies from a signal. */
static int supervise(int (*fn)(void *), void *arg) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = forward;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    int restarts = 0;
    time_t window = time(NULL);
    for (;;) {
        pid_t pid = fork();
        if (pid < 0) return cli_error("fork: cannot start the server");
        if (pid == 0) {
            signal(SIGINT, SIG_DFL);
            signal(SIGTERM, SIG_DFL);
            _exit(fn(arg));
        }
        child_pid = pid;
        int st;
        while (waitpid(pid, &st, 0) < 0) {
        }
        child_pid = 0;
        /* exit 0: stopped; exit 1-5: could not start (said why; cli_lib_error's
         * statuses).  Anything else is a crash: a signal, or a sanitizer's or
         * abort()'s exit status. */
        if (stopping || (WIFEXITED(st) && WEXITSTATUS(st) <= 5))
            return WIFEXITED(st) ? WEXITSTATUS(st) : 0;
        if (WIFSIGNALED(st))
            fprintf(stderr, "lmdiff serve: the server died (signal %d); restarting\n",
                    WTERMSIG(st));
        else
            fprintf(stderr, "lmdiff serve: the server died (exit %d); restarting\n",
                    WEXITSTATUS(st));
        if (time(NULL) - window > 60) window = time(NULL), restarts = 0;
        if (++restarts > 5)
            return cli_error("the server crashed 5 times within a minute; giving up");
    }
}

typedef struct serve_args {
    lmd_app *app;
    lmd_server_config cfg;
} serve_args;

static int run_server(void *p) {
    serve_args *a = p;
    lmd_error err;
    if (lmd_server_run(a->app, &a->cfg, &err) < 0) return cli_lib_error(&err);
    return 0;
}

static void serve_warn(void *ctx, const char *msg) {
    (void)ctx;
    fprintf(stderr, "lmdiff serve: warning: %s\n", msg);
}

int cmd_serve(int argc, char **argv) {
    const char *m1 = NULL, *m2 = NULL, *host = NULL, *port = NULL, *threads = NULL, *web = NULL,
               *maxb = NULL, *maxt = NULL, *tmo = NULL, *nosup = NULL, *hlp = NULL, *workers = NULL,
               *queue = NULL, *htmo = NULL, *btmo = NULL, *maxc = NULL, *maxip = NULL,
               *allow = NULL, *prec = NULL, *device = NULL;
    /* --config may repeat: collect them by hand before the generic parser */
    const char *configs[64];
    int nconf = 0;
    char *rest[256];
    int nrest = 0;
    rest[nrest++] = argv[0];
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc) {
            if (nconf == 64) return cli_usage_error("serve", "at most 64 --config folders");
            configs[nconf++] = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            if (nconf == 64) return cli_usage_error("serve", "at most 64 --config folders");
            configs[nconf++] = argv[i] + 9;
        } else if (nrest < 256) {
            rest[nrest++] = argv[i];
        }
    }
    cli_opt opts[] = {{"--m1", 1, &m1},
                      {"--m2", 1, &m2},
                      {"--host", 1, &host},
                      {"--port", 1, &port},
                      {"--threads", 1, &threads},
                      {"--web", 1, &web},
                      {"--max-body", 1, &maxb},
                      {"--max-tokens", 1, &maxt},
                      {"--timeout", 1, &tmo},
                      {"--no-supervise", 0, &nosup},
                      {"--help", 0, &hlp},
                      {"--workers", 1, &workers},
                      {"--queue", 1, &queue},
                      {"--header-timeout", 1, &htmo},
                      {"--body-timeout", 1, &btmo},
                      {"--max-connections", 1, &maxc},
                      {"--max-per-ip", 1, &maxip},
                      {"--allow-host", 1, &allow},
                      {"--precision", 1, &prec},
                      {"--device", 1, &device},
                      CLI_PACK_WEIGHTS_OPT};
    const char *pos[1];
    if (cli_parse("serve", nrest, rest, opts, (int)(sizeof opts / sizeof opts[0]), pos, 0) < 0)
        return 2;
    if (hlp) return fputs(help, stdout), 0;
    if ((m1 == NULL) != (m2 == NULL)) return cli_usage_error("serve", "give both --m1 and --m2");
    lmd_server_config cfg = LMD_SERVER_CONFIG_INIT;
    if (host) cfg.host = host;
    cfg.web_dir = web;
    cfg.allow_hosts = allow;
    long v;
    const struct {
        const char *opt, *val;
        long lo, hi;
        int *out;
    } ints[] = {{"--workers", workers, 1, 256, &cfg.workers},
                {"--queue", queue, 1, 100000, &cfg.queue},
                {"--header-timeout", htmo, 1, 3600, &cfg.header_timeout_s},
                {"--body-timeout", btmo, 1, 3600, &cfg.body_timeout_s}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (!ints[i].val) continue;
        if (cli_int("serve", ints[i].opt, ints[i].val, ints[i].lo, ints[i].hi, &v) < 0) return 2;
        *ints[i].out = (int)v;
    }
    if (maxc) {
        if (cli_int("serve", "--max-connections", maxc, 16, 1000000, &v) < 0) return 2;
        cfg.max_connections = (unsigned)v;
    }
    if (maxip) {
        if (cli_int("serve", "--max-per-ip", maxip, 1, 1000000, &v) < 0) return 2;
        cfg.max_per_ip = (unsigned)v;
    }
    if (port) {
        if (cli_int("serve", "--port", port, 0, 65535, &v) < 0) return 2;
        cfg.port = (int)v;
    }
    if (threads) {
        if (cli_int("serve", "--threads", threads, 1, 256, &v) < 0) return 2;
        cfg.threads = (int)v;
    }
    if (maxb) {
        if (cli_int("serve", "--max-body", maxb, 1024, 1L << 30, &v) < 0) return 2;
        cfg.max_body = (size_t)v;
    }
    if (maxt) {
        if (cli_int("serve", "--max-tokens", maxt, 1, 1L << 24, &v) < 0) return 2;
        cfg.max_text_tokens = (size_t)v;
    }
    if (tmo) {
        if (cli_int("serve", "--timeout", tmo, 1, 3600, &v) < 0) return 2;
        cfg.timeout_s = (int)v;
    }
    lmd_model_opts mo;
    if (cli_model_opts("serve", prec, device, &mo)) return 2;
    if (device && strcmp(device, "cpu") && !nosup)
        return cli_usage_error("serve",
                               "--device %s needs --no-supervise: the models load before "
                               "the server forks, and a CUDA context does not survive fork",
                               device);
    lmd_app *app = lmd_app_new();
    lmd_error err;
    int rc = 0;
    if (!app) return cli_error("out of memory");
    lmd_app_set_model_opts(app, &mo);
    lmd_app_set_warn(app, serve_warn, NULL);
    if (m1 &&
        (lmd_app_add_model(app, m1, NULL, &err) < 0 || lmd_app_add_model(app, m2, NULL, &err) < 0))
        rc = cli_lib_error(&err);
    for (int i = 0; rc == 0 && i < nconf; i++)
        if (lmd_app_add_config_dir(app, configs[i], &err) < 0) rc = cli_lib_error(&err);
    if (rc == 0 && !m1 && nconf == 0) {
        const char *demo = getenv("LMDIFF_DEMO_DIR");
        rc = lmd_app_add_demo(app, demo, &err) < 0 ? cli_lib_error(&err) : 0;
    }
    /* bind before forking, so that a restarted server answers on the same port */
    if (rc == 0 && lmd_server_listen(&cfg, &err) < 0) rc = cli_lib_error(&err);
    if (rc == 0) {
        serve_args a = {app, cfg};
        rc = nosup ? run_server(&a) : supervise(run_server, &a);
    }
    lmd_app_free(app);
    return rc;
}
