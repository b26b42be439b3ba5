/* diff.c - per-token measures between two scorings and the JSON of the
 * instance view. */
#include "analysis/diff.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const names[LMD_MEASURE_COUNT] = {"prob", "logprob", "rank",
                                                     "rank_clamped", "topk", "entropy"};

int lmd_measure_parse(const char *name) {
    for (int i = 0; i < LMD_MEASURE_COUNT; i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}

const char *lmd_measure_name(lmd_measure m) {
    return m < LMD_MEASURE_COUNT ? names[m] : "?";
}

static int cmp_i32(const void *x, const void *y) {
    int32_t a = *(const int32_t *)x, b = *(const int32_t *)y;
    return (a > b) - (a < b);
}

int lmd_topk_missing(const int32_t *a, int ka, const int32_t *b, int kb) {
    int missing = 0;
    if (kb <= 32) { /* the usual k = 10: a scan beats sorting */
        for (int i = 0; i < ka; i++) {
            int found = 0;
            for (int j = 0; j < kb && !found; j++) found = a[i] == b[j];
            missing += !found;
        }
        return missing;
    }
    int32_t *sorted = malloc((size_t)kb * sizeof *sorted);
    if (!sorted) return -1;
    memcpy(sorted, b, (size_t)kb * sizeof *sorted);
    qsort(sorted, (size_t)kb, sizeof *sorted, cmp_i32);
    for (int i = 0; i < ka; i++)
        missing += bsearch(&a[i], sorted, (size_t)kb, sizeof *sorted, cmp_i32) == NULL;
    free(sorted);
    return missing;
}

double lmd_token_measure(const lmd_scores *a, const lmd_scores *b, size_t i, lmd_measure m,
                         int clamp) {
    switch (m) {
    case LMD_MEASURE_PROB:
        return (double)b->prob[i] - (double)a->prob[i];
    case LMD_MEASURE_LOGPROB:
        return b->logprob[i] - a->logprob[i];
    case LMD_MEASURE_RANK:
        return (double)b->rank[i] - (double)a->rank[i];
    case LMD_MEASURE_RANK_CLAMPED: {
        int r1 = a->rank[i] < clamp ? a->rank[i] : clamp;
        int r2 = b->rank[i] < clamp ? b->rank[i] : clamp;
        return (double)(r2 - r1);
    }
    case LMD_MEASURE_TOPK:
        return lmd_topk_missing(a->topk_ids + i * (size_t)a->k, a->k, b->topk_ids + i * (size_t)b->k,
                                b->k);
    case LMD_MEASURE_ENTROPY:
        return (double)b->entropy[i] - (double)a->entropy[i];
    default:
        return NAN;
    }
}

int lmd_json_str(lmd_buf *b, const char *s, size_t len) {
    int rc = lmd_buf_put(b, "\"", 1);
    size_t i = 0;
    while (i < len && rc == 0) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            rc = lmd_buf_put(b, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            const char *esc = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
            if (esc) rc = lmd_buf_puts(b, esc);
            else rc = lmd_buf_printf(b, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            rc = lmd_buf_put(b, s + i, 1);
            i++;
        } else {
            int n = lmd_utf8_seq_len((const unsigned char *)s + i, len - i);
            if (n == 0) {
                rc = lmd_buf_puts(b, "\xEF\xBF\xBD");
                i++;
            } else {
                rc = lmd_buf_put(b, s + i, (size_t)n);
                i += (size_t)n;
            }
        }
    }
    if (rc == 0) rc = lmd_buf_put(b, "\"", 1);
    return rc;
}

int lmd_json_f32(lmd_buf *b, float v) {
    if (!isfinite(v)) return lmd_buf_puts(b, "null");
    char tmp[32];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)v);
        if (strtof(tmp, NULL) == v) break;
    }
    return lmd_buf_puts(b, tmp);
}

