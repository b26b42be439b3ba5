/* load_gguf.c - a tokenizer from a GGUF file's metadata (llama.cpp's
 * tokenizer.ggml.* keys), built with the same code as the Hugging Face forms:
 *
 *   tokenizer.ggml.model "llama"  SentencePiece BPE: tokens, scores,
 *       token_type (SentencePiece's enum), add_space_prefix -> exactly what
 *       a tokenizer.model with those pieces gives (spm_model.c)
 *   tokenizer.ggml.model "gpt2"   byte-level BPE: tokens, merges ("a b"),
 *       token_type (3 control -> special added token, 4 user-defined ->
 *       added token), and the pre-tokenizer named by tokenizer.ggml.pre
 *   bos_token_id / eos_token_id / add_bos_token / add_eos_token -> the BOS
 *       and the frame. */
#include <stdlib.h>
#include <string.h>

#include "model/format/gguf.h"
#include "model/format/modelref.h"
#include "tokenize/tok_internal.h"

enum { TT_NORMAL = 1, TT_UNKNOWN, TT_CONTROL, TT_USER_DEFINED, TT_UNUSED, TT_BYTE };

/* Pre-tokenizers of byte-level BPE vocabularies, by tokenizer.ggml.pre:
 * Split(regex, Isolated) steps applied in order, then GPT-2's byte map.
 * The patterns are those of the Hugging Face tokenizer.json files
 * llama.cpp's convert_hf_to_gguf.py recognises by these names. */
