/* scratch.c - see scratch.h.  Thread-local slots; a pthread key frees a
 * thread's slots when it exits. */
#include "model/kernel/scratch.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define ALIGN ((size_t)64)
#define HUGE_PAGE ((size_t)2 << 20)

typedef struct slot {
    void *p;
    size_t cap;
} slot;

static _Thread_local slot slots[LMD_SCR_N];
static pthread_key_t exit_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void free_slots(slot *s) {
    for (int i = 0; i < LMD_SCR_N; i++) {
        free(s[i].p);
        s[i] = (slot){NULL, 0};
    }
}

static void on_exit_thread(void *p) {
    free_slots(p);
}

static void make_key(void) {
    (void)pthread_key_create(&exit_key, on_exit_thread);
}

/* The logits block: in 2 MB pages where the kernel offers them (THP
 * "madvise"), one fault per 2 MB instead of 512. */
static void *grow(lmd_scratch_slot i, size_t bytes) {
    const size_t align = i == LMD_SCR_LOGITS ? HUGE_PAGE : ALIGN;
    bytes = (bytes + align - 1) / align * align;
    void *p = NULL;
    if (posix_memalign(&p, align, bytes ? bytes : align) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (i == LMD_SCR_LOGITS) madvise(p, bytes, MADV_HUGEPAGE); /* a hint */
#endif
    slots[i] = (slot){p, bytes};
    pthread_once(&key_once, make_key);
    (void)pthread_setspecific(exit_key, slots); /* a failure only leaks at thread exit */
    return p;
}

void *lmd_scratch(lmd_scratch_slot i, size_t bytes) {
    slot *s = &slots[i];
    if (s->p && s->cap >= bytes) return s->p;
    free(s->p);
    *s = (slot){NULL, 0};
    return grow(i, bytes);
}

int lmd_scratch_parts(lmd_scratch_slot i, int n, const size_t *sizes, void **out) {
    size_t total = 0;
    for (int j = 0; j < n; j++)
        total += (sizes[j] + ALIGN - 1) / ALIGN * ALIGN;
    char *p = lmd_scratch(i, total);
    if (!p) return -1;
    for (int j = 0; j < n; j++) {
        out[j] = p;
        p += (sizes[j] + ALIGN - 1) / ALIGN * ALIGN;
    }
    return 0;
}

size_t lmd_scratch_size(lmd_scratch_slot i) {
    return slots[i].cap;
}

size_t lmd_scratch_held(void) {
    size_t n = 0;
    for (int i = 0; i < LMD_SCR_N; i++)
        n += slots[i].cap;
    return n;
}

void lmd_scratch_release(void) {
    free_slots(slots);
}
