/* bench_packed.c - does a packed weight layout pay for oneDNN's BF16 matmul?
 * For the products of a Llama-3.2-1B layer and its head at a batch of M
 * rows, the GFLOP/s of oneDNN's matmul with the weights in their stored
 * layout (nn.Linear's [out x in], read as a transposed matrix: what
 * src/model/matmul_dnnl.c does) against weights reordered once into the
 * layout the primitive asks for (format_tag any), alternating, best of
 * reps.  Also prints the size of the packed copy, which would be resident
 * memory on top of the mapped file.
 *
 * usage: bench_packed [M] [reps]   (default 768 rows, 5 reps) */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchlib.h"

#define CK(x)                                                                                      \
    do {                                                                                           \
        if ((x) != dnnl_success) {                                                                 \
            fprintf(stderr, "bench_packed: %s failed\n", #x);                                      \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static dnnl_engine_t eng;
static dnnl_stream_t st;

static void md2(dnnl_memory_desc_t *md, long d0, long d1, dnnl_data_type_t dt, long s0, long s1) {
    dnnl_dims_t dims = {d0, d1}, strides = {s0, s1};
    CK(dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides));
}

/* best GFLOP/s of one product shape, plain or packed weights; *impl, *bytes */
static double run(long M, long N, long K, int packed, int reps, const char **impl, size_t *bytes) {
    dnnl_memory_desc_t a, w, wplain, y;
    md2(&a, M, K, dnnl_bf16, K, 1);
    md2(&wplain, K, N, dnnl_bf16, 1, K); /* stored [N x K] */
    md2(&y, M, N, dnnl_f32, N, 1);
    if (packed) {
        dnnl_dims_t dims = {K, N};
        CK(dnnl_memory_desc_init_by_tag(&w, 2, dims, dnnl_bf16, dnnl_format_tag_any));
    } else {
        w = wplain;
    }
    dnnl_matmul_desc_t md;
    CK(dnnl_matmul_desc_init(&md, &a, &w, NULL, &y));
    dnnl_primitive_desc_t pd;
    CK(dnnl_primitive_desc_create(&pd, &md, NULL, eng, NULL));
    CK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, impl));
    const dnnl_memory_desc_t *wq = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    *bytes = dnnl_memory_desc_get_size(wq);
    dnnl_primitive_t p;
    CK(dnnl_primitive_create(&p, pd));
    uint16_t *A = malloc((size_t)(M * K) * 2), *W = malloc((size_t)(N * K) * 2);
    float *Y = malloc((size_t)(M * N) * 4);
    for (long i = 0; i < M * K; i++)
        A[i] = 0x3F80 ^ (uint16_t)(i & 0x7F);
    for (long i = 0; i < N * K; i++)
        W[i] = 0x3C00 ^ (uint16_t)(i & 0x7F);
    dnnl_memory_t ma, mw, my, mwp = NULL;
    CK(dnnl_memory_create(&ma, &a, eng, A));
    CK(dnnl_memory_create(&mw, &wplain, eng, W));
    CK(dnnl_memory_create(&my, &y, eng, Y));
    void *WP = NULL;
    if (packed) { /* reorder once, as a load step would */
        WP = malloc(*bytes);
        CK(dnnl_memory_create(&mwp, wq, eng, WP));
        dnnl_primitive_desc_t rpd;
        dnnl_primitive_t r;
        CK(dnnl_reorder_primitive_desc_create(&rpd, &wplain, eng, wq, eng, NULL));
        CK(dnnl_primitive_create(&r, rpd));
        dnnl_exec_arg_t ra[2] = {{DNNL_ARG_FROM, mw}, {DNNL_ARG_TO, mwp}};
        CK(dnnl_primitive_execute(r, st, 2, ra));
        CK(dnnl_stream_wait(st));
        dnnl_primitive_destroy(r);
        dnnl_primitive_desc_destroy(rpd);
    }
    dnnl_exec_arg_t args[3] = {
        {DNNL_ARG_SRC, ma}, {DNNL_ARG_WEIGHTS, packed ? mwp : mw}, {DNNL_ARG_DST, my}};
    double best = 0;
    for (int r = -1; r < reps; r++) {
        double t0 = bl_now();
        CK(dnnl_primitive_execute(p, st, 3, args));
        CK(dnnl_stream_wait(st));
        double g = 2.0 * M * N * K / (bl_now() - t0) / 1e9;
        if (r >= 0 && g > best) best = g;
    }
    dnnl_memory_destroy(ma), dnnl_memory_destroy(mw), dnnl_memory_destroy(my);
    if (mwp) dnnl_memory_destroy(mwp);
    dnnl_primitive_destroy(p);
    dnnl_primitive_desc_destroy(pd);
    free(A), free(W), free(Y), free(WP);
    return best;
}

int main(int argc, char **argv) {
    long M = argc > 1 ? atol(argv[1]) : 768;
    int reps = argc > 2 ? atoi(argv[2]) : 5;
    CK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CK(dnnl_stream_create(&st, eng, dnnl_stream_default_flags));
    /* q/o, k/v, gate/up, down, the head (Llama-3.2-1B) */
    static const long shapes[][2] = {
        {2048, 2048}, {512, 2048}, {8192, 2048}, {2048, 8192}, {128256, 2048}};
    printf("oneDNN BF16 matmul, M = %ld rows, best of %d, plain then packed (alternating twice)\n",
           M, reps);
    printf("%8s %8s %10s %10s %8s %s\n", "N", "K", "plain", "packed", "gain",
           "implementation, packed bytes");
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        double pl = 0, pk = 0;
        const char *impl, *impl2;
        size_t b1, b2;
        for (int rep = 0; rep < 2; rep++) {
            double a = run(M, shapes[i][0], shapes[i][1], 0, reps, &impl, &b1);
            double b = run(M, shapes[i][0], shapes[i][1], 1, reps, &impl2, &b2);
            if (a > pl) pl = a;
            if (b > pk) pk = b;
        }
        printf("%8ld %8ld %10.1f %10.1f %7.2fx %s / %s, %zu (plain %zu)\n", shapes[i][0],
               shapes[i][1], pl, pk, pk / pl, impl, impl2, b2, b1);
    }
    return 0;
}
