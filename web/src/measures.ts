// measures.ts - what the app can colour tokens by, and the corpus measures it can search by.
//
// Colour rule everywhere: a colour names the model that the number favours. Model 1 is red,
// model 2 is blue, white is "no difference"; single-model modes use greys where darker means the
// model was more surprised by the token.

import type { Instance } from './types';

export const RED = '#d6604d';
export const BLUE = '#4393c3';
export const NAVY = '#2c2d4d';

/** Seven classes from "strongly model 1" to "strongly model 2". */
const TOWARD_M1_TO_M2 = ['#d6604d', '#e8a08f', '#f5d3ca', '#f7f7f7', '#cfe2ef', '#92c0de', '#4393c3'];
const GREYS = ['#ffffff', '#ebebec', '#cfd0d4', '#a9abb3', '#7d808c'];

export type ModeKey =
  | 'prob_diff'
  | 'logprob_diff'
  | 'prob_m1'
  | 'prob_m2'
  | 'rank_m1'
  | 'rank_m2'
  | 'rank_diff'
  | 'rank_clamped'
  | 'topk_diff'
  | 'entropy_diff'
  | 'kl';

export interface Mode {
  key: ModeKey;
  label: string;
  /** what the number is, for the legend */
  formula: string;
  group: 'diff' | 'single';
  value: (inst: Instance, t: number) => number;
  /** class bounds, ascending: class i holds bounds[i-1] <= v < bounds[i] */
  bounds: number[];
  colors: string[];
  /** one label per class */
  classLabels: string[];
  /** words at the two ends of the legend */
  ends: [string, string];
  /** the colours of the two ends' words */
  endColors: [string, string];
}

/** Classes of a diff measure whose positive values favour model 2 (prob, logprob). */
function favours2(bounds: number[], labels: string[]) {
  return { bounds, colors: TOWARD_M1_TO_M2, classLabels: labels };
}
/** Classes of a diff measure whose positive values favour model 1 (rank, entropy). */
function favours1(bounds: number[], labels: string[]) {
  return { bounds, colors: [...TOWARD_M1_TO_M2].reverse(), classLabels: labels };
}

const intLabels = (b: number[]) => {
  // bounds like -99.5, -9.5, -0.5, 0.5, 9.5, 99.5 on integer values
  const r = b.map((x) => Math.round(x + 0.5));
  return [
    `≤ ${r[0]! - 1}`,
    `${r[0]}…${r[1]! - 1}`,
    `${r[1]}…${r[2]! - 1}`,
    '0',
    `${r[3]}…${r[4]! - 1}`,
    `${r[4]}…${r[5]! - 1}`,
    `≥ ${r[5]}`,
  ].map((s) => s.replace(/-/g, '−'));
};

