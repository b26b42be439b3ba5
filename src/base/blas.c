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

int lmd_runtime_env_tune(void) {
    if (getenv("LMDIFF_ENV_TUNED")) return 0; /* we ran this already (no exec loops) */
    int changed = 0;
    const char *core = lmd_blas_better_coretype();
    if (core) {
        setenv("OPENBLAS_CORETYPE", core, 1);
        changed = 1;
    }
    /* Idle OpenMP threads spin by default: on a shared 2-core machine, with
     * other processes running, that makes every barrier wait for a time slice
     * (3x slower end to end); sleeping costs ~3% when the machine is idle. */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "passive", 1);
        changed = 1;
    }
    if (changed) setenv("LMDIFF_ENV_TUNED", "1", 1);
    return changed;
}
