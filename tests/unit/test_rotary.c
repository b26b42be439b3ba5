/* test_rotary.c - what the rotary decoders' loaders report: the
 * architecture, the scoring context (Mistral's capped at its
 * sliding_window, Qwen2's not when use_sliding_window is false) and the
 * parameter count, which must equal the number of values stored in the
 * safetensors file (every tensor of these test folders is a parameter; a
 * tied head is stored once). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmdiff.h"
#include "model/safetensors.h"
#include "testutil.h"

static void check(const char *name, const char *arch, int n_ctx) {
    char rel[128];
    snprintf(rel, sizeof rel, "tests/models/%s", name);
    char *dir = tu_src_path(rel);
    lmd_model *m;
    lmd_error err;
    if (lmd_model_load(dir, &m, &err) < 0) fail_msg("%s", err.msg);
    lmd_model_info info;
    lmd_model_get_info(m, &info);
    assert_string_equal(info.arch, arch);
    if (info.n_ctx != n_ctx) fail_msg("%s: context %d, expected %d", name, info.n_ctx, n_ctx);
    lmd_st_set st;
    if (lmd_st_open_dir(dir, &st, &err) < 0) fail_msg("%s", err.msg);
    int64_t stored = 0;
    for (size_t i = 0; i < st.n_tensors; i++)
        stored += st.tensors[i].numel;
    if (info.n_params != stored)
        fail_msg("%s: n_params %lld, the file holds %lld values", name, (long long)info.n_params,
                 (long long)stored);
    lmd_st_close(&st);
    lmd_model_free(m);
    free(dir);
}

static void test_info(void **state) {
    (void)state;
    check("tiny-llama", "LlamaForCausalLM", 64);
    check("tiny-llama-bf16", "LlamaForCausalLM", 64);
    check("tiny-llama3", "LlamaForCausalLM", 64);
    check("tiny-mistral", "MistralForCausalLM", 16);
    check("tiny-qwen2", "Qwen2ForCausalLM", 64);
    check("tiny-neox", "GPTNeoXForCausalLM", 64);
    check("tiny-neox-seq", "GPTNeoXForCausalLM", 32);
    check("tiny-qwen3", "Qwen3ForCausalLM", 64);
    check("tiny-olmo2", "Olmo2ForCausalLM", 64);
    check("tiny-phi3", "Phi3ForCausalLM", 64);
    check("tiny-gemma2", "Gemma2ForCausalLM", 64);
    check("tiny-gemma3", "Gemma3ForCausalLM", 64);
    check("tiny-mixtral", "MixtralForCausalLM", 64);
    check("tiny-qwen3moe", "Qwen3MoeForCausalLM", 64);
    /* the families' other 16-bit dtypes */
    check("tiny-qwen3-f16", "Qwen3ForCausalLM", 64);
    check("tiny-olmo2-bf16", "Olmo2ForCausalLM", 64);
    check("tiny-phi3-bf16", "Phi3ForCausalLM", 64);
    check("tiny-phi3-f16", "Phi3ForCausalLM", 64);
    check("tiny-gemma2-bf16", "Gemma2ForCausalLM", 64);
    check("tiny-gemma3-f16", "Gemma3ForCausalLM", 64);
    check("tiny-mixtral-f16", "MixtralForCausalLM", 64);
    check("tiny-qwen3moe-bf16", "Qwen3MoeForCausalLM", 64);
    check("tiny-qwen3moe-f16", "Qwen3MoeForCausalLM", 64);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_info)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
