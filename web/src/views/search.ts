// search.ts - "search for interesting snippets": dataset and measure pickers, the histogram of
// the measure over the corpus with the top texts as stripes, and the result list.

import { axisBottom, axisLeft } from 'd3-axis';
import { format } from 'd3-format';
import { scaleLinear } from 'd3-scale';
import { select } from 'd3-selection';
import { h, SVG_NS } from '../dom';
import { fmtNum } from '../format';
import { AGGREGATIONS, BASE_MEASURES, BLUE, measureInfo, NAVY, NO_KL_REASON, RED, SEGMENT_MEASURE, signColor, TEXT_MEASURES } from '../measures';
import type { State, Store } from '../store';
import type { Order, SearchResponse } from '../types';
import { errorBox, spinner } from './common';

export interface SearchActions {
  dataset(id: string): void;
  measure(name: string, order: Order): void;
  search(): void;
  open(index: number): void;
}

const ORDERS: { key: Order; label: string }[] = [
  { key: 'abs', label: 'largest |value|' },
  { key: 'desc', label: 'largest value' },
  { key: 'asc', label: 'smallest value' },
];

export class SearchPanel {
  readonly el: HTMLElement;
  private dsSel: HTMLSelectElement;
  private mSel: HTMLSelectElement;
  /** the KL measures' options: disabled for a dataset without KL */
  private klGroup: HTMLOptGroupElement;
  private oSel: HTMLSelectElement;
  private button: HTMLButtonElement;
  private body: HTMLElement;
  private hist: HTMLElement;
  private list: HTMLElement;
  private summary: HTMLElement;
  private hoverIndex: number | null = null;

  constructor(
    store: Store,
    private act: SearchActions,
  ) {
    this.dsSel = h('select', { 'aria-label': 'dataset', 'data-testid': 'dataset', onchange: () => act.dataset(this.dsSel.value) });
    this.mSel = h('select', { 'aria-label': 'measure', 'data-testid': 'measure', onchange: () => act.measure(this.mSel.value, this.oSel.value as Order) });
    const groups = BASE_MEASURES.map((b) =>
      h('optgroup', { label: b.label }, ...AGGREGATIONS.map((a) => h('option', { value: `${a.key}_${b.key}` }, `${b.label} · ${a.label}`))),
    );
    this.klGroup = groups[BASE_MEASURES.findIndex((b) => b.key === 'kl')]!;
    this.mSel.append(
      ...groups,
      h('optgroup', { label: 'Other' }, h('option', { value: 'n_tokens' }, 'Length (tokens)')),
      h(
        'optgroup',
        { label: 'Different tokenizers: bits per byte' },
        ...TEXT_MEASURES.map((m) => h('option', { value: m.key }, m.label)),
        ...AGGREGATIONS.map((a) => h('option', { value: `${a.key}_${SEGMENT_MEASURE.key}` }, `${SEGMENT_MEASURE.label} · ${a.label}`)),
      ),
    );
    this.oSel = h(
      'select',
      { 'aria-label': 'order', 'data-testid': 'order', onchange: () => act.measure(this.mSel.value, this.oSel.value as Order) },
      ...ORDERS.map((o) => h('option', { value: o.key }, o.label)),
    );
    this.button = h('button', { class: 'btn', 'data-testid': 'search', onclick: () => act.search() }, 'Search');
    this.summary = h('div', { class: 'search-summary' });
    this.hist = h('div', { class: 'corpus-hist', 'data-testid': 'corpus-histogram' });
    this.list = h('ol', { class: 'results', 'data-testid': 'results' });
    this.body = h('div', { class: 'search-body' });
    this.el = h(
      'section',
      { class: 'panel search', 'aria-labelledby': 'search-h' },
      h('h2', { id: 'search-h', class: 'panel-title' }, 'Search a corpus for interesting texts'),
      h(
        'div',
        { class: 'form-grid' },
        h('label', null, h('span', null, 'dataset'), this.dsSel),
        h('label', null, h('span', null, 'measure'), this.mSel),
        h('label', null, h('span', null, 'order by'), this.oSel),
        h('div', { class: 'form-go' }, this.button),
      ),
      this.body,
    );
    store.subscribe((s, p) => {
      if (
        s.datasets !== p.datasets ||
        s.datasetsStatus !== p.datasetsStatus ||
        s.dataset !== p.dataset ||
        s.measure !== p.measure ||
        s.order !== p.order ||
        s.search !== p.search ||
        s.searchStatus !== p.searchStatus ||
        s.searchError !== p.searchError ||
        s.source !== p.source ||
        s.m1 !== p.m1 ||
        s.m2 !== p.m2 ||
        s.models !== p.models
      )
        this.render(s);
    });
    window.addEventListener('resize', () => this.render(store.state));
  }

