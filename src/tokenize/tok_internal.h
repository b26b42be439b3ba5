/* tok_internal.h - the layout of lmd_tokenizer and the helpers shared by the
 * files of src/tokenize/ (loading, building, encoding, decoding, hashing).
 * Nothing outside src/tokenize/ includes this file. */
#ifndef LMD_TOK_INTERNAL_H
#define LMD_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "tokenize/tokenizer.h"

/* Ids above this are refused when loading (real vocabularies stay far below). */
#define LMD_TOK_MAX_ID ((int32_t)1 << 22)

/* GPT-2's pre-tokenizer pattern, exactly as Hugging Face writes it. */
#define LMD_GPT2_PATTERN \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

/* U+2581, SentencePiece's space. */
#define LMD_SPIECE "\xE2\x96\x81"

/* ---- byte <-> unicode map of GPT-2 (bytemap.c) */

/* The code point that stands for byte b (b itself for printable Latin-1,
 * 256 + n for the others). */
uint32_t lmd_byte_to_cp(uint8_t b);
/* The byte a code point stands for, or -1. */
int lmd_cp_to_byte(uint32_t cp);
/* Writes the UTF-8 of lmd_byte_to_cp(b) into out (1 or 2 bytes); returns the
 * count. */
int lmd_byte_to_utf8(uint8_t b, char out[2]);
/* Decodes one UTF-8 sequence of valid text; returns its length. */
int lmd_utf8_decode(const unsigned char *s, size_t avail, uint32_t *cp);
/* Unicode White_Space (what Rust's char::is_whitespace and Oniguruma's \s
 * match). */
int lmd_is_white_space(uint32_t cp);

/* ---- hash tables (maps.c) */

/* String -> id.  The strings live in an arena (lmd_buf) and are referred to
 * by offset, so that the arena may grow. */
typedef struct lmd_str_entry {
    size_t off;
    uint32_t len;
    uint32_t hash;
    int32_t id;
} lmd_str_entry;

typedef struct lmd_strmap {
    lmd_str_entry *e;
    size_t n, cap_e;
    uint64_t *slot; /* hash << 32 | (entry index + 1); 0 = empty */
    size_t mask;
} lmd_strmap;

uint32_t lmd_str_hash(const char *s, size_t len);
/* 0 inserted, 1 the string is already there (nothing changed), -1 no memory. */
int lmd_strmap_put(lmd_strmap *m, const char *arena, size_t off, uint32_t len, int32_t id);
/* The entry of a string, or NULL. */
const lmd_str_entry *lmd_strmap_get(const lmd_strmap *m, const char *arena, const char *s,
                                    size_t len);
void lmd_strmap_free(lmd_strmap *m);

/* (left id, right id) -> (rank, merged id). */
typedef struct lmd_merge_slot {
    uint64_t key; /* 0 = empty */
    uint32_t rank;
    int32_t new_id;
} lmd_merge_slot;

typedef struct lmd_mergemap {
    lmd_merge_slot *slot;
    size_t mask, n;
} lmd_mergemap;

/* Inserts or, as Hugging Face does for a repeated pair, overwrites. */
int lmd_mergemap_put(lmd_mergemap *m, int32_t a, int32_t b, uint32_t rank, int32_t new_id);
void lmd_mergemap_free(lmd_mergemap *m);

static inline uint64_t lmd_merge_key(int32_t a, int32_t b) {
    return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
}

static inline size_t lmd_merge_hash(uint64_t key, size_t mask) {
    key ^= key >> 29;
    key *= 0x9E3779B97F4A7C15ull;
    return (size_t)(key >> 32 ^ key) & mask;
}

/* The slot of pair (a, b), or NULL. */
static inline const lmd_merge_slot *lmd_mergemap_get(const lmd_mergemap *m, int32_t a,
                                                     int32_t b) {
    if (!m->slot) return NULL;
    uint64_t key = lmd_merge_key(a, b);
    for (size_t i = lmd_merge_hash(key, m->mask);; i = (i + 1) & m->mask) {
        const lmd_merge_slot *s = &m->slot[i];
        if (s->key == key) return s;
        if (s->key == 0) return NULL;
    }
}

