/* frame.c - the special tokens a post-processor puts around one sequence
 * (lmd_tokenizer_frame) and the mask token of a masked LM
 * (lmd_tokenizer_mask).  lmd_tokenize never adds them; the scorer of masked
 * LMs does.  Read from tokenizer.json's post_processor:
 *   BertProcessing     {"sep": ["[SEP]", 102], "cls": ["[CLS]", 101]}
 *   RobertaProcessing  {"sep": ["</s>", 2], "cls": ["<s>", 0], ...}
 *   TemplateProcessing {"single": [{"SpecialToken": {"id": "[CLS]"}},
 *                                  {"Sequence": {"id": "A"}}, ...],
 *                       "special_tokens": {"[CLS]": {"ids": [101]}, ...}}
 *   ByteLevel          no frame (it only trims offsets)
 *   Sequence           {"processors": [...]}, at most one of them framing. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "tokenize/tok_internal.h"

static const int32_t lmd_no_ids[1] = {0};

void lmd_tokenizer_frame(const lmd_tokenizer *tok, const int32_t **pre, size_t *n_pre,
                         const int32_t **post, size_t *n_post) {
    int has = tok != NULL;
    if (pre) *pre = has && tok->frame_pre ? tok->frame_pre : lmd_no_ids;
    if (n_pre) *n_pre = has ? tok->n_frame_pre : 0;
    if (post) *post = has && tok->frame_post ? tok->frame_post : lmd_no_ids;
    if (n_post) *n_post = has ? tok->n_frame_post : 0;
}

int32_t lmd_tokenizer_mask(const lmd_tokenizer *tok) {
    return tok ? tok->mask_id : -1;
}

static int32_t *lmd_dup_ids(const int32_t *v, size_t n) {
    int32_t *p = malloc((n ? n : 1) * sizeof *p);
    if (p && n) memcpy(p, v, n * sizeof *p);
    return p;
}

int lmd_tok_set_frame(lmd_tokenizer *t, const int32_t *pre, size_t n_pre, const int32_t *post,
                      size_t n_post) {
    int32_t *a = lmd_dup_ids(pre, n_pre), *b = lmd_dup_ids(post, n_post);
    if (!a || !b) {
        free(a);
        free(b);
        return -1;
    }
    free(t->frame_pre);
    free(t->frame_post);
    t->frame_pre = a;
    t->frame_post = b;
    t->n_frame_pre = n_pre;
    t->n_frame_post = n_post;
    return 0;
}

/* ["[SEP]", 102] -> 102 */
static int lmd_pp_pair(const cJSON *pp, const char *key, const char *type, int32_t *id,
                       const char *name, lmd_error *err) {
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(pp, key);
    const cJSON *n = cJSON_IsArray(x) && cJSON_GetArraySize(x) == 2 ? x->child->next : NULL;
    if (!n || !cJSON_IsString(x->child) || !cJSON_IsNumber(n) || !(n->valuedouble >= 0) ||
        n->valuedouble >= LMD_TOK_MAX_ID || n->valuedouble != (double)(int32_t)n->valuedouble)
        return lmd_fail(err, "%s: post_processor %s: \"%s\" is not a [token, id] pair", name, type,
                        key);
    *id = (int32_t)n->valuedouble;
    return 0;
}

typedef struct lmd_idlist {
    int32_t *v;
    size_t n, cap;
} lmd_idlist;

static int lmd_idlist_push(lmd_idlist *l, int32_t id) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        int32_t *p = realloc(l->v, cap * sizeof *p);
        if (!p) return -1;
        l->v = p;
        l->cap = cap;
    }
    l->v[l->n++] = id;
    return 0;
}

/* TemplateProcessing: the ids of the special tokens before and after "$A" in
 * "single". */
