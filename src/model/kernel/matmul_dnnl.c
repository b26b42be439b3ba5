/* matmul_dnnl.c - BF16 x BF16 -> F32 products through oneDNN's matmul
 * primitive (see matmul.h for when they run).
 *
 * A primitive depends on the shape (T, n, k), the weights' layout, the
 * output's row stride and whether it accumulates (a "sum" post-op), so those
 * are the cache key.  Creating one costs ~0.5 ms (JIT), running it the same
 * for a small product, hence the cache: created under a mutex on first use,
 * then only read.  Primitives are immutable and run with a scratchpad the
 * caller allocates (user scratchpad mode), so concurrent executions of one
 * primitive from several threads are safe.  Weights are used in their
 * plain layout (the mapping itself) or as a packed copy in the blocked
 * layout the kernel prefers (lmd_dnnl_pack; docs/performance.md): then the
 * layout is part of the key. */
#include "model/kernel/matmul_dnnl.h"
#include "model/kernel/scratch.h"

#include <oneapi/dnnl/dnnl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct {
    int64_t T, n, k, ldy;
    int in_major, accumulate, packed;
    dnnl_memory_desc_t wmd; /* packed: the weights' layout */
} key_t_;

/* A packed copy: its layout, then the data at PACK_OFF. */
struct lmd_packed {
    dnnl_memory_desc_t md;
};
#define PACK_OFF ((size_t)4096)
#define PACK_ROWS 512 /* the row count asked for the layout (any gives the same) */

typedef struct {
    key_t_ key;
    dnnl_primitive_t prim;
    size_t scratch;
} entry;

#define CACHE_MAX 512
static entry cache[CACHE_MAX];
static size_t n_cache;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t engine_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t engine;

static void engine_init(void) {
    if (dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success) engine = NULL;
}

/* 2-D plain memory descriptor: dims {d0, d1}, strides {s0, s1} */
static int md2(dnnl_memory_desc_t *md, int64_t d0, int64_t d1, dnnl_data_type_t dt, int64_t s0,
               int64_t s1) {
    dnnl_dims_t dims = {d0, d1}, strides = {s0, s1};
    return dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides) == dnnl_success ? 0 : -1;
}

/* the three memory descriptors of a product with this key */
static int descs(const key_t_ *kk, dnnl_memory_desc_t *a, dnnl_memory_desc_t *w,
                 dnnl_memory_desc_t *y) {
    if (md2(a, kk->T, kk->k, dnnl_bf16, kk->k, 1) < 0) return -1;
    /* weights as oneDNN's [k x n]: stored [n x k] is the transposed layout */
    if (kk->packed)
        *w = kk->wmd;
    else if (kk->in_major ? md2(w, kk->k, kk->n, dnnl_bf16, kk->n, 1)
                          : md2(w, kk->k, kk->n, dnnl_bf16, 1, kk->k))
        return -1;
    return md2(y, kk->T, kk->n, dnnl_f32, kk->ldy, 1);
}

/* Creates the primitive for a key; *impl_out (optional) gets its name. */
static dnnl_primitive_t create(const key_t_ *kk, size_t *scratch, char *impl_out, size_t impl_len) {
    dnnl_memory_desc_t a, w, y;
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    pthread_once(&engine_once, engine_init);
    if (!engine || descs(kk, &a, &w, &y) < 0) return NULL;
    if (dnnl_matmul_desc_init(&md, &a, &w, NULL, &y) != dnnl_success) return NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) != dnnl_success)
        goto done;
    if (kk->accumulate) {
        if (dnnl_post_ops_create(&po) != dnnl_success || dnnl_post_ops_append_sum(po, 1.0f) ||
            dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success)
            goto done;
    }
    if (dnnl_primitive_desc_create(&pd, &md, attr, engine, NULL) != dnnl_success) goto done;
    const dnnl_memory_desc_t *s = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    *scratch = s ? dnnl_memory_desc_get_size(s) : 0;
    if (impl_out) {
        const char *impl = NULL;
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        if (impl) {
            strncpy(impl_out, impl, impl_len - 1);
            impl_out[impl_len - 1] = 0;
        }
    }
    if (dnnl_primitive_create(&prim, pd) != dnnl_success) prim = NULL;
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return prim;
}

