/* analyze_segments.c - POST /api/analyze for two models with different
 * tokenizers (or with "segments": true): the segments document of
 * docs/cli.md, with the same limits as the token-by-token answer.  Runs on
 * a pool worker (api.c), never on an HTTP thread. */
#include <stdlib.h>
#include <string.h>

#include "analysis/segments.h"
#include "server/internal.h"

void lmd_api_analyze_segments(lmd_job *j, const lmd_server *s, const app_model *m1,
                              const app_model *m2, const char *text, size_t tl) {
    lmd_error err;
    const app_model *ms[2] = {m1, m2};
    for (int m = 0; m < 2; m++) {
        int32_t *ids;
        size_t n;
        if (lmd_tokenize(lmd_model_tokenizer(ms[m]->model), text, tl, &ids, &n, &err) < 0) {
            lmd_job_fail(j, lmd_http_status_of(err.code), "%s", err.msg);
            return;
        }
        free(ids);
        if (n == 0 || n > s->cfg.max_text_tokens) {
            if (n == 0)
                lmd_job_fail(j, 422, LMD_MSG_NO_TOKENS);
            else
                lmd_job_fail(j, 413, "text has %zu tokens for '%s'; the limit is %zu", n, ms[m]->id,
                             s->cfg.max_text_tokens);
            return;
        }
    }
    lmd_score_opts so = LMD_SCORE_OPTS_INIT;
    so.n_threads = s->cfg.score_threads;
    lmd_xdiff x;
    if (lmd_xdiff_run(m1->model, m2->model, text, tl, &so, &x, &err) < 0) {
        lmd_job_fail(j, lmd_http_status_of(err.code), "%s", err.msg);
        return;
    }
    if (lmd_json_xdiff(&j->body, &x, m1->model, m1->id, m2->model, m2->id, text, tl) < 0)
        lmd_job_fail(j, 503, "out of memory for the answer");
    else
        j->status = 200;
    lmd_xdiff_free(&x);
}
