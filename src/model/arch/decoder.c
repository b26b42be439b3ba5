/* decoder.c - the forward of the RMSNorm / gated-MLP / RoPE decoders
 * (see decoder.h).  Per layer:
 *   a = attn(rope(qknorm(q_proj(n))), rope(qknorm(k_proj(n))), v_proj(n)), n = norm_in(x)
 *   x += norm_out(o_proj(a))
 *   x += norm_out'(down(act(gate(m)) * up(m))), m = norm_in'(x)
 * where each norm is present or not by family (Llama: the two input norms;
 * OLMo-2: the two output norms; Gemma: all four), and attention is causal,
 * grouped-query, windowed on local layers, soft-capped when asked.  Every
 * operation goes through the model's backend (kernel/backend.h), so that the
 * activations stay on its device; sparse MoE layers run on the CPU only
 * (their routing reads the rows on the host). */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch/decoder.h"
#include "model/kernel/backend.h"
#include "model/kernel/scratch.h"

#define MLP_ROWS 1024 /* rows of the MLP per pass on the CPU: bounds its buffers */

typedef lmd_dec_layer dec_layer;
typedef lmd_decoder decoder;

void lmd_dec_free(void *p) {
    decoder *g = p;
    lmd_rope_free(&g->rope);
    lmd_rope_free(&g->rope_local);
    free(g->local);
}

/* Rows r0 .. r0+n-1 of an [out x in] matrix, as a matrix of its own. */
static lmd_mat mat_rows(const lmd_mat *W, int r0, int n) {
    lmd_mat v = *W;
    size_t esize = W->dtype == LMD_F32 ? 4 : 2;
    v.data = (const char *)W->data + (size_t)r0 * (size_t)W->n_in * esize;
    v.n_out = n;
    return v;
}

/* Whether W's bytes lie in one of the model's file mappings. */
static int mapped(const lmd_model *m, const lmd_mat *W) {
    const uint8_t *p = W->data;
    size_t bytes = (size_t)W->n_out * (size_t)W->n_in * 2;
    for (int i = 0; i < m->st.n_files; i++) {
        const lmd_map *f = &m->st.maps[i];
        if (p >= f->data && p + bytes <= f->data + f->len) return 1;
    }
    return 0;
}

/* One matrix to pack: its parts, where the result goes, and the result. */
typedef struct pack_job {
    lmd_mat parts[3], r, *out;
    int n, rc;
    void *owned;
} pack_job;

/* *out = parts[0..n) as one matrix for BF16 products: a view when they lie
 * back to back (no copy; gate and up in HF files); with pack_weights a
 * packed copy (lmd_mat_pack) when they come straight from the mapped file,
 * whose source pages are then released: added to jobs (run by pack_all).
 * The parts stay as they were, valid views of the mapping.  Matrices
 * already copied at load (F32 or F16 weights rounded to BF16) are not
 * packed: that would keep both copies.  F32 products never pack or fuse:
 * the exact path stays as it is. */
static void pack(lmd_model *m, const lmd_mat *parts, int n, lmd_mat *out, pack_job *jobs,
                 int *n_jobs) {
    if (!lmd_mat_fusable(parts, n)) return;
    if (!m->pack_weights || m->backend) { /* packing serves the CPU's oneDNN products */
        if (n > 1) lmd_mat_join(parts, n, out);
        return;
    }
    for (int i = 0; i < n; i++)
        if (!mapped(m, &parts[i])) return;
    pack_job *j = &jobs[(*n_jobs)++];
    *j = (pack_job){.out = out, .n = n};
    memcpy(j->parts, parts, (size_t)n * sizeof *parts);
}

/* Runs the jobs, one matrix per thread at a time (the copy's fresh pages
 * are most of the cost: every thread faults its own), then hands the
 * copies to the model.  No jobs, no parallel region: a model loaded in a
 * child forked after OpenMP ran (bench_gguf) would wait forever for
 * libgomp's threads, which did not survive the fork. */
static int pack_all(lmd_model *m, pack_job *jobs, int n, lmd_error *err) {
    if (n == 0) return 0;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++)
        jobs[i].rc = lmd_mat_pack(jobs[i].parts, jobs[i].n, 1, &jobs[i].r, &jobs[i].owned);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (rc == 0 && jobs[i].rc == 0 &&
            (!jobs[i].owned || lmd_model_own(m, jobs[i].owned) == 0)) {
            *jobs[i].out = jobs[i].r;
            m->n_packed += jobs[i].r.packed != NULL;
            continue;
        }
        if (jobs[i].rc == 0) free(jobs[i].owned);
        rc = -1;
    }
    if (rc < 0)
        return lmd_fail(err, "%s: out of memory packing the weights for BF16 products", m->dir);
    return 0;
}