static int lmd_pp_template(lmd_tokenizer *t, const cJSON *pp, const char *name, lmd_error *err) {
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(pp, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(pp, "special_tokens");
    if (!cJSON_IsArray(single))
        return lmd_fail(err,
                        "%s: post_processor TemplateProcessing: \"single\" is not a list of "
                        "pieces",
                        name);
    lmd_idlist side[2] = {{0}};
    int seen_a = 0, rc = 0;
    for (const cJSON *p = single->child; p && rc == 0; p = p->next) {
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(p, "Sequence");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(p, "SpecialToken");
        if (cJSON_IsObject(seq)) {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(seq, "id");
            if (!cJSON_IsString(id) || strcmp(id->valuestring, "A") != 0 || seen_a)
                rc = lmd_fail(err,
                              "%s: post_processor TemplateProcessing: \"single\" must hold "
                              "the sequence A exactly once (and no B)",
                              name);
            seen_a = 1;
            continue;
        }
        const cJSON *id = cJSON_IsObject(sp) ? cJSON_GetObjectItemCaseSensitive(sp, "id") : NULL;
        if (!cJSON_IsString(id)) {
            rc = lmd_fail(err,
                          "%s: post_processor TemplateProcessing: a piece of \"single\" is "
                          "neither {\"Sequence\": ...} nor {\"SpecialToken\": ...}",
                          name);
            break;
        }
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(specials, id->valuestring);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(st, "ids");
        if (!cJSON_IsArray(ids) || !ids->child) {
            rc = lmd_fail(err,
                          "%s: post_processor TemplateProcessing: special token \"%.60s\" "
                          "has no ids in special_tokens",
                          name, id->valuestring);
            break;
        }
        for (const cJSON *x = ids->child; x && rc == 0; x = x->next) {
            double d = cJSON_IsNumber(x) ? x->valuedouble : -1;
            if (!(d >= 0 && d < LMD_TOK_MAX_ID) || d != (double)(int32_t)d)
                rc = lmd_fail(err,
                              "%s: post_processor TemplateProcessing: special token "
                              "\"%.60s\" has a bad id",
                              name, id->valuestring);
            else if (lmd_idlist_push(&side[seen_a], (int32_t)d) < 0)
                rc = lmd_fail(err, "%s: out of memory", name);
        }
    }
    if (rc == 0 && !seen_a)
        rc = lmd_fail(err, "%s: post_processor TemplateProcessing: \"single\" has no sequence A",
                      name);
    if (rc == 0 && lmd_tok_set_frame(t, side[0].v, side[0].n, side[1].v, side[1].n) < 0)
        rc = lmd_fail(err, "%s: out of memory", name);
    free(side[0].v);
    free(side[1].v);
    return rc;
}

/* One processor; *framing is set when it puts special tokens around the
 * sequence. */
static int lmd_pp_one(lmd_tokenizer *t, const cJSON *pp, int depth, int *framing, const char *name,
                      lmd_error *err) {
    const cJSON *ty = cJSON_GetObjectItemCaseSensitive(pp, "type");
    if (!cJSON_IsString(ty)) return lmd_fail(err, "%s: post_processor has no type", name);
    const char *type = ty->valuestring;
    if (strcmp(type, "ByteLevel") == 0) return 0;
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pp, "processors");
        if (depth > 0 || !cJSON_IsArray(list))
            return lmd_fail(err, "%s: post_processor Sequence %s", name,
                            depth > 0 ? "inside a Sequence is not supported"
                                      : "without a processors list");
        for (const cJSON *x = list->child; x; x = x->next)
            if (lmd_pp_one(t, x, depth + 1, framing, name, err) < 0) return -1;
        return 0;
    }
    int is_bert = strcmp(type, "BertProcessing") == 0;
    int is_roberta = strcmp(type, "RobertaProcessing") == 0;
    int is_template = strcmp(type, "TemplateProcessing") == 0;
    if (!is_bert && !is_roberta && !is_template)
        return lmd_fail(err,
                        "%s: post_processor %s is not supported (lmdiff supports "
                        "BertProcessing, RobertaProcessing, TemplateProcessing, ByteLevel "
                        "and a Sequence of them)",
                        name, type);
    if (*framing)
        return lmd_fail(err,
                        "%s: post_processor Sequence with more than one processor that adds "
                        "special tokens is not supported",
                        name);
    *framing = 1;
    if (is_template) return lmd_pp_template(t, pp, name, err);
    int32_t cls, sep;
    if (lmd_pp_pair(pp, "cls", type, &cls, name, err) < 0 ||
        lmd_pp_pair(pp, "sep", type, &sep, name, err) < 0)
        return -1;
    if (lmd_tok_set_frame(t, &cls, 1, &sep, 1) < 0) return lmd_fail(err, "%s: out of memory", name);
    return 0;
}

int lmd_tok_json_post_processor(lmd_tokenizer *t, const cJSON *pp, const char *name,
                                lmd_error *err) {
    if (!pp || cJSON_IsNull(pp)) return 0;
    if (!cJSON_IsObject(pp)) return lmd_fail(err, "%s: post_processor is not an object", name);
    int framing = 0;
    return lmd_pp_one(t, pp, 0, &framing, name, err);
}

static int lmd_known_id(const lmd_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_ids && t->slots[id].kind != 0;
}

