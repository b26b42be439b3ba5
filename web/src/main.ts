// main.ts - boots the app: builds the views, wires their actions to the API, and keeps the
// URL in step with the state (so a view can be shared and reloaded).

import './styles/fonts.css';
import './styles/app.css';
import { ApiError, api, isSegments } from './api';
import { h } from './dom';
import { bySegments, DEFAULT_MEASURE, DEFAULT_SEGMENT_MEASURE, isKlMeasure, type ModeKey } from './measures';
import { HoverBus, initialState, Store, type Source } from './store';
import type { Model, Order } from './types';
import { readUrl, writeUrl } from './url';
import { errorBox } from './views/common';
import { Header } from './views/header';
import { InstanceView } from './views/instance';
import { SearchPanel } from './views/search';
import { DEFAULT_TEXT, TextInput } from './views/textInput';

const SEARCH_K = 50;
const SEARCH_BINS = 30;

const store = new Store({ ...initialState });
const hover = new HoverBus();
const s = () => store.state;

let analyzeCtl: AbortController | null = null;
let searchCtl: AbortController | null = null;
let datasetsCtl: AbortController | null = null;
/** The URL is written only once the state it came with has been applied. */
let booted = false;

const isAbort = (e: unknown) => (e as Error)?.name === 'AbortError';
const asApiError = (e: unknown) => (e instanceof ApiError ? e : new ApiError(0, (e as Error)?.message ?? String(e)));

/** Both models exist: any pair can be analyzed (different tokenizers by segments). */
function bothKnown(): boolean {
  return s().models.some((m) => m.id === s().m1) && s().models.some((m) => m.id === s().m2);
}

/** The same tokenizer: compared token by token (else by segments). */
function compatible(): boolean {
  const a = s().models.find((m) => m.id === s().m1);
  const b = s().models.find((m) => m.id === s().m2);
  return !!a && !!b && a.group === b.group;
}

/** The KL colour mode is on: analyses ask for the KL too (a second run of both models, so only
 * then); only causal LMs of one tokenizer have it (masked LMs have no full distributions). */
function wantKl(): boolean {
  const causal = (id: string) => s().models.find((m) => m.id === id)?.scoring === 'causal';
  return s().mode === 'kl' && compatible() && causal(s().m1) && causal(s().m2);
}

/** The dataset has preprocess's KL (its search results carry it); /api/datasets says. */
function datasetHasKl(id: string): boolean {
  return s().datasets.find((d) => d.id === id)?.kl === true;
}

// ------------------------------------------------------------------ actions

async function analyze(text: string, pins: number[] = []): Promise<void> {
  if (!bothKnown() || text.length === 0) return;
  analyzeCtl?.abort();
  const ctl = (analyzeCtl = new AbortController());
  const before = s().source;
  store.set({ source: { kind: 'text', text }, text, analyzeStatus: 'loading', analyzeError: null, notice: '' });
  try {
    const inst = await api.analyze(s().m1, s().m2, text, wantKl(), ctl.signal);
    if (ctl !== analyzeCtl) return;
    hover.set(null, null);
    if (isSegments(inst)) store.set({ instance: null, segments: inst, analyzeStatus: 'idle', pins: [] });
    else store.set({ instance: inst, segments: null, analyzeStatus: 'idle', pins: pins.filter((i) => i < inst.tokens.length) });
    if (booted) reveal();
  } catch (e) {
    if (isAbort(e) || ctl !== analyzeCtl) return;
    // the view keeps what it showed before; the error goes next to the button
    store.set({ analyzeStatus: 'error', analyzeError: asApiError(e), source: s().instance ? before : null });
  }
}

async function loadDatasets(prefer?: string): Promise<void> {
  datasetsCtl?.abort();
  const ctl = (datasetsCtl = new AbortController());
  store.set({ datasetsStatus: 'loading' });
  try {
    const list = await api.datasets(s().m1, s().m2, ctl.signal);
    if (ctl !== datasetsCtl) return;
    const keep = [prefer, s().dataset].find((d) => d && list.some((x) => x.id === d));
    store.set({ datasets: list, datasetsStatus: 'idle', dataset: keep ?? list[0]?.id ?? '' });
    fitMeasure();
  } catch (e) {
    if (isAbort(e) || ctl !== datasetsCtl) return;
    store.set({ datasets: [], datasetsStatus: 'error', dataset: '', searchStatus: 'error', searchError: asApiError(e) });
  }
}

/** A pair with different tokenizers is searched by its segment measures, one tokenizer by the
 * others; a dataset without KL by the others than KL (the search panel says why). */