int lmd_dec_bind(lmd_model *m, void *arch, lmd_error *err) {
    decoder *g = arch;
    const lmd_hp *hp = &m->hp;
    const int qd = (int)(hp->H * hp->D), kvd = (int)(hp->KV * hp->D), I = (int)hp->inner;
    dec_layer *layers = m->layers;
    int n_jobs = 0;
    pack_job *jobs = malloc((size_t)(4 * hp->n_layer + 1) * sizeof *jobs);
    if (!jobs) return lmd_fail(err, "%s: out of memory", m->dir);
    for (long l = 0; l < hp->n_layer; l++) {
        dec_layer *L = &layers[l];
        if (L->wqkv.data) {
            L->wq = mat_rows(&L->wqkv, 0, qd);
            L->wk = mat_rows(&L->wqkv, qd, kvd);
            L->wv = mat_rows(&L->wqkv, qd + kvd, kvd);
        }
        if (L->wgate_up.data) {
            L->wgate = mat_rows(&L->wgate_up, 0, I);
            L->wup = mat_rows(&L->wgate_up, I, I);
        }
        const lmd_mat qkv[3] = {L->wq, L->wk, L->wv}, gu[2] = {L->wgate, L->wup};
        pack(m, L->wqkv.data ? &L->wqkv : qkv, L->wqkv.data ? 1 : 3, &L->wqkv, jobs, &n_jobs);
        pack(m, L->wgate_up.data ? &L->wgate_up : gu, L->wgate_up.data ? 1 : 2, &L->wgate_up, jobs,
             &n_jobs);
        pack(m, &L->wo, 1, &L->wo, jobs, &n_jobs);
        pack(m, &L->wdown, 1, &L->wdown, jobs, &n_jobs);
    }
    if (!(hp->flags & IF_TIED)) pack(m, &g->head, 1, &g->head, jobs, &n_jobs);
    int rc = pack_all(m, jobs, n_jobs, err);
    free(jobs);
    if (rc < 0) return -1;
    m->lm_head = (hp->flags & IF_TIED) ? g->embed : g->head;
    /* a MoE layer: the router and the top_k experts a token runs through */
    double mlp = hp->n_experts ? (double)g->top_k * 3.0 * hp->d * hp->expert_inner +
                                     (double)hp->d * hp->n_experts
                               : 3.0 * hp->d * hp->inner;
    double per_layer = 2.0 * hp->d * qd + 2.0 * hp->d * kvd + mlp;
    m->info.flops_per_token = 2.0 * (hp->n_layer * per_layer + (double)hp->vocab * hp->d);
    return 0;
}

/* x += RMSNorm(y) (y is scratch): a block's output normed before the residual. */
static int add_normed(lmd_backend *be, float *x, float *y, size_t rows, int d, const float *w,
                      float eps) {
    if (be->rmsnorm_rows(be, y, y, rows, d, w, eps) < 0) return -1;
    return be->add(be, x, y, rows * (size_t)d);
}

/* Whether a fused projection runs as one product: BF16 products on the CPU
 * (oneDNN).  A device backend runs the parts. */
static int fused(const lmd_backend *be, const lmd_mat *W) {
    return !be->dev && (W->data || W->packed) && W->bf16_products;
}

/* The MLP of rows [r0, r0 + rows): x += down(act(gate(h)) * up(h)).  Gate
 * and up run as one fused product when fused() (gb holds rows x 2I, gate and
 * up side by side, and down reads it with that row stride), else as two
 * products into gb and ub (rows x I each). */
