// url.ts - the state that a shared link carries, in the query string:
//   ?m1=&m2=&text=            a free text
//   ?m1=&m2=&ds=&i=           a dataset text (found again with measure + order)
//   &measure=&order=&mode=&pins=3,7&rank=log|pow

import { isMeasure, modeByKey, type ModeKey } from './measures';
import type { Order } from './types';
import type { Source, State } from './store';

export interface UrlState {
  m1?: string;
  m2?: string;
  source: Source;
  measure?: string;
  order?: Order;
  mode?: ModeKey;
  pins: number[];
  rankScale?: 'log' | 'pow';
  /** the dataset picked in the search panel while the view shows a free text */
  datasetPick?: string;
}

/** Longer texts are not put into the URL (browsers and servers cut long URLs). */
export const MAX_URL_TEXT = 4000;

export function readUrl(search = location.search): UrlState {
  const q = new URLSearchParams(search);
  const get = (k: string) => q.get(k) ?? undefined;
  let source: Source = null;
  const ds = get('ds');
  const i = Number(get('i'));
  if (ds && Number.isInteger(i) && i >= 0) source = { kind: 'dataset', dataset: ds, index: i };
  else if (get('text') !== undefined) source = { kind: 'text', text: get('text')! };
  const measure = get('measure');
  const order = get('order');
  const mode = get('mode');
  const rank = get('rank');
  return {
    m1: get('m1'),
    m2: get('m2'),
    source,
    measure: measure && isMeasure(measure) ? measure : undefined,
    order: order === 'abs' || order === 'desc' || order === 'asc' ? order : undefined,
    mode: mode && modeByKey.has(mode as ModeKey) ? (mode as ModeKey) : undefined,
    pins: (get('pins') ?? '')
      .split(',')
      .filter((s) => /^\d+$/.test(s))
      .map(Number),
    rankScale: rank === 'pow' || rank === 'log' ? rank : undefined,
    datasetPick: get('ds_pick'),
  };
}

export function writeUrl(s: State): void {
  const q = new URLSearchParams();
  if (s.m1) q.set('m1', s.m1);
  if (s.m2) q.set('m2', s.m2);
  const src = s.source;
  if (src?.kind === 'text' && src.text.length <= MAX_URL_TEXT) q.set('text', src.text);
  if (src?.kind === 'dataset') {
    q.set('ds', src.dataset);
    q.set('i', String(src.index));
  }
  if (s.dataset && src?.kind !== 'dataset') q.set('ds_pick', s.dataset);
  q.set('measure', s.measure);
  if (s.order !== 'abs') q.set('order', s.order);
  q.set('mode', s.mode);
  if (s.rankScale !== 'log') q.set('rank', s.rankScale);
  if (s.pins.length) q.set('pins', s.pins.join(','));
  const next = `${location.pathname}?${q.toString().replace(/%2C/g, ',')}`;
  if (next !== `${location.pathname}${location.search}`) history.replaceState(null, '', next);
}