static int same(const key_t_ *a, const key_t_ *b) {
    return a->T == b->T && a->n == b->n && a->k == b->k && a->ldy == b->ldy &&
           a->in_major == b->in_major && a->accumulate == b->accumulate && a->packed == b->packed &&
           (!a->packed || dnnl_memory_desc_equal(&a->wmd, &b->wmd));
}

/* The cached primitive for a key (created on first use).  *owned = 1 when
 * the cache is full and the caller must destroy it after use. */
static dnnl_primitive_t lookup(const key_t_ *kk, size_t *scratch, int *owned) {
    *owned = 0;
    pthread_mutex_lock(&cache_lock);
    dnnl_primitive_t p = NULL;
    for (size_t i = 0; i < n_cache && !p; i++)
        if (same(&cache[i].key, kk)) {
            p = cache[i].prim;
            *scratch = cache[i].scratch;
        }
    if (!p) {
        p = create(kk, scratch, NULL, 0);
        if (p && n_cache < CACHE_MAX)
            cache[n_cache++] = (entry){*kk, p, *scratch};
        else if (p)
            *owned = 1;
    }
    pthread_mutex_unlock(&cache_lock);
    return p;
}

int lmd_dnnl_bf16(const uint16_t *A, size_t T, const uint16_t *W, const struct lmd_packed *pw,
                  int n, int k, int in_major, float *Y, size_t ldy, int accumulate) {
    key_t_ kk = {.T = (int64_t)T,
                 .n = n,
                 .k = k,
                 .ldy = (int64_t)ldy,
                 .in_major = in_major,
                 .accumulate = accumulate ? 1 : 0,
                 .packed = pw != NULL};
    if (pw) kk.wmd = pw->md, W = (const uint16_t *)((const char *)pw + PACK_OFF);
    size_t ssz = 0;
    int owned;
    dnnl_primitive_t p = lookup(&kk, &ssz, &owned);
    if (!p) return -1;
    dnnl_memory_desc_t a, w, y, sd;
    dnnl_memory_t ma = NULL, mw = NULL, my = NULL, ms = NULL;
    dnnl_stream_t st = NULL;
    void *scratch = lmd_scratch(LMD_SCR_DNNL, ssz ? ssz : 1); /* kept: no fresh pages */
    int rc = -1;
    dnnl_dims_t sdims = {(int64_t)ssz};
    if (!scratch || descs(&kk, &a, &w, &y) < 0 ||
        dnnl_memory_desc_init_by_tag(&sd, 1, sdims, dnnl_u8, dnnl_x) != dnnl_success)
        goto done;
    if (dnnl_memory_create(&ma, &a, engine, (void *)A) != dnnl_success ||
        dnnl_memory_create(&mw, &w, engine, (void *)W) != dnnl_success ||
        dnnl_memory_create(&my, &y, engine, Y) != dnnl_success ||
        dnnl_memory_create(&ms, &sd, engine, scratch) != dnnl_success ||
        dnnl_stream_create(&st, engine, dnnl_stream_default_flags) != dnnl_success)
        goto done;
    dnnl_exec_arg_t args[] = {
        {DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_DST, my}, {DNNL_ARG_SCRATCHPAD, ms}};
    if (dnnl_primitive_execute(p, st, 4, args) == dnnl_success &&
        dnnl_stream_wait(st) == dnnl_success)
        rc = 0;
done:
    if (st) dnnl_stream_destroy(st);
    if (ma) dnnl_memory_destroy(ma);
    if (mw) dnnl_memory_destroy(mw);
    if (my) dnnl_memory_destroy(my);
    if (ms) dnnl_memory_destroy(ms);
    if (owned) dnnl_primitive_destroy(p);
    return rc;
}

