/* model.c - loads a Hugging Face model folder: config.json, the weights (a
 * uniform tensor set, format/) and the tokenizer; finds the architecture's
 * row in the table (arch/registry.c) and runs its loader; the helpers that
 * fetch one tensor checked against the config. */
#include "model/model.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch/arch.h"
#include "model/arch/decoder.h"
#include "model/kernel/backend.h"
#include "model/format/gguf_model.h"
#include "model/kernels.h"
#include "model/format/modelref.h"
#include "model/kernel/quant.h"
#include "model/kernel/scratch.h"
#include "tokenize/tokenizer.h"

int lmd_cfg_int(const cJSON *cfg, const char *key, long def, long *out, const char *path,
                lmd_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long)v->valuedouble)
        return lmd_fail(err, "%s: \"%s\" must be an integer", path, key);
    *out = (long)v->valuedouble;
    return 0;
}

int lmd_cfg_float(const cJSON *cfg, const char *key, double def, double *out, const char *path,
                  lmd_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v)) return lmd_fail(err, "%s: \"%s\" must be a number", path, key);
    *out = v->valuedouble;
    return 0;
}

int lmd_cfg_bool(const cJSON *cfg, const char *key, int def, int *out, const char *path,
                 lmd_error *err) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!v || cJSON_IsNull(v)) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(v)) return lmd_fail(err, "%s: \"%s\" must be true or false", path, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

const char *lmd_cfg_str(const cJSON *cfg, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

int lmd_model_own(lmd_model *m, float *p) {
    float **o = realloc(m->owned, (m->n_owned + 1) * sizeof *o);
    if (!o) return -1;
    m->owned = o;
    m->owned[m->n_owned++] = p;
    return 0;
}

/* Finds prefix+name (else name) and checks its shape: *tp = NULL when absent. */
static int find_checked(lmd_model *m, const char *prefix, const char *name, int ndim,
                        const int64_t *dims, const lmd_tensor **tp, lmd_error *err) {
    *tp = NULL;
    char full[256];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const lmd_tensor *t = lmd_st_find(&m->st, full);
    if (!t) t = lmd_st_find(&m->st, name);
    if (!t) return 0;
    const char *file = m->st.files[t->file];
    char want[128] = "", have[128] = "";
    size_t wl = 0, hl = 0;
    for (int i = 0; i < ndim; i++)
        wl += (size_t)snprintf(want + wl, sizeof want - wl, "%s%lld", i ? "," : "",
                               (long long)dims[i]);
    for (int i = 0; i < t->ndim && hl < sizeof have; i++)
        hl += (size_t)snprintf(have + hl, sizeof have - hl, "%s%lld", i ? "," : "",
                               (long long)t->shape[i]);
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++)
        same = t->shape[i] == dims[i];
    if (!same)
        return lmd_fail(err, "%s: tensor %s: shape [%s] but config.json says [%s]", file, t->name,
                        have, want);
    if (t->dtype == LMD_DTYPE_OTHER)
        return lmd_fail(err,
                        "%s: tensor %s: dtype %s is not supported (F32, F16 and BF16 are; in "
                        "GGUF files also Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K and IQ4_NL)",
                        file, t->name, t->dtype_name);
    *tp = t;
    return 0;
}

/* Whether a matrix stored in dtype dt gets BF16 products under the model's
 * precision. */
static int bf16_wanted(const lmd_model *m, lmd_dtype dt) {
    /* block types: tiles widened to F32, or to BF16 at bf16 precision (quant_bf16.c) */
    if (lmd_dtype_is_quant(dt)) return m->precision == LMD_PRECISION_BF16;
    if (m->precision == LMD_PRECISION_BF16) return 1;
    if (m->precision == LMD_PRECISION_F32) return 0;
    return dt == LMD_BF16 && (m->backend || lmd_bf16_native()); /* a GPU has BF16 */
}

struct lmd_backend *lmd_model_backend(const lmd_model *m) {
    return m->backend ? m->backend : lmd_backend_cpu();
}

/* Opens the device the forward runs on (opts.device; m->backend stays NULL
 * for the CPU).  auto takes CUDA only for the families whose forward runs
 * there (decoder.c); asking for CUDA for another is an error. */
static int open_device(lmd_model *m, const char *device, lmd_error *err) {
    const char *d = device ? device : "cpu";
    const int runs_there = m->ops->forward == lmd_dec_forward;
    lmd_backend *b;
    if (lmd_backend_open(!strcmp(d, "auto") && !runs_there ? "cpu" : d, &b, err) < 0) {
        lmd_err_prefix(err, "%s", m->dir);
        return -1;
    }
    if (!b->dev) {
        lmd_backend_close(b);
        m->info.device = "cpu";
        if (m->precision == LMD_PRECISION_BF16 && !lmd_bf16_available(NULL))
            return lmd_fail(err,
                            "%s: precision bf16: oneDNN has no BF16 matrix product on this CPU "
                            "(use f32 or auto)",
                            m->dir);
        return 0;
    }
    m->backend = b;
    m->info.device = b->name;
    if (!runs_there)
        return lmd_fail_code(
            err, LMD_ERR_UNSUPPORTED,
            "%s: --device %s: the %s forward runs on the CPU only (the Llama-style "
            "decoders run on CUDA)",
            m->dir, d, m->info.arch);
    return 0;
}

/* A BF16 copy (owned by the model) of an F32 or F16 tensor, rounded to
 * nearest even, converted in chunks so no F32 copy of the whole exists. */
static int round_to_bf16(lmd_model *m, const lmd_tensor *t, lmd_mat *out, lmd_error *err) {
    size_t n = (size_t)t->numel;
    uint16_t *p = malloc(n * sizeof *p + 2);
    if (!p || lmd_model_own(m, (float *)p) < 0) {
        free(p);
        return lmd_fail(err, "%s: tensor %s: out of memory", m->st.files[t->file], t->name);
    }
    float chunk[4096], raw[4096]; /* raw: the stored bytes, realigned */
    const size_t es = t->dtype == LMD_F32 ? 4 : 2;
    for (size_t i = 0; i < n; i += 4096) {
        size_t c = n - i < 4096 ? n - i : 4096;
        memcpy(raw, (const uint8_t *)t->data + i * es, c * es);
        lmd_convert_f32(raw, t->dtype, chunk, c);
        lmd_f32_to_bf16(chunk, p + i, c);
    }
    out->data = p;
    out->dtype = LMD_BF16;
    return 0;
}

int lmd_weight_mat(lmd_model *m, const char *prefix, const char *name, const int64_t dims[2],
                   int in_major, int optional, lmd_mat *out, lmd_error *err) {
    memset(out, 0, sizeof *out);
    const lmd_tensor *t;
    if (find_checked(m, prefix, name, 2, dims, &t, err) < 0) return -1;
    if (!t) {
        if (optional) return 0;
        return lmd_fail(err, "%s: tensor %s%s (or %s) is missing from the weights", m->dir, prefix,
                        name, name);
    }
    if ((in_major ^ t->transposed) && (lmd_dtype_is_quant(t->dtype) || t->perm_head))
        return lmd_fail(err, "%s: tensor %s: a %s matrix stored input-major is not supported",
                        m->st.files[t->file], t->name, t->dtype_name);
    out->dtype = t->dtype;
    out->in_major = in_major ^ t->transposed; /* dims[] are HF's either way */
    out->perm_head = t->perm_head;
    out->n_out = (int)(in_major ? dims[1] : dims[0]);
    out->n_in = (int)(in_major ? dims[0] : dims[1]);
    out->data = t->data;
    if (bf16_wanted(m, t->dtype)) {
        out->bf16_products = 1;
        m->n_bf16_mats++;
        if (t->dtype != LMD_BF16 && !lmd_dtype_is_quant(t->dtype))
            return round_to_bf16(m, t, out, err);
    }
    size_t align = t->dtype == LMD_F32 ? 4 : lmd_dtype_is_quant(t->dtype) ? 1 : 2;
    if (((uintptr_t)t->data & (align - 1)) == 0) return 0;
    float *p = malloc(t->nbytes + 4); /* misaligned in the file: an aligned copy */
    if (!p || lmd_model_own(m, p) < 0) {
        free(p);
        return lmd_fail(err, "%s: tensor %s: out of memory", m->st.files[t->file], t->name);
    }
    memcpy(p, t->data, t->nbytes);
    out->data = p;
    return 0;
}

int lmd_model_logits(const lmd_model *m, const float *h, size_t T, float *logits, size_t ldl) {
    return lmd_model_logits_on(m, lmd_backend_cpu(), h, T, logits, ldl);
}

int lmd_model_logits_on(const lmd_model *m, struct lmd_backend *be, const float *h, size_t T,
                        float *logits, size_t ldl) {
    const int V = m->lm_head.n_out;
    if (be->linear(be, h, (size_t)m->lm_head.n_in, T, &m->lm_head, NULL, logits, ldl, 0) < 0 ||
        (m->logit_softcap > 0 && be->softcap(be, logits, T, ldl, V, m->logit_softcap) < 0))
        return -1;
    return be->bias_rows(be, logits, T, ldl, V, m->lm_bias);
}

int lmd_weight_opt(lmd_model *m, const char *prefix, const char *name, int ndim,
                   const int64_t *dims, const float **out, lmd_error *err) {
    *out = NULL;
    const lmd_tensor *t;
    if (find_checked(m, prefix, name, ndim, dims, &t, err) < 0) return -1;
    if (!t) return 0;
    const char *file = m->st.files[t->file];
    if (t->transposed)
        return lmd_fail(err, "%s: tensor %s: a transposed GGUF tensor is only read as a matrix",
                        file, t->name);
    if (t->dtype == LMD_F32 && !t->perm_head && ((uintptr_t)t->data & 3) == 0) {
        *out = (const float *)t->data;
        return 0;
    }
    float *p = malloc((size_t)t->numel * sizeof *p + 1);
    if (!p || lmd_model_own(m, p) < 0) {
        free(p);
        return lmd_fail(err, "%s: tensor %s: out of memory", file, t->name);
    }
    lmd_tensor_to_f32(t, p);
    *out = p;
    return 0;
}

int lmd_weight(lmd_model *m, const char *prefix, const char *name, int ndim, const int64_t *dims,
               const float **out, lmd_error *err) {
    if (lmd_weight_opt(m, prefix, name, ndim, dims, out, err) < 0) return -1;
    if (!*out)
        return lmd_fail(err, "%s: tensor %s%s (or %s) is missing from the weights", m->dir, prefix,
                        name, name);
    return 0;
}

/* Whether name is prefix followed by nothing or by For / LM / Model. */
static int family_class(const char *name, const char *prefix) {
    size_t l = strlen(prefix);
    return !strncmp(name, prefix, l) &&
           (!name[l] || !strncmp(name + l, "For", 3) || !strncmp(name + l, "LM", 2) ||
            !strncmp(name + l, "Model", 5));
}

/* The table row of a config: by "architectures" (else by model_type); *name
 * is the HF architecture name the model reports. */
static int find_arch(const char *arch, const char *model_type, const char *path,
                     const lmd_arch **out, const char **name, lmd_error *err) {
    for (const lmd_arch *const *a = lmd_archs; *a; a++)
        for (const char *const *n = (*a)->names; *n; n++) {
            int hit = (*a)->refuse ? arch && family_class(arch, *n)
                      : arch       ? !strcmp(arch, *n)
                                   : model_type && !strcmp(model_type, (*a)->model_type);
            if (!hit) continue;
            if ((*a)->refuse)
                return lmd_fail_code(err, LMD_ERR_UNSUPPORTED,
                                     "%s: architecture %s (model_type %s) %s", path, arch,
                                     model_type ? model_type : "(none)", (*a)->refuse);
            *out = *a;
            *name = arch ? *n : (*a)->names[0];
            return 0;
        }
    lmd_buf list = {0};
    for (const lmd_arch *const *a = lmd_archs; *a; a++)
        for (const char *const *n = (*a)->names; *n && !(*a)->refuse; n++)
            lmd_buf_printf(&list, "%s%s (%s)", list.len ? ", " : "", *n, (*a)->model_type);
    lmd_fail_code(err, LMD_ERR_UNSUPPORTED,
                  "%s: architecture %s (model_type %s) is not supported; supported: %s", path,
                  arch ? arch : "(none)", model_type ? model_type : "(none)", list.data);
    lmd_buf_free(&list);
    return -1;
}

/* The architecture's three steps: hyper-parameters, the tensor table, bind. */
static int load_arch(lmd_model *m, const cJSON *cfg, const char *path, lmd_error *err) {
    const lmd_arch *a = m->ops;
    m->arch = calloc(1, a->size);
    if (!m->arch) return lmd_fail(err, "out of memory");
    if (a->read_hp(m, cfg, path, m->arch, err) < 0 || lmd_arch_load(m, a, err) < 0 ||
        a->bind(m, m->arch, err) < 0)
        return -1;
    lmd_model_info *info = &m->info;
    info->vocab_size = (int32_t)m->hp.vocab;
    info->n_layer = (int32_t)m->hp.n_layer;
    info->n_embd = (int32_t)m->hp.d;
    info->n_head = (int32_t)m->hp.H;
    info->n_inner = (int32_t)m->hp.inner;
    return 0;
}

int lmd_model_forward_sel(const lmd_model *m, const lmd_seq *seqs, int n_seqs, const int *sel,
                          float *hidden, lmd_error *err) {
    if (!m->ops->forward_sel) return lmd_fail(err, "%s: not a masked LM", m->name);
    return m->ops->forward_sel(m, seqs, n_seqs, sel, hidden, err);
}

const char *lmd_precision_name(lmd_precision p) {
    return p == LMD_PRECISION_F32 ? "f32" : p == LMD_PRECISION_BF16 ? "bf16" : "auto";
}

int lmd_precision_parse(const char *s, lmd_precision *out) {
    static const lmd_precision all[] = {LMD_PRECISION_AUTO, LMD_PRECISION_F32, LMD_PRECISION_BF16};
    for (size_t i = 0; i < 3; i++)
        if (s && !strcmp(s, lmd_precision_name(all[i]))) {
            *out = all[i];
            return 0;
        }
    return -1;
}

int lmd_model_load(const char *dir, lmd_model **out, lmd_error *err) {
    lmd_model_opts o = {.precision = LMD_PRECISION_F32};
    return lmd_model_load_opts(dir, &o, out, err);
}

int lmd_model_load_opts(const char *dir, const lmd_model_opts *opts, lmd_model **out,
                        lmd_error *err) {
    *out = NULL;
    lmd_model_opts o = LMD_MODEL_OPTS_INIT;
    if (opts) o = *opts;
    if (o.precision != LMD_PRECISION_AUTO && o.precision != LMD_PRECISION_F32 &&
        o.precision != LMD_PRECISION_BF16)
        return lmd_fail(err, "%s: unknown precision %d", dir, (int)o.precision);
    lmd_model *m = calloc(1, sizeof *m);
    if (!m) return lmd_fail(err, "out of memory");
    m->precision = o.precision;
    m->pack_weights = o.pack_weights;
    pthread_mutex_init(&m->hash_lock, NULL);
    m->dir = strdup(dir);
    char *tmp = strdup(dir);
    /* a GGUF file (or a reference to one): its metadata stands for config.json */
    lmd_gguf gg = {0};
    char *path = NULL;
    int is_gguf;
    if (lmd_model_ref_resolve(dir, &path, &is_gguf, err) < 0) {
        lmd_model_free(m);
        free(tmp);
        return -1;
    }
    dir = path; /* a reference (hf:ORG/NAME) stands for this folder or file */
    char *cfg_path = is_gguf ? strdup(path) : lmd_path_join(dir, "config.json");
    char *json = NULL;
    size_t len;
    cJSON *cfg = NULL;
    int rc = -1;
    if (!m->dir || !tmp || !cfg_path) {
        lmd_fail(err, "out of memory");
        goto done;
    }
    /* the name is the folder's basename, without trailing slashes */
    for (size_t l = strlen(tmp); l > 1 && tmp[l - 1] == '/'; l--)
        tmp[l - 1] = 0;
    m->name = lmd_model_ref_name(tmp); /* hf:ORG/NAME is named ORG/NAME */
    if (!m->name) m->name = strdup(basename(tmp));
    m->info.name = m->name;
    if (is_gguf) {
        if (lmd_gguf_open(path, &gg, err) < 0 || lmd_gguf_model_config(&gg, &cfg, err) < 0)
            goto done;
    } else if (lmd_read_file(cfg_path, &json, &len, err) < 0) {
        goto done;
    } else {
        cfg = cJSON_ParseWithLength(json, len);
    }
    if (!cfg || !cJSON_IsObject(cfg)) {
        lmd_fail(err, "%s: not valid JSON", cfg_path);
        goto done;
    }
    const char *model_type = lmd_cfg_str(cfg, "model_type");
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(cfg, "architectures");
    const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    const char *arch = cJSON_IsString(a0) ? a0->valuestring : NULL;
    if (find_arch(arch, model_type, cfg_path, &m->ops, &m->info.arch, err) < 0 ||
        open_device(m, o.device, err) < 0)
        goto done;
    if (is_gguf ? lmd_tokenizer_from_gguf(&gg, &m->tok, err) < 0
                : lmd_tokenizer_load(dir, &m->tok, err) < 0)
        goto done;
    if (is_gguf ? lmd_gguf_model_tensors(&gg, cfg, &m->st, err) < 0
                : lmd_st_open_dir(dir, &m->st, err) < 0)
        goto done;
    if (load_arch(m, cfg, cfg_path, err) < 0) goto done;
    long bos;
    if (lmd_cfg_int(cfg, "bos_token_id", -1, &bos, cfg_path, err) < 0) goto done;
    if (bos >= 0) {
        if (bos >= m->info.vocab_size) {
            lmd_fail(err, "%s: bos_token_id %ld is outside the vocabulary (%d)", cfg_path, bos,
                     m->info.vocab_size);
            goto done;
        }
        lmd_tokenizer_set_bos(m->tok, (int32_t)bos);
    }
    if (lmd_tokenizer_vocab_size(m->tok) > m->info.vocab_size) {
        lmd_fail(err, "%s: the tokenizer has %d tokens but the model's vocab_size is %d", dir,
                 lmd_tokenizer_vocab_size(m->tok), m->info.vocab_size);
        goto done;
    }
    if (m->info.masked_lm) {
        if (lmd_tokenizer_mask(m->tok) < 0 || lmd_tokenizer_mask(m->tok) >= m->info.vocab_size) {
            lmd_fail(err,
                     "%s: a masked LM needs a mask token and the tokenizer has none "
                     "([MASK] / <mask>, or mask_token in tokenizer_config.json)",
                     dir);
            goto done;
        }
    } else if (lmd_tokenizer_bos(m->tok) < 0) {
        lmd_fail(err,
                 "%s: no BOS token: config.json has no bos_token_id and the tokenizer has no "
                 "<|endoftext|>",
                 dir);
        goto done;
    }
    m->info.precision = m->n_bf16_mats ? "bf16" : "f32";
    const char *impl = NULL;
    if (m->n_bf16_mats) lmd_bf16_available(&impl);
    snprintf(m->matmul_impl, sizeof m->matmul_impl, "%s%s", impl ? "oneDNN " : "OpenBLAS sgemm",
             impl ? impl : "");
    if (m->n_packed) {
        size_t n = strlen(m->matmul_impl);
        snprintf(m->matmul_impl + n, sizeof m->matmul_impl - n, ", %d matrices packed",
                 m->n_packed);
    }
    if (m->backend) snprintf(m->matmul_impl, sizeof m->matmul_impl, "cuBLASLt");
    m->info.matmul_impl = m->matmul_impl;
    rc = 0;
done:
    cJSON_Delete(cfg);
    free(json);
    free(cfg_path);
    free(tmp);
    lmd_gguf_close(&gg);
    free(path);
    if (rc < 0) {
        lmd_model_free(m);
        return -1;
    }
    *out = m;
    return 0;
}

void lmd_model_free(lmd_model *m) {
    if (!m) return;
    if (m->arch && m->ops->free_arch) m->ops->free_arch(m->arch);
    free(m->arch);
    free(m->layers);
    for (size_t i = 0; i < m->n_owned; i++)
        free(m->owned[i]);
    free(m->owned);
    lmd_st_close(&m->st);
    lmd_tokenizer_free(m->tok);
    lmd_backend_close(m->backend);
    pthread_mutex_destroy(&m->hash_lock);
    free(m->dir);
    free(m->name);
    free(m);
    lmd_scratch_release(); /* the working memory this thread kept for its forwards */
}

const lmd_tokenizer *lmd_model_tokenizer(const lmd_model *m) {
    return m->tok;
}

void lmd_model_get_info(const lmd_model *m, lmd_model_info *info) {
    *info = m->info;
}

void lmd_model_weights_hash(const lmd_model *m, char hex[65]) {
    lmd_model *mm = (lmd_model *)m; /* the cache is logically const */
    pthread_mutex_lock(&mm->hash_lock);
    if (!mm->weights_hash[0]) {
        lmd_sha256 *h = lmd_sha256_new();
        lmd_sha256_update(h, "lmdiff-weights-v1\n", 18);
        for (size_t i = 0; i < m->st.n_tensors; i++) {
            const lmd_tensor *t = &m->st.tensors[i];
            lmd_buf b = {0};
            lmd_buf_printf(&b, "%s\t%s\t[", t->name, t->dtype_name);
            for (int d = 0; d < t->ndim; d++)
                lmd_buf_printf(&b, "%s%lld", d ? "," : "", (long long)t->shape[d]);
            lmd_buf_printf(&b, "]\t%zu\n", t->nbytes);
            lmd_sha256_update(h, b.data, b.len);
            lmd_buf_free(&b);
            lmd_sha256_update(h, t->data, t->nbytes);
        }
        lmd_sha256_final_hex(h, mm->weights_hash);
    }
    memcpy(hex, mm->weights_hash, 65);
    pthread_mutex_unlock(&mm->hash_lock);
}