static int dec_mlp(lmd_backend *be, const dec_layer *L, const lmd_model *m, const float *h,
                   float *x, size_t rows, float *gb, float *ub, float *y) {
    const decoder *g = m->arch;
    const int d = (int)m->hp.d, I = (int)m->hp.inner;
    const int one = fused(be, &L->wgate_up);
    const size_t ld = (one ? 2 : 1) * (size_t)I;
    float *u = one ? gb + I : ub;
    if (one) {
        if (be->linear(be, h, (size_t)d, rows, &L->wgate_up, NULL, gb, ld, 0) < 0 ||
            be->bias_rows(be, gb, rows, ld, I, L->bgate) < 0 ||
            be->bias_rows(be, u, rows, ld, I, L->bup) < 0)
            return -1;
    } else if (be->linear(be, h, (size_t)d, rows, &L->wgate, L->bgate, gb, ld, 0) < 0 ||
               be->linear(be, h, (size_t)d, rows, &L->wup, L->bup, u, ld, 0) < 0)
        return -1;
    if (be->glu_rows(be, gb, u, rows, ld, I, g->act) < 0) return -1;
    if (!L->ln_mlp_out) return be->linear(be, gb, ld, rows, &L->wdown, L->bdown, x, (size_t)d, 1);
    if (be->linear(be, gb, ld, rows, &L->wdown, L->bdown, y, (size_t)d, 0) < 0) return -1;
    return add_normed(be, x, y, rows, d, L->ln_mlp_out, g->eps);
}

/* Each row's top_k experts by router probability (softmax of the router's
 * logits lg, in place), their weights renormalised when norm_topk. */
static void route(const decoder *g, float *lg, size_t rows, int E, int *sel, float *wt) {
    const int k = g->top_k;
    for (size_t r = 0; r < rows; r++) {
        float *p = lg + r * (size_t)E, sum = 0;
        lmd_softmax_row(p, E);
        for (int j = 0; j < k; j++) { /* the j-th largest; ties: the lower index */
            int best = -1;
            for (int e = 0; e < E; e++) {
                int taken = 0;
                for (int i = 0; i < j; i++)
                    taken |= sel[r * (size_t)k + (size_t)i] == e;
                if (!taken && (best < 0 || p[e] > p[best])) best = e;
            }
            sel[r * (size_t)k + (size_t)j] = best;
            wt[r * (size_t)k + (size_t)j] = p[best];
            sum += p[best];
        }
        for (int j = 0; g->norm_topk && j < k; j++)
            wt[r * (size_t)k + (size_t)j] /= sum;
    }
}

/* The sparse MoE MLP of `rows` rows: x += sum over each row's experts of
 * weight * down(act(gate(h)) * up(h)); an expert runs only on the rows
 * routed to it.  gb, ub: rows x expert_inner; y: rows x d.  The routing and
 * the gathering read and write the rows in host memory: be is the CPU's
 * (lmd_dec_forward refuses a device for MoE models). */
static int dec_moe(lmd_backend *be, const dec_layer *L, const lmd_model *m, const float *h,
                   float *x, size_t rows, float *gb, float *ub, float *y) {
    const decoder *g = m->arch;
    const int d = (int)m->hp.d, E = (int)m->hp.n_experts, EI = (int)m->hp.expert_inner;
    const int k = g->top_k;
    float *lg = malloc(rows * (size_t)E * sizeof *lg), *xe = malloc(rows * (size_t)d * sizeof *xe);
    float *wt = malloc(rows * (size_t)k * sizeof *wt), *we = malloc(rows * sizeof *we);
    int *sel = malloc(rows * (size_t)k * sizeof *sel), *idx = malloc(rows * sizeof *idx);
    int rc = -1;
    if (!lg || !xe || !wt || !we || !sel || !idx ||
        be->linear(be, h, (size_t)d, rows, &L->router, NULL, lg, (size_t)E, 0) < 0)
        goto done;
    route(g, lg, rows, E, sel, wt);
    for (int e = 0; e < E; e++) {
        size_t n = 0;
        for (size_t r = 0; r < rows; r++)
            for (int j = 0; j < k; j++)
                if (sel[r * (size_t)k + (size_t)j] == e) {
                    idx[n] = (int)r, we[n] = wt[r * (size_t)k + (size_t)j];
                    memcpy(xe + n++ * (size_t)d, h + r * (size_t)d, (size_t)d * sizeof *xe);
                }
        if (n == 0) continue;
        if (be->linear(be, xe, (size_t)d, n, &L->egate[e], NULL, gb, (size_t)EI, 0) < 0 ||
            be->linear(be, xe, (size_t)d, n, &L->eup[e], NULL, ub, (size_t)EI, 0) < 0 ||
            be->glu_rows(be, gb, ub, n, (size_t)EI, EI, g->act) < 0 ||
            be->linear(be, gb, (size_t)EI, n, &L->edown[e], NULL, y, (size_t)d, 0) < 0)
            goto done;
        for (size_t i = 0; i < n; i++)
            for (int c = 0; c < d; c++)
                x[(size_t)idx[i] * d + (size_t)c] += we[i] * y[i * (size_t)d + (size_t)c];
    }
    rc = 0;
done:
    free(lg), free(xe), free(wt), free(we), free(sel), free(idx);
    return rc;
}

