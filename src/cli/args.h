/* args.h - a tiny option parser for the subcommands: `--name value`,
 * `--name=value`, flags, and positional arguments in any order. */
#ifndef LMD_ARGS_H
#define LMD_ARGS_H

typedef struct cli_opt {
    const char *name; /* "--top-k" */
    int takes_value;
    const char **value; /* where a value (or "1" for a flag) is stored */
} cli_opt;

/* Parses argv[1..argc); positionals go to pos[] (at most max_pos).  Returns
 * the number of positionals, or -1 after printing a usage error for cmd. */
int cli_parse(const char *cmd, int argc, char **argv, const cli_opt *opts, int n_opts,
              const char **pos, int max_pos);

/* Parses a decimal integer in [lo, hi]; -1 on error (after printing it). */
int cli_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);

#endif
