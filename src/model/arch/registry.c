/* registry.c - the architecture table: every family lmdiff loads, in the
 * order the "supported" list of an error names them.  Adding a family adds
 * its row here (and its file in arch/). */
#include "model/model.h"

extern const lmd_arch lmd_arch_gpt2, lmd_arch_llama, lmd_arch_mistral, lmd_arch_qwen2,
    lmd_arch_neox, lmd_arch_bert, lmd_arch_distilbert, lmd_arch_roberta, lmd_arch_qwen3,
    lmd_arch_olmo2, lmd_arch_phi3, lmd_arch_gemma2, lmd_arch_gemma3, lmd_arch_mixtral,
    lmd_arch_qwen3moe, lmd_arch_encoder_refused;

/* clang-format off */
const lmd_arch *const lmd_archs[] = {
    &lmd_arch_gpt2,
    &lmd_arch_llama,
    &lmd_arch_mistral,
    &lmd_arch_qwen2,
    &lmd_arch_neox,
    &lmd_arch_bert,
    &lmd_arch_distilbert,
    &lmd_arch_roberta,
    &lmd_arch_qwen3,
    &lmd_arch_olmo2,
    &lmd_arch_phi3,
    &lmd_arch_gemma2,
    &lmd_arch_gemma3,
    &lmd_arch_mixtral,
    &lmd_arch_qwen3moe,
    &lmd_arch_encoder_refused, /* last: the other classes of the BERT families */
    NULL,
};
/* clang-format on */
