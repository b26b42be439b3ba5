// engine.mjs - the made-up "language models" behind the development mock.
//
// Deterministic stand-ins for the C engine: a tiny tokenizer over the fixture vocabulary and,
// per model, a pseudo-random but context-dependent distribution over that vocabulary at every
// position. Everything that docs/api.md promises about the numbers holds (1-based ranks,
// descending top-k with lower id first on ties, diffs = model 2 minus model 1, ...), but the
// numbers themselves are invented. Nothing here is a model.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const CLAMP = 50;
export const TOP_K = 10;
export const PER_TOKEN = ['rank_diff', 'clamped_rank_diff', 'prob_diff', 'topk_diff', 'logprob_diff', 'entropy_diff', 'kl'];
export const AGGS = ['avg', 'max', 'min', 'median', 'q75', 'top5'];
// the per-token columns, then those of a pair with different tokenizers (null for one tokenizer)
export const SEGMENT_COLUMNS = [...AGGS.map((a) => `${a}_segment_bpb_diff`), 'n_bytes', 'bpb1', 'bpb2', 'bpb_diff'];
export const COLUMNS = ['n_tokens', ...PER_TOKEN.flatMap((m) => AGGS.map((a) => `${a}_${m}`)), ...SEGMENT_COLUMNS];

// ------------------------------------------------------------------ hashing

