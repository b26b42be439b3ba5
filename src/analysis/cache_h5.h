/* cache_h5.h - internals shared by the analysis-cache files (cache.c:
 * HDF5 helpers and the root attributes; cache_write.c; cache_read.c): the
 * lock, error capture, string and integer attributes, and the layout of the
 * read index (docs/corpus.md). */
#ifndef LMD_CACHE_H5_H
#define LMD_CACHE_H5_H

#include <hdf5.h>
#include <pthread.h>

#include "analysis/corpus.h"

#define LMD_H5_GROUP_NAME_LEN 16 /* 15 digits + NUL */

/* The read index: for every text, LMD_IX_FIELDS little-endian u64 - its
 * token count, the file offsets of its seven contiguous datasets, and where
 * its phrase is in the chunk's phrase bytes.  Stored in root attributes
 * lmdiff_index_NNNNNN ([m, 10] u64) and lmdiff_phrases_NNNNNN (u8), one
 * pair per LMD_IX_CHUNK texts, so that readers need no HDF5 call per text
 * and the original's "root members - 1 = texts" still holds. */
#define LMD_IX_CHUNK 8192
enum {
    LMD_IX_N,
    LMD_IX_IDS, /* the seven datasets, in lmd_h5_fields order */
    LMD_IX_RANKS,
    LMD_IX_PROBS,
    LMD_IX_TOPK_IDS,
    LMD_IX_TOPK_PROBS,
    LMD_IX_ENTROPY,
    LMD_IX_LOGPROBS,
    LMD_IX_PHRASE_OFF,
    LMD_IX_PHRASE_LEN,
    LMD_IX_FIELDS
};
#define LMD_H5_N_FIELDS 7
/* token_ids, ranks, probs, topk_token_ids, topk_probs, entropy, logprobs */
extern const char *const lmd_h5_fields[LMD_H5_N_FIELDS];

/* One lock around every HDF5 call of liblmdiff (the cache readers keep
 * state of their own too). */
extern pthread_mutex_t lmd_h5_lock;
/* Turns HDF5's printing off for this thread and forgets noted errors;
 * every public function calls it first. */
void lmd_h5_quiet(void);
/* Notes the innermost message of HDF5's error stack now, before cleanup
 * calls clear it (the first failure wins).  Returns -1. */
int lmd_h5_note(void);
/* The noted message, shortened to its system error when there is one. */
const char *lmd_h5_detail(char *buf, size_t cap);

#define LMD_H5_FAIL(err, ...)                                                                      \
    do {                                                                                           \
        char det_[512];                                                                            \
        char msg_[768];                                                                            \
        snprintf(msg_, sizeof msg_, __VA_ARGS__);                                                  \
        lmd_fail(err, "%s: %s", msg_, lmd_h5_detail(det_, sizeof det_));                           \
    } while (0)

hid_t lmd_h5_str_type(void); /* variable-length UTF-8 */
void lmd_h5_group_name(char buf[LMD_H5_GROUP_NAME_LEN], uint64_t i);
int lmd_h5_put_str_attr(hid_t obj, const char *name, const char *val);
int lmd_h5_put_int_attr(hid_t obj, const char *name, int64_t v);
/* *out = NULL and 0 when absent; -1 when present but not a string; -2 when
 * HDF5 cannot read the object's attributes (damage). */
int lmd_h5_get_str_attr(hid_t obj, const char *name, char **out);
int lmd_h5_get_int_attr(hid_t obj, const char *name, int64_t *v, int *present);
/* The root attributes; n_texts from the groups. */
int lmd_h5_read_info(hid_t f, const char *path, lmd_cache_info *info, lmd_error *err);
hid_t lmd_h5_file_access(void);
/* lmd_cache_open without the digest check: for lmd_cache_import only. */
int lmd_cache_open_unchecked(const char *path, lmd_cache **out, lmd_error *err);
/* Drops the reader's mapped pages from the resident set (cache_read.c). */
void lmd_cache_release_pages(lmd_cache *c);

#endif
