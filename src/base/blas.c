/* blas.c - which OpenBLAS kernel set runs, and a better one when OpenBLAS
 * did not recognise the processor.  OpenBLAS 0.3.21 (Debian 12) falls back
 * to its SSE3 "Prescott" kernels on CPUs newer than it knows (e.g. Emerald
 * Rapids), which halves sgemm speed; the CLI then re-executes itself with
 * OPENBLAS_CORETYPE set to the newest kernel set the CPU supports.  A value
 * the user or the machine already set is never changed. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

char *openblas_get_corename(void);

const char *lmd_blas_corename(void) { return openblas_get_corename(); }

const char *lmd_blas_better_coretype(void) {
    if (getenv("OPENBLAS_CORETYPE")) return NULL;
    const char *core = openblas_get_corename();
    if (!core || strcmp(core, "Prescott") != 0) return NULL;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}