function fitMeasure(): void {
  const seg = bySegments(s().measure);
  if (!compatible() && !seg) store.set({ measure: DEFAULT_SEGMENT_MEASURE });
  if (compatible() && seg) store.set({ measure: DEFAULT_MEASURE });
  if (s().dataset && isKlMeasure(s().measure) && !datasetHasKl(s().dataset)) store.set({ measure: DEFAULT_MEASURE });
}

async function search(): Promise<boolean> {
  const st = s();
  if (!st.dataset) return false;
  searchCtl?.abort();
  const ctl = (searchCtl = new AbortController());
  store.set({ searchStatus: 'loading', searchError: null });
  try {
    const res = await api.search({ m1: st.m1, m2: st.m2, dataset: st.dataset, measure: st.measure, order: st.order, k: SEARCH_K, bins: SEARCH_BINS }, ctl.signal);
    if (ctl !== searchCtl) return false;
    store.set({ search: res, searchStatus: 'idle' });
    return true;
  } catch (e) {
    if (isAbort(e) || ctl !== searchCtl) return false;
    store.set({ searchStatus: 'error', searchError: asApiError(e) });
    return false;
  }
}

function open(index: number, pins: number[] = []): boolean {
  const res = s().search;
  const r = res?.results.find((x) => x.index === index);
  if (!res || !r) return false;
  analyzeCtl?.abort();
  hover.set(null, null);
  const source: Source = { kind: 'dataset', dataset: res.request.dataset, index };
  if (!r.tokens || !r.m1 || !r.m2 || !r.diff || (wantKl() && !r.kl)) {
    // different tokenizers: the results have no tokens; KL mode: the results have no KL
    void openLive(source, r.text, pins);
    return true;
  }
  store.set({
    source,
    instance: { text: r.text, tokens: r.tokens, m1: r.m1, m2: r.m2, diff: r.diff, kl: r.kl },
    segments: null,
    text: r.text,
    analyzeStatus: 'idle',
    analyzeError: null,
    notice: '',
    pins: pins.filter((i) => i < r.tokens!.length),
  });
  return true;
}

/** A dataset text analyzed now by /api/analyze: the segments of a pair with different
 * tokenizers, or the KL the search results lack (a dataset without KL: the notice says so). */
async function openLive(source: Source, text: string, pins: number[] = []): Promise<void> {
  const ctl = (analyzeCtl = new AbortController());
  store.set({ source, text, instance: null, segments: null, analyzeStatus: 'loading', analyzeError: null, notice: '', pins: [] });
  try {
    const doc = await api.analyze(s().m1, s().m2, text, wantKl(), ctl.signal);
    if (ctl !== analyzeCtl) return;
    if (isSegments(doc)) store.set({ segments: doc, analyzeStatus: 'idle' });
    else store.set({ instance: doc, analyzeStatus: 'idle', pins: pins.filter((i) => i < doc.tokens.length) });
    if (!isSegments(doc) && doc.kl && source?.kind === 'dataset' && !datasetHasKl(source.dataset))
      store.set({ notice: `This corpus has no precomputed KL: the KL of this text was computed now (a second run of both models).` });
    if (booted) reveal();
  } catch (e) {
    if (isAbort(e) || ctl !== analyzeCtl) return;
    store.set({ analyzeStatus: 'error', analyzeError: asApiError(e) });
  }
}

/** On a one-column layout the instance view is below the inputs: bring it into sight. */
function reveal(): void {
  requestAnimationFrame(() => {
    const r = instanceView.el.getBoundingClientRect();
    if (r.top > window.innerHeight * 0.6) instanceView.el.scrollIntoView({ behavior: 'smooth', block: 'start' });
  });
}

/** Shows a source again after the models changed, or from a link. */
async function restore(src: Source, pins: number[]): Promise<void> {
  if (!src) return;
  if (src.kind === 'text') {
    await analyze(src.text, pins);
    return;
  }
  if (!s().datasets.some((d) => d.id === src.dataset)) {
    store.set({ source: null, instance: null, segments: null, notice: `Dataset "${src.dataset}" is not available for these two models.` });
    return;
  }
  store.set({ dataset: src.dataset });
  if (!(await search())) {
    store.set({ source: null, instance: null, segments: null });
    return;
  }
  if (!open(src.index, pins)) store.set({ source: null, instance: null, segments: null, notice: `Text #${src.index} of "${src.dataset}" is not among the top ${SEARCH_K} texts for this measure and order.` });
}

async function setModels(m1: string, m2: string): Promise<void> {
  const src = s().source;
  store.set({ m1, m2, search: null, searchError: null, searchStatus: 'idle', instance: null, segments: null, pins: [], analyzeError: null, analyzeStatus: 'idle', notice: '' });
  hover.set(null, null);
  fitMeasure();
  await loadDatasets();
  await restore(src, []);
}

