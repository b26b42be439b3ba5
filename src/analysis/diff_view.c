/* diff_view.c - a diff of two scorings as the public API hands it out: the
 * JSON document of `lmdiff diff --json` and one self-contained HTML page
 * (`lmdiff diff --html`, Python's _repr_html_).
 *
 * The page has no script and fetches nothing: inline CSS, an inline SVG
 * legend, each token a <span> on a red-white-blue background (blue: model 2
 * does better on the measure, red: worse; the same scale as the terminal
 * view) whose hover box (CSS ::after of data-tip) gives both models'
 * probabilities and ranks, then the per-token table. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/diff.h"

static int check_doc(const lmd_diff_doc *d, lmd_error *err) {
    if (!d || !d->tok || !d->s1 || !d->s2 || !d->name1 || !d->name2 || (!d->text && d->len))
        return lmd_fail(err, "lmd_diff: missing tokenizer, scores, names or text");
    if (d->s1->n != d->s2->n ||
        (d->s1->n && memcmp(d->s1->ids, d->s2->ids, d->s1->n * sizeof *d->s1->ids)))
        return lmd_fail(err, "lmd_diff: the two scorings are of different token ids");
    return 0;
}

static int clamp_of(const lmd_diff_doc *d) {
    return d->clamp > 0 ? d->clamp : LMD_DEFAULT_CLAMP;
}

int lmd_diff_json(const lmd_diff_doc *d, char **json, lmd_error *err) {
    *json = NULL;
    if (check_doc(d, err) < 0) return -1;
    lmd_buf b = {0};
    if (lmd_json_diff(&b, d->tok, d->text ? d->text : "", d->len, d->name1, d->s1, d->name2, d->s2,
                      clamp_of(d)) < 0 ||
        lmd_buf_put(&b, "", 1) < 0) {
        lmd_buf_free(&b);
        return lmd_fail(err, "lmd_diff_json: out of memory");
    }
    *json = b.data;
    return 0;
}

/* Text with &, <, >, " and ' escaped; a newline is "↵", followed by a line
 * break in the running text (not in attributes and table cells). */
static int put_escaped(lmd_buf *b, const char *s, size_t n, int in_attr) {
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        switch (s[i]) {
        case '&':
            rc = lmd_buf_puts(b, "&amp;");
            break;
        case '<':
            rc = lmd_buf_puts(b, "&lt;");
            break;
        case '>':
            rc = lmd_buf_puts(b, "&gt;");
            break;
        case '"':
            rc = lmd_buf_puts(b, "&quot;");
            break;
        case '\'':
            rc = lmd_buf_puts(b, "&#39;");
            break;
        case '\n':
            rc = lmd_buf_puts(b, in_attr ? "\xe2\x86\xb5" : "\xe2\x86\xb5\n");
            break;
        default:
            rc = lmd_buf_put(b, s + i, 1);
        }
    }
    return rc;
}

static int put_token(lmd_buf *b, const lmd_tokenizer *tok, int32_t id, int in_attr) {
    char *s = lmd_token_display(tok, id);
    if (!s) return -1;
    int rc = put_escaped(b, s, strlen(s), in_attr);
    free(s);
    return rc;
}

/* The largest |value| the colours span: fixed for bounded measures, else the
 * text's largest. */
static double color_scale(const lmd_diff_doc *d, lmd_measure m) {
    double scale = 0;
    if (m == LMD_MEASURE_PROB)
        scale = 1;
    else if (m == LMD_MEASURE_RANK_CLAMPED)
        scale = clamp_of(d) - 1;
    else if (m == LMD_MEASURE_TOPK)
        scale = d->s1->k;
    else
        for (size_t i = 0; i < d->s1->n; i++) {
            double v = fabs(lmd_token_measure(d->s1, d->s2, i, m, clamp_of(d)));
            if (v > scale) scale = v;
        }
    return scale > 0 ? scale : 1;
}

