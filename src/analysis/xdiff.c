/* xdiff.c - two models, any tokenizers, on one text: tokens with byte
 * spans, scores, segments, and the JSON document of `lmdiff diff` and
 * /api/analyze for that case (docs/cli.md). */
#include <stdlib.h>
#include <string.h>

#include "analysis/diff.h"
#include "analysis/segments.h"

void lmd_xdiff_free(lmd_xdiff *x) {
    for (int m = 0; m < 2; m++) {
        free(x->spans[m]);
        lmd_scores_free(&x->sc[m]);
    }
    lmd_segments_free(&x->sg);
    memset(x, 0, sizeof *x);
}

int lmd_xdiff_run(const lmd_model *m1, const lmd_model *m2, const char *text, size_t len,
                  const lmd_score_opts *so, lmd_xdiff *x, lmd_error *err) {
    memset(x, 0, sizeof *x);
    const lmd_model *ms[2] = {m1, m2};
    size_t n[2] = {0, 0};
    for (int m = 0; m < 2; m++) {
        int32_t *ids = NULL;
        lmd_model_info info;
        lmd_model_get_info(ms[m], &info);
        x->masked[m] = info.masked_lm;
        int rc = lmd_tokenize_spans(lmd_model_tokenizer(ms[m]), text, len, &ids, &x->spans[m],
                                    &n[m], err);
        const int32_t *cids = ids;
        if (rc == 0) rc = lmd_score_ids(ms[m], &cids, &n[m], 1, so, &x->sc[m], err);
        free(ids);
        if (rc < 0) {
            lmd_xdiff_free(x);
            return -1;
        }
    }
    x->comparable = x->masked[0] == x->masked[1];
    if (lmd_segments_align(x->spans[0], n[0], x->spans[1], n[1], len, &x->sg, err) < 0) {
        lmd_xdiff_free(x);
        return -1;
    }
    lmd_segments_sum(&x->sg, x->sc[0].logprob, x->sc[1].logprob);
    if (lmd_segment_stats_of(&x->sg, &x->st, err) < 0) {
        lmd_xdiff_free(x);
        return -1;
    }
    return 0;
}

static int json_model(lmd_buf *b, const lmd_xdiff *x, int m, const lmd_tokenizer *tok) {
    const lmd_scores *s = &x->sc[m];
    int rc = lmd_buf_printf(b, "{\"kind\":\"%s\",\"tokens\":[", x->masked[m] ? "pll" : "causal");
    for (size_t i = 0; i < s->n; i++) {
        rc |= lmd_buf_printf(b, "%s{\"id\":%d,\"text\":", i ? "," : "", s->ids[i]);
        rc |= lmd_json_token_text(b, tok, s->ids[i]);
        rc |= lmd_buf_printf(b, ",\"start\":%u,\"end\":%u}", x->spans[m][i].start,
                             x->spans[m][i].end);
    }
    rc |= lmd_buf_puts(b, "],\"scores\":");
    rc |= lmd_json_scores_columns(b, s, lmd_json_token_text, tok);
    rc |= lmd_buf_puts(b, ",\"bits\":");
    rc |= lmd_json_f64(b, x->st.bits[m]);
    rc |= lmd_buf_puts(b, ",\"bits_per_byte\":");
    rc |= lmd_json_f64(b, x->st.bpb[m]);
    rc |= lmd_buf_puts(b, "}");
    return rc;
}

/* "name":[v(0), ..., v(n-1)] */
static int json_col(lmd_buf *b, const char *name, const lmd_segments *sg,
                    double (*v)(const lmd_segments *, size_t)) {
    int rc = lmd_buf_printf(b, ",\"%s\":[", name);
    for (size_t j = 0; j < sg->n; j++) {
        if (j) rc |= lmd_buf_put(b, ",", 1);
        rc |= lmd_json_f64(b, v(sg, j));
    }
    return rc | lmd_buf_puts(b, "]");
}

