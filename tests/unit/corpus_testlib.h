/* corpus_testlib.h - fixtures shared by the corpus tests (test_cache,
 * test_compare, test_search): synthetic lmd_scores and tiny caches written
 * through the cache writer, so that the tests need no model. */
#ifndef LMD_CORPUS_TESTLIB_H
#define LMD_CORPUS_TESTLIB_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/corpus.h"

/* Scores of n tokens with top-k lists, zeroed (lmd_scores_alloc). */
static inline lmd_scores ct_scores(size_t n, int k) {
    lmd_scores s;
    if (lmd_scores_alloc(&s, n, k, NULL) < 0) abort();
    return s;
}

static inline void ct_scores_free(lmd_scores *s) { lmd_scores_free(s); }

/* Token i: id, 1-based rank, probability (logprob = ln p), entropy, and a
 * top-k list given as ids (probs descending from 0.5). */
static inline void ct_token(lmd_scores *s, size_t i, int32_t id, int32_t rank, float p, float h,
                            const int32_t *topk) {
    s->ids[i] = id;
    s->rank[i] = rank;
    s->prob[i] = p;
    s->logprob[i] = log((double)p);
    s->entropy[i] = h;
    for (int j = 0; j < s->k; j++) {
        s->topk_ids[i * (size_t)s->k + (size_t)j] = topk[j];
        s->topk_prob[i * (size_t)s->k + (size_t)j] = 0.5f / (float)(j + 1);
    }
}

static inline lmd_cache_info ct_info(const char *model, const char *weights, int k) {
    lmd_cache_info in;
    memset(&in, 0, sizeof in);
    in.dataset_name = (char *)"tiny-ds";
    in.dataset_checksum = (char *)"c0ffee";
    in.vocab_hash = (char *)"v0cab";
    in.model_name = (char *)model;
    in.weights_hash = (char *)weights;
    in.model_arch = (char *)"GPT2LMHeadModel";
    in.top_k = k;
    in.context = 1024;
    in.stride = 512;
    in.dataset_n_texts = 3;
    return in;
}

#endif