/* Background of a value: white -> #4393c3 when model 2 does better, white ->
 * #d6604d when worse. */
static void color_of(double v, double scale, lmd_measure m, int rgb[3]) {
    double u = v / scale * (m == LMD_MEASURE_PROB || m == LMD_MEASURE_LOGPROB ? 1 : -1);
    u = u > 1 ? 1 : u < -1 ? -1 : u != u ? 0 : u;
    static const int better[3] = {0x43, 0x93, 0xc3}, worse[3] = {0xd6, 0x60, 0x4d};
    const int *to = u > 0 ? better : worse;
    for (int c = 0; c < 3; c++)
        rgb[c] = (int)lround(255 + (to[c] - 255) * fabs(u));
}

static const char *style =
    ".lmd{font:14px/1.5 system-ui,sans-serif;color:#222;max-width:64em}"
    ".lmd h3{margin:.3em 0}.lmd .text{font-family:ui-monospace,monospace;white-space:pre-wrap;"
    "line-height:2;margin:.6em 0}"
    ".lmd .t{position:relative;padding:2px 0;border-radius:2px;color:#000}"
    ".lmd .t:hover{outline:1px solid #333}"
    ".lmd .t:hover::after{content:attr(data-tip);position:absolute;left:0;top:1.7em;z-index:9;"
    "white-space:pre;background:#fff;border:1px solid #888;padding:3px 6px;font:12px/1.4 "
    "ui-monospace,monospace;box-shadow:0 1px 4px rgba(0,0,0,.25)}"
    ".lmd table{border-collapse:collapse;font-size:12px}"
    ".lmd th,.lmd td{padding:1px 7px;text-align:right;border-bottom:1px solid #eee}"
    ".lmd td.tok{text-align:left;font-family:ui-monospace,monospace;white-space:pre}";

static int put_header(lmd_buf *b, const lmd_diff_doc *d, lmd_measure m) {
    double s1 = 0, s2 = 0, n = d->s1->n ? (double)d->s1->n : 1;
    for (size_t i = 0; i < d->s1->n; i++)
        s1 += d->s1->logprob[i], s2 += d->s2->logprob[i];
    int rc = lmd_buf_puts(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                             "<title>lmdiff: ");
    rc |= put_escaped(b, d->name1, strlen(d->name1), 0);
    rc |= lmd_buf_puts(b, " vs ");
    rc |= put_escaped(b, d->name2, strlen(d->name2), 0);
    rc |= lmd_buf_printf(b,
                         "</title><style>%s</style></head><body>\n<div class=\"lmd\">"
                         "<h3>m1 = <span class=\"m1\">",
                         style);
    rc |= put_escaped(b, d->name1, strlen(d->name1), 0);
    rc |= lmd_buf_puts(b, "</span>, m2 = <span class=\"m2\">");
    rc |= put_escaped(b, d->name2, strlen(d->name2), 0);
    rc |= lmd_buf_printf(b, "</span>, measure <span class=\"measure\">%s</span></h3>\n",
                         lmd_measure_name(m));
    rc |= lmd_buf_printf(b, "<div>mean log-prob: m1 %.4f, m2 %.4f (%zu tokens)</div>\n", s1 / n,
                         s2 / n, d->s1->n);
    rc |= lmd_buf_puts(
        b, "<svg class=\"legend\" width=\"300\" height=\"30\" xmlns=\"http://www.w3.org/2000/svg\">"
           "<defs><linearGradient id=\"lmd-scale\"><stop offset=\"0\" stop-color=\"#d6604d\"/>"
           "<stop offset=\".5\" stop-color=\"#fff\"/><stop offset=\"1\" stop-color=\"#4393c3\"/>"
           "</linearGradient></defs><rect x=\"0\" y=\"0\" width=\"300\" height=\"12\" "
           "fill=\"url(#lmd-scale)\" stroke=\"#999\"/><text x=\"0\" y=\"26\" font-size=\"11\">"
           "m2 worse</text><text x=\"300\" y=\"26\" font-size=\"11\" text-anchor=\"end\">"
           "m2 better</text></svg>\n");
    return rc;
}