  render(s: State): void {
    this.dsSel.replaceChildren(...s.datasets.map((d) => h('option', { value: d.id }, `${d.name} (${d.n_texts.toLocaleString('en-US')})`)));
    this.dsSel.value = s.dataset;
    this.dsSel.disabled = s.datasets.length === 0;
    const group = (id: string) => s.models.find((m) => m.id === id)?.group;
    const noKl = !!s.dataset && group(s.m1) === group(s.m2) && s.datasets.find((d) => d.id === s.dataset)?.kl !== true;
    this.klGroup.disabled = noKl;
    this.mSel.value = s.measure;
    this.oSel.value = s.order;
    const busy = s.searchStatus === 'loading';
    this.button.disabled = busy || !s.dataset;
    this.button.textContent = busy ? 'Searching…' : 'Search';
    this.button.classList.toggle('busy', busy);

    const parts: (Node | string)[] = [];
    if (s.datasetsStatus === 'loading') parts.push(h('p', { class: 'muted' }, spinner(), ' loading datasets…'));
    else if (s.datasets.length === 0 && s.m1 && s.m2)
      parts.push(h('p', { class: 'muted small', 'data-testid': 'no-datasets' }, 'No corpus was preprocessed for this pair of models, so there is nothing to search. Analyze your own text above.'));
    if (noKl) parts.push(h('p', { class: 'muted small', 'data-testid': 'no-kl' }, NO_KL_REASON));
    if (s.searchStatus === 'error' && s.searchError) parts.push(errorBox(s.searchError, 'search-error'));
    const res = s.search;
    const stale = !!res && (res.request.dataset !== s.dataset || res.request.measure !== s.measure || res.request.order !== s.order);
    if (res) {
      const selected = s.source?.kind === 'dataset' && s.source.dataset === res.request.dataset ? s.source.index : null;
      this.renderSummary(res);
      this.renderHist(res, selected);
      this.renderList(res, selected);
      parts.push(this.summary, this.hist, this.list);
    } else if (s.searchStatus === 'idle' && s.datasets.length) {
      parts.push(h('p', { class: 'muted small' }, 'Pick a measure and search: the histogram shows the measure over the whole corpus, the list the texts where it is most extreme.'));
    }
    this.body.replaceChildren(...parts);
    this.body.classList.toggle('stale', busy || stale);
  }

  private renderSummary(res: SearchResponse) {
    const info = measureInfo(res.request.measure);
    const counted = res.histogram.counts.reduce((a, b) => a + b, 0);
    const legend =
      info.polarity === 0
        ? []
        : [
            h('span', { class: 'sw', style: `background:${RED}` }),
            ' model 1 better ',
            h('span', { class: 'sw', style: `background:${BLUE}` }),
            ' model 2 better',
          ];
    this.summary.replaceChildren(
      h('span', null, h('b', null, info.label), ` over ${counted.toLocaleString('en-US')} of ${res.n_texts.toLocaleString('en-US')} texts; top ${res.results.length} marked`),
      h('span', { class: 'legend-inline' }, ...legend),
    );
  }