/* ---- the tokenizer */

enum { LMD_SLOT_VOCAB = 1, LMD_SLOT_ADDED = 2 };

typedef struct lmd_tok_slot {
    size_t raw_off, bytes_off; /* arena offsets, NUL-terminated */
    uint32_t raw_len, bytes_len;
    uint8_t kind;      /* LMD_SLOT_* bits; 0 = an unused id */
    uint8_t byte_tok;  /* a <0xNN> token the decoder's ByteFallback turns into
                          one byte */
} lmd_tok_slot;

typedef struct lmd_added_tok {
    int32_t id;
    size_t off; /* content, in the arena */
    uint32_t len;
    uint8_t special, lstrip, rstrip, single_word, normalized;
    /* what is matched in the text: the content, or for a normalized token of
     * a tokenizer with a normalizer the normalized content (finalize) */
    size_t match_off;
    uint32_t match_len;
} lmd_added_tok;

/* One step of the pre-tokenizer, applied to every piece in turn.
 * LMD_STEP_BERT: Hugging Face's BertPreTokenizer (wordpiece.c). */
enum {
    LMD_STEP_SPLIT_REGEX,
    LMD_STEP_SPLIT_LITERAL,
    LMD_STEP_PREFIX_SPACE,
    LMD_STEP_BERT,
    LMD_STEP_METASPACE /* spaces -> replacement, prepend it, split before it */
};

/* Split's behavior: what becomes of a match (HF SplitDelimiterBehavior). */
enum {
    LMD_SPLIT_ISOLATED, /* a piece of its own */
    LMD_SPLIT_REMOVED,  /* dropped */
    LMD_SPLIT_MERGED_PREV, /* joined to the piece before it (if that is not a match) */
    LMD_SPLIT_MERGED_NEXT, /* joined to the piece after it (if that is not a match) */
    LMD_SPLIT_CONTIGUOUS   /* adjacent matches joined into one piece */
};

/* Metaspace's prepend_scheme. */
enum { LMD_PREPEND_ALWAYS, LMD_PREPEND_FIRST, LMD_PREPEND_NEVER };

/* One step of the normalizer (normalize.c). */
enum {
    LMD_NORM_BERT,
    LMD_NORM_PREPEND, /* a = the prefix, put before a non-empty text */
    LMD_NORM_REPLACE, /* every a (a literal string) becomes b */
    LMD_NORM_NFC,
    LMD_NORM_NFD,
    LMD_NORM_NFKC,
    LMD_NORM_NFKD
};

typedef struct lmd_norm_step {
    int kind;
    /* LMD_NORM_BERT; strip_accents is resolved (null = lowercase);
     * strip_given: strip_accents was a boolean in the file, not null */
    uint8_t clean_text, chinese, strip_accents, lowercase, strip_given;
    /* LMD_NORM_PREPEND, LMD_NORM_REPLACE: the strings (arena offsets) */
    size_t a_off, b_off;
    uint32_t a_len, b_len;
} lmd_norm_step;

/* The model and the decoder.  LMD_DEC_TEXT: the decoder of a text
 * vocabulary (Replace, ByteFallback, Fuse, Strip, Metaspace). */
enum { LMD_MODEL_BPE, LMD_MODEL_WORDPIECE };
enum { LMD_DEC_BYTELEVEL, LMD_DEC_WORDPIECE, LMD_DEC_NONE, LMD_DEC_TEXT };

typedef struct lmd_pretok_step {
    int kind;
    size_t src_off; /* the pattern as written in the file (Metaspace: the
                       replacement), in the arena */
    uint32_t src_len;
    pcre2_code *re;    /* NULL for PREFIX_SPACE and METASPACE */
    uint8_t prepend;   /* METASPACE: LMD_PREPEND_* */
    uint8_t split;     /* METASPACE: split before each replacement */
    uint8_t behavior;  /* SPLIT_*: LMD_SPLIT_* (0: Isolated) */
    uint8_t invert;    /* SPLIT_*: the gaps are the matches */
} lmd_pretok_step;

struct lmd_tokenizer {
    lmd_buf arena;     /* every string, NUL-terminated */
    lmd_strmap vocab;  /* raw vocabulary string -> id */
    lmd_mergemap merges;
    uint32_t n_merge_list; /* merges as listed; rank = index in the list */