static const struct {
    const char *pre;
    const char *const re[8];
} pretoks[] = {
    {"gpt-2", {LMD_GPT2_PATTERN}},
    {"default", {LMD_GPT2_PATTERN}},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", LMD_GPT2_PATTERN, "[0-9][0-9][0-9]"}},
    {"deepseek-llm",
     {"[\\r\\n]",
      "\\s?[A-Za-z\xC2\xB5\xC3\x80-\xC3\x96\xC3\x98-\xC3\xB6\xC3\xB8-\xC6\xBA\xC6\xBC-\xC6\xBF"
      "\xC7\x84-\xCA\x93\xCA\x95-\xCA\xAF\xCD\xB0-\xCD\xB3\xCD\xB6\xCD\xB7\xCD\xBB-\xCD\xBD"
      "\xCD\xBF\xCE\x86\xCE\x88-\xCE\x8A\xCE\x8C\xCE\x8E-\xCE\xA1\xCE\xA3-\xCF\xB5\xCF\xB7-"
      "\xD2\x81\xD2\x8A-\xD4\xAF\xD4\xB1-\xD5\x96\xE1\x82\xA0-\xE1\x83\x85\xE1\x8E\xA0-\xE1"
      "\x8F\xB5\xE1\x8F\xB8-\xE1\x8F\xBD\xE1\xB2\x90-\xE1\xB2\xBA\xE1\xB2\xBD-\xE1\xB2\xBF"
      "\xE1\xB4\x80-\xE1\xB4\xAB\xE1\xB5\xAB-\xE1\xB5\xB7\xE1\xB5\xB9-\xE1\xB6\x9A\xE1\xB8"
      "\x80-\xE1\xBC\x95\xE1\xBC\x98-\xE1\xBC\x9D\xE1\xBC\xA0-\xE1\xBD\x85\xE1\xBD\x88-\xE1"
      "\xBD\x8D\xE1\xBD\x90-\xE1\xBD\x97\xE1\xBD\x99\xE1\xBD\x9B\xE1\xBD\x9D\xE1\xBD\x9F-"
      "\xE1\xBD\xBD\xE1\xBE\x80-\xE1\xBE\xB4\xE1\xBE\xB6-\xE1\xBE\xBC\xE1\xBE\xBE\xE1\xBF"
      "\x82-\xE1\xBF\x84\xE1\xBF\x86-\xE1\xBF\x8C\xE1\xBF\x90-\xE1\xBF\x93\xE1\xBF\x96-\xE1"
      "\xBF\x9B\xE1\xBF\xA0-\xE1\xBF\xAC\xE1\xBF\xB2-\xE1\xBF\xB4\xE1\xBF\xB6-\xE1\xBF\xBC"
      "\xE2\x84\x82\xE2\x84\x87\xE2\x84\x8A-\xE2\x84\x93\xE2\x84\x95\xE2\x84\x99-\xE2\x84"
      "\x9D\xE2\x84\xA4\xE2\x84\xA6\xE2\x84\xA8\xE2\x84\xAA-\xE2\x84\xAD\xE2\x84\xAF-\xE2"
      "\x84\xB4\xE2\x84\xB9\xE2\x84\xBC-\xE2\x84\xBF\xE2\x85\x85-\xE2\x85\x89\xE2\x85\x8E"
      "\xE2\x86\x83\xE2\x86\x84\xE2\xB0\x80-\xE2\xB1\xBB\xE2\xB1\xBE-\xE2\xB3\xA4\xE2\xB3"
      "\xAB-\xE2\xB3\xAE\xE2\xB3\xB2\xE2\xB3\xB3\xEA\x99\x80-\xEA\x99\xAD\xEA\x9A\x80-\xEA"
      "\x9A\x9B\xEA\x9C\xA2-\xEA\x9D\xAF\xEA\x9D\xB1-\xEA\x9E\x87\xEA\x9E\x8B-\xEA\x9E\x8E"
      "\xEA\xAD\xB0-\xEA\xAE\xBF\xEF\xAC\x80-\xEF\xAC\x86\xEF\xAC\x93-\xEF\xAC\x97\xEF\xBC"
      "\xA1-\xEF\xBC\xBA\xEF\xBD\x81-\xEF\xBD\x9A\xF0\x90\x90\x80-\xF0\x90\x91\x8F\xF0\x90"
      "\x92\xB0-\xF0\x90\x93\x93\xF0\x90\x93\x98-\xF0\x90\x93\xBB\xF0\x90\xB2\x80-\xF0\x90"
      "\xB2\xB2\xF0\x90\xB3\x80-\xF0\x90\xB3\xB2\xF0\x91\xA2\xA0-\xF0\x91\xA3\x9F\xF0\x9E"
      "\xA4\x80-\xF0\x9E\xA5\x83]+",
      "\\s?[!-/:-~\xEF\xBC\x81-\xEF\xBC\x8F\xEF\xBC\x9A-\xEF\xBD\x9E\xE2\x80\x98-\xE2\x80\x9F"
      "\xE3\x80\x80-\xE3\x80\x82]+",
      "\\s+$", "[\xE4\xB8\x80-\xE9\xBE\xA5\xE0\xA0\x80-\xE4\xB8\x80\xEA\xB0\x80-\xED\x9F\xBF]+",
      "\\p{N}+"}},
};

typedef struct gg_vocab {
    const char **s;
    uint64_t *len;
    const lmd_gguf_kv *types, *scores;
    size_t n;
} gg_vocab;

static int read_vocab(const lmd_gguf *g, gg_vocab *v, lmd_error *err) {
    const lmd_gguf_kv *tok;
    memset(v, 0, sizeof *v);
    if (lmd_gguf_array(g, "tokenizer.ggml.tokens", LMD_GGUF_STRING, &tok, err) < 0) return -1;
    if (!tok || tok->n == 0 || tok->n > (uint64_t)LMD_TOK_MAX_ID)
        return lmd_fail(err, "%s: tokenizer.ggml.tokens is missing, empty or too long", g->path);
    v->n = (size_t)tok->n;
    if (lmd_gguf_array(g, "tokenizer.ggml.token_type", LMD_GGUF_I32, &v->types, err) < 0 ||
        lmd_gguf_array(g, "tokenizer.ggml.scores", LMD_GGUF_F32, &v->scores, err) < 0)
        return -1;
    if ((v->types && v->types->n != tok->n) || (v->scores && v->scores->n != tok->n))
        return lmd_fail(err, "%s: tokenizer.ggml.token_type/scores do not have one entry per token",
                        g->path);
    return lmd_gguf_strings(g, tok, &v->s, &v->len, err);
}

static int type_of(const gg_vocab *v, size_t i) {
    return v->types ? (int)lmd_gguf_arr_num(v->types, i) : TT_NORMAL;
}