function togglePin(i: number): void {
  const pins = s().pins.includes(i) ? s().pins.filter((x) => x !== i) : [...s().pins, i].sort((a, b) => a - b);
  store.set({ pins });
}

// ------------------------------------------------------------------ views

const header = new Header(store, (m1, m2) => void setModels(m1, m2));
const textInput = new TextInput(store, (t) => void analyze(t));
const searchPanel = new SearchPanel(store, {
  dataset: (id) => {
    store.set({ dataset: id, search: null, searchError: null });
    fitMeasure();
    void search();
  },
  measure: (name: string, order: Order) => {
    const had = !!s().search;
    store.set({ measure: name, order });
    if (had) void search();
  },
  search: () => void search(),
  open: (i) => {
    if (open(i)) reveal();
  },
});
const instanceView = new InstanceView(store, hover, {
  mode: (k: ModeKey) => {
    store.set({ mode: k });
    const st = s();
    // the KL is computed only when asked for: fetch it for the text shown
    if (!wantKl() || !st.instance || st.instance.kl || !st.source) return;
    if (st.source.kind === 'text') void analyze(st.source.text, st.pins);
    else void openLive(st.source, st.instance.text, st.pins);
  },
  rankScale: (sc) => store.set({ rankScale: sc }),
  togglePin,
});

const progress = h('div', { class: 'progress', hidden: true, 'aria-hidden': 'true' }, h('i'));
const globalErr = h('div', { class: 'global-error' });
const app = document.getElementById('app')!;
app.append(
  header.el,
  header.warning,
  progress,
  globalErr,
  h('main', { class: 'layout' }, h('aside', { class: 'side' }, textInput.el, searchPanel.el), instanceView.el),
  h(
    'footer',
    { class: 'foot' },
    'lmdiff · diffs are model 2 minus model 1 · ranks are 1-based · ',
    h('span', { style: 'color:#d6604d' }, '■'),
    ' model 1 ',
    h('span', { style: 'color:#4393c3' }, '■'),
    ' model 2',
  ),
);

store.subscribe((st, p) => {
  const busy = st.analyzeStatus === 'loading' || st.searchStatus === 'loading' || st.datasetsStatus === 'loading' || st.modelsStatus === 'loading';
  progress.hidden = !busy;
  document.body.setAttribute('aria-busy', String(busy));
  if (st.modelsError !== p.modelsError) {
    globalErr.replaceChildren(
      st.modelsError
        ? h(
            'div',
            { class: 'banner error-banner' },
            errorBox(st.modelsError, 'models-error'),
            h('button', { class: 'btn', onclick: () => void boot() }, 'Retry'),
          )
        : '',
    );
  }
  if (booted && (st.m1 !== p.m1 || st.m2 !== p.m2 || st.source !== p.source || st.measure !== p.measure || st.order !== p.order || st.mode !== p.mode || st.rankScale !== p.rankScale || st.pins !== p.pins || st.dataset !== p.dataset))
    writeUrl(st);
});

window.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') instanceView.hideTooltip();
});

// ------------------------------------------------------------------ boot

function defaults(models: Model[]): [string, string] {
  const a = models[0];
  if (!a) return ['', ''];
  const b = models.find((m) => m !== a && m.group === a.group) ?? models[1] ?? a;
  return [a.id, b.id];
}

async function boot(): Promise<void> {
  booted = false;
  const url = readUrl();
  store.set({
    modelsStatus: 'loading',
    modelsError: null,
    measure: url.measure ?? s().measure,
    order: url.order ?? s().order,
    mode: url.mode ?? s().mode,
    rankScale: url.rankScale ?? s().rankScale,
    text: url.source?.kind === 'text' ? url.source.text : s().text || DEFAULT_TEXT,
  });
  let models: Model[];
  try {
    models = await api.models();
  } catch (e) {
    store.set({ modelsStatus: 'error', modelsError: asApiError(e) });
    return;
  }
  const [d1, d2] = defaults(models);
  const known = (id?: string) => !!id && models.some((m) => m.id === id);
  const notes: string[] = [];
  for (const id of [url.m1, url.m2]) if (id && !known(id)) notes.push(`The link names model "${id}", which this server does not have.`);
  const m1 = known(url.m1) ? url.m1! : d1;
  const m2 = known(url.m2) ? url.m2! : m1 === d1 ? d2 : d1;
  store.set({ models, m1, m2, modelsStatus: 'idle', notice: notes.join(' ') });
  fitMeasure();
  await loadDatasets(url.source?.kind === 'dataset' ? url.source.dataset : url.datasetPick);
  if (notes.length && url.source) {
    store.set({ source: url.source });
    booted = true;
    return; // do not run other models than the link meant without asking
  }
  await restore(url.source, url.pins);
  booted = true;
  writeUrl(s());
}

void boot();
