/* gguf_convert.c - a Hugging Face model folder written as a GGUF file, the
 * way llama.cpp's convert_hf_to_gguf.py lays it out (names, <arch>.* keys,
 * q/k or qkv row order, GPT-2's Conv1D weights transposed, tied heads not
 * stored) so that lmdiff and llama.cpp read it back as the same model.
 * Matrices are stored as F32, F16, BF16, Q8_0 or Q4_0 (ggml's reference
 * quantizers; BF16 rounded to nearest even); a matrix whose rows are not
 * whole blocks of 32 falls back to F16, as llama.cpp does; vectors stay F32.
 * The tokenizer must be GPT-2's byte-level BPE (export_gguf.c). */
#include "model/format/gguf_convert.h"

#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/format/gguf_model.h"
#include "model/format/gguf_write.h"
#include "model/kernel/quant.h"
#include "model/matmul.h"
#include "model/model.h"
#include "tokenize/tokenizer.h"

typedef struct owned {
    void **p;
    size_t n;
} owned;

static void *keep(owned *o, void *p) {
    void **q = p ? realloc(o->p, (o->n + 1) * sizeof *q) : NULL;
    if (!q) {
        free(p);
        return NULL;
    }
    o->p = q;
    o->p[o->n++] = p;
    return p;
}

/* ggml type ids of the stored types. */
static uint32_t ggml_type_of(lmd_dtype dt) {
    return dt == LMD_F16 ? 1 : dt == LMD_BF16 ? 30 : dt == LMD_Q8_0 ? 8 : dt == LMD_Q4_0 ? 2 : 0;
}

/* One tensor: HF rows -> GGUF rows (reorder), then the stored type. */
static int add_tensor(lmd_gguf_w *w, owned *o, const lmd_tensor *t, const char *gname,
                      const lmd_gguf_reorder *how, lmd_dtype want, lmd_error *err) {
    const size_t n = (size_t)t->numel;
    float *hf = malloc(n * sizeof *hf), *g = malloc(n * sizeof *g);
    if (!hf || !g) {
        free(hf), free(g);
        return lmd_fail(err, "%s: out of memory", t->name);
    }
    lmd_tensor_to_f32(t, hf);
    size_t rows = t->ndim == 2 ? (size_t)t->shape[0] : 1, cols = n / rows;
    if (how->transposed) { /* HF [n_in x n_out] -> rows of n_in */
        for (size_t i = 0; i < rows; i++)
            for (size_t j = 0; j < cols; j++)
                g[j * rows + i] = hf[i * cols + j];
        size_t x = rows;
        rows = cols, cols = x;
    } else {
        const size_t prow = how->perm_head ? (size_t)t->shape[0] : rows;
        const size_t plen = n / prow; /* vectors permute element by element */
        for (size_t r = 0; r < prow; r++)
            memcpy(g + lmd_perm_row(how->perm_head, prow, r) * plen, hf + r * plen,
                   plen * sizeof *g);
    }
    free(hf);
    lmd_dtype dt = t->ndim == 2 ? want : LMD_F32;
    if (lmd_dtype_is_quant(dt) && cols % 32) dt = LMD_F16;
    const uint64_t ne[2] = {cols, rows};
    void *data = g;
    size_t nbytes = n * sizeof *g;
    if (dt == LMD_F16 || dt == LMD_BF16) {
        uint16_t *h = malloc(n * sizeof *h);
        if (h && dt == LMD_F16)
            for (size_t i = 0; i < n; i++)
                h[i] = lmd_f32_to_f16(g[i]);
        else if (h)
            lmd_f32_to_bf16(g, h, n);
        data = h, nbytes = n * sizeof *h;
    } else if (lmd_dtype_is_quant(dt)) {
        nbytes = lmd_dtype_row_bytes(dt, n);
        uint8_t *q = malloc(nbytes);
        if (q) (dt == LMD_Q8_0 ? lmd_quant_q8_0 : lmd_quant_q4_0)(g, q, n / 32);
        data = q;
    }
    if (data != g) free(g); /* only the stored form stays until the write */
    if (!keep(o, data)) return lmd_fail(err, "%s: out of memory", t->name);
    lmd_gguf_w_tensor(w, gname, ggml_type_of(dt), t->ndim == 2 ? 2 : 1, ne, data, nbytes);
    return 0;
}

