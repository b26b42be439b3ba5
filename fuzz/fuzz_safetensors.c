/* fuzz_safetensors.c - libFuzzer target: the safetensors header parser must
 * accept or reject any byte string without reading out of bounds, and every
 * tensor it accepts must lie inside the buffer. */
#include <stdint.h>
#include <stdlib.h>

#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    lmd_tensor *t;
    size_t n;
    lmd_error err;
    if (lmd_st_parse(data, size, "fuzz", &t, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++) {
            if (t[i].data < data || t[i].data + t[i].nbytes > data + size) abort();
            volatile uint8_t sink = 0;
            if (t[i].nbytes) sink ^= t[i].data[t[i].nbytes - 1];
            (void)sink;
        }
        lmd_st_free_tensors(t, n);
    }
    return 0;
}