export const MODES: Mode[] = [
  {
    key: 'prob_diff',
    label: 'Prob diff',
    formula: 'p₂ − p₁',
    group: 'diff',
    value: (d, t) => d.diff.prob[t]!,
    ...favours2([-0.5, -0.1, -0.01, 0.01, 0.1, 0.5], ['< −.5', '−.5…−.1', '−.1…−.01', '±.01', '.01….1', '.1….5', '> .5']),
    ends: ['model 1 higher', 'model 2 higher'],
    endColors: [RED, BLUE],
  },
  {
    key: 'logprob_diff',
    label: 'Log-prob diff',
    formula: 'ln p₂ − ln p₁',
    group: 'diff',
    value: (d, t) => d.diff.logprob[t]!,
    ...favours2([-3, -1, -0.25, 0.25, 1, 3], ['< −3', '−3…−1', '−1…−¼', '±¼', '¼…1', '1…3', '> 3']),
    ends: ['model 1 higher', 'model 2 higher'],
    endColors: [RED, BLUE],
  },
  {
    key: 'rank_diff',
    label: 'Rank diff',
    formula: 'rank₂ − rank₁',
    group: 'diff',
    value: (d, t) => d.diff.rank[t]!,
    ...favours1([-99.5, -9.5, -0.5, 0.5, 9.5, 99.5], intLabels([-99.5, -9.5, -0.5, 0.5, 9.5, 99.5])),
    ends: ['model 2 better', 'model 1 better'],
    endColors: [BLUE, RED],
  },
  {
    key: 'rank_clamped',
    label: 'Clamped rank diff',
    formula: 'min(rank₂, 50) − min(rank₁, 50)',
    group: 'diff',
    value: (d, t) => d.diff.rank_clamped[t]!,
    ...favours1([-29.5, -9.5, -0.5, 0.5, 9.5, 29.5], intLabels([-29.5, -9.5, -0.5, 0.5, 9.5, 29.5])),
    ends: ['model 2 better', 'model 1 better'],
    endColors: [BLUE, RED],
  },
  {
    key: 'topk_diff',
    label: 'Top-10 diff',
    formula: '|top-10₁ \\ top-10₂|',
    group: 'diff',
    value: (d, t) => d.diff.topk[t]!,
    bounds: [0.5, 2.5, 5.5, 8.5],
    colors: GREYS,
    classLabels: ['0', '1–2', '3–5', '6–8', '9–10'],
    ends: ['same top-10', 'different top-10'],
    endColors: ['#7d808c', '#7d808c'],
  },
  {
    key: 'entropy_diff',
    label: 'Entropy diff',
    formula: 'H₂ − H₁ (nats)',
    group: 'diff',
    value: (d, t) => d.diff.entropy[t]!,
    ...favours1([-2, -1, -0.25, 0.25, 1, 2], ['< −2', '−2…−1', '−1…−¼', '±¼', '¼…1', '1…2', '> 2']),
    ends: ['model 2 more certain', 'model 1 more certain'],
    endColors: [BLUE, RED],
  },
  {
    key: 'kl',
    label: 'KL',
    formula: 'KL(P₁‖P₂) over the vocabulary (nats)',
    group: 'diff',
    // NaN until the KL is there (it is asked for when this mode is chosen)
    value: (d, t) => (d.kl ? d.kl[t]! : NaN),
    bounds: [0.001, 0.01, 0.1, 1],
    colors: GREYS,
    classLabels: ['< .001', '.001….01', '.01….1', '.1…1', '≥ 1'],
    ends: ['same distribution', 'different distribution'],
    endColors: ['#7d808c', '#7d808c'],
  },
  ...([1, 2] as const).flatMap((m): Mode[] => [
    {
      key: `prob_m${m}` as ModeKey,
      label: `Prob m${m}`,
      formula: `p${m === 1 ? '₁' : '₂'}(true token)`,
      group: 'single',
      value: (d, t) => d[`m${m}`].prob[t]!,
      bounds: [0.001, 0.01, 0.1, 0.5],
      colors: [...GREYS].reverse(),
      classLabels: ['< .001', '.001….01', '.01….1', '.1….5', '≥ .5'],
      ends: ['surprised', 'expected'],
      endColors: ['#7d808c', '#7d808c'],
    },
    {
      key: `rank_m${m}` as ModeKey,
      label: `Rank m${m}`,
      formula: `rank${m === 1 ? '₁' : '₂'} (1 = top choice)`,
      group: 'single',
      value: (d, t) => d[`m${m}`].rank[t]!,
      bounds: [1.5, 10.5, 100.5, 1000.5],
      colors: GREYS,
      classLabels: ['1', '2–10', '11–100', '101–1k', '> 1k'],
      ends: ['expected', 'surprised'],
      endColors: ['#7d808c', '#7d808c'],
    },
  ]),
];

export const MODE_ORDER: ModeKey[] = [
  'prob_diff',
  'logprob_diff',
  'rank_diff',
  'rank_clamped',
  'topk_diff',
  'entropy_diff',
  'kl',
  'prob_m1',
  'prob_m2',
  'rank_m1',
  'rank_m2',
];

export const modeByKey = new Map(MODES.map((m) => [m.key, m]));
export const DEFAULT_MODE: ModeKey = 'rank_clamped';

export function classOf(mode: Mode, v: number): number {
  let i = 0;
  while (i < mode.bounds.length && v >= mode.bounds[i]!) i++;
  return i;
}

/** A value the mode has not got (KL not yet loaded) is drawn white. */
export function colorOf(mode: Mode, v: number): string {
  return Number.isNaN(v) ? '#ffffff' : mode.colors[classOf(mode, v)]!;
}

/** Dark text on light colours, white on dark ones. */
export function inkOn(bg: string): string {
  const n = parseInt(bg.slice(1), 16);
  const r = (n >> 16) & 255;
  const g = (n >> 8) & 255;
  const b = n & 255;
  return 0.299 * r + 0.587 * g + 0.114 * b < 150 ? '#fff' : '#1d1e2c';
}

// ------------------------------------------------------------------ corpus measures