  private renderHist(res: SearchResponse, selected: number | null) {
    const { counts, edges } = res.histogram;
    const info = measureInfo(res.request.measure);
    const W = Math.max(260, Math.floor(this.el.clientWidth - 32) || 340);
    const H = 132;
    const m = { l: 34, r: 8, t: 6 };
    const barBottom = 84;
    const rugTop = barBottom + 4;
    const rugBottom = rugTop + 16;
    const lo = edges[0]!;
    const hi = edges[edges.length - 1]!;
    const x = scaleLinear().domain([lo, hi]).range([m.l, W - m.r]);
    const y = scaleLinear()
      .domain([0, Math.max(1, ...counts)])
      .nice(3)
      .range([barBottom, m.t]);
    const mAbs = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    const neg = info.polarity === 1 ? RED : BLUE;
    const pos = info.polarity === 1 ? BLUE : RED;
    const fill =
      info.polarity === 0
        ? () => '#9fa2b4'
        : scaleLinear<string>().domain([-mAbs, 0, mAbs]).range([neg, '#dcdde3', pos]).clamp(true);

    const svg = select(document.createElementNS(SVG_NS, 'svg'))
      .attr('width', W)
      .attr('height', H)
      .attr('viewBox', `0 0 ${W} ${H}`)
      .attr('role', 'img')
      .attr('aria-label', `histogram of ${info.label} over the corpus`);
    svg
      .append('g')
      .attr('class', 'grid')
      .selectAll('line')
      .data(y.ticks(3).slice(1))
      .join('line')
      .attr('x1', m.l)
      .attr('x2', W - m.r)
      .attr('y1', (d) => y(d))
      .attr('y2', (d) => y(d));
    const marked = new Set(res.histogram.marks);
    const bars = svg
      .append('g')
      .selectAll('rect')
      .data(counts)
      .join('rect')
      .attr('class', (_, i) => (marked.has(i) ? 'bar marked' : 'bar'))
      .attr('x', (_, i) => x(edges[i]!) + 0.5)
      .attr('width', (_, i) => Math.max(1, x(edges[i + 1]!) - x(edges[i]!) - 1))
      .attr('y', (d) => y(d))
      .attr('height', (d) => barBottom - y(d))
      .attr('fill', (_, i) => fill((edges[i]! + edges[i + 1]!) / 2));
    bars.append('title').text((d, i) => `${d} texts in [${fmtNum(edges[i]!)}, ${fmtNum(edges[i + 1]!)}${i === counts.length - 1 ? ']' : ')'}`);
    // the rug of the top texts: one stripe per result, at its value, in the colour of its sign
    const rug = svg.append('g').attr('class', 'rug');
    rug.append('rect').attr('x', m.l).attr('width', W - m.l - m.r).attr('y', rugTop).attr('height', rugBottom - rugTop).attr('class', 'rug-bg');
    rug
      .selectAll('line')
      .data(res.results)
      .join('line')
      .attr('class', (r) => (r.index === selected ? 'stripe selected' : 'stripe'))
      .attr('data-index', (r) => r.index)
      .attr('x1', (r) => x(r.value))
      .attr('x2', (r) => x(r.value))
      .attr('y1', (r) => (r.index === selected ? m.t : rugTop))
      .attr('y2', rugBottom)
      .attr('stroke', (r) => (r.index === selected ? NAVY : signColor(info.polarity, r.value)));
    if (lo < 0 && hi > 0) svg.append('line').attr('class', 'zero').attr('x1', x(0)).attr('x2', x(0)).attr('y1', m.t).attr('y2', rugBottom);
    const fmt = format('~s');
    const fmtX = (v: number) => (Math.abs(hi - lo) < 10 ? format('~r')(+v.toPrecision(3)) : fmt(v)).replace('-', '−');
    svg
      .append('g')
      .attr('class', 'axis')
      .attr('transform', `translate(0,${rugBottom + 2})`)
      .call(
        axisBottom(x)
          .ticks(Math.max(3, Math.floor(W / 70)))
          .tickSizeOuter(0)
          .tickFormat((v) => fmtX(+v)),
      );
    svg
      .append('g')
      .attr('class', 'axis')
      .attr('transform', `translate(${m.l},0)`)
      .call(
        axisLeft(y)
          .ticks(3)
          .tickSize(3)
          .tickFormat((v) => fmt(+v)),
      )
      .call((g) => g.select('.domain').remove());
    svg
      .append('text')
      .attr('class', 'axis-note')
      .attr('x', m.l - 4)
      .attr('y', rugBottom - 3)
      .attr('text-anchor', 'end')
      .text('top');
    this.hist.replaceChildren(svg.node()!);
  }

  private renderList(res: SearchResponse, selected: number | null) {
    const info = measureInfo(res.request.measure);
    this.list.replaceChildren(
      ...res.results.map((r) => {
        const li = h(
          'li',
          null,
          h(
            'button',
            {
              class: r.index === selected ? 'result selected' : 'result',
              'data-index': r.index,
              'data-testid': 'result',
              'aria-current': r.index === selected ? 'true' : null,
              onclick: () => this.act.open(r.index),
              onmouseenter: () => this.markStripe(r.index, true),
              onmouseleave: () => this.markStripe(r.index, false),
            },
            h('span', { class: 'sign', style: `background:${signColor(info.polarity, r.value)}` }),
            h('span', { class: 'result-text' }, r.text.replace(/\n/g, ' ↵ ')),
            h(
              'span',
              { class: 'result-meta' },
              h('span', { class: 'result-value', title: info.label }, fmtNum(r.value)),
              h('span', { class: 'result-id' }, r.tokens ? `#${r.index} · ${r.tokens.length} tok` : `#${r.index} · ${r.measures.n_bytes ?? '?'} bytes`),
            ),
          ),
        );
        return li;
      }),
    );
    if (res.results.length === 0) this.list.append(h('li', { class: 'muted small' }, 'No text has a value for this measure.'));
  }

  private markStripe(index: number, on: boolean) {
    this.hoverIndex = on ? index : null;
    this.hist.querySelectorAll<SVGLineElement>('line.stripe').forEach((l) => {
      l.classList.toggle('hot', Number(l.dataset.index) === this.hoverIndex);
    });
  }
}
