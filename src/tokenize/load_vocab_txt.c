/* load_vocab_txt.c - a BERT-style WordPiece tokenizer from vocab.txt and
 * tokenizer_config.json, the way transformers builds BertTokenizerFast from
 * them (its BertConverter):
 *   vocab.txt    one token a line (\n, \r\n or \r ends a line, as Python's
 *                universal newlines); id = line number; a repeated token
 *                takes the later line's id, as the Python dict does
 *   normalizer   BertNormalizer(clean_text, handle_chinese_chars =
 *                tokenize_chinese_chars (default true), strip_accents
 *                (default null = lowercase), lowercase = do_lower_case
 *                (default true))
 *   pre-tokenizer BertPreTokenizer; model WordPiece(unk_token, "##", 100)
 *   decoder      WordPiece("##", cleanup)
 *   specials     unk/sep/pad/cls/mask_token (defaults [UNK] [SEP] [PAD]
 *                [CLS] [MASK]), additional_special_tokens,
 *                added_tokens_decoder; frame cls ... sep. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tokenize/tok_internal.h"

static int lmd_cfg_bool(const cJSON *config, const char *key, int def, const char *name,
                        lmd_error *err, int *val) {
    const cJSON *x = cJSON_IsObject(config) ? cJSON_GetObjectItemCaseSensitive(config, key) : NULL;
    *val = def;
    if (!x || cJSON_IsNull(x)) return 0;
    if (!cJSON_IsBool(x)) return lmd_fail(err, "%s: %s is not a boolean", name, key);
    *val = cJSON_IsTrue(x);
    return 0;
}

static int lmd_read_vocab_txt(lmd_tokenizer *t, const char *data, size_t len, const char *name,
                              lmd_error *err) {
    size_t bad = lmd_utf8_check(data, len);
    if (bad < len) return lmd_fail(err, "%s: not valid UTF-8 at byte offset %zu", name, bad);
    size_t pos = 0;
    int32_t id = 0;
    while (pos < len) {
        size_t e = pos;
        while (e < len && data[e] != '\n' && data[e] != '\r')
            e++;
        if (id >= LMD_TOK_MAX_ID) return lmd_fail(err, "%s: too many lines", name);
        const lmd_str_entry *old = lmd_strmap_get(&t->vocab, t->arena.data, data + pos, e - pos);
        if (old) {
            /* the later line wins; the earlier id is left without a token */
            ((lmd_str_entry *)old)->id = id;
        } else if (lmd_tok_add_vocab(t, data + pos, e - pos, id, name, err) < 0) {
            return -1;
        }
        id++;
        if (e < len && data[e] == '\r' && e + 1 < len && data[e + 1] == '\n') e++;
        pos = e + 1;
    }
    if (id == 0) return lmd_fail(err, "%s: empty vocabulary", name);
    return 0;
}

/* A default special token that neither file names: it must be in the
 * vocabulary (transformers would append it with a new id). */
static int lmd_default_special(lmd_tokenizer *t, const cJSON *config, const cJSON *map,
                               const char *key, const char *def, const char *name, lmd_error *err) {
    for (int k = 0; k < 2; k++) {
        const cJSON *root = k ? config : map;
        if (cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, key)) return 0;
    }
    const lmd_str_entry *e = lmd_strmap_get(&t->vocab, t->arena.data, def, strlen(def));
    if (!e)
        return lmd_fail(err,
                        "%s: the default %s %s is not in the vocabulary (name another one in "
                        "tokenizer_config.json)",
                        name, key, def);
    lmd_added_tok a = {.id = e->id, .special = 1};
    return lmd_tok_add_added(t, &a, def, strlen(def), name, err);
}

