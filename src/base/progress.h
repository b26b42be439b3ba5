/* progress.h - a one-line progress bar on stderr for long jobs: items done
 * of a total, tokens per second and the time left.  It draws only when
 * stderr is a terminal (LMD_PROGRESS=0 turns it off, LMD_PROGRESS=1 on even
 * when stderr is not a terminal, for tests), redraws at most 10 times a
 * second, and erases itself at the end.  Every function accepts NULL. */
#ifndef LMD_PROGRESS_H
#define LMD_PROGRESS_H

#include <stdint.h>

typedef struct lmd_progress lmd_progress;

/* label: what runs ("analyze gpt2"); unit: what is counted ("texts").
 * NULL when silent (not a terminal) or out of memory. */
lmd_progress *lmd_progress_new(const char *label, const char *unit, uint64_t total);
/* done items of the total (which may be corrected here; 0 keeps it) and
 * tokens processed so far (0: no rate is shown).  The first call's done
 * counts as the start, so that a resumed job shows its own speed. */
void lmd_progress_update(lmd_progress *p, uint64_t done, uint64_t total, uint64_t tokens);
/* Erases the bar and frees p. */
void lmd_progress_end(lmd_progress *p);
/* An lmd_progress_fn (corpus.h) that forwards to lmd_progress_update. */
void lmd_progress_cb(void *p, uint64_t done, uint64_t total, uint64_t tokens);

#endif
