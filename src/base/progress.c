/* progress.c - see progress.h. */
#include "base/progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct lmd_progress {
    char label[96], unit[24];
    uint64_t total, start_done, start_tokens;
    double t0, last_draw;
    int started, drawn, utf8;
};

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int term_width(void) {
    struct winsize ws;
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    return 80;
}

lmd_progress *lmd_progress_new(const char *label, const char *unit, uint64_t total) {
    const char *env = getenv("LMD_PROGRESS");
    if (env && !strcmp(env, "0")) return NULL;
    if (!(env && !strcmp(env, "1")) && !isatty(STDERR_FILENO)) return NULL;
    lmd_progress *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    snprintf(p->label, sizeof p->label, "%s", label ? label : "");
    snprintf(p->unit, sizeof p->unit, "%s", unit ? unit : "");
    p->total = total;
    p->t0 = now();
    const char *lang = getenv("LC_ALL");
    if (!lang || !*lang) lang = getenv("LC_CTYPE");
    if (!lang || !*lang) lang = getenv("LANG");
    p->utf8 = lang && (strstr(lang, "UTF-8") || strstr(lang, "utf8") || strstr(lang, "UTF8"));
    return p;
}

static void fmt_time(char *buf, size_t cap, double s) {
    if (s < 0 || s > 1e7) {
        snprintf(buf, cap, "?");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

static void fmt_rate(char *buf, size_t cap, double r) {
    if (r >= 1e6)
        snprintf(buf, cap, "%.1fM", r / 1e6);
    else if (r >= 1e4)
        snprintf(buf, cap, "%.0fk", r / 1e3);
    else if (r >= 1e3)
        snprintf(buf, cap, "%.1fk", r / 1e3);
    else
        snprintf(buf, cap, "%.0f", r);
}

void lmd_progress_update(lmd_progress *p, uint64_t done, uint64_t total, uint64_t tokens) {
    if (!p) return;
    double t = now();
    if (total) p->total = total;
    if (!p->started) {
        p->started = 1;
        p->start_done = done;
        p->start_tokens = tokens;
        p->t0 = t;
    }
    int last = p->total && done >= p->total;
    if (!last && p->drawn && t - p->last_draw < 0.1) return;
    p->last_draw = t;
    double el = t - p->t0;
    char tail[256], rate[32] = "", eta[32] = "?";
    uint64_t did = done - p->start_done;
    if (tokens > p->start_tokens && el > 0) {
        char r[24];
        fmt_rate(r, sizeof r, (double)(tokens - p->start_tokens) / el);
        snprintf(rate, sizeof rate, "  %s tok/s", r);
    }
    if (did > 0 && p->total >= done)
        fmt_time(eta, sizeof eta, el / (double)did * (double)(p->total - done));
    char elapsed[32];
    fmt_time(elapsed, sizeof elapsed, el);
    snprintf(tail, sizeof tail, " %llu/%llu %s%s  %s  ETA %s", (unsigned long long)done,
             (unsigned long long)p->total, p->unit, rate, elapsed, last ? "0:00" : eta);
    int width = term_width() - 1;
    int bar = width - (int)strlen(p->label) - (int)strlen(tail) - 4;
    if (bar > 40) bar = 40;
    fprintf(stderr, "\r%s ", p->label);
    if (bar >= 5) {
        int fill = p->total ? (int)((double)bar * (double)done / (double)p->total) : 0;
        if (fill > bar) fill = bar;
        fputc('[', stderr);
        for (int i = 0; i < bar; i++)
            fputs(i < fill ? (p->utf8 ? "\xe2\x96\x88" : "#") : (p->utf8 ? "\xe2\x96\x91" : "."),
                  stderr);
        fputc(']', stderr);
    }
    fputs(tail, stderr);
    fputs("\x1b[K", stderr); /* clear the rest of the line */
    fflush(stderr);
    p->drawn = 1;
}

void lmd_progress_end(lmd_progress *p) {
    if (!p) return;
    if (p->drawn) {
        fputs("\r\x1b[K", stderr);
        fflush(stderr);
    }
    free(p);
}

void lmd_progress_cb(void *p, uint64_t done, uint64_t total, uint64_t tokens) {
    lmd_progress_update(p, done, total, tokens);
}