    lmd_added_tok *added;
    size_t n_added, cap_added;

    lmd_pretok_step *steps;
    size_t n_steps;

    lmd_norm_step *norms; /* applied in order; none for GPT-2 */
    size_t n_norms;

    int model; /* LMD_MODEL_* */
    /* WordPiece: continuing_subword_prefix (arena), max_input_chars_per_word */
    size_t wp_prefix_off;
    uint32_t wp_prefix_len;
    size_t wp_max_chars;
    uint32_t wp_max_token_len; /* longest vocabulary string, bytes (finalize) */

    /* BPE: 0: byte-level (GPT-2): the vocabulary spells bytes with GPT-2's
     * byte map, BPE starts from one symbol per byte.  1: the vocabulary is
     * text (SentencePiece style: "▁hello"); BPE starts from one symbol per
     * character, with byte_fallback's <0xNN> tokens or unk for a character
     * that is not in the vocabulary. */
    int text_vocab;
    int byte_fallback;
    /* A text vocabulary that has ▁ as a token and none of whose tokens has
     * ▁ after another character: BPE may then encode the parts of a piece
     * that start at a ▁ run on their own (an exact shortcut; set by
     * lmd_tok_finalize). */
    int split_spiece;

    int decoder; /* LMD_DEC_*; byte-level BPE tokenizers use BYTELEVEL */
    size_t dec_prefix_off; /* LMD_DEC_WORDPIECE: prefix (arena), cleanup */
    uint32_t dec_prefix_len;
    int dec_cleanup;
    /* LMD_DEC_TEXT (normalize.c): each token's bytes are its string with the
     * replacements applied in order, or one byte for a <0xNN> token with
     * dec_byte_fallback; lmd_detokenize removes up to dec_strip leading
     * spaces of the whole text (Strip after Fuse, Metaspace's prefix). */
    lmd_norm_step *dec_repl; /* LMD_NORM_REPLACE steps */
    size_t n_dec_repl;
    int dec_byte_fallback;
    uint32_t dec_strip;

    int has_unk; /* the model names an unk_token */
    size_t unk_off;
    uint32_t unk_len;
    int fuse_unk, ignore_merges;

    /* filled by lmd_tok_finalize */
    lmd_tok_slot *slots;
    int32_t n_ids;
    int32_t byte_id[256]; /* id of each byte's one-character token, or -1 */
    int32_t fallback_id[256]; /* id of "<0xNN>" for each byte, or -1 */
    int32_t unk_id;       /* -1: none; -2: named but not in the vocabulary */
    int added_two_pass;        /* both normalized and non-normalized added tokens */
    uint32_t *added_order;     /* added indices by pass, first byte, length desc */
    uint32_t bucket[2][257];   /* [pass][first byte] -> start in added_order */
    int any_single_word;
    pcre2_code *word_re;       /* Rust regex's \w, for single_word tokens */
    lmd_strmap whole; /* what BPE starts from (bytes; the raw string for a
                         text vocabulary) -> the id of a vocabulary token that
                         BPE gives back whole (a shortcut, exact) */
    int32_t bos;
    /* the post-processor's special tokens around one sequence (frame.c) */
    int32_t *frame_pre, *frame_post;
    size_t n_frame_pre, n_frame_post;
    int32_t mask_id; /* the mask token, or -1 */
    char hash[65];
};

/* ---- building (build.c) */

lmd_tokenizer *lmd_tok_new(void);
/* Adds a vocabulary entry.  name is the file for errors. */
int lmd_tok_add_vocab(lmd_tokenizer *t, const char *raw, size_t len, double id, const char *name,
                      lmd_error *err);
/* Adds the merge of the next rank. */
int lmd_tok_add_merge(lmd_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                      const char *name, lmd_error *err);
/* Adds an added token; an exact repeat (same id and content) is ignored. */
int lmd_tok_add_added(lmd_tokenizer *t, const lmd_added_tok *tmpl, const char *content,
                      size_t len, const char *name, lmd_error *err);
/* Appends a pre-tokenizer step; src is the pattern as written (not for
 * PREFIX_SPACE). */
