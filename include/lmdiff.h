/* lmdiff.h - the public C API of liblmdiff.
 *
 * liblmdiff reads Hugging Face model folders directly and scores every token
 * of a text: probability of the true token, its rank, the top-k predictions
 * and the entropy of the distribution.  Two scorings of one text make a diff.
 *
 * Conventions
 *   - Every function that can fail returns 0 on success and -1 on failure and
 *     fills the caller's lmd_error with a message that names the file and the
 *     problem, and a code (lmd_error_code) that says what kind of failure it
 *     is.  The library never prints and never exits.
 *   - Handles are opaque.  A loaded model or tokenizer is immutable and may be
 *     shared by any number of threads.
 *   - Ranks are 1-based everywhere in this API (1 = the model's top choice).
 */
#ifndef LMDIFF_H
#define LMDIFF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LMD_VERSION "0.1.0"

/* What kind of failure an lmd_error is: for a program that reacts to it
 * (the server's HTTP status, the CLI's exit status).  The message says the
 * rest. */
typedef enum lmd_error_code {
    LMD_ERR_FAILED = 1,  /* not classified further */
    LMD_ERR_BAD_INPUT,   /* a file or text is malformed or out of range */
    LMD_ERR_NOT_FOUND,   /* a file, folder, tensor or id does not exist */
    LMD_ERR_UNSUPPORTED, /* well-formed, but lmdiff cannot handle it */
    LMD_ERR_NO_MEMORY,   /* an allocation failed */
    LMD_ERR_IO,          /* reading or writing failed (disk full, permissions) */
    LMD_ERR_BUSY,        /* in use by someone else (a lock); try again later */
} lmd_error_code;

typedef struct lmd_error {
    char msg[1024];
    lmd_error_code code; /* set together with msg */
} lmd_error;

/* "BAD_INPUT", "NOT_FOUND", ...; "FAILED" for an unknown code. */
const char *lmd_error_code_name(lmd_error_code code);

/* ---------------------------------------------------------------- tokenizer */

typedef struct lmd_tokenizer lmd_tokenizer;

/* Loads the tokenizer of a model folder: tokenizer.json, vocab.json +
 * merges.txt, or a WordPiece vocab.txt (docs/tokenizer.md).  Needs no
 * weights. */
int lmd_tokenizer_load(const char *dir, lmd_tokenizer **out, lmd_error *err);
void lmd_tokenizer_free(lmd_tokenizer *tok);

/* Encodes UTF-8 text (len bytes, need not be NUL-terminated) without adding
 * special tokens.  *ids is malloc'ed; the caller frees it.  Invalid UTF-8 is an
 * error. */
int lmd_tokenize(const lmd_tokenizer *tok, const char *text, size_t len, int32_t **ids,
                 size_t *n_ids, lmd_error *err);

/* Where a token comes from: bytes [start, end) of the text. */
typedef struct lmd_span {
    uint32_t start, end;
} lmd_span;

/* lmd_tokenize that also gives each token's byte span in the text (*spans
 * malloc'ed, n_ids of them), through the normalizer as Hugging Face's offset
 * mapping keeps it (docs/tokenizer.md): a byte-level token covers exactly
 * its bytes (it may end inside a UTF-8 character); a token made from a
 * normalized character covers the whole original character.  Starts never
 * decrease.  Texts of 4 GiB and more are refused. */
int lmd_tokenize_spans(const lmd_tokenizer *tok, const char *text, size_t len, int32_t **ids,
                       lmd_span **spans, size_t *n_ids, lmd_error *err);

/* Number of ids the tokenizer knows (base vocabulary plus added tokens). */
int32_t lmd_tokenizer_vocab_size(const lmd_tokenizer *tok);

/* The raw vocabulary string of an id ("Ġhello" for GPT-2), or NULL when the id
 * is out of range or unused. */
const char *lmd_token_raw(const lmd_tokenizer *tok, int32_t id);

/* The text an id stands for (" hello"), as UTF-8 bytes that may be an
 * incomplete character for byte-level tokens.  WordPiece: the token as the
 * decoder writes it after another one (" hello", "ing" for "##ing"), so
 * the pieces of a text join into readable text.  Returns the byte count and
 * points *bytes at storage owned by the tokenizer; 0 for an unknown id. */
size_t lmd_token_bytes(const lmd_tokenizer *tok, int32_t id, const char **bytes);

/* Decodes ids back to text.  Returns a malloc'ed NUL-terminated string
 * (bytes that do not form valid UTF-8 are kept as they are) and its length in
 * *len (may be NULL). */
char *lmd_detokenize(const lmd_tokenizer *tok, const int32_t *ids, size_t n, size_t *len);

/* A string for showing one token to a person: valid UTF-8, with the text of
 * the token; bytes that are not valid UTF-8 on their own are shown as
 * "\xNN".  Malloc'ed. */
