/* cmd_convert.c - `lmdiff convert`: a model folder written as a GGUF file. */
#include <string.h>

#include "args.h"
#include "cli.h"
#include "model/format/gguf_convert.h"

static const char *help =
    "usage: lmdiff convert MODEL_DIR OUT.gguf [--type f32|f16|bf16|q8_0|q4_0]\n\n"
    "Writes the model of MODEL_DIR as a GGUF file laid out as llama.cpp's\n"
    "convert_hf_to_gguf.py does (Llama/Mistral, Qwen2, GPT-2, GPT-NeoX; the tokenizer\n"
    "must be GPT-2-style byte-level BPE).  Matrices are stored in the given type\n"
    "(default f16; bf16 rounds to nearest even, as PyTorch's .to(torch.bfloat16))\n"
    "or with ggml's reference quantizers; matrices whose rows are not whole blocks of\n"
    "32 stay F16, vectors F32.  F32 and F16 round-trip exactly.\n";

int cmd_convert(int argc, char **argv) {
    const char *type = "f16", *hlp = NULL, *pos[2] = {0};
    cli_opt opts[] = {{"--type", 1, &type}, {"--help", 0, &hlp}};
    int np = cli_parse("convert", argc, argv, opts, sizeof opts / sizeof *opts, pos, 2);
    if (np < 0) return 2;
    if (hlp) return fputs(help, stdout), 0;
    if (np != 2) return cli_usage_error("convert", "give MODEL_DIR and OUT.gguf");
    static const struct {
        const char *name;
        lmd_dtype dt;
    } types[] = {{"f32", LMD_F32},
                 {"f16", LMD_F16},
                 {"bf16", LMD_BF16},
                 {"q8_0", LMD_Q8_0},
                 {"q4_0", LMD_Q4_0}};
    int t = -1;
    for (int i = 0; i < (int)(sizeof types / sizeof *types); i++)
        if (!strcmp(type, types[i].name)) t = i;
    if (t < 0) return cli_usage_error("convert", "--type %s: f32, f16, bf16, q8_0 or q4_0", type);
    lmd_error err;
    if (lmd_gguf_convert(pos[0], pos[1], types[t].dt, &err) < 0) return cli_error("%s", err.msg);
    fprintf(stderr, "wrote %s (%s)\n", pos[1], types[t].name);
    return 0;
}