int lmd_tok_add_step(lmd_tokenizer *t, int kind, const char *src, size_t len, const char *name,
                     lmd_error *err);
int lmd_tok_set_unk(lmd_tokenizer *t, const char *s, size_t len);
/* Appends a replacement of the decoder of a text vocabulary. */
int lmd_tok_add_dec_replace(lmd_tokenizer *t, const char *a, size_t alen, const char *b,
                            size_t blen, const char *name, lmd_error *err);
/* Appends a Metaspace pre-tokenizer step. */
int lmd_tok_add_metaspace(lmd_tokenizer *t, const char *rep, size_t len, int prepend, int split,
                          const char *name, lmd_error *err);
/* Checks and indexes everything; computes the hash.  BOS = <|endoftext|>. */
int lmd_tok_finalize(lmd_tokenizer *t, const char *name, lmd_error *err);

/* ---- SentencePiece BPE from its pieces (spm_model.c; GGUF metadata) */

/* Piece i: s[i] (len[i] bytes), score[i], type[i] (SentencePiece's
 * enum: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte). */
typedef struct lmd_spm_src {
    const char *const *s;
    const uint64_t *len;
    const float *score;
    const int32_t *type;
    size_t n;
    int byte_fallback, add_dummy_prefix;
    int64_t bos_id, eos_id; /* -1: none */
} lmd_spm_src;
/* Builds what lmd_tokenizer_from_spm builds from a tokenizer.model. */
int lmd_tokenizer_from_spm_src(const lmd_spm_src *src, const char *name,
                               const lmd_spm_options *opts, lmd_tokenizer **out, lmd_error *err);

/* ---- the post-processor's frame and the mask token (frame.c) */

struct cJSON;
/* Reads tokenizer.json's post_processor (BertProcessing, RobertaProcessing,
 * TemplateProcessing, ByteLevel, a Sequence of them; null = no frame). */
int lmd_tok_json_post_processor(lmd_tokenizer *t, const struct cJSON *pp, const char *name,
                                lmd_error *err);
/* Sets the frame to pre ... post (copies the ids). */
int lmd_tok_set_frame(lmd_tokenizer *t, const int32_t *pre, size_t n_pre, const int32_t *post,
                      size_t n_post);
/* Checks that the frame's ids and the mask are ids the tokenizer knows; sets
 * the default mask ("[MASK]" or "<mask>" among the added tokens) when none
 * was set.  Called by lmd_tok_finalize. */
int lmd_tok_check_frame(lmd_tokenizer *t, const char *name, lmd_error *err);
/* A special token of special_tokens_map.json (first) or tokenizer_config.json:
 * a string or {"content": ...}; def when neither has the key, NULL when it
 * is null. */
const char *lmd_tok_cfg_token(const struct cJSON *config, const struct cJSON *map,
                              const char *key, const char *def);
/* vocab.json + merges.txt of a RobertaTokenizer (tokenizer_config.json's
 * tokenizer_class): RobertaTokenizer's default special tokens (<mask> with
 * lstrip) when the files do not name them, and the frame cls ... sep. */
int lmd_tok_roberta_specials(lmd_tokenizer *t, const struct cJSON *config,
                             const struct cJSON *map, const char *name, lmd_error *err);

/* ---- normalizers and text decoders (normalize.c) */

int lmd_tok_add_norm(lmd_tokenizer *t, const lmd_norm_step *st, const char *name, lmd_error *err);
/* Appends a Prepend / Replace / NF* step (a, b: its strings, NULL/0 when
 * unused). */
int lmd_tok_add_norm_str(lmd_tokenizer *t, int kind, const char *a, size_t alen, const char *b,
                         size_t blen, const char *name, lmd_error *err);
/* Appends the normalized s[0..n) (valid UTF-8) to out; -1 when out of
 * memory. */
int lmd_tok_normalize(const lmd_tokenizer *t, const char *s, size_t n, lmd_buf *out);
/* One step of the normalizer, appended to out; -1 when out of memory. */
int lmd_tok_normalize_step(const lmd_tokenizer *t, const lmd_norm_step *st, const char *s,
                           size_t n, lmd_buf *out);