char *lmd_token_display(const lmd_tokenizer *tok, int32_t id);

/* The id prepended before a text so that its first token is predicted
 * (bos_token_id, else <|endoftext|>); -1 when there is none. */
int32_t lmd_tokenizer_bos(const lmd_tokenizer *tok);

/* The special tokens the tokenizer's post-processor puts around one sequence
 * (tokenizer.json post_processor: BertProcessing, RobertaProcessing,
 * TemplateProcessing "single"; for vocab.txt folders [CLS] ... [SEP]).
 * BERT: pre=[CLS] post=[SEP]; RoBERTa: <s> ... </s>; Llama-2: <s> ...;
 * GPT-2: none.  The arrays belong to the tokenizer (never NULL; the counts
 * may be 0).  lmd_tokenize never adds them. */
void lmd_tokenizer_frame(const lmd_tokenizer *tok, const int32_t **pre, size_t *n_pre,
                         const int32_t **post, size_t *n_post);

/* The mask token of a masked-LM tokenizer ([MASK], <mask>), or -1. */
int32_t lmd_tokenizer_mask(const lmd_tokenizer *tok);

/* Portable hash of the vocabulary and the tokenization rules, 64 hex chars
 * + NUL.  Defined in docs/tokenizer.md. */
void lmd_tokenizer_hash(const lmd_tokenizer *tok, char hex[65]);

/* -------------------------------------------------------------------- model */

typedef struct lmd_model lmd_model;

/* How the weight matrices are multiplied (docs/scoring.md, "Precision"). */
typedef enum lmd_precision {
    LMD_PRECISION_AUTO = 0, /* BF16 products for BF16 weights where the CPU has BF16
                               instructions (AVX512-BF16, AMX), else F32 */
    LMD_PRECISION_F32,      /* F32 products, 16-bit weights widened exactly: the
                               reference path, bit for bit the same on every run */
    LMD_PRECISION_BF16,     /* BF16 products (F32 accumulation) for every matrix; F32
                               and F16 weights are rounded to BF16 once at load */
} lmd_precision;

/* "auto", "f32", "bf16" */
const char *lmd_precision_name(lmd_precision p);
/* Parses one of those names; -1 for anything else. */
int lmd_precision_parse(const char *s, lmd_precision *out);

typedef struct lmd_model_opts {
    lmd_precision precision;
    /* where the forward runs: NULL or "cpu"; "cuda" / "cuda:N" (a build with
     * the CUDA backend, the Llama-style decoder families); "auto": CUDA
     * device 0 when the build has it, a device is present and the family
     * runs there, else the CPU.  Refused naming the reason otherwise. */
    const char *device;
    /* 1: weights with BF16 products are copied at load into the blocked
     * layout oneDNN's kernel prefers, q/k/v and gate/up each as one matrix,
     * and their pages of the mapped file are released (not resident twice).
     * Faster products for long jobs, at a load cost: docs/performance.md.
     * Decoder families (Llama, Mistral, Qwen, Gemma, Phi-3, OLMo-2), CPU. */
    int pack_weights;
} lmd_model_opts;
#define LMD_MODEL_OPTS_INIT                                                                        \
    { .precision = LMD_PRECISION_AUTO }

/* Loads config.json, the weights (model.safetensors or a sharded index) and
 * the tokenizer of a Hugging Face model folder.  opts NULL: the defaults of
 * LMD_MODEL_OPTS_INIT.  LMD_PRECISION_BF16 on a CPU where oneDNN has no BF16
 * product is an error. */
int lmd_model_load_opts(const char *dir, const lmd_model_opts *opts, lmd_model **out,
                        lmd_error *err);
/* lmd_model_load_opts with LMD_PRECISION_F32: the exact path, as before
 * precisions existed. */
int lmd_model_load(const char *dir, lmd_model **out, lmd_error *err);
void lmd_model_free(lmd_model *m);

const lmd_tokenizer *lmd_model_tokenizer(const lmd_model *m);

typedef struct lmd_model_info {
    const char *arch;   /* "GPT2LMHeadModel", "BertForMaskedLM", ... */
    const char *name;   /* the folder's basename */
    int32_t vocab_size; /* rows of the output layer */
    int32_t n_ctx;      /* context length in tokens */
    int32_t n_layer, n_embd, n_head, n_inner;
    int64_t n_params;        /* parameters, the tied head counted once */
    double flops_per_token;  /* 2 x multiply-adds of one position through the
                                weight matrices (attention scores excluded) */
    int masked_lm;           /* 1: scored by pseudo-likelihood (docs/scoring.md) */
    const char *precision;   /* how the products run after load: "f32" or "bf16" */
    const char *matmul_impl; /* what runs them: "OpenBLAS sgemm", "cuBLASLt" or "oneDNN " + oneDNN's
                               implementation name, e.g. "oneDNN brg:avx512_core_amx", then
                               ", N matrices packed" where pack_weights packed some */
    const char *device;      /* where the forward runs: "cpu" or "cuda:N" */
} lmd_model_info;

