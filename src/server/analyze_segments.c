/* analyze_segments.c - POST /api/analyze for two models with different
 * tokenizers (or with "segments": true): the segments document of
 * docs/cli.md, with the same limits as the token-by-token answer. */
#include <stdlib.h>
#include <string.h>

#include "analysis/segments.h"
#include "server/internal.h"

int lmd_api_analyze_segments(lmd_server *s, struct MHD_Connection *c, const app_model *m1,
                             const app_model *m2, const char *text, size_t tl) {
    if (tl == 0) return lmd_http_error(c, 422, "text is empty");
    lmd_error err;
    const app_model *ms[2] = {m1, m2};
    for (int m = 0; m < 2; m++) {
        int32_t *ids;
        size_t n;
        if (lmd_tokenize(lmd_model_tokenizer(ms[m]->model), text, tl, &ids, &n, &err) < 0)
            return lmd_http_error(c, 500, "%s", err.msg);
        free(ids);
        if (n > s->cfg.max_text_tokens)
            return lmd_http_error(c, 413, "text has %zu tokens for '%s'; the limit is %zu", n,
                                  ms[m]->id, s->cfg.max_text_tokens);
    }
    lmd_score_opts so = {.top_k = 10, .n_threads = s->cfg.score_threads};
    lmd_xdiff x;
    if (lmd_xdiff_run(m1->model, m2->model, text, tl, &so, &x, &err) < 0)
        return lmd_http_error(c, 500, "%s", err.msg);
    lmd_buf out = {0};
    int rc = lmd_json_xdiff(&out, &x, m1->model, m1->id, m2->model, m2->id, text, tl) < 0
                 ? lmd_http_error(c, 500, "out of memory")
                 : lmd_http_json(c, 200, &out);
    lmd_buf_free(&out);
    lmd_xdiff_free(&x);
    return rc;
}