/* <arch>.* keys the table does not cover: rope and residual layout. */
static int extra_keys(const char *arch, const cJSON *cfg, int head, lmd_gguf_w *w, lmd_error *err) {
    char key[96];
    if (!strcmp(arch, "gptneox")) {
        double pct = 0.25;
        int par = 1;
        if (lmd_cfg_float(cfg, "rotary_pct", 0.25, &pct, "config.json", err) < 0 ||
            lmd_cfg_bool(cfg, "use_parallel_residual", 1, &par, "config.json", err) < 0)
            return -1;
        lmd_gguf_w_u32(w, "gptneox.rope.dimension_count", (uint32_t)(pct * head + 0.5));
        lmd_gguf_w_bool(w, "gptneox.use_parallel_residual", par);
    } else if (strcmp(arch, "gpt2")) {
        snprintf(key, sizeof key, "%s.rope.dimension_count", arch);
        lmd_gguf_w_u32(w, key, (uint32_t)head);
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
        if (sc && !cJSON_IsNull(sc)) {
            const char *t = lmd_cfg_str(sc, "rope_type");
            if (!t) t = lmd_cfg_str(sc, "type");
            double f;
            if (t && !strcmp(t, "llama3")) return 0; /* rope_freqs_tensor */
            if (!t || strcmp(t, "linear") ||
                lmd_cfg_float(sc, "factor", 1.0, &f, "config.json", err) < 0)
                return lmd_fail(
                    err, "config.json: only linear and llama3 rope_scaling have a GGUF form");
            snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
            lmd_gguf_w_str(w, key, "linear");
            snprintf(key, sizeof key, "%s.rope.scaling.factor", arch);
            lmd_gguf_w_f32(w, key, (float)f);
        }
    }
    return 0;
}

/* rope_scaling llama3 as llama.cpp's converter stores it (LlamaModel.
 * generate_extra_tensors): rope_freqs.weight, F32, one divisor per rotated
 * pair: 1 for wavelengths below original / high_freq_factor, factor above
 * original / low_freq_factor, 1 / ((1 - s) / factor + s) between, with
 * s = (original / wavelength - low) / (high - low).  The original context is
 * rope_scaling's original_max_position_embeddings (HF's definition). */
static int rope_freqs_tensor(const cJSON *cfg, int head, lmd_gguf_w *w, owned *o, lmd_error *err) {
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(cfg, "rope_scaling");
    const char *t = cJSON_IsObject(sc) ? lmd_cfg_str(sc, "rope_type") : NULL;
    if (!t && cJSON_IsObject(sc)) t = lmd_cfg_str(sc, "type");
    if (!t || strcmp(t, "llama3")) return 0;
    double theta, factor, lo, hi, old;
    if (lmd_cfg_float(cfg, "rope_theta", 10000.0, &theta, "config.json", err) < 0 ||
        lmd_cfg_float(sc, "factor", 8.0, &factor, "config.json", err) < 0 ||
        lmd_cfg_float(sc, "low_freq_factor", 1.0, &lo, "config.json", err) < 0 ||
        lmd_cfg_float(sc, "high_freq_factor", 4.0, &hi, "config.json", err) < 0 ||
        lmd_cfg_float(sc, "original_max_position_embeddings", 8192, &old, "config.json", err) < 0)
        return -1;
    if (!(factor > 0) || !(lo > 0) || !(hi > lo) || !(old > 0) || !(theta > 0) || head < 2)
        return lmd_fail(err, "config.json: rope_scaling llama3 has no valid GGUF form");
    const int half = head / 2;
    float *f = keep(o, malloc((size_t)half * sizeof *f));
    if (!f) return lmd_fail(err, "out of memory");
    for (int i = 0; i < half; i++) {
        double wl = 2.0 * M_PI * pow(theta, (double)(2 * i) / head),
               s = (old / wl - lo) / (hi - lo);
        f[i] = (float)(wl < old / hi ? 1.0 : wl > old / lo ? factor : 1.0 / ((1 - s) / factor + s));
    }
    const uint64_t ne[1] = {(uint64_t)half};
    lmd_gguf_w_tensor(w, "rope_freqs.weight", 0, 1, ne, f, (size_t)half * sizeof *f);
    return 0;
}

