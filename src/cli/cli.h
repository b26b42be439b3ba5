/* cli.h - the subcommands of the lmdiff binary and the helpers they share.
 * Each subcommand lives in its own cmd_<name>.c and returns the process exit
 * status (docs/cli.md: 0 ok, 1 failure, 2 usage error, 3-5 see cli_lib_error). */
#ifndef LMD_CLI_H
#define LMD_CLI_H

#include <stdio.h>

#include "lmdiff.h"

typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the subcommand's name */
} cli_command;

int cmd_tokenize(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_diff(int argc, char **argv);
/* corpus pipeline (issue 3) */
int cmd_dataset(int argc, char **argv);
int cmd_analyze(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_preprocess(int argc, char **argv);
int cmd_search(int argc, char **argv);
/* shards and clusters (issue 13) */
int cmd_cache(int argc, char **argv);
int cmd_slurm(int argc, char **argv);
/* web app (issue 4) */
int cmd_serve(int argc, char **argv);
/* GGUF (issue 16) */
int cmd_convert(int argc, char **argv);
int cmd_quant_report(int argc, char **argv);

/* Prints "lmdiff: <msg>" to stderr and returns 1. */
int cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "lmdiff: <err->msg>" to stderr and returns the exit status of its
 * code (docs/cli.md): 1 for a problem with the input (BAD_INPUT, NOT_FOUND,
 * UNSUPPORTED, FAILED), 3 IO, 4 NO_MEMORY, 5 BUSY. */
int cli_lib_error(const lmd_error *err);
int cli_exit_status(lmd_error_code code);
/* Prints "lmdiff <cmd>: <msg>\n(try 'lmdiff <cmd> --help')" and returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The text argument of a command: either the positional TEXT or the whole
 * content of --file F (byte for byte).  Fills *text (malloc'ed) and *len. */
int cli_read_text(const char *positional, const char *file, char **text, size_t *len);

/* Writes s as a JSON string literal (with quotes) to f. */
void cli_json_string(FILE *f, const char *s, size_t len);
/* Writes a float/double as the shortest text that reads back to the same value. */
void cli_json_float(FILE *f, float v);
void cli_json_double(FILE *f, double v);

/* Prints a token, JSON-escaped, padded or cut to `width` columns. */
void cli_token_cell(const lmd_tokenizer *tok, int32_t id, int width);

/* the model options, shared by the commands that load models: in their
 * usage line, and described in their help */
#define CLI_MODEL_USAGE "[--precision P] [--device D] [--pack-weights] [--verbose]"
#define CLI_PRECISION_HELP                                                                         \
    "  --precision P     auto (default): BF16 products for BF16 weights where the CPU\n"           \
    "                    has BF16 instructions, else F32; f32: the exact F32 path;\n"              \
    "                    bf16: BF16 products for every model (docs/scoring.md)\n"                  \
    "  --device D        cpu (default), cuda, cuda:N, or auto (CUDA device 0 when this\n"          \
    "                    build has CUDA, a GPU is present and the model is a Llama-style\n"        \
    "                    decoder, else the CPU); docs/cli.md\n"                                    \
    "  --pack-weights    reorder BF16 weights at load for faster products (same\n"                 \
    "                    results; seconds more to load, for long jobs; docs/scoring.md)\n"         \
    "  --verbose         print on stderr how each model's products run\n"
/* --pack-weights: CLI_PACK_WEIGHTS_OPT in a command's option table sets
 * cli_pack_weights_flag (non-NULL), which every model the command loads
 * follows (lmd_model_opts.pack_weights); one process runs one command. */
extern const char *cli_pack_weights_flag;
#define CLI_PACK_WEIGHTS_OPT                                                                       \
    { "--pack-weights", 0, &cli_pack_weights_flag }
/* Fills *o from --precision `precision` (NULL: auto), --device `device`
 * (NULL: cpu) and --pack-weights.  Returns 0, or 2 after a usage error. */
int cli_model_opts(const char *cmd, const char *precision, const char *device, lmd_model_opts *o);
/* Loads a model with cli_model_opts' options; with verbose, prints
 * "lmdiff: NAME: products in bf16 (oneDNN brg:...), precision auto asked, on
 * cpu" to stderr.  Returns 0, 2 after a usage error, 1 after a load error
 * (printed). */
int cli_load_model(const char *cmd, const char *dir, const char *precision, const char *device,
                   int verbose, lmd_model **m);

/* 1 when stdout is a terminal and NO_COLOR is unset. */
int cli_use_color(void);

/* `lmdiff diff` by segments (cmd_diff_segments.c): prints the view or the
 * JSON document; returns the exit status.  cli_diff_color: the background
 * of a value u in [-1, 1] (> 0: model 2 better, blue). */
int cli_diff_segments(const lmd_model *m1, const lmd_model *m2, const char *what,
                      const char *text, size_t len, const lmd_score_opts *so, int json);
void cli_diff_color(double u, int *r, int *g, int *bl);

#endif
