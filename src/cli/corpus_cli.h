/* corpus_cli.h - what the corpus subcommands (dataset, analyze, compare,
 * preprocess, search) share: short option spellings, Ctrl-C handling that
 * lets a long job stop cleanly, and small output helpers. */
#ifndef LMD_CORPUS_CLI_H
#define LMD_CORPUS_CLI_H

#include <signal.h>
#include <stdio.h>

/* Set by SIGINT, SIGTERM and SIGHUP once corpus_catch_signals ran; a second
 * Ctrl-C ends the process at once. */
extern volatile sig_atomic_t corpus_cancel;
void corpus_catch_signals(void);

/* A copy of argv where "-o" is "--output" and "-h" is "--help" (the table of
 * args.h has long names only).  Free with free(); the strings are shared. */
char **corpus_argv(int argc, char **argv);

/* 1 when the locale says UTF-8 (box and block characters may be printed). */
int corpus_utf8(void);

/* Writes s (len bytes) cut to at most `cols` columns on one line: line
 * breaks and tabs become spaces, "…" marks a cut.  Returns the columns used. */
int corpus_put_cell(FILE *f, const char *s, size_t len, int cols);

/* A model's default name: hf:ORG/NAME gives ORG/NAME, a folder or file its
 * basename without trailing slashes (malloc'ed; NULL when out of memory). */
char *corpus_model_name(const char *dir);

/* Terminal width of stdout (80 when unknown). */
int corpus_term_width(void);

#endif
