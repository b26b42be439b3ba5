// store.ts - the app state, one object; views subscribe and redraw from it.
// The hovered/focused token changes many times a second, so it has its own channel.

import type { ApiError } from './api';
import type { Dataset, Instance, Model, Order, SearchResponse, SegmentsInstance } from './types';
import { DEFAULT_MEASURE, DEFAULT_MODE, type ModeKey } from './measures';

export type Source = { kind: 'text'; text: string } | { kind: 'dataset'; dataset: string; index: number } | null;
export type Status = 'idle' | 'loading' | 'error';

export interface State {
  models: Model[];
  modelsStatus: Status;
  modelsError: ApiError | null;
  m1: string;
  m2: string;

  text: string;

  datasets: Dataset[];
  datasetsStatus: Status;
  dataset: string;
  measure: string;
  order: Order;
  search: SearchResponse | null;
  searchStatus: Status;
  searchError: ApiError | null;

  source: Source;
  instance: Instance | null;
  /** the answer for a pair with different tokenizers (then instance is null) */
  segments: SegmentsInstance | null;
  analyzeStatus: Status;
  analyzeError: ApiError | null;
  /** a note about the URL state that could not be applied */
  notice: string;

  mode: ModeKey;
  rankScale: 'log' | 'pow';
  pins: number[];
}

export const initialState: State = {
  models: [],
  modelsStatus: 'loading',
  modelsError: null,
  m1: '',
  m2: '',
  text: '',
  datasets: [],
  datasetsStatus: 'idle',
  dataset: '',
  measure: DEFAULT_MEASURE,
  order: 'abs',
  search: null,
  searchStatus: 'idle',
  searchError: null,
  source: null,
  instance: null,
  segments: null,
  analyzeStatus: 'idle',
  analyzeError: null,
  notice: '',
  mode: DEFAULT_MODE,
  rankScale: 'log',
  pins: [],
};

type Listener = (s: State, prev: State) => void;

export class Store {
  state: State;
  private listeners: Listener[] = [];
  constructor(s: State) {
    this.state = s;
  }
  set(patch: Partial<State>): void {
    const prev = this.state;
    this.state = { ...prev, ...patch };
    for (const l of this.listeners) l(this.state, prev);
  }
  subscribe(l: Listener): void {
    this.listeners.push(l);
  }
}

/** Hover/focus: which token the pointer or the keyboard is on (null: none). */
export class HoverBus {
  index: number | null = null;
  /** where the hover came from: the tooltip is shown for tokens and plots, not for cards */
  origin: 'tokens' | 'plot' | 'card' | 'keyboard' | null = null;
  private listeners: ((i: number | null) => void)[] = [];
  set(i: number | null, origin: HoverBus['origin']): void {
    if (i === this.index && origin === this.origin) return;
    this.index = i;
    this.origin = i === null ? null : origin;
    for (const l of this.listeners) l(i);
  }
  subscribe(l: (i: number | null) => void): void {
    this.listeners.push(l);
  }
}
