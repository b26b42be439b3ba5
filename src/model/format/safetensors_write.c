/* safetensors_write.c - writes safetensors files: used by the tests, the
 * benchmarks and the tools that make random models. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/safetensors.h"

int lmd_st_write(const char *path, const lmd_st_out *t, size_t n, lmd_error *err) {
    lmd_buf h = {0};
    size_t off = 0;
    int rc = lmd_buf_puts(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < n; i++) {
        rc |= lmd_buf_printf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            rc |= lmd_buf_printf(&h, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        rc |= lmd_buf_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + t[i].nbytes);
        off += t[i].nbytes;
    }
    rc |= lmd_buf_puts(&h, "}");
    while (h.len % 8) rc |= lmd_buf_put(&h, " ", 1);
    if (rc) {
        lmd_buf_free(&h);
        return lmd_fail(err, "out of memory");
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        lmd_buf_free(&h);
        return lmd_fail(err, "%s: %s", path, strerror(errno));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(h.data, 1, h.len, f) == h.len;
    for (size_t i = 0; ok && i < n; i++)
        ok = t[i].nbytes == 0 || fwrite(t[i].data, 1, t[i].nbytes, f) == t[i].nbytes;
    ok = (fclose(f) == 0) && ok;
    lmd_buf_free(&h);
    if (!ok) {
        remove(path);
        return lmd_fail(err, "%s: write failed", path);
    }
    return 0;
}
