/* main.c - the lmdiff binary: dispatches to one subcommand per file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/base.h"

#include "cli.h"

static const cli_command commands[] = {
    {"tokenize", "split a text into token ids with a model's tokenizer", cmd_tokenize},
    {"score", "score every token of a text under one model", cmd_score},
    {"diff", "compare two models on one text, token by token or by segments", cmd_diff},
    /* corpus pipeline: entries are added here as the commands land */
    {"dataset", "make or describe a dataset file (one text per line)", cmd_dataset},
    {"analyze", "score every text of a dataset into an HDF5 analysis cache", cmd_analyze},
    {"compare", "per-text measures of two analysis caches (CSV + table)", cmd_compare},
    {"preprocess", "both caches, both comparisons and metadata.json in one folder",
     cmd_preprocess},
    {"search", "the texts where two models differ most, with a histogram", cmd_search},
    {"serve", "the web app and its JSON API", cmd_serve},
    {"cache", "merge shard caches into one; import an original LMdiff cache", cmd_cache},
    {"slurm", "preprocess on a Slurm cluster as job arrays; their status", cmd_slurm},
    {"convert", "write a model folder as a GGUF file (f32, f16, q8_0, q4_0)", cmd_convert},
    {"quant-report", "llama.cpp's KL-divergence statistics of two models over texts",
     cmd_quant_report},
};

static void usage(FILE *f) {
    fprintf(f,
            "lmdiff %s - compare two language models token by token\n\n"
            "usage: lmdiff <command> [options]\n\ncommands:\n",
            LMD_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-13s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n'lmdiff <command> --help' describes each command.\n"
            "'lmdiff --version' prints the version.\n");
}

int main(int argc, char **argv) {
    /* OpenBLAS and libgomp read their settings when they load: pick the best
     * BLAS kernels and sleeping idle threads, then run again (docs/performance.md) */
    if (!getenv("LMDIFF_NO_REEXEC") && lmd_runtime_env_tune()) execv("/proc/self/exe", argv);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
        printf("lmdiff %s\n", LMD_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "lmdiff: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
