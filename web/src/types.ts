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

export interface SearchResult extends Instance {
  index: number;
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