/* Runs one primitive (a reorder) from src to dst memory. */
static int run_reorder(const dnnl_memory_desc_t *from, const void *src,
                       const dnnl_memory_desc_t *to, void *dst) {
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t r = NULL;
    dnnl_memory_t ms = NULL, md = NULL;
    dnnl_stream_t st = NULL;
    int rc = -1;
    if (dnnl_reorder_primitive_desc_create(&pd, from, engine, to, engine, NULL) != dnnl_success ||
        dnnl_primitive_create(&r, pd) != dnnl_success ||
        dnnl_memory_create(&ms, from, engine, (void *)src) != dnnl_success ||
        dnnl_memory_create(&md, to, engine, dst) != dnnl_success ||
        dnnl_stream_create(&st, engine, dnnl_stream_default_flags) != dnnl_success)
        goto done;
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, ms}, {DNNL_ARG_TO, md}};
    if (dnnl_primitive_execute(r, st, 2, args) == dnnl_success &&
        dnnl_stream_wait(st) == dnnl_success)
        rc = 0;
done:
    if (st) dnnl_stream_destroy(st);
    if (ms) dnnl_memory_destroy(ms);
    if (md) dnnl_memory_destroy(md);
    if (r) dnnl_primitive_destroy(r);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return rc;
}

/* The weights layout the kernel picks for [n x k] stored weights given the
 * choice (*want), and the plain one (*plain); 1 when they differ and the
 * kernel is a brgemm one, else 0 (the plain layout stays; also when oneDNN
 * has no BF16 matmul here, which the product itself then reports). */
static int preferred(int n, int k, dnnl_memory_desc_t *want, dnnl_memory_desc_t *plain) {
    key_t_ kk = {.T = PACK_ROWS, .n = n, .k = k, .ldy = n};
    dnnl_memory_desc_t a, y, any;
    dnnl_dims_t dims = {k, n};
    dnnl_matmul_desc_t md;
    dnnl_primitive_desc_t pd = NULL;
    pthread_once(&engine_once, engine_init);
    if (!engine || descs(&kk, &a, plain, &y) < 0 ||
        dnnl_memory_desc_init_by_tag(&any, 2, dims, dnnl_bf16, dnnl_format_tag_any) !=
            dnnl_success ||
        dnnl_matmul_desc_init(&md, &a, &any, NULL, &y) != dnnl_success ||
        dnnl_primitive_desc_create(&pd, &md, NULL, engine, NULL) != dnnl_success)
        return 0;
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    *want = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    int rc = impl && !strncmp(impl, "brg", 3) && !dnnl_memory_desc_equal(want, plain);
    dnnl_primitive_desc_destroy(pd);
    return rc;
}

int lmd_dnnl_pack(const uint16_t *W, int n, int k, struct lmd_packed **out) {
    const size_t huge = (size_t)2 << 20;
    dnnl_memory_desc_t want, plain;
    *out = NULL;
    int pref = preferred(n, k, &want, &plain);
    if (pref <= 0) return pref;
    size_t bytes = (PACK_OFF + dnnl_memory_desc_get_size(&want) + huge - 1) / huge * huge;
    struct lmd_packed *p;
    if (posix_memalign((void **)&p, huge, bytes) != 0) return -1;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE); /* a hint: fewer TLB misses streaming the weights */
#endif
    p->md = want;
    if (run_reorder(&plain, W, &want, (char *)p + PACK_OFF) < 0) {
        free(p);
        return -1;
    }
    *out = p;
    return 0;
}

static char impl_name[128];
static pthread_once_t impl_once = PTHREAD_ONCE_INIT;

static void impl_probe(void) {
    key_t_ kk = {.T = 64, .n = 1024, .k = 1024, .ldy = 1024};
    size_t ssz;
    dnnl_primitive_t p = create(&kk, &ssz, impl_name, sizeof impl_name);
    if (p)
        dnnl_primitive_destroy(p);
    else
        impl_name[0] = 0;
}

const char *lmd_dnnl_bf16_impl(void) {
    pthread_once(&impl_once, impl_probe);
    return impl_name[0] ? impl_name : NULL;
}

int lmd_dnnl_bf16_native(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    return ((unsigned)isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
           (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}