static int from_llama(const lmd_gguf *g, const gg_vocab *v, const lmd_spm_options *o, int64_t bos,
                      int64_t eos, lmd_tokenizer **out, lmd_error *err) {
    if (!v->scores) return lmd_fail(err, "%s: tokenizer.ggml.scores is missing", g->path);
    int prefix, byte_fallback = 0;
    int64_t unk;
    if (lmd_gguf_bool(g, "tokenizer.ggml.add_space_prefix", 1, &prefix, err) < 0 ||
        lmd_gguf_int(g, "tokenizer.ggml.unknown_token_id", -1, &unk, err) < 0)
        return -1;
    if (unk >= (int64_t)v->n)
        return lmd_fail(err, "%s: tokenizer.ggml.unknown_token_id is outside the vocabulary",
                        g->path);
    for (size_t i = 0; unk < 0 && i < v->n; i++)
        if (type_of(v, i) == TT_UNKNOWN) unk = (int64_t)i;
    float *score = malloc(v->n * sizeof *score);
    int32_t *type = malloc(v->n * sizeof *type);
    int rc = -1;
    if (!score || !type) {
        lmd_fail(err, "%s: out of memory", g->path);
        goto done;
    }
    for (size_t i = 0; i < v->n; i++) {
        score[i] = (float)lmd_gguf_arr_num(v->scores, i);
        /* convert_hf_to_gguf.py marks padding entries UNKNOWN too: one
         * piece is the unknown one, the others are plain unused pieces */
        type[i] = (int64_t)i == unk ? TT_UNKNOWN : type_of(v, i);
        if (type[i] == TT_UNKNOWN && (int64_t)i != unk) type[i] = TT_UNUSED;
        byte_fallback |= type[i] == TT_BYTE;
    }
    lmd_spm_src src = {v->s, v->len, score, type, v->n, byte_fallback, prefix, bos, eos};
    rc = lmd_tokenizer_from_spm_src(&src, g->path, o, out, err);
done:
    free(score);
    free(type);
    return rc;
}

static int add_pretok(lmd_tokenizer *t, const lmd_gguf *g, lmd_error *err) {
    const char *pre;
    size_t n;
    if (lmd_gguf_str(g, "tokenizer.ggml.pre", &pre, &n, err) < 0) return -1;
    if (!pre) pre = "default", n = 7;
    for (size_t i = 0; i < sizeof pretoks / sizeof *pretoks; i++) {
        if (strlen(pretoks[i].pre) != n || memcmp(pretoks[i].pre, pre, n)) continue;
        for (int k = 0; k < 8 && pretoks[i].re[k]; k++)
            if (lmd_tok_add_step(t, LMD_STEP_SPLIT_REGEX, pretoks[i].re[k],
                                 strlen(pretoks[i].re[k]), g->path, err) < 0)
                return -1;
        return 0;
    }
    return lmd_fail(err,
                    "%s: tokenizer.ggml.pre \"%.*s\" is not supported (gpt-2, default, falcon, "
                    "deepseek-llm are)",
                    g->path, (int)(n > 40 ? 40 : n), pre);
}