/* BertNormalizer without the ASCII shortcut (for tests and fuzzing). */
int lmd_tok_norm_bert_general(const lmd_norm_step *st, const char *s, size_t n, lmd_buf *out);
/* Reads the normalizers of tokenizer.json other than BertNormalizer:
 * Prepend, Replace (String pattern), NFC/NFD/NFKC/NFKD.  0 when x is one of
 * them (added), 1 when it is not one of these types, -1 on error. */
int lmd_tok_json_text_norm(lmd_tokenizer *t, const struct cJSON *x, const char *name,
                           lmd_error *err);
/* Reads the decoder of a text vocabulary (null, Metaspace, or a Sequence of
 * Replace (String), ByteFallback, Fuse, Strip after Fuse, Metaspace) and
 * makes t's decoder LMD_DEC_TEXT. */
int lmd_tok_json_text_decoder(lmd_tokenizer *t, const struct cJSON *dec, const char *name,
                              lmd_error *err);
/* Metaspace's prepend scheme (prepend_scheme, or the older add_prefix_space)
 * and replacement character, as read by the pre-tokenizer and the decoder. */
int lmd_tok_metaspace_scheme(const struct cJSON *x, int *scheme, const char *name,
                             lmd_error *err);
const char *lmd_tok_metaspace_replacement(const struct cJSON *x, const char *name,
                                          lmd_error *err);

/* ---- the pre-tokenizer (pretok.c) */

/* Compiles a Hugging Face (Oniguruma) regex with PCRE2, rewriting the escapes
 * whose meaning differs; NULL with err filled when it uses something we cannot
 * translate faithfully. */
pcre2_code *lmd_regex_compile(const char *src, size_t len, int literal, lmd_error *err);

/* ---- encoding (bpe.c, encode.c) */

typedef struct lmd_idvec {
    int32_t *v;
    size_t n, cap;
} lmd_idvec;

int lmd_idvec_push(lmd_idvec *v, int32_t id);

/* Work space of lmd_bpe_word, reused from word to word. */
typedef struct lmd_bpe_scratch {
    int32_t *sym, *prev, *next;
    size_t cap;
    uint64_t *heap;
    size_t heap_cap;
    char *mapped;
    size_t mapped_cap;
} lmd_bpe_scratch;

/* Appends the ids of one pre-tokenized piece (raw bytes) to out. */
int lmd_bpe_word(const lmd_tokenizer *t, const unsigned char *s, size_t n, lmd_bpe_scratch *sc,
                 lmd_idvec *out, lmd_error *err);
void lmd_bpe_scratch_free(lmd_bpe_scratch *sc);

/* ---- WordPiece (wordpiece.c) */

/* Makes t a WordPiece tokenizer: prefix = continuing_subword_prefix. */
int lmd_tok_set_wordpiece(lmd_tokenizer *t, const char *prefix, size_t prefix_len,
                          size_t max_chars, const char *name, lmd_error *err);
/* Sets the WordPiece decoder (prefix, cleanup). */
int lmd_tok_set_wp_decoder(lmd_tokenizer *t, const char *prefix, size_t prefix_len, int cleanup,
                           const char *name, lmd_error *err);
/* Unicode punctuation as BertPreTokenizer defines it (ASCII punctuation or
 * a P* general category). */
int lmd_is_bert_punct(uint32_t cp);
/* Hugging Face's WordPiece decoder cleanup (" ." -> "." ...), appended to
 * out. */
int lmd_wp_cleanup(const char *s, size_t n, lmd_buf *out);
/* The text of token id as the WordPiece decoder gives it for a token that is
 * not the first: "##ing" -> "ing", "hello" -> " hello" (finalize). */
int lmd_wp_token_bytes(const lmd_tokenizer *t, const char *raw, size_t n, lmd_buf *out);
/* Appends the ids of one pre-tokenized piece; scratch is reused. */
int lmd_wp_word(const lmd_tokenizer *t, const char *s, size_t n, lmd_buf *scratch,
                lmd_idvec *out, lmd_error *err);