int lmd_tok_check_frame(lmd_tokenizer *t, const char *name, lmd_error *err) {
    for (int side = 0; side < 2; side++) {
        const int32_t *v = side ? t->frame_post : t->frame_pre;
        size_t n = side ? t->n_frame_post : t->n_frame_pre;
        for (size_t i = 0; i < n; i++)
            if (!lmd_known_id(t, v[i]))
                return lmd_fail(err,
                                "%s: post_processor uses id %d, which is not a token of the "
                                "tokenizer",
                                name, (int)v[i]);
    }
    if (t->mask_id >= 0 && !lmd_known_id(t, t->mask_id))
        return lmd_fail(err, "%s: mask token id %d is not a token of the tokenizer", name,
                        (int)t->mask_id);
    if (t->mask_id < 0) {
        /* the usual names, when the tokenizer has them as added tokens */
        static const char *const names[] = {"[MASK]", "<mask>"};
        for (size_t k = 0; k < 2 && t->mask_id < 0; k++)
            for (size_t i = 0; i < t->n_added; i++)
                if (t->added[i].len == strlen(names[k]) &&
                    memcmp(lmd_tok_str(t, t->added[i].off), names[k], t->added[i].len) == 0)
                    t->mask_id = t->added[i].id;
    }
    return 0;
}

const char *lmd_tok_cfg_token(const cJSON *config, const cJSON *map, const char *key,
                              const char *def) {
    for (int k = 0; k < 2; k++) {
        const cJSON *root = k == 0 ? map : config; /* the map wins, as in transformers */
        const cJSON *x = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, key) : NULL;
        if (!x) continue;
        if (cJSON_IsObject(x)) x = cJSON_GetObjectItemCaseSensitive(x, "content");
        return cJSON_IsString(x) ? x->valuestring : NULL;
    }
    return def;
}

int lmd_tok_roberta_specials(lmd_tokenizer *t, const cJSON *config, const cJSON *map,
                             const char *name, lmd_error *err) {
    const cJSON *cls_x = cJSON_GetObjectItemCaseSensitive(config, "tokenizer_class");
    if (!cJSON_IsString(cls_x) || strncmp(cls_x->valuestring, "Roberta", 7) != 0) return 0;
    static const char *const keys[][2] = {{"bos_token", "<s>"},    {"eos_token", "</s>"},
                                          {"sep_token", "</s>"},   {"cls_token", "<s>"},
                                          {"unk_token", "<unk>"},  {"pad_token", "<pad>"},
                                          {"mask_token", "<mask>"}};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        int named = 0;
        for (int r = 0; r < 2; r++) {
            const cJSON *root = r ? config : map;
            named |= cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, keys[k][0]);
        }
        const char *def = keys[k][1];
        const lmd_str_entry *e = lmd_strmap_get(&t->vocab, t->arena.data, def, strlen(def));
        if (named || !e) continue; /* a missing default is simply not there */
        lmd_added_tok a = {.id = e->id, .special = 1, .lstrip = k == 6};
        if (lmd_tok_add_added(t, &a, def, strlen(def), name, err) < 0) return -1;
    }
    /* RobertaTokenizer makes a mask_token given as a plain string lstrip */
    for (int r = 0; r < 2; r++) {
        const cJSON *root = r ? config : map;
        const cJSON *m =
            cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "mask_token") : NULL;
        if (!m) continue;
        for (size_t i = 0; cJSON_IsString(m) && i < t->n_added; i++)
            if (t->added[i].len == strlen(m->valuestring) &&
                memcmp(lmd_tok_str(t, t->added[i].off), m->valuestring, t->added[i].len) == 0)
                t->added[i].lstrip = 1;
        break;
    }
    const char *cls = lmd_tok_cfg_token(config, map, "cls_token", "<s>");
    const char *sep = lmd_tok_cfg_token(config, map, "sep_token", "</s>");
    if (!cls || !sep) return 0;
    int32_t c = lmd_tokenizer_token_id(t, cls, strlen(cls));
    int32_t s = lmd_tokenizer_token_id(t, sep, strlen(sep));
    if (c < 0 || s < 0)
        return lmd_fail(err,
                        "%s: the %s token \"%.60s\" of a RobertaTokenizer is not in the "
                        "vocabulary",
                        name, c < 0 ? "cls" : "sep", c < 0 ? cls : sep);
    if (lmd_tok_set_frame(t, &c, 1, &s, 1) < 0) return lmd_fail(err, "%s: out of memory", name);
    return 0;
}