/* q, k, v of every row into qkv [T x (qd + 2 kvd)], normed and rotated. */
static int dec_qkv(lmd_backend *be, const lmd_model *m, const dec_layer *L, const lmd_rope *rope,
                   const lmd_seq *seqs, int n_seqs, const float *h, size_t T, float *qkv) {
    const decoder *g = m->arch;
    const int H = (int)m->hp.H, KV = (int)m->hp.KV, D = (int)m->hp.D;
    const size_t d = (size_t)m->hp.d, qd = (size_t)H * D, kvd = (size_t)KV * D, W = qd + 2 * kvd;
    if (fused(be, &L->wqkv)) {
        if (be->linear(be, h, d, T, &L->wqkv, NULL, qkv, W, 0) < 0 ||
            be->bias_rows(be, qkv, T, W, (int)qd, L->bq) < 0 ||
            be->bias_rows(be, qkv + qd, T, W, (int)kvd, L->bk) < 0 ||
            be->bias_rows(be, qkv + qd + kvd, T, W, (int)kvd, L->bv) < 0)
            return -1;
    } else if (be->linear(be, h, d, T, &L->wq, L->bq, qkv, W, 0) < 0 ||
               be->linear(be, h, d, T, &L->wk, L->bk, qkv + qd, W, 0) < 0 ||
               be->linear(be, h, d, T, &L->wv, L->bv, qkv + qd + kvd, W, 0) < 0)
        return -1;
    int rc = 0;
    if (g->qk == QK_PER_HEAD) {
        rc |= be->rmsnorm_pieces(be, qkv, T, W, H, (size_t)D, D, L->q_norm, g->eps);
        rc |= be->rmsnorm_pieces(be, qkv + qd, T, W, KV, (size_t)D, D, L->k_norm, g->eps);
    } else if (g->qk == QK_WHOLE) {
        rc |= be->rmsnorm_pieces(be, qkv, T, W, 1, 0, (int)qd, L->q_norm, g->eps);
        rc |= be->rmsnorm_pieces(be, qkv + qd, T, W, 1, 0, (int)kvd, L->k_norm, g->eps);
    }
    if (rc < 0 || be->rope(be, rope, seqs, n_seqs, qkv, W, H, (size_t)D) < 0 ||
        be->rope(be, rope, seqs, n_seqs, qkv + qd, W, KV, (size_t)D) < 0)
        return -1;
    return 0;
}

/* The embeddings of every row into x (on be's device), scaled when the
 * family scales them; gathered on the host. */
static int dec_embed(lmd_backend *be, const decoder *g, const lmd_seq *seqs, int n_seqs, size_t T,
                     int d, float *x) {
    float *e = be->dev ? malloc(T * (size_t)d * sizeof *e) : x; /* host rows */
    if (!e) return -1;
    for (int s = 0, o = 0; s < n_seqs; s++)
        for (int p = 0; p < seqs[s].len; p++, o++)
            lmd_mat_row(&g->embed, seqs[s].tokens[p], e + (size_t)o * d);
    if (g->emb_scale > 0)
        for (size_t i = 0; i < T * (size_t)d; i++)
            e[i] *= g->emb_scale;
    if (!be->dev) return 0;
    int rc = be->copy(be, x, e, T * (size_t)d * sizeof *e, 1);
    free(e);
    return rc;
}

/* The forward's n buffers of sizes[i] bytes: on the CPU cut from the
 * thread's kept scratch (no fresh pages per batch), on a device allocated
 * there (fwd_release frees them). */
static int fwd_bufs(lmd_backend *be, int n, const size_t *sizes, void **out) {
    if (!be->dev) return lmd_scratch_parts(LMD_SCR_FORWARD, n, sizes, out);
    int ok = 1;
    for (int i = 0; i < n; i++)
        ok &= (out[i] = be->alloc(be, sizes[i])) != NULL;
    return ok ? 0 : -1;
}

static void fwd_release(lmd_backend *be, int n, void **bufs) {
    for (int i = 0; be->dev && i < n; i++)
        if (bufs[i]) be->release(be, bufs[i]);
}