static int read_config(const char *dir, cJSON **cfg, lmd_error *err) {
    char *p = lmd_path_join(dir, "config.json"), *json;
    size_t len;
    if (!p) return lmd_fail(err, "out of memory");
    int rc = lmd_read_file(p, &json, &len, err);
    if (rc == 0) {
        *cfg = cJSON_ParseWithLength(json, len);
        if (!*cfg) rc = lmd_fail(err, "%s: not valid JSON", p);
        free(json);
    }
    free(p);
    return rc;
}

int lmd_gguf_convert(const char *dir, const char *out, lmd_dtype type, lmd_error *err) {
    if (type != LMD_F32 && type != LMD_F16 && type != LMD_BF16 && type != LMD_Q8_0 &&
        type != LMD_Q4_0)
        return lmd_fail(err, "GGUF conversion writes F32, F16, BF16, Q8_0 or Q4_0");
    lmd_model *m = NULL;
    cJSON *cfg = NULL;
    lmd_gguf_w *w = lmd_gguf_w_new();
    owned o = {0};
    int rc = -1;
    if (!w) return lmd_fail(err, "out of memory");
    if (lmd_model_load(dir, &m, err) < 0 || read_config(dir, &cfg, err) < 0) goto done;
    const char *arch = lmd_gguf_arch_of(m->info.arch);
    if (!arch) {
        lmd_fail(err, "%s: %s has no GGUF form here (Llama, Qwen2, GPT-2, GPT-NeoX do)", dir,
                 m->info.arch);
        goto done;
    }
    const int head = (int)(m->info.n_embd / m->info.n_head);
    long hd;
    if (lmd_cfg_int(cfg, "head_dim", head, &hd, "config.json", err) < 0) goto done;
    char name[256];
    snprintf(name, sizeof name, "%s", m->name);
    lmd_gguf_w_str(w, "general.architecture", arch);
    lmd_gguf_w_str(w, "general.name", name);
    if (lmd_gguf_write_keys(arch, cfg, w, err) < 0 || extra_keys(arch, cfg, (int)hd, w, err) < 0 ||
        lmd_tokenizer_to_gguf(m->tok, w, err) < 0 ||
        (strcmp(arch, "gpt2") && strcmp(arch, "gptneox") &&
         rope_freqs_tensor(cfg, (int)hd, w, &o, err) < 0)) {
        lmd_err_prefix(err, "%s", dir);
        goto done;
    }
    /* a head tied to the embeddings is not stored (the reader ties it) */
    int tied = 0;
    for (size_t i = 0; i < m->st.n_tensors; i++) {
        lmd_gguf_reorder how;
        char gname[300];
        if (lmd_gguf_name_of(arch, m->st.tensors[i].name, (int)hd, gname, sizeof gname, &how) &&
            !strcmp(gname, "token_embd.weight"))
            tied = m->lm_head.data == m->st.tensors[i].data;
    }
    for (size_t i = 0; i < m->st.n_tensors; i++) {
        const lmd_tensor *t = &m->st.tensors[i];
        lmd_gguf_reorder how;
        char gname[300];
        if (!lmd_gguf_name_of(arch, t->name, (int)hd, gname, sizeof gname, &how)) continue;
        if (tied && !strcmp(gname, "output.weight")) continue;
        if (t->ndim < 1 || t->ndim > 2) continue;
        if (add_tensor(w, &o, t, gname, &how, type, err) < 0) goto done;
    }
    rc = lmd_gguf_w_write(w, out, err);
done:
    for (size_t i = 0; i < o.n; i++)
        free(o.p[i]);
    free(o.p);
    lmd_gguf_w_free(w);
    cJSON_Delete(cfg);
    lmd_model_free(m);
    return rc;
}