/* Builds a WordPiece tokenizer from vocab.txt (one token a line, id = line
 * number) and the parsed tokenizer_config.json (NULL when absent):
 * do_lower_case, strip_accents, tokenize_chinese_chars, the special tokens;
 * special_tokens_map.json (NULL when absent) adds its special tokens.  The
 * frame is cls ... sep. */
int lmd_tok_from_vocab_txt(const char *vocab, size_t len, const char *vocab_name,
                           const struct cJSON *config, const char *config_name,
                           const struct cJSON *special_map, const char *map_name,
                           lmd_tokenizer **out, lmd_error *err);
/* transformers' BertTokenizerFast (and its kin, a tokenizer_class with
 * "Bert" or "Electra" in its name) sets do_lower_case, strip_accents and
 * tokenize_chinese_chars of tokenizer_config.json (with its defaults true,
 * null, true) over a BertNormalizer of tokenizer.json when any of them
 * differs; this does the same to t before finalize. */
int lmd_tok_bert_config(lmd_tokenizer *t, const struct cJSON *config, const char *config_name,
                        lmd_error *err);
/* lmd_tokenizer_from_json with the folder's tokenizer_config.json (NULL: none). */
int lmd_tok_from_json_cfg(const char *json, size_t len, const char *name,
                          const struct cJSON *config, const char *config_name, lmd_tokenizer **out,
                          lmd_error *err);
/* The special tokens of tokenizer_config.json / special_tokens_map.json
 * (load_folder.c). */
int lmd_tok_add_specials_of(lmd_tokenizer *t, const struct cJSON *root,
                            const struct cJSON *added_json, const char *name, lmd_error *err);

/* ---- byte spans (spans.c) */

/* The identity alignment of n bytes at offset off (malloc'ed; NULL when out
 * of memory). */
lmd_span *lmd_span_identity(size_t off, size_t n);
/* lmd_tok_normalize with alignments: al[i] is the span of original bytes
 * that s[i] stands for; *out_al (malloc'ed, NULL when out is empty) gets
 * one per byte appended to out (which must start empty).  -1: no memory. */
int lmd_tok_normalize_al(const lmd_tokenizer *t, const char *s, size_t n, const lmd_span *al,
                         lmd_buf *out, lmd_span **out_al);
/* The bytes of the piece s[0..n) that each of the k ids the model made of
 * it covers, in len[k]; -1 when they cannot be told apart (they do not add
 * up to n). */
int lmd_tok_piece_lengths(const lmd_tokenizer *t, const char *s, size_t n, const int32_t *ids,
                          size_t k, size_t *len);

/* ---- the hash (hash.c) */

int lmd_tok_canonical(const lmd_tokenizer *t, lmd_buf *out);

/* The matching pass (0 or 1) of an added token; see build.c. */
static inline int lmd_tok_added_pass(const lmd_tokenizer *t, const lmd_added_tok *a) {
    return t->added_two_pass && a->normalized ? 1 : 0;
}

/* ---- the binary cache (tokcache.c); a new field of struct lmd_tokenizer
 * needs its line there */

/* The compact binary form of a finished tokenizer (malloc'ed in *out). */
int lmd_tokcache_write(const lmd_tokenizer *t, lmd_buf *out);
/* Sets the header's length and checksum for the len bytes at data (what
 * lmd_tokcache_write does last; tests and the fuzz target use it to reach
 * the checks behind the checksum). */
void lmd_tokcache_seal(void *data, size_t len);
/* Reads and validates that form; -1 with err for anything malformed. */
int lmd_tokcache_read(const void *data, size_t len, lmd_tokenizer **out, lmd_error *err);
/* The cache key of a folder's tokenizer files (and of this binary). */
int lmd_tokcache_key(const char *dir, char key[65]);
/* 1 and *out when the cache holds a valid tokenizer for key, else 0. */
int lmd_tokcache_load(const char *key, lmd_tokenizer **out);
/* Writes t under key (atomically; failures are ignored: it is a cache). */
void lmd_tokcache_store(const char *key, const lmd_tokenizer *t);
/* Rust regex's \w as a compiled PCRE2 class (build.c). */
pcre2_code *lmd_tok_word_re(void);

static inline const char *lmd_tok_str(const lmd_tokenizer *t, size_t off) {
    return t->arena.data + off;
}

#endif