static int from_gpt2(const lmd_gguf *g, const gg_vocab *v, lmd_tokenizer *t, lmd_error *err) {
    const lmd_gguf_kv *mk;
    const char **ms = NULL;
    uint64_t *ml = NULL;
    if (lmd_gguf_array(g, "tokenizer.ggml.merges", LMD_GGUF_STRING, &mk, err) < 0) return -1;
    if (!mk) return lmd_fail(err, "%s: tokenizer.ggml.merges is missing", g->path);
    for (size_t i = 0; i < v->n; i++)
        if (lmd_tok_add_vocab(t, v->s[i], (size_t)v->len[i], (double)i, g->path, err) < 0)
            return -1;
    if (lmd_gguf_strings(g, mk, &ms, &ml, err) < 0) return -1;
    int rc = 0;
    for (uint64_t i = 0; i < mk->n && rc == 0; i++) {
        const char *sp = memchr(ms[i], ' ', (size_t)ml[i]);
        if (!sp || sp == ms[i] || sp == ms[i] + ml[i] - 1) {
            rc = lmd_fail(err, "%s: tokenizer.ggml.merges[%llu] is not two tokens and a space",
                          g->path, (unsigned long long)i);
            break;
        }
        size_t a = (size_t)(sp - ms[i]);
        rc = lmd_tok_add_merge(t, ms[i], a, sp + 1, (size_t)ml[i] - a - 1, g->path, err);
    }
    free(ms);
    free(ml);
    if (rc < 0 || add_pretok(t, g, err) < 0) return -1;
    for (size_t i = 0; i < v->n; i++) {
        int ty = type_of(v, i);
        if (ty != TT_CONTROL && ty != TT_USER_DEFINED) continue;
        lmd_added_tok a = {.id = (int32_t)i, .special = ty == TT_CONTROL};
        if (lmd_tok_add_added(t, &a, v->s[i], (size_t)v->len[i], g->path, err) < 0) return -1;
    }
    return 0;
}

int lmd_tokenizer_from_gguf(const lmd_gguf *g, lmd_tokenizer **out, lmd_error *err) {
    *out = NULL;
    const char *model;
    size_t mn;
    int64_t bos, eos;
    lmd_spm_options o = lmd_spm_options_default();
    if (lmd_gguf_str(g, "tokenizer.ggml.model", &model, &mn, err) < 0 ||
        lmd_gguf_int(g, "tokenizer.ggml.bos_token_id", -1, &bos, err) < 0 ||
        lmd_gguf_int(g, "tokenizer.ggml.eos_token_id", -1, &eos, err) < 0 ||
        lmd_gguf_bool(g, "tokenizer.ggml.add_bos_token", 1, &o.add_bos, err) < 0 ||
        lmd_gguf_bool(g, "tokenizer.ggml.add_eos_token", 0, &o.add_eos, err) < 0)
        return -1;
    if (!model) return lmd_fail(err, "%s: no tokenizer.ggml.model in the metadata", g->path);
    int is_llama = mn == 5 && !memcmp(model, "llama", 5),
        is_gpt2 = mn == 4 && !memcmp(model, "gpt2", 4);
    if (!is_llama && !is_gpt2)
        return lmd_fail(err, "%s: tokenizer.ggml.model \"%.*s\" is not supported (llama, gpt2 are)",
                        g->path, (int)(mn > 40 ? 40 : mn), model);
    gg_vocab v;
    if (read_vocab(g, &v, err) < 0) return -1;
    if (bos >= (int64_t)v.n || eos >= (int64_t)v.n) {
        free(v.s), free(v.len);
        return lmd_fail(err, "%s: tokenizer.ggml.bos/eos_token_id is outside the %zu tokens",
                        g->path, v.n);
    }
    int rc = -1;
    lmd_tokenizer *t = NULL;
    if (is_llama) {
        rc = from_llama(g, &v, &o, bos, eos, &t, err);
    } else if ((t = lmd_tok_new()) == NULL) {
        lmd_fail(err, "%s: out of memory", g->path);
    } else {
        int32_t b = (int32_t)bos, e = (int32_t)eos;
        rc = from_gpt2(g, &v, t, err);
        if (rc == 0 &&
            lmd_tok_set_frame(t, &b, o.add_bos && bos >= 0, &e, o.add_eos && eos >= 0) < 0)
            rc = lmd_fail(err, "%s: out of memory", g->path);
        if (rc == 0) rc = lmd_tok_finalize(t, g->path, err);
    }
    if (rc == 0 && bos >= 0) lmd_tokenizer_set_bos(t, (int32_t)bos);
    free(v.s);
    free(v.len);
    if (rc < 0) {
        lmd_tokenizer_free(t);
        return -1;
    }
    *out = t;
    return 0;
}

int lmd_tokenizer_load_gguf(const char *path, lmd_tokenizer **out, lmd_error *err) {
    lmd_gguf g;
    if (lmd_gguf_open(path, &g, err) < 0) return -1;
    int rc = lmd_tokenizer_from_gguf(&g, out, err);
    lmd_gguf_close(&g);
    return rc;
}
