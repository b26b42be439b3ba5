/* segments.c - byte-aligned segments of two tokenizations and their bits
 * per byte (segments.h, docs/measures.md). */
#include "analysis/segments.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void lmd_segments_free(lmd_segments *sg) {
    free(sg->at);
    for (int m = 0; m < 2; m++) {
        free(sg->first[m]);
        free(sg->lp[m]);
    }
    memset(sg, 0, sizeof *sg);
}

int lmd_segments_align(const lmd_span *s1, size_t n1, const lmd_span *s2, size_t n2, size_t len,
                       lmd_segments *out, lmd_error *err) {
    memset(out, 0, sizeof *out);
    size_t cap = (n1 < n2 ? n1 : n2) + 2;
    out->at = malloc(cap * sizeof *out->at);
    for (int m = 0; m < 2; m++) {
        out->first[m] = malloc(cap * sizeof *out->first[m]);
        out->lp[m] = calloc(cap, sizeof *out->lp[m]);
    }
    if (!out->at || !out->first[0] || !out->first[1] || !out->lp[0] || !out->lp[1]) {
        lmd_segments_free(out);
        return lmd_fail(err, "out of memory");
    }
    out->len = len;
    size_t n = 0, i = n1 ? 1 : 0, j = n2 ? 1 : 0;
    if (len > 0) {
        out->at[0] = 0;
        out->first[0][0] = out->first[1][0] = 0;
        n = 1;
    }
    while (len > 0) {
        size_t c1 = i < n1 && s1[i].start < len ? s1[i].start : len;
        size_t c2 = j < n2 && s2[j].start < len ? s2[j].start : len;
        if (c1 == len && c2 == len) break;
        if (c1 < c2) {
            i++;
        } else if (c2 < c1) {
            j++;
        } else {
            if (c1 > out->at[n - 1]) { /* a cut of both: a new segment */
                if (n + 1 >= cap) {
                    lmd_segments_free(out);
                    return lmd_fail(err, "token spans out of order");
                }
                out->at[n] = (uint32_t)c1;
                out->first[0][n] = i;
                out->first[1][n] = j;
                n++;
            }
            i++;
            j++;
        }
    }
    out->n = n;
    out->at[n] = (uint32_t)len;
    out->first[0][n] = n1;
    out->first[1][n] = n2;
    return 0;
}

void lmd_segments_sum(lmd_segments *sg, const double *lp1, const double *lp2) {
    const double *lp[2] = {lp1, lp2};
    for (int m = 0; m < 2; m++)
        for (size_t j = 0; j < sg->n; j++) {
            double s = 0;
            for (size_t t = sg->first[m][j]; t < sg->first[m][j + 1]; t++)
                s += lp[m][t];
            sg->lp[m][j] = s;
        }
}

double lmd_bits(double lp) {
    return -lp / M_LN2;
}

double lmd_segment_dbpb(const lmd_segments *sg, size_t j) {
    double bytes = (double)(sg->at[j + 1] - sg->at[j]);
    return (lmd_bits(sg->lp[1][j]) - lmd_bits(sg->lp[0][j])) / bytes;
}

int lmd_segment_stats_of(const lmd_segments *sg, lmd_segment_stats *st, lmd_error *err) {
    for (int m = 0; m < 2; m++) {
        double s = 0;
        for (size_t j = 0; j < sg->n; j++)
            s += sg->lp[m][j];
        st->bits[m] = lmd_bits(s);
        st->bpb[m] = sg->len ? st->bits[m] / (double)sg->len : NAN;
    }
    st->dbpb = st->bpb[1] - st->bpb[0];
    for (int a = 0; a < LMD_AGG_COUNT; a++)
        st->agg[a] = NAN;
    if (sg->n == 0) return 0;
    double *v = malloc(sg->n * sizeof *v);
    if (!v) return lmd_fail(err, "out of memory");
    for (size_t j = 0; j < sg->n; j++)
        v[j] = lmd_segment_dbpb(sg, j);
    lmd_aggregate(v, sg->n, st->agg);
    free(v);
    return 0;
}
