// instance.ts - the instance view: one text under both models.

import { h } from '../dom';
import { fmtNum } from '../format';
import { BLUE, measureInfo, modeByKey, RED, type ModeKey } from '../measures';
import type { HoverBus, State, Store } from '../store';
import type { Instance, Model } from '../types';
import { spinner } from './common';
import { ModeBar } from './modeBar';
import { PinsView } from './pins';
import { SegmentsView } from './segments';
import { geometry, StepPlot } from './stepPlot';
import { TokenView } from './tokens';

export interface InstanceActions {
  mode(k: ModeKey): void;
  rankScale(s: 'log' | 'pow'): void;
  togglePin(i: number): void;
}

export class InstanceView {
  readonly el: HTMLElement;
  private head: HTMLElement;
  private body: HTMLElement;
  private prob: StepPlot;
  private rank: StepPlot;
  private plots: HTMLElement;
  private scaleBtns: HTMLElement;
  private modes: ModeBar;
  private tokens: TokenView;
  private pins: PinsView;
  private pinsCount: HTMLElement;
  private empty: HTMLElement;
  private last: State | null = null;
  private segView = new SegmentsView();

  constructor(
    store: Store,
    hover: HoverBus,
    act: InstanceActions,
  ) {
    const onHover = (i: number | null) => hover.set(i, i === null ? null : 'plot');
    this.prob = new StepPlot('prob', onHover, act.togglePin);
    this.rank = new StepPlot('rank', onHover, act.togglePin);
    this.scaleBtns = h('div', { class: 'seg small', role: 'radiogroup', 'aria-label': 'rank scale' });
    for (const s of ['log', 'pow'] as const)
      this.scaleBtns.append(h('button', { role: 'radio', 'data-scale': s, onclick: () => act.rankScale(s) }, s === 'log' ? 'log' : 'power'));
    this.plots = h(
      'div',
      { class: 'plots' },
      h('div', { class: 'plot-title' }, h('span', null, 'probability of the true token'), h('span', { class: 'muted' }, 'higher is better')),
      this.prob.el,
      h('div', { class: 'plot-title' }, h('span', null, 'rank of the true token'), h('span', { class: 'muted' }, '1 at the top · scale '), this.scaleBtns),
      this.rank.el,
    );
    this.modes = new ModeBar(act.mode);
    this.tokens = new TokenView(hover, act.togglePin);
    this.pins = new PinsView(hover, act.togglePin);
    this.pinsCount = h('span', { class: 'muted' });
    this.head = h('div', { class: 'instance-head' });
    this.empty = h(
      'div',
      { class: 'empty' },
      h('div', { class: 'empty-art', 'aria-hidden': 'true' }, ...Array.from({ length: 18 }, (_, i) => h('i', { style: `height:${8 + ((i * 37) % 23)}px;background:${i % 3 === 0 ? RED : i % 3 === 1 ? BLUE : '#d9dae1'}` }))),
      h('p', { class: 'empty-msg' }, ''),
    );
    this.body = h(
      'div',
      { class: 'instance-body' },
      h('div', { class: 'section' }, this.plots),
      h('div', { class: 'section measure-section' }, h('div', { class: 'section-title' }, 'Colour tokens by'), this.modes.el, this.modes.legend),
      h('div', { class: 'section' }, h('div', { class: 'section-title' }, 'Tokens ', h('span', { class: 'muted' }, 'hover for details · click to pin · arrow keys move')), this.tokens.el),
      h('div', { class: 'section' }, h('div', { class: 'section-title' }, 'Pinned tokens ', this.pinsCount), this.pins.el),
    );
    this.el = h('section', { class: 'panel instance', 'aria-labelledby': 'inst-h', 'data-testid': 'instance' }, this.head, this.empty, this.body, this.segView.el);

    hover.subscribe((i) => {
      this.prob.hover(i);
      this.rank.hover(i);
    });
    store.subscribe((s, p) => {
      if (s.instance !== p.instance || s.segments !== p.segments || s.m1 !== p.m1 || s.m2 !== p.m2 || s.models !== p.models || s.mode !== p.mode || s.rankScale !== p.rankScale || s.analyzeStatus !== p.analyzeStatus || s.source !== p.source || s.notice !== p.notice || s.search !== p.search)
        this.render(s);
      else if (s.pins !== p.pins) this.renderPins(s);
    });
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = window.setTimeout(() => this.last && this.render(this.last), 120);
    });
  }

  private models(s: State): [Model | undefined, Model | undefined] {
    return [s.models.find((m) => m.id === s.m1), s.models.find((m) => m.id === s.m2)];
  }

  private renderHead(s: State, inst: Instance | null) {
    const busy = s.analyzeStatus === 'loading';
    const src = s.source;
    let what: (Node | string)[] = [];
    if (src?.kind === 'text') what = ['your text'];
    else if (src?.kind === 'dataset') {
      const ds = s.datasets.find((d) => d.id === src.dataset);
      const r = s.search?.results.find((x) => x.index === src.index);
      what = [
        h('b', null, ds?.name ?? src.dataset),
        ` · text #${src.index}`,
        r && s.search ? h('span', { class: 'muted' }, ` · ${measureInfo(s.search.request.measure).short} = ${fmtNum(r.value)}`) : '',
      ];
    }
    const stats: Node[] = [];
    if (inst) {
      const n = inst.tokens.length;
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / Math.max(1, v.length);
      const ppl1 = Math.exp(-mean(inst.m1.logprob));
      const ppl2 = Math.exp(-mean(inst.m2.logprob));
      let better1 = 0;
      let better2 = 0;
      for (const d of inst.diff.logprob) {
        if (d > 0) better2++;
        else if (d < 0) better1++;
      }
      const [m1, m2] = this.models(s);
      stats.push(
        h('span', { class: 'stat' }, h('b', null, String(n)), ' tokens'),
        h('span', { class: 'stat' }, 'perplexity ', h('b', { class: 'c1', title: m1?.name ?? '' }, fmtNum(ppl1)), ' vs ', h('b', { class: 'c2', title: m2?.name ?? '' }, fmtNum(ppl2))),
        h(
          'span',
          { class: 'stat split', title: 'tokens to which each model gave more probability than the other' },
          'more probable under ',
          h('b', { class: 'c1' }, `model 1: ${better1}`),
          ' ',
          h('span', { class: 'splitbar' }, h('i', { style: `width:${(100 * better1) / n}%;background:${RED}` }), h('i', { style: `width:${(100 * better2) / n}%;background:${BLUE}` })),
          ' ',
          h('b', { class: 'c2' }, `model 2: ${better2}`),
          ' tokens',
        ),
      );
    }
    this.head.replaceChildren(
      h('div', { class: 'instance-title' }, h('h2', { id: 'inst-h', class: 'panel-title' }, 'Instance'), h('span', { class: 'source', 'data-testid': 'source' }, ...what), busy ? h('span', { class: 'muted' }, spinner(), ' analyzing…') : ''),
      h('div', { class: 'stats-row' }, ...stats),
      s.notice ? h('div', { class: 'banner info', role: 'status', 'data-testid': 'notice' }, s.notice) : '',
    );
  }

  render(s: State): void {
    this.last = s;
    const inst = s.instance;
    this.renderHead(s, inst);
    this.el.classList.toggle('loading', s.analyzeStatus === 'loading');
    const seg = inst ? null : s.segments;
    this.segView.el.hidden = !seg;
    if (!seg) this.segView.hideTip();
    this.empty.hidden = !!inst || !!seg;
    this.empty.querySelector('.empty-msg')!.textContent =
      s.analyzeStatus === 'loading'
        ? 'Running both models on the text…'
        : 'Analyze a text, or open a search result, to see where the two models differ, token by token.';
    this.body.hidden = !inst;
    if (seg) this.segView.render(seg, this.models(s), (this.el.clientWidth || 934) - 34);
    if (!inst) return;
    const mode = modeByKey.get(s.mode)!;
    const avail = this.el.clientWidth - 34 || 900;
    const g = geometry(inst.tokens.length, avail);
    this.prob.render(inst, g, s.rankScale, s.pins);
    this.rank.render(inst, g, s.rankScale, s.pins);
    this.scaleBtns.querySelectorAll<HTMLButtonElement>('button').forEach((b) => {
      const on = b.dataset.scale === s.rankScale;
      b.classList.toggle('on', on);
      b.setAttribute('aria-checked', String(on));
    });
    this.modes.render(mode, inst);
    this.tokens.render(inst, mode, s.pins, this.models(s));
    this.renderPins(s);
  }

  private renderPins(s: State) {
    const inst = s.instance;
    if (!inst) return;
    this.prob.setPins(s.pins);
    this.rank.setPins(s.pins);
    this.tokens.setPins(s.pins);
    this.pins.render(inst, s.pins, this.models(s));
    this.pinsCount.textContent = s.pins.length ? `(${s.pins.length})` : '';
  }

  hideTooltip(): void {
    this.tokens.hideTip();
    this.segView.hideTip();
  }
}