int lmd_json_f64(lmd_buf *b, double v) {
    if (!isfinite(v)) return lmd_buf_puts(b, "null");
    char tmp[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    return lmd_buf_puts(b, tmp);
}

int lmd_json_token_text(lmd_buf *b, const void *tok, int32_t id) {
    char *t = lmd_token_display(tok, id);
    int rc = t ? lmd_json_str(b, t, strlen(t)) : lmd_buf_puts(b, "null");
    free(t);
    return rc;
}

int lmd_json_scores_columns(lmd_buf *b, const lmd_scores *s, lmd_token_text_fn text,
                            const void *ctx) {
    int rc = lmd_buf_puts(b, "{\"prob\":[");
    for (size_t i = 0; i < s->n; i++) {
        if (i) rc |= lmd_buf_put(b, ",", 1);
        rc |= lmd_json_f32(b, s->prob[i]);
    }
    rc |= lmd_buf_puts(b, "],\"logprob\":[");
    for (size_t i = 0; i < s->n; i++) {
        if (i) rc |= lmd_buf_put(b, ",", 1);
        rc |= lmd_json_f64(b, s->logprob[i]);
    }
    rc |= lmd_buf_puts(b, "],\"rank\":[");
    for (size_t i = 0; i < s->n; i++) rc |= lmd_buf_printf(b, "%s%d", i ? "," : "", s->rank[i]);
    rc |= lmd_buf_puts(b, "],\"entropy\":[");
    for (size_t i = 0; i < s->n; i++) {
        if (i) rc |= lmd_buf_put(b, ",", 1);
        rc |= lmd_json_f32(b, s->entropy[i]);
    }
    rc |= lmd_buf_puts(b, "],\"topk\":[");
    for (size_t i = 0; i < s->n; i++) {
        rc |= lmd_buf_puts(b, i ? ",[" : "[");
        for (int j = 0; j < s->k; j++) {
            int32_t id = s->topk_ids[i * (size_t)s->k + j];
            rc |= lmd_buf_printf(b, "%s{\"id\":%d,\"text\":", j ? "," : "", id);
            rc |= text(b, ctx, id);
            rc |= lmd_buf_puts(b, ",\"prob\":");
            rc |= lmd_json_f32(b, s->topk_prob[i * (size_t)s->k + j]);
            rc |= lmd_buf_put(b, "}", 1);
        }
        rc |= lmd_buf_put(b, "]", 1);
    }
    rc |= lmd_buf_puts(b, "]}");
    return rc ? -1 : 0;
}

int lmd_json_diff(lmd_buf *b, const lmd_tokenizer *tok, const char *text, size_t len,
                  const char *name1, const lmd_scores *a, const char *name2, const lmd_scores *b2,
                  int clamp) {
    int rc = lmd_buf_puts(b, "{\"text\":");
    rc |= lmd_json_str(b, text, len);
    rc |= lmd_buf_puts(b, ",\"models\":[");
    rc |= lmd_json_str(b, name1, strlen(name1));
    rc |= lmd_buf_put(b, ",", 1);
    rc |= lmd_json_str(b, name2, strlen(name2));
    rc |= lmd_buf_puts(b, "],\"tokens\":[");
    for (size_t i = 0; i < a->n; i++) {
        rc |= lmd_buf_printf(b, "%s{\"id\":%d,\"text\":", i ? "," : "", a->ids[i]);
        rc |= lmd_json_token_text(b, tok, a->ids[i]);
        rc |= lmd_buf_put(b, "}", 1);
    }
    rc |= lmd_buf_puts(b, "],\"m1\":");
    rc |= lmd_json_scores_columns(b, a, lmd_json_token_text, tok);
    rc |= lmd_buf_puts(b, ",\"m2\":");
    rc |= lmd_json_scores_columns(b, b2, lmd_json_token_text, tok);
    rc |= lmd_buf_puts(b, ",\"diff\":");
    rc |= lmd_json_diff_columns(b, a, b2, clamp);
    rc |= lmd_buf_puts(b, "}");
    return rc ? -1 : 0;
}

int lmd_json_diff_columns(lmd_buf *b, const lmd_scores *a, const lmd_scores *b2, int clamp) {
    int rc = lmd_buf_puts(b, "{");
    for (int m = 0; m < LMD_MEASURE_COUNT; m++) {
        rc |= lmd_buf_printf(b, "%s\"%s\":[", m ? "," : "", names[m]);
        for (size_t i = 0; i < a->n; i++) {
            double v = lmd_token_measure(a, b2, i, (lmd_measure)m, clamp);
            if (i) rc |= lmd_buf_put(b, ",", 1);
            if (m == LMD_MEASURE_RANK || m == LMD_MEASURE_RANK_CLAMPED || m == LMD_MEASURE_TOPK)
                rc |= lmd_buf_printf(b, "%lld", (long long)v);
            else
                rc |= lmd_json_f64(b, v);
        }
        rc |= lmd_buf_put(b, "]", 1);
    }
    rc |= lmd_buf_puts(b, "}");
    return rc ? -1 : 0;
}
