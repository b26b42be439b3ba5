/* test_gguf_tokenizer.c - tokenizers built from GGUF metadata give llama.cpp's
 * expected ids (HF tokenizers' output) on its own test vectors: the
 * tokenizer-only GGUFs of fixtures/gguf/vocab (gpt-2, deepseek-llm, falcon:
 * byte-level BPE with their tokenizer.ggml.pre; phi-3: SentencePiece) and
 * the Llama-2 SentencePiece one, read through lmd_tokenizer_load. */
#include <stdlib.h>
#include <string.h>

#include "lmdiff.h"
#include "testutil.h"

static void run(const char *gguf_rel, const char *vectors_base) {
    char *path = tu_shared_path(gguf_rel);
    assert_non_null(path);
    lmd_tokenizer *tok = NULL;
    lmd_error err;
    if (lmd_tokenizer_load(path, &tok, &err) < 0) fail_msg("%s", err.msg);
    tu_vectors v;
    tu_read_vectors(&v, vectors_base);
    int bad = 0;
    for (size_t i = 0; i < v.n; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (lmd_tokenize(tok, v.text[i], v.text_len[i], &ids, &n, &err) < 0)
            fail_msg("%s: text %zu: %s", gguf_rel, i, err.msg);
        int same = n == v.n_ids[i] && (n == 0 || !memcmp(ids, v.ids[i], n * sizeof *ids));
        if (!same) {
            print_message("%s: text %zu (%.*s): %zu ids, wanted %zu\n", gguf_rel, i,
                          (int)(v.text_len[i] > 40 ? 40 : v.text_len[i]), v.text[i], n, v.n_ids[i]);
            bad++;
        }
        free(ids);
    }
    print_message("%s: %zu texts, %d differ\n", gguf_rel, v.n, bad);
    assert_int_equal(bad, 0);
    tu_vectors_free(&v);
    lmd_tokenizer_free(tok);
    free(path);
}

static void test_gpt_2(void **state) {
    (void)state;
    run("fixtures/gguf/vocab/ggml-vocab-gpt-2.gguf", "../gguf/vocab/ggml-vocab-gpt-2.gguf");
}
static void test_deepseek_llm(void **state) {
    (void)state;
    run("fixtures/gguf/vocab/ggml-vocab-deepseek-llm.gguf",
        "../gguf/vocab/ggml-vocab-deepseek-llm.gguf");
}
static void test_falcon(void **state) {
    (void)state;
    run("fixtures/gguf/vocab/ggml-vocab-falcon.gguf", "../gguf/vocab/ggml-vocab-falcon.gguf");
}
static void test_phi_3(void **state) {
    (void)state;
    run("fixtures/gguf/vocab/ggml-vocab-phi-3.gguf", "../gguf/vocab/ggml-vocab-phi-3.gguf");
}
static void test_llama_spm(void **state) {
    (void)state;
    run("fixtures/tokenizers/llama2/ggml-vocab-llama-spm.gguf", "llama-spm");
}

int main(void) {
    tu_require_shared();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gpt_2),     cmocka_unit_test(test_deepseek_llm),
        cmocka_unit_test(test_falcon),    cmocka_unit_test(test_phi_3),
        cmocka_unit_test(test_llama_spm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