export interface BaseMeasure {
  key: string;
  label: string;
  /** +1: positive values favour model 2 (blue); -1: favour model 1 (red); 0: no direction */
  polarity: 1 | -1 | 0;
}

export const BASE_MEASURES: BaseMeasure[] = [
  { key: 'rank_diff', label: 'Rank diff', polarity: -1 },
  { key: 'clamped_rank_diff', label: 'Clamped rank diff (50)', polarity: -1 },
  { key: 'prob_diff', label: 'Prob diff', polarity: 1 },
  { key: 'logprob_diff', label: 'Log-prob diff', polarity: 1 },
  { key: 'topk_diff', label: 'Top-10 diff', polarity: 0 },
  { key: 'entropy_diff', label: 'Entropy diff', polarity: -1 },
  { key: 'kl', label: 'KL(P₁‖P₂)', polarity: 0 },
];

export const AGGREGATIONS: { key: string; label: string }[] = [
  { key: 'avg', label: 'mean' },
  { key: 'median', label: 'median' },
  { key: 'q75', label: '75th percentile' },
  { key: 'top5', label: 'top-5' },
  { key: 'max', label: 'max' },
  { key: 'min', label: 'min' },
];

/** Per byte-aligned segment (models with different tokenizers): bits per byte, model 2 − model 1. */
export const SEGMENT_MEASURE: BaseMeasure = { key: 'segment_bpb_diff', label: 'Segment Δ bits/byte', polarity: -1 };

/** Whole-text columns besides the aggregations; bpb_diff is the one every pair has a value for
 * when the tokenizers differ (a pair of one tokenizer has no segment columns). */
export const TEXT_MEASURES: { key: string; label: string; short: string; polarity: 1 | -1 | 0 }[] = [
  { key: 'bpb_diff', label: 'Bits per byte, model 2 − model 1', short: 'Δ bits/byte', polarity: -1 },
  { key: 'bpb1', label: 'Bits per byte, model 1', short: 'bits/byte 1', polarity: 0 },
  { key: 'bpb2', label: 'Bits per byte, model 2', short: 'bits/byte 2', polarity: 0 },
  { key: 'n_bytes', label: 'Length (bytes)', short: 'bytes', polarity: 0 },
];

export const DEFAULT_MEASURE = 'avg_clamped_rank_diff';
/** The default for a pair with different tokenizers. */
export const DEFAULT_SEGMENT_MEASURE = 'bpb_diff';

/** Whether a column has values for a pair with different tokenizers (segments) or not. */
export function bySegments(name: string): boolean {
  return name.endsWith('_' + SEGMENT_MEASURE.key) || TEXT_MEASURES.some((m) => m.key === name);
}

export function measureInfo(name: string): { label: string; short: string; polarity: 1 | -1 | 0 } {
  if (name === 'n_tokens') return { label: 'Length (tokens)', short: 'tokens', polarity: 0 };
  for (const m of TEXT_MEASURES) if (name === m.key) return { label: m.label, short: m.short, polarity: m.polarity };
  for (const b of [...BASE_MEASURES, SEGMENT_MEASURE]) {
    for (const a of AGGREGATIONS) {
      if (name === `${a.key}_${b.key}`) return { label: `${b.label}, ${a.label}`, short: `${a.label} ${b.label.toLowerCase()}`, polarity: b.polarity };
    }
  }
  return { label: name, short: name, polarity: 0 };
}

/** Whether a corpus measure is an aggregation of the per-token KL (a dataset may lack it). */
export function isKlMeasure(name: string): boolean {
  return AGGREGATIONS.some((a) => name === `${a.key}_kl`);
}

/** Why a dataset cannot be searched by KL (one line). */
export const NO_KL_REASON = 'No KL for this corpus (preprocess made no KL pass: --no-kl, masked LMs; or its KL file is missing), so it cannot be searched by KL.';

export function isMeasure(name: string): boolean {
  return (
    name === 'n_tokens' ||
    TEXT_MEASURES.some((m) => m.key === name) ||
    [...BASE_MEASURES, SEGMENT_MEASURE].some((b) => AGGREGATIONS.some((a) => name === `${a.key}_${b.key}`))
  );
}

/** Colour of a signed corpus value: the model it favours. */
export function signColor(polarity: 1 | -1 | 0, v: number): string {
  if (polarity === 0 || v === 0) return '#b4b6c0';
  return v * polarity > 0 ? BLUE : RED;
}
