/* diff_html.h - `lmdiff diff --html FILE`: the diff as one self-contained
 * HTML page (lmd_diff_html), written atomically. */
#ifndef LMD_CLI_DIFF_HTML_H
#define LMD_CLI_DIFF_HTML_H

#include "lmdiff.h"

/* Writes the page to path; on failure prints the error, leaves no file
 * behind and returns -1. */
int cli_write_diff_html(const char *path, const lmd_diff_doc *d);

#endif
