/* test_split.c - the pre-tokenizer Split step with each of Hugging Face's
 * SplitDelimiterBehavior values (Removed, Isolated, MergedWithPrevious,
 * MergedWithNext, Contiguous) and invert.  The expected pieces are worked
 * out by hand from the behaviors' definitions in HF tokenizers
 * (normalizer.rs, NormalizedString::split): the text is cut into matches
 * and the gaps between them; Removed drops the matches, Isolated keeps each
 * segment, MergedWithPrevious joins a match to the segment before it when
 * that one is not a match, MergedWithNext to the segment after it when that
 * one is not a match, Contiguous joins runs of matches; invert swaps which
 * segments are matches; empty pieces are dropped.  The first cases are HF's
 * own (split.rs: "How are you doing?" split on " "). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmdiff.h"
#include "testutil.h"
#include "tokenize/tokenizer.h"

/* A byte-level BPE tokenizer.json whose pre-tokenizer is one Split step
 * (and a ByteLevel that adds no step of its own). */
static lmd_tokenizer *split_tok(const char *behavior, const char *kind, const char *pattern,
                                int invert) {
    char js[2048];
    snprintf(js, sizeof js,
             "{\"version\":\"1.0\",\"added_tokens\":[],\"normalizer\":null,"
             "\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
             "{\"type\":\"Split\",\"pattern\":{\"%s\":\"%s\"},\"behavior\":\"%s\",\"invert\":%s},"
             "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"use_regex\":false}]},"
             "\"decoder\":{\"type\":\"ByteLevel\"},"
             "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}",
             kind, pattern, behavior, invert ? "true" : "false");
    return tu_tok_json(js);
}

static void add_piece(void *ctx, const char *s, size_t n) {
    char *out = ctx;
    size_t l = strlen(out);
    snprintf(out + l, 1024 - l, "%s%.*s", l ? "|" : "", (int)n, s);
}

/* The pieces of text joined by '|', compared with want. */
static void expect(const char *behavior, const char *kind, const char *pattern, int invert,
                   const char *text, const char *want) {
    lmd_tokenizer *t = split_tok(behavior, kind, pattern, invert);
    char got[1024] = "";
    lmd_error err;
    if (lmd_tokenizer_pretokenize(t, text, strlen(text), add_piece, got, &err) < 0)
        fail_msg("%s", err.msg);
    if (strcmp(got, want))
        fail_msg("%s%s /%s/ on \"%s\": got \"%s\", want \"%s\"", behavior,
                 invert ? " (inverted)" : "", pattern, text, got, want);
    lmd_tokenizer_free(t);
}

static void test_hf_cases(void **state) {
    (void)state;
    const char *text = "How are you doing?";
    expect("Removed", "String", " ", 0, text, "How|are|you|doing?");
    expect("Isolated", "String", " ", 0, text, "How| |are| |you| |doing?");
    expect("MergedWithPrevious", "String", " ", 0, text, "How |are |you |doing?");
    expect("MergedWithNext", "String", " ", 0, text, "How| are| you| doing?");
    expect("Contiguous", "String", " ", 0, text, "How| |are| |you| |doing?");
    /* inverted: the words are the matches */
    expect("Removed", "Regex", "\\\\w+", 1, "How are", "How|are");
    expect("MergedWithPrevious", "Regex", "\\\\w+", 1, "How are", "How |are");
}

static void test_runs_and_edges(void **state) {
    (void)state;
    /* matches "-" one at a time: runs of them are separate matches */
    const char *t = "--a-b--";
    expect("Isolated", "String", "-", 0, t, "-|-|a|-|b|-|-");
    expect("Removed", "String", "-", 0, t, "a|b");
    /* a match joins the gap before it; a match after a match stays alone */
    expect("MergedWithPrevious", "String", "-", 0, t, "-|-|a-|b-|-");
    /* a match joins the gap after it; the match before a match stays alone */
    expect("MergedWithNext", "String", "-", 0, t, "-|-a|-b|-|-");
    expect("Contiguous", "String", "-", 0, t, "--|a|-|b|--");
    /* text that is all matches, or has none */
    expect("MergedWithPrevious", "String", "-", 0, "--", "-|-");
    expect("MergedWithNext", "String", "-", 0, "--", "-|-");
    expect("Contiguous", "String", "-", 0, "---", "---");
    expect("MergedWithNext", "String", "-", 0, "abc", "abc");
    expect("Removed", "String", "-", 0, "---", "");
    /* Gemma 3's: spaces split off and merged with the word before */
    expect("MergedWithPrevious", "String", " ", 0, " hi  there ", " |hi | |there ");
    /* inverted: the digits are the gaps, so a run of them becomes one piece */
    expect("Contiguous", "Regex", "[0-9]", 1, "ab12cd3", "ab|12|cd|3");
}

static void test_refused(void **state) {
    (void)state;
    const char *js =
        "{\"version\":\"1.0\",\"added_tokens\":[],\"normalizer\":null,"
        "\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},"
        "\"behavior\":\"Sideways\",\"invert\":false},\"decoder\":{\"type\":\"ByteLevel\"},"
        "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[]}}";
    lmd_tokenizer *t = NULL;
    lmd_error err;
    assert_int_equal(lmd_tokenizer_from_json(js, strlen(js), "x.json", &t, &err), -1);
    assert_non_null(strstr(err.msg, "behavior Sideways is not supported"));
}

/* The tokenizer hash is unchanged for Isolated (caches keep their keys) and
 * differs between behaviors. */
static void test_hash(void **state) {
    (void)state;
    lmd_tokenizer *a = split_tok("Isolated", "String", " ", 0);
    lmd_tokenizer *b = split_tok("MergedWithPrevious", "String", " ", 0);
    char ha[65], hb[65];
    lmd_tokenizer_hash(a, ha);
    lmd_tokenizer_hash(b, hb);
    assert_string_not_equal(ha, hb);
    lmd_tokenizer_free(a);
    lmd_tokenizer_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hf_cases),
        cmocka_unit_test(test_runs_and_edges),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
