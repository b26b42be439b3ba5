/* diff_html.c - see diff_html.h. */
#include "diff_html.h"

#include <stdio.h>
#include <string.h>

#include "analysis/corpus.h"
#include "cli.h"

int cli_write_diff_html(const char *path, const lmd_diff_doc *d) {
    lmd_error err;
    char *html;
    if (lmd_diff_html(d, &html, &err) < 0) return cli_error("%s", err.msg), -1;
    lmd_atomic a;
    int rc = lmd_atomic_open(&a, path, &err);
    if (rc == 0) {
        fwrite(html, 1, strlen(html), a.f);
        rc = lmd_atomic_commit(&a, &err);
    }
    lmd_free(html);
    if (rc < 0) cli_error("%s", err.msg);
    return rc;
}