static double seg_bits1(const lmd_segments *sg, size_t j) {
    return lmd_bits(sg->lp[0][j]);
}
static double seg_bits2(const lmd_segments *sg, size_t j) {
    return lmd_bits(sg->lp[1][j]);
}
static double seg_dbits(const lmd_segments *sg, size_t j) {
    return lmd_bits(sg->lp[1][j]) - lmd_bits(sg->lp[0][j]);
}

int lmd_json_xdiff(lmd_buf *b, const lmd_xdiff *x, const lmd_model *m1, const char *name1,
                   const lmd_model *m2, const char *name2, const char *text, size_t len) {
    const lmd_segments *sg = &x->sg;
    int rc = lmd_buf_puts(b, "{\"mode\":\"segments\",\"text\":");
    rc |= lmd_json_str(b, text, len);
    rc |= lmd_buf_puts(b, ",\"models\":[");
    rc |= lmd_json_str(b, name1, strlen(name1));
    rc |= lmd_buf_put(b, ",", 1);
    rc |= lmd_json_str(b, name2, strlen(name2));
    rc |= lmd_buf_printf(b, "],\"comparable\":%s,\"note\":", x->comparable ? "true" : "false");
    if (!x->comparable)
        rc |= lmd_buf_puts(b, "\"one model is causal (log-probabilities) and the other masked "
                              "(pseudo-log-likelihood): the bits are not the same quantity\"");
    else if (x->masked[0])
        rc |= lmd_buf_puts(b, "\"both models are masked LMs: bits are pseudo-log-likelihood "
                              "sums\"");
    else
        rc |= lmd_buf_puts(b, "null");
    rc |= lmd_buf_puts(b, ",\"m1\":");
    rc |= json_model(b, x, 0, lmd_model_tokenizer(m1));
    rc |= lmd_buf_puts(b, ",\"m2\":");
    rc |= json_model(b, x, 1, lmd_model_tokenizer(m2));
    rc |= lmd_buf_puts(b, ",\"segments\":{\"start\":[");
    for (size_t j = 0; j < sg->n; j++)
        rc |= lmd_buf_printf(b, "%s%u", j ? "," : "", sg->at[j]);
    rc |= lmd_buf_puts(b, "],\"end\":[");
    for (size_t j = 0; j < sg->n; j++)
        rc |= lmd_buf_printf(b, "%s%u", j ? "," : "", sg->at[j + 1]);
    for (int m = 0; m < 2; m++) {
        rc |= lmd_buf_printf(b, "],\"m%d_tokens\":[", m + 1);
        for (size_t j = 0; j < sg->n; j++)
            rc |= lmd_buf_printf(b, "%s[%zu,%zu]", j ? "," : "", sg->first[m][j],
                                 sg->first[m][j + 1]);
    }
    rc |= lmd_buf_puts(b, "]");
    rc |= json_col(b, "bits1", sg, seg_bits1);
    rc |= json_col(b, "bits2", sg, seg_bits2);
    rc |= json_col(b, "dbits", sg, seg_dbits);
    rc |= json_col(b, "dbpb", sg, lmd_segment_dbpb);
    rc |= lmd_buf_printf(b, "},\"summary\":{\"bytes\":%zu,\"n_segments\":%zu", len, sg->n);
    const char *names[] = {"bits1", "bits2", "bpb1", "bpb2", "dbpb"};
    double vals[] = {x->st.bits[0], x->st.bits[1], x->st.bpb[0], x->st.bpb[1], x->st.dbpb};
    for (int i = 0; i < 5; i++) {
        rc |= lmd_buf_printf(b, ",\"%s\":", names[i]);
        rc |= lmd_json_f64(b, vals[i]);
    }
    const char *agg[LMD_AGG_COUNT] = {"avg", "max", "min", "median", "q75", "top5"};
    for (int a = 0; a < LMD_AGG_COUNT; a++) {
        rc |= lmd_buf_printf(b, ",\"%s_dbpb\":", agg[a]);
        rc |= lmd_json_f64(b, x->st.agg[a]);
    }
    rc |= lmd_buf_puts(b, "}}");
    return rc ? -1 : 0;
}
