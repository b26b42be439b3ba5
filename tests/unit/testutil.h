/* testutil.h - helpers for the cmocka tests: where the fixtures are, and
 * skipping (exit 77) when ../shared is absent. */
#ifndef LMD_TESTUTIL_H
#define LMD_TESTUTIL_H
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* Path under the project's source tree ($LMD_SRC); malloc'ed. */
char *tu_src_path(const char *rel);
/* Path under ../shared ($LMD_SHARED); malloc'ed.  NULL when shared/ is absent. */
char *tu_shared_path(const char *rel);
/* Prints a message and exits 77 (ctest's skip) when shared/ is absent. */
void tu_require_shared(void);
/* A fresh temporary directory; malloc'ed. */
char *tu_tmpdir(void);
#endif