static int put_spans(lmd_buf *b, const lmd_diff_doc *d, lmd_measure m) {
    const lmd_scores *a = d->s1, *c = d->s2;
    double scale = color_scale(d, m);
    int rc = lmd_buf_puts(b, "<div class=\"text\">");
    for (size_t i = 0; i < a->n && !rc; i++) {
        double v = lmd_token_measure(a, c, i, m, clamp_of(d));
        int rgb[3];
        color_of(v, scale, m, rgb);
        rc |= lmd_buf_printf(b,
                             "<span class=\"t\" data-i=\"%zu\" style=\"background:#%02x%02x%02x\""
                             " data-tip=\"",
                             i, rgb[0], rgb[1], rgb[2]);
        rc |= put_token(b, d->tok, a->ids[i], 1);
        rc |= lmd_buf_printf(b, "&#10;p1 %.4g  rank %d&#10;p2 %.4g  rank %d&#10;%s %+.4g\">",
                             (double)a->prob[i], a->rank[i], (double)c->prob[i], c->rank[i],
                             lmd_measure_name(m), v);
        rc |= put_token(b, d->tok, a->ids[i], 0);
        rc |= lmd_buf_puts(b, "</span>");
    }
    return rc | lmd_buf_puts(b, "</div>\n");
}

static int put_table(lmd_buf *b, const lmd_diff_doc *d, lmd_measure m) {
    const lmd_scores *a = d->s1, *c = d->s2;
    int rc = lmd_buf_printf(b,
                            "<table class=\"tokens\"><thead><tr><th>#</th><th>token</th>"
                            "<th>p1</th><th>p2</th><th>r1</th><th>r2</th><th>%s</th>"
                            "<th>top-1 m1</th><th>top-1 m2</th></tr></thead><tbody>\n",
                            lmd_measure_name(m));
    for (size_t i = 0; i < a->n && !rc; i++) {
        rc |= lmd_buf_printf(b, "<tr><td>%zu</td><td class=\"tok\">", i);
        rc |= put_token(b, d->tok, a->ids[i], 1);
        rc |= lmd_buf_printf(b,
                             "</td><td>%.4g</td><td>%.4g</td><td>%d</td><td>%d</td><td>%.4g"
                             "</td><td class=\"tok\">",
                             (double)a->prob[i], (double)c->prob[i], a->rank[i], c->rank[i],
                             lmd_token_measure(a, c, i, m, clamp_of(d)));
        if (a->k > 0) rc |= put_token(b, d->tok, a->topk_ids[i * (size_t)a->k], 1);
        rc |= lmd_buf_puts(b, "</td><td class=\"tok\">");
        if (c->k > 0) rc |= put_token(b, d->tok, c->topk_ids[i * (size_t)c->k], 1);
        rc |= lmd_buf_puts(b, "</td></tr>\n");
    }
    return rc | lmd_buf_puts(b, "</tbody></table></div></body></html>\n");
}

int lmd_diff_html(const lmd_diff_doc *d, char **html, lmd_error *err) {
    *html = NULL;
    if (check_doc(d, err) < 0) return -1;
    int m = d->measure ? lmd_measure_parse(d->measure) : LMD_MEASURE_LOGPROB;
    if (m < 0)
        return lmd_fail(err,
                        "lmd_diff_html: unknown measure '%s' (prob, logprob, rank, "
                        "rank_clamped, topk, entropy)",
                        d->measure);
    lmd_buf b = {0};
    if (put_header(&b, d, (lmd_measure)m) || put_spans(&b, d, (lmd_measure)m) ||
        put_table(&b, d, (lmd_measure)m) || lmd_buf_put(&b, "", 1)) {
        lmd_buf_free(&b);
        return lmd_fail(err, "lmd_diff_html: out of memory");
    }
    *html = b.data;
    return 0;
}