function fnv1a(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function mix(a, b) {
  let h = Math.imul(a ^ (b + 0x9e3779b9 + (a << 6) + (a >>> 2)), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const unit = (h) => (h >>> 8) / 16777216; // [0, 1)
const gauss = (h) => (unit(h) + unit(mix(h, 7)) + unit(mix(h, 13)) - 1.5) * 2; // ~N(0, 1)

// ------------------------------------------------------------------ fixtures

export function loadFixtures(dir) {
  const read = (f) => JSON.parse(readFileSync(join(dir, f), 'utf8'));
  const models = read('models.json');
  const datasets = read('datasets.json');
  const vocabWords = read('vocab.json');
  const science = new Set(read('science-words.json'));
  for (const d of datasets) {
    d.texts = readFileSync(join(dir, 'corpora', d.file), 'utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => l.replace(/\\n/g, '\n'));
  }
  const tokenizers = {};
  for (const kind of new Set(models.map((m) => m.tokenizer))) tokenizers[kind] = makeTokenizer(kind, vocabWords);
  for (const m of models) {
    m.tok = tokenizers[m.tokenizer];
    m.group = m.tok.hash;
  }
  return { models, datasets, science };
}

// ------------------------------------------------------------------ tokenizer

const PRETOKEN = /'(?:s|t|re|ve|m|ll|d)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\n+|[^\S\n]+(?!\S)|[^\S\n]+/gu;
const UNK_BASE = 100000;

function makeTokenizer(kind, words) {
  const lower = kind.endsWith('uncased');
  const list = [];
  const seen = new Set();
  const add = (t) => {
    if (!seen.has(t)) {
      seen.add(t);
      list.push(t);
    }
  };
  for (const p of ['.', ',', '?', '!', ':', ';', '"', "'", '(', ')', '-', '\n', '\n\n', ' ', "'s", "'t"]) add(p);
  for (const w0 of words) {
    const w = lower ? w0.toLowerCase() : w0;
    add(' ' + w);
    add(w);
  }
  for (const p of ['.', ',', '?', '"', '(', ')', '-']) add(' ' + p);
  const ids = new Map(list.map((t, i) => [t, i]));
  const unk = new Map(); // id -> text of pieces outside the vocabulary
  const hash = createHash('sha256').update(`${kind}\n${list.map((t, i) => `${i}\t${t}`).join('\n')}`).digest('hex');
  return {
    kind,
    hash,
    size: list.length,
    text: (id) => (id < list.length ? list[id] : unk.get(id) ?? `\\x${(id & 255).toString(16).padStart(2, '0')}`),
    encode(text) {
      const src = lower ? text.toLowerCase() : text;
      const out = [];
      const push = (piece) => {
        let id = ids.get(piece);
        if (id === undefined) {
          id = UNK_BASE + (fnv1a(piece) % 400000);
          unk.set(id, piece);
        }
        out.push({ id, text: piece });
      };
      for (const m of src.matchAll(PRETOKEN)) {
        const piece = m[0];
        if (ids.has(piece)) {
          push(piece);
          continue;
        }
        // split unknown words into pieces of at most four characters, like a BPE would
        const chars = [...piece];
        for (let i = 0; i < chars.length; i += 4) push(chars.slice(i, i + 4).join(''));
      }
      return out;
    },
  };
}

// ------------------------------------------------------------------ scoring

function scorePosition(model, ctx, y, yText, science) {
  const tok = model.tok;
  const V = tok.size;
  const seed = model.seed;
  const n = y >= V ? V + 1 : V;
  const z = new Float64Array(n);
  const ctxh = mix(ctx, 0x51ed27);
  for (let v = 0; v < V; v++) {
    const h = mix(ctxh, v);
    z[v] = 1.1 * gauss(h) + model.noise * gauss(mix(h, seed)) + (v < 120 ? 2.4 - v / 80 : 0);
  }
  for (let j = 0; j < 14; j++) {
    const c = mix(ctxh, 1000 + j) % V;
    z[c] += 5.5 - 0.35 * j + 0.6 * model.noise * gauss(mix(ctxh, 2000 + j + seed));
  }
  const yi = y >= V ? V : y;
  const u = unit(mix(ctxh, y + 77));
  let boost = model.skill * (10.5 * Math.pow(u, 0.6)) + 1.4 * model.noise * gauss(mix(mix(ctxh, y), seed));
  if (model.domain === 'science') boost += science.has(yText.trim().toLowerCase()) ? 3.5 : -0.3;
  if (y >= V) z[yi] = 1.1 * gauss(mix(ctxh, y)) + boost - 1.5;
  else z[yi] += boost;
  let max = -Infinity;
  for (let v = 0; v < n; v++) {
    z[v] /= model.temperature;
    if (z[v] > max) max = z[v];
  }
  let sum = 0;
  for (let v = 0; v < n; v++) sum += Math.exp(z[v] - max);
  const lse = max + Math.log(sum);
  let ent = 0;
  let rank = 1;
  const zy = z[yi];
  for (let v = 0; v < n; v++) {
    const lp = z[v] - lse;
    ent -= Math.exp(lp) * lp;
    if (v !== yi && z[v] > zy) rank++;
  }
  const idOf = (v) => (v === V ? y : v);
  // top-k by one pass (descending logit, equal logits: lower id first)
  const top = [];
  const before = (a, b) => z[a] > z[b] || (z[a] === z[b] && idOf(a) < idOf(b));
  for (let v = 0; v < n; v++) {
    if (top.length === TOP_K && !before(v, top[TOP_K - 1])) continue;
    let j = top.length < TOP_K ? top.length : TOP_K - 1;
    while (j > 0 && before(v, top[j - 1])) {
      top[j] = top[j - 1];
      j--;
    }
    top[j] = v;
  }
  const topk = top.map((v) => ({
    id: idOf(v),
    text: tok.text(idOf(v)),
    prob: Math.fround(Math.exp(z[v] - lse)),
  }));
  return {
    prob: Math.fround(Math.exp(zy - lse)),
    logprob: zy - lse,
    rank,
    entropy: Math.fround(ent),
    topk,
    z,
    lse,
  };
}

/** The context hash scorePosition sees at token t (the two tokens before it). */
function contextOf(tokens, t) {
  const prev1 = t > 0 ? tokens[t - 1].id : 50256;
  const prev2 = t > 1 ? tokens[t - 2].id : 50256;
  return mix(mix(prev1, prev2), t === 0 ? 1 : 2);
}

export function score(model, tokens, science) {
  const s = { prob: [], logprob: [], rank: [], entropy: [], topk: [] };
  for (let t = 0; t < tokens.length; t++) {
    const r = scorePosition(model, contextOf(tokens, t), tokens[t].id, tokens[t].text, science);
    s.prob.push(r.prob);
    s.logprob.push(r.logprob);
    s.rank.push(r.rank);
    s.entropy.push(r.entropy);
    s.topk.push(r.topk);
  }
  return s;
}

export function diff(a, b) {
  const n = a.prob.length;
  const d = { prob: [], logprob: [], rank: [], rank_clamped: [], topk: [], entropy: [] };
  for (let t = 0; t < n; t++) {
    d.prob.push(b.prob[t] - a.prob[t]);
    d.logprob.push(b.logprob[t] - a.logprob[t]);
    d.rank.push(b.rank[t] - a.rank[t]);
    d.rank_clamped.push(Math.min(b.rank[t], CLAMP) - Math.min(a.rank[t], CLAMP));
    const ids2 = new Set(b.topk[t].map((e) => e.id));
    d.topk.push(a.topk[t].filter((e) => !ids2.has(e.id)).length);
    d.entropy.push(b.entropy[t] - a.entropy[t]);
  }
  return d;
}

/** KL(P1 || P2) per token over the whole vocabulary, nats (docs/measures.md): a second pass
 * over both models, as the real server makes one. */
export function klOf(m1, m2, tokens, science) {
  const kl = [];
  for (let t = 0; t < tokens.length; t++) {
    const ctx = contextOf(tokens, t);
    const a = scorePosition(m1, ctx, tokens[t].id, tokens[t].text, science);
    const b = scorePosition(m2, ctx, tokens[t].id, tokens[t].text, science);
    let s = 0;
    for (let v = 0; v < a.z.length; v++) {
      const la = a.z[v] - a.lse;
      s += Math.exp(la) * (la - (b.z[v] - b.lse));
    }
    kl.push(Math.max(0, s));
  }
  return kl;
}

export function instance(fx, m1, m2, text, withKl = false) {
  const tokens = m1.tok.encode(text);
  const s1 = score(m1, tokens, fx.science);
  const s2 = score(m2, tokens, fx.science);
  const inst = { text, tokens, m1: s1, m2: s2, diff: diff(s1, s2) };
  if (!withKl) return inst;
  const kl = klOf(m1, m2, tokens, fx.science);
  return { ...inst, kl, kl_mean: kl.reduce((x, y) => x + y, 0) / kl.length, kl_max: Math.max(...kl) };
}

// ------------------------------------------------------------------ corpus measures

function quantile(sorted, q) {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function aggregate(values) {
  if (values.length === 0) return { avg: null, max: null, min: null, median: null, q75: null, top5: null };
  const sorted = [...values].sort((a, b) => a - b);
  const top = sorted.slice(-5);
  return {
    avg: values.reduce((a, b) => a + b, 0) / values.length,
    max: sorted[sorted.length - 1],
    min: sorted[0],
    median: quantile(sorted, 0.5),
    q75: quantile(sorted, 0.75),
    top5: top.reduce((a, b) => a + b, 0) / top.length, // mock's reading: mean of the 5 largest
  };
}

export function measuresOf(inst) {
  const d = inst.diff;
  const per = {
    rank_diff: d.rank,
    clamped_rank_diff: d.rank_clamped,
    prob_diff: d.prob,
    topk_diff: d.topk,
    logprob_diff: d.logprob,
    entropy_diff: d.entropy,
    kl: inst.kl ?? [],
  };
  const out = { n_tokens: inst.tokens.length };
  for (const m of PER_TOKEN) {
    const a = aggregate(per[m]);
    for (const g of AGGS) out[`${g}_${m}`] = a[g];
  }
  for (const c of SEGMENT_COLUMNS) out[c] = null; // the mock corpora are of one tokenizer
  return out;
}

const tables = new Map();

export function corpusTable(fx, m1, m2, ds) {
  const key = `${m1.id}\u0001${m2.id}\u0001${ds.id}`;
  let tab = tables.get(key);
  if (!tab) {
    tab = ds.texts.map((text, index) => {
      const inst = instance(fx, m1, m2, text, ds.kl !== false); // preprocess's KL pass ("kl": false in datasets.json: none)
      return { index, inst, measures: measuresOf(inst) };
    });
    tables.set(key, tab);
  }
  return tab;
}

export function histogram(values, bins, marksOf) {
  if (values.length === 0) {
    return {
      counts: new Array(bins).fill(0),
      edges: Array.from({ length: bins + 1 }, (_, i) => i / bins),
      marks: [],
    };
  }
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const edges = Array.from({ length: bins + 1 }, (_, i) => (i === bins ? hi : lo + (i * (hi - lo)) / bins));
  const binOf = (v) => {
    if (v >= hi) return bins - 1;
    let i = Math.min(bins - 1, Math.max(0, Math.floor(((v - lo) / (hi - lo)) * bins)));
    while (i > 0 && v < edges[i]) i--;
    while (i < bins - 1 && v >= edges[i + 1]) i++;
    return i;
  };
  const counts = new Array(bins).fill(0);
  for (const v of values) counts[binOf(v)]++;
  return { counts, edges, marks: marksOf.map(binOf) };
}

export function search(fx, m1, m2, ds, measure, order, k, bins) {
  const tab = corpusTable(fx, m1, m2, ds);
  const rows = tab.filter((r) => r.measures[measure] !== null && Number.isFinite(r.measures[measure]));
  const key = (r) => {
    const v = r.measures[measure];
    return order === 'abs' ? -Math.abs(v) : order === 'desc' ? -v : v;
  };
  const sorted = [...rows].sort((a, b) => key(a) - key(b) || a.index - b.index);
  const top = sorted.slice(0, k);
  const hist = histogram(
    rows.map((r) => r.measures[measure]),
    bins,
    top.map((r) => r.measures[measure]),
  );
  return {
    request: { m1: m1.id, m2: m2.id, dataset: ds.id, measure, order, k, bins },
    n_texts: ds.texts.length,
    results: top.map((r) => ({
      index: r.index,
      text: r.inst.text,
      value: r.measures[measure],
      measures: r.measures,
      tokens: r.inst.tokens,
      m1: r.inst.m1,
      m2: r.inst.m2,
      diff: r.inst.diff,
      kl: r.inst.kl,
    })),
    histogram: hist,
  };
}

// ------------------------------------------------------------------ segments (different tokenizers)

const utf8len = (s) => Buffer.byteLength(s, 'utf8');

/** Byte spans of the mock tokens: the pieces cover the text one after the other. */
function withSpans(tokens) {
  let pos = 0;
  return tokens.map((t) => {
    const n = utf8len(t.text);
    const r = { id: t.id, text: t.text, start: pos, end: pos + n };
    pos += n;
    return r;
  });
}

/** docs/measures.md, "Segments": cuts common to both token lists. */
function alignSegments(t1, t2, len) {
  const cuts = (ts) => new Set([0, len, ...ts.slice(1).map((t) => t.start).filter((a) => a < len)]);
  const c2 = cuts(t2);
  const common = [...cuts(t1)].filter((c) => c2.has(c)).sort((a, b) => a - b);
  const ranges = (ts) => {
    const out = common.slice(0, -1).map(() => [ts.length, 0]);
    ts.forEach((t, i) => {
      let j = 0;
      if (i > 0) while (j + 1 < common.length - 1 && common[j + 1] <= t.start) j++;
      out[j][0] = Math.min(out[j][0], i);
      out[j][1] = Math.max(out[j][1], i + 1);
    });
    return out;
  };
  return { common, r1: ranges(t1), r2: ranges(t2) };
}

export function xinstance(fx, m1, m2, text) {
  const len = utf8len(text);
  const tok1 = withSpans(m1.tok.encode(text));
  const tok2 = withSpans(m2.tok.encode(text));
  const s1 = score(m1, tok1, fx.science);
  const s2 = score(m2, tok2, fx.science);
  const { common, r1, r2 } = alignSegments(tok1, tok2, len);
  const bits = (lp, [a, b]) => -lp.slice(a, b).reduce((x, y) => x + y, 0) / Math.LN2;
  const seg = { start: common.slice(0, -1), end: common.slice(1), m1_tokens: r1, m2_tokens: r2, bits1: [], bits2: [], dbits: [], dbpb: [] };
  for (let j = 0; j < seg.start.length; j++) {
    const b1 = bits(s1.logprob, r1[j]);
    const b2 = bits(s2.logprob, r2[j]);
    seg.bits1.push(b1);
    seg.bits2.push(b2);
    seg.dbits.push(b2 - b1);
    seg.dbpb.push((b2 - b1) / (seg.end[j] - seg.start[j]));
  }
  const total = (lp) => -lp.reduce((x, y) => x + y, 0) / Math.LN2;
  const kind = (m) => (/MaskedLM$/.test(m.arch) ? 'pll' : 'causal');
  const comparable = kind(m1) === kind(m2);
  const model = (m, toks, s) => ({ kind: kind(m), tokens: toks, scores: s, bits: total(s.logprob), bits_per_byte: total(s.logprob) / len });
  const agg = aggregate(seg.dbpb);
  const summary = { bytes: len, n_segments: seg.start.length, bits1: total(s1.logprob), bits2: total(s2.logprob), bpb1: total(s1.logprob) / len, bpb2: total(s2.logprob) / len };
  summary.dbpb = summary.bpb2 - summary.bpb1;
  for (const [k, v] of Object.entries(agg)) summary[`${k}_dbpb`] = v;
  return {
    mode: 'segments',
    text,
    models: [m1.id, m2.id],
    comparable,
    note: comparable ? (kind(m1) === 'pll' ? 'both models are masked LMs: bits are pseudo-log-likelihood sums' : null) : 'one model is causal (log-probabilities) and the other masked (pseudo-log-likelihood): the bits are not the same quantity',
    m1: model(m1, tok1, s1),
    m2: model(m2, tok2, s2),
    segments: seg,
    summary,
  };
}
