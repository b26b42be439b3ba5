/* clones.h - LMD_CLONES: a hot loop built by GCC for several instruction
 * sets (AVX-512, Haswell's AVX2+FMA, the baseline), the best chosen at load
 * time.  Empty under clang (no target_clones) or where LMD_NO_CLONES is
 * defined. */
#ifndef LMD_CLONES_H
#define LMD_CLONES_H

#if defined(__x86_64__) && !defined(__clang__) && !defined(LMD_NO_CLONES)
#define LMD_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define LMD_CLONES
#endif

#endif