int lmd_tok_from_vocab_txt(const char *vocab, size_t len, const char *vocab_name,
                           const cJSON *config, const char *config_name, const cJSON *map,
                           const char *map_name, lmd_tokenizer **out, lmd_error *err) {
    if (out) *out = NULL;
    if (!vocab_name) vocab_name = "vocab.txt";
    if (!config_name) config_name = "tokenizer_config.json";
    if (!map_name) map_name = "special_tokens_map.json";
    if (!out || (!vocab && len)) return lmd_fail(err, "%s: bad arguments", vocab_name);
    if (config && !cJSON_IsObject(config))
        return lmd_fail(err, "%s: not a JSON object", config_name);
    if (map && !cJSON_IsObject(map)) return lmd_fail(err, "%s: not a JSON object", map_name);
    const cJSON *cls_x = cJSON_GetObjectItemCaseSensitive(config, "tokenizer_class");
    if (cJSON_IsString(cls_x) && !strstr(cls_x->valuestring, "Bert") &&
        !strstr(cls_x->valuestring, "Electra"))
        return lmd_fail(err,
                        "%s: tokenizer_class %s with a vocab.txt is not supported (lmdiff "
                        "reads vocab.txt as a BERT WordPiece vocabulary)",
                        config_name, cls_x->valuestring);
    int lower, chinese, strip;
    if (lmd_cfg_bool(config, "do_lower_case", 1, config_name, err, &lower) < 0 ||
        lmd_cfg_bool(config, "tokenize_chinese_chars", 1, config_name, err, &chinese) < 0 ||
        lmd_cfg_bool(config, "strip_accents", lower, config_name, err, &strip) < 0)
        return -1;
    const char *unk = lmd_tok_cfg_token(config, map, "unk_token", "[UNK]");
    const char *cls = lmd_tok_cfg_token(config, map, "cls_token", "[CLS]");
    const char *sep = lmd_tok_cfg_token(config, map, "sep_token", "[SEP]");
    const char *mask = lmd_tok_cfg_token(config, map, "mask_token", "[MASK]");
    if (!unk) return lmd_fail(err, "%s: unk_token is null; WordPiece needs one", config_name);

    lmd_tokenizer *t = lmd_tok_new();
    if (!t) return lmd_fail(err, "%s: out of memory", vocab_name);
    lmd_norm_step nb = {.kind = LMD_NORM_BERT, .clean_text = 1};
    nb.chinese = (uint8_t)chinese, nb.strip_accents = (uint8_t)strip, nb.lowercase = (uint8_t)lower;
    static const char *const keys[][2] = {{"unk_token", "[UNK]"},
                                          {"sep_token", "[SEP]"},
                                          {"pad_token", "[PAD]"},
                                          {"cls_token", "[CLS]"},
                                          {"mask_token", "[MASK]"}};
    if (lmd_read_vocab_txt(t, vocab ? vocab : "", len, vocab_name, err) < 0 ||
        lmd_tok_add_norm(t, &nb, vocab_name, err) < 0 ||
        lmd_tok_add_step(t, LMD_STEP_BERT, NULL, 0, vocab_name, err) < 0 ||
        lmd_tok_set_wordpiece(t, "##", 2, 100, vocab_name, err) < 0 ||
        lmd_tok_set_wp_decoder(t, "##", 2, 1, vocab_name, err) < 0)
        goto fail;
    if (lmd_tok_set_unk(t, unk, strlen(unk)) < 0) {
        lmd_fail(err, "%s: out of memory", vocab_name);
        goto fail;
    }
    if (lmd_tok_add_specials_of(t, config, NULL, config_name, err) < 0 ||
        lmd_tok_add_specials_of(t, map, NULL, map_name, err) < 0)
        goto fail;
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
        if (lmd_default_special(t, config, map, keys[k][0], keys[k][1], vocab_name, err) < 0)
            goto fail;
    if (cls && sep) {
        int32_t c = lmd_tokenizer_token_id(t, cls, strlen(cls));
        int32_t s = lmd_tokenizer_token_id(t, sep, strlen(sep));
        if (c < 0 || s < 0) {
            lmd_fail(err, "%s: the %s token \"%.60s\" is not in the vocabulary", config_name,
                     c < 0 ? "cls" : "sep", c < 0 ? cls : sep);
            goto fail;
        }
        if (lmd_tok_set_frame(t, &c, 1, &s, 1) < 0) {
            lmd_fail(err, "%s: out of memory", vocab_name);
            goto fail;
        }
    }
    if (mask) t->mask_id = lmd_tokenizer_token_id(t, mask, strlen(mask));
    if (lmd_tok_finalize(t, vocab_name, err) < 0) goto fail;
    *out = t;
    return 0;
fail:
    lmd_tokenizer_free(t);
    return -1;
}

int lmd_tok_bert_config(lmd_tokenizer *t, const cJSON *config, const char *config_name,
                        lmd_error *err) {
    const cJSON *cls = cJSON_GetObjectItemCaseSensitive(config, "tokenizer_class");
    if (!cJSON_IsString(cls) ||
        (!strstr(cls->valuestring, "Bert") && !strstr(cls->valuestring, "Electra")))
        return 0;
    if (t->n_norms != 1 || t->norms[0].kind != LMD_NORM_BERT) return 0;
    int lower, chinese, strip;
    if (lmd_cfg_bool(config, "do_lower_case", 1, config_name, err, &lower) < 0 ||
        lmd_cfg_bool(config, "tokenize_chinese_chars", 1, config_name, err, &chinese) < 0 ||
        lmd_cfg_bool(config, "strip_accents", -1, config_name, err, &strip) < 0)
        return -1;
    lmd_norm_step *n = &t->norms[0];
    int file_strip = n->strip_given ? n->strip_accents : -1; /* -1: null */
    if (n->lowercase == lower && n->chinese == chinese && file_strip == strip) return 0;
    n->lowercase = (uint8_t)lower;
    n->chinese = (uint8_t)chinese;
    n->strip_given = strip >= 0;
    n->strip_accents = (uint8_t)(strip >= 0 ? strip : lower);
    return 0;
}
