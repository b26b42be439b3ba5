/* corpus_cli.c - see corpus_cli.h. */
#include "corpus_cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "model/format/modelref.h"

volatile sig_atomic_t corpus_cancel = 0;

static void on_signal(int sig) {
    if (corpus_cancel && sig == SIGINT) {
        signal(SIGINT, SIG_DFL);
        raise(SIGINT);
        return;
    }
    corpus_cancel = 1;
}

void corpus_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

char **corpus_argv(int argc, char **argv) {
    char **a = calloc((size_t)argc + 1, sizeof *a);
    if (!a) return NULL;
    for (int i = 0; i < argc; i++) {
        a[i] = argv[i];
        if (!strcmp(argv[i], "-o"))
            a[i] = "--output";
        else if (!strcmp(argv[i], "-h"))
            a[i] = "--help";
    }
    return a;
}

int corpus_utf8(void) {
    const char *l = getenv("LC_ALL");
    if (!l || !*l) l = getenv("LC_CTYPE");
    if (!l || !*l) l = getenv("LANG");
    return l &&
           (strstr(l, "UTF-8") || strstr(l, "utf-8") || strstr(l, "utf8") || strstr(l, "UTF8"));
}

int corpus_term_width(void) {
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
    const char *c = getenv("COLUMNS");
    if (c && atoi(c) >= 20) return atoi(c);
    return 80;
}

int corpus_put_cell(FILE *f, const char *s, size_t len, int cols) {
    int used = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
        if (l > len - i) l = len - i;
        if (used == cols - 1 && i + l < len) {
            fputs(corpus_utf8() ? "\xe2\x80\xa6" : "~", f);
            return used + 1;
        }
        if (used >= cols) break;
        if (c == '\n' || c == '\r' || c == '\t')
            fputc(' ', f);
        else if (c < 0x20 || c == 0x7f)
            fputc('?', f);
        else
            fwrite(s + i, 1, l, f);
        used++;
        i += l;
    }
    return used;
}

char *corpus_model_name(const char *dir) {
    char *ref = lmd_model_ref_name(dir); /* hf:ORG/NAME is named ORG/NAME */
    if (ref) return ref;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/')
        b--;
    return strndup(dir + b, n - b);
}