int lmd_dec_forward(const lmd_model *m, const lmd_seq *seqs, int n_seqs, float *hidden,
                    lmd_error *err) {
    const decoder *g = m->arch;
    const dec_layer *layers = m->layers;
    lmd_backend *be = lmd_model_backend(m);
    const int d = (int)m->hp.d, I = (int)m->hp.inner, H = (int)m->hp.H, D = (int)m->hp.D;
    const size_t qd = (size_t)H * D, kvd = (size_t)m->hp.KV * D, W = qd + 2 * kvd;
    size_t T;
    if (lmd_total_rows(m, seqs, n_seqs, m->info.n_ctx, &T, err) < 0) return -1;
    if (T == 0) return 0;
    if (be->dev && m->hp.n_experts)
        return lmd_fail_code(err, LMD_ERR_UNSUPPORTED, "%s: sparse MoE layers run on the CPU only",
                             be->name);
    size_t mrows = T < MLP_ROWS || be->dev ? T : MLP_ROWS; /* a GPU: one pass, larger products */
    const size_t gw = (size_t)(m->hp.expert_inner > I ? m->hp.expert_inner : I); /* MoE too */
    /* x, h, qkv, att, gate and up (side by side when fused: 2I a row, else
     * ub = gb + mrows gw), y */
    const size_t sz[6] = {T * (size_t)d * 4, T * (size_t)d * 4,  T * W * 4,
                          T * qd * 4,        2 * mrows * gw * 4, mrows * (size_t)d * 4};
    void *buf[6] = {NULL};
    int rc = -1;
    if (fwd_bufs(be, 6, sz, buf) < 0) goto done;
    float *x = buf[0], *h = buf[1], *qkv = buf[2], *att = buf[3], *gb = buf[4], *y = buf[5];
    float *ub = gb + mrows * gw;
    if (dec_embed(be, g, seqs, n_seqs, T, d, x) < 0) goto done;
    lmd_attn a = {.H = H,
                  .KV = (int)m->hp.KV,
                  .D = D,
                  .scale = g->attn_scale,
                  .causal = 1,
                  .softcap = g->softcap,
                  .q = qkv,
                  .k = qkv + qd,
                  .v = qkv + qd + kvd,
                  .q_ld = W,
                  .q_hs = (size_t)D,
                  .kv_ld = W,
                  .k_hs = (size_t)D,
                  .v_hs = (size_t)D,
                  .out = att,
                  .out_ld = qd};
    for (int l = 0; l < m->hp.n_layer; l++) {
        const dec_layer *L = &layers[l];
        const int local = g->local && g->local[l];
        const float *in = x;
        a.window = local ? g->window : 0;
        if (L->ln_attn_in) {
            if (be->rmsnorm_rows(be, x, h, T, d, L->ln_attn_in, g->eps) < 0) goto done;
            in = h;
        }
        if (dec_qkv(be, m, L, local && g->has_local_rope ? &g->rope_local : &g->rope, seqs, n_seqs,
                    in, T, qkv) < 0 ||
            be->attention(be, seqs, n_seqs, &a) < 0)
            goto done;
        if (!L->ln_attn_out) {
            if (be->linear(be, att, qd, T, &L->wo, L->bo, x, (size_t)d, 1) < 0) goto done;
        } else if (be->linear(be, att, qd, T, &L->wo, L->bo, h, (size_t)d, 0) < 0 ||
                   add_normed(be, x, h, T, d, L->ln_attn_out, g->eps) < 0)
            goto done;
        in = x;
        if (L->ln_mlp_in) {
            if (be->rmsnorm_rows(be, x, h, T, d, L->ln_mlp_in, g->eps) < 0) goto done;
            in = h;
        }
        for (size_t r0 = 0; r0 < T; r0 += mrows) {
            size_t rows = T - r0 < mrows ? T - r0 : mrows;
            const float *hr = in + r0 * (size_t)d;
            float *xr = x + r0 * (size_t)d;
            if ((L->router.data ? dec_moe(be, L, m, hr, xr, rows, gb, ub, y)
                                : dec_mlp(be, L, m, hr, xr, rows, gb, ub, y)) < 0)
                goto done;
        }
    }
    /* the last norm straight into hidden, or on the device and then copied */
    if (be->rmsnorm_rows(be, x, be->dev ? h : hidden, T, d, g->norm, g->eps) < 0 ||
        (be->dev && be->copy(be, hidden, h, T * (size_t)d * sizeof *h, 0) < 0))
        goto done;
    rc = 0;
done:
    fwd_release(be, 6, buf);
    if (rc < 0 && be->dev) lmd_fail(err, "%s", be->msg);
    if (rc < 0 && !be->dev) lmd_fail(err, "out of memory for a batch of %zu tokens", T);
    return rc;
}
