// types.ts - the JSON shapes of docs/api.md.

export interface Model {
  id: string;
  name: string;
  arch: string;
  /** 'causal' or 'pseudo-likelihood' (masked LMs; docs/scoring.md) */
  scoring: string;
  group: string;
}

export interface Dataset {
  id: string;
  name: string;
  n_texts: number;
  /** the corpus has preprocess's per-token KL (false: preprocess --no-kl, or its pair file is
   * missing or stale): without it the kl measures are null and results carry no KL */
  kl: boolean;
}

export interface Token {
  id: number;
  text: string;
}

export interface TopEntry {
  id: number;
  text: string;
  prob: number;
}

export interface Scores {
  prob: number[];
  logprob: number[];
  rank: number[];
  entropy: number[];
  topk: TopEntry[][];
}

export interface Diff {
  prob: number[];
  logprob: number[];
  rank: number[];
  rank_clamped: number[];
  topk: number[];
  entropy: number[];
}

export interface Instance {
  text: string;
  tokens: Token[];
  m1: Scores;
  m2: Scores;
  diff: Diff;
  /** KL(P₁‖P₂) per token in nats, when asked for ("kl": true; one tokenizer only) */
  kl?: number[];
  kl_mean?: number;
  kl_max?: number;
}

export type Order = 'abs' | 'desc' | 'asc';

export interface SearchRequest {
  m1: string;
  m2: string;
  dataset: string;
  measure: string;
  order: Order;
  k: number;
  bins: number;
}

/** A pair with different tokenizers has no per-token data in its results (Partial). */
export interface SearchResult extends Partial<Instance> {
  index: number;
  text: string;
  value: number;
  measures: Record<string, number | null>;
}

export interface Histogram {
  counts: number[];
  edges: number[];
  marks: number[];
}

export interface SearchResponse {
  request: SearchRequest;
  n_texts: number;
  results: SearchResult[];
  histogram: Histogram;
}

/** A model pair with different tokenizers (or "segments": true): docs/cli.md, "By segments". */
export interface SegToken extends Token {
  start: number;
  end: number;
}

export interface SegModel {
  kind: 'causal' | 'pll';
  tokens: SegToken[];
  scores: Scores;
  bits: number | null;
  bits_per_byte: number | null;
}

export interface Segments {
  start: number[];
  end: number[];
  m1_tokens: [number, number][];
  m2_tokens: [number, number][];
  bits1: number[];
  bits2: number[];
  dbits: number[];
  dbpb: number[];
}

export interface SegmentsInstance {
  mode: 'segments';
  text: string;
  models: [string, string];
  comparable: boolean;
  note: string | null;
  m1: SegModel;
  m2: SegModel;
  segments: Segments;
  summary: Record<string, number | null>;
}

export type AnalyzeResult = Instance | SegmentsInstance;