void lmd_model_get_info(const lmd_model *m, lmd_model_info *info);

/* Fingerprint of the weights: SHA-256 over every tensor's name, dtype, shape
 * and bytes, in name order (docs/measures.md).  Computed on first use (it
 * reads all the weights) and then remembered; thread-safe. */
void lmd_model_weights_hash(const lmd_model *m, char hex[65]);

/* ------------------------------------------------------------------ scoring */

/* Scores of one text: n predicted tokens, each with k top predictions. */
typedef struct lmd_scores {
    size_t n;
    int k;
    int32_t *ids;      /* [n] the true token ids                          */
    float *prob;       /* [n] p(true token)                               */
    double *logprob;   /* [n] ln p(true token), computed in double        */
    int32_t *rank;     /* [n] 1 + #vocabulary entries with a larger logit */
    float *entropy;    /* [n] entropy of the distribution, nats           */
    int32_t *topk_ids; /* [n*k] row-major, ties go to the lower id        */
    float *topk_prob;  /* [n*k]                                           */
} lmd_scores;

typedef struct lmd_score_opts {
    int top_k;            /* default 10 */
    int n_threads;        /* 0 = OpenMP's default */
    int max_batch_tokens; /* tokens per forward batch; 0 = default (8192) */
} lmd_score_opts;
/* The defaults: `lmd_score_opts o = LMD_SCORE_OPTS_INIT;` */
#define LMD_SCORE_OPTS_INIT                                                                        \
    { .top_k = 10, .n_threads = 0, .max_batch_tokens = 0 }

/* Scores n_texts token sequences in one batch.  A BOS id is prepended to each
 * and never reported; texts longer than the context are scored with a sliding
 * window (see docs/measures.md).  Masked LMs (info.masked_lm) are scored by
 * pseudo-likelihood instead: each token masked in its own copy of the text,
 * framed by the tokenizer's special tokens (docs/scoring.md).  out[i] receives the scores of text i
 * and is freed with lmd_scores_free.  opts may be NULL. */
int lmd_score_ids(const lmd_model *m, const int32_t *const *ids, const size_t *n_ids,
                  size_t n_texts, const lmd_score_opts *opts, lmd_scores *out, lmd_error *err);

/* Tokenizes and scores one text.  A text of 0 tokens (empty, or only
 * characters the normaliser removes) fails with LMD_ERR_BAD_INPUT and
 * LMD_MSG_NO_TOKENS. */
#define LMD_MSG_NO_TOKENS "the text has no tokens after normalisation"
int lmd_score_text(const lmd_model *m, const char *text, size_t len, const lmd_score_opts *opts,
                   lmd_scores *out, lmd_error *err);

/* Allocates the arrays of s for n tokens and k predictions each, zeroed
 * (for callers that build scores themselves, e.g. from a cache). */
int lmd_scores_alloc(lmd_scores *s, size_t n, int k, lmd_error *err);
void lmd_scores_free(lmd_scores *s);

/* Two tokenizers that give the same ids for every text (the same hash). */
int lmd_tokenizers_compatible(const lmd_tokenizer *a, const lmd_tokenizer *b);

/* ---------------------------------------------------------------- diff views */

/* Two scorings of one text (the same token ids), as `lmdiff diff` shows them. */
typedef struct lmd_diff_doc {
    const lmd_tokenizer *tok;
    const char *text; /* the text, len bytes */
    size_t len;
    const char *name1, *name2; /* the models' names */
    const lmd_scores *s1, *s2;
    int clamp;           /* C of the rank_clamped measure; 0 = 50 */
    const char *measure; /* HTML colouring: "logprob" (NULL), "prob", "rank",
                            "rank_clamped", "topk" or "entropy" */
} lmd_diff_doc;

/* The document of `lmdiff diff --json` (docs/cli.md).  *json is malloc'ed,
 * NUL-terminated; free it with lmd_free. */
int lmd_diff_json(const lmd_diff_doc *d, char **json, lmd_error *err);

/* The diff as one self-contained HTML page (inline CSS and SVG, no script,
 * nothing fetched): the tokens coloured by the measure, both models'
 * probabilities and ranks on hover, and the per-token table
 * (`lmdiff diff --html`).  *html is malloc'ed; free it with lmd_free. */
int lmd_diff_html(const lmd_diff_doc *d, char **html, lmd_error *err);

/* Frees memory this library returned to the caller (lmd_tokenize's ids,
 * lmd_detokenize's and lmd_token_display's strings, documents). */
void lmd_free(void *p);

#ifdef __cplusplus
}
#endif
#endif
