// segments.ts - the instance view for two models with different tokenizers: the text cut into
// byte-aligned segments (docs/measures.md, "Segments"), a step plot of each model's bits per
// byte over the segments, the segments coloured by Δ bits per byte, and a tooltip listing each
// model's own tokens in the hovered segment with their probability and rank.

import { h, SVG_NS } from '../dom';
import { fmtNum, fmtProb, fmtSigned, listToken } from '../format';
import { BLUE, inkOn, RED } from '../measures';
import type { Model, SegModel, SegmentsInstance } from '../types';

const enc = new TextEncoder();
const dec = new TextDecoder();

/** White -> blue (model 2 needs fewer bits) or white -> red, u in [-1, 1]. */
function shade(u: number): string {
  const c = u < 0 ? BLUE : RED;
  const t = Math.min(1, Math.abs(u));
  const n = parseInt(c.slice(1), 16);
  const mix = (sh: number) => Math.round(255 + (((n >> sh) & 255) - 255) * t);
  return `#${[16, 8, 0].map((sh) => mix(sh).toString(16).padStart(2, '0')).join('')}`;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

export class SegmentsView {
  readonly el: HTMLElement;
  private stats: HTMLElement;
  private plot: HTMLElement;
  private text: HTMLElement;
  private tip: HTMLElement;
  private spans: HTMLElement[] = [];
  private inst: SegmentsInstance | null = null;
  private names: [string, string] = ['model 1', 'model 2'];

  constructor() {
    this.stats = h('div', { class: 'stats-row', 'data-testid': 'segment-stats' });
    this.plot = h('div', { class: 'plots' });
    this.text = h('div', { class: 'tokens segments', 'data-testid': 'segments' });
    this.tip = h('div', { class: 'tooltip', role: 'tooltip', 'data-testid': 'segment-tip', hidden: true });
    document.body.append(this.tip);
    this.el = h(
      'div',
      { class: 'instance-body', 'data-testid': 'segments-view' },
      this.stats,
      h('div', { class: 'section' }, h('div', { class: 'plot-title' }, h('span', null, 'bits per byte of each segment'), h('span', { class: 'muted' }, 'lower is better')), this.plot),
      h(
        'div',
        { class: 'section' },
        h('div', { class: 'section-title' }, 'Segments ', h('span', { class: 'muted' }, 'coloured by Δ bits per byte (model 2 − model 1; blue: model 2 needs fewer bits) · hover for both models’ tokens')),
        this.text,
      ),
    );
  }

  render(inst: SegmentsInstance, models: [Model | undefined, Model | undefined], width: number): void {
    this.inst = inst;
    this.names = [models[0]?.name ?? inst.models[0], models[1]?.name ?? inst.models[1]];
    const sm = inst.summary;
    this.stats.replaceChildren(
      h('span', { class: 'stat' }, h('b', null, String(sm.n_segments)), ' segments · ', h('b', null, String(sm.bytes)), ' bytes'),
      h('span', { class: 'stat' }, 'bits per byte ', h('b', { class: 'c1', title: this.names[0] }, fmtNum(sm.bpb1)), ' vs ', h('b', { class: 'c2', title: this.names[1] }, fmtNum(sm.bpb2)), ` (Δ ${fmtSigned(sm.dbpb)})`),
      h('span', { class: 'stat' }, `${inst.m1.tokens.length} vs ${inst.m2.tokens.length} tokens`),
      h('span', { class: 'stat muted' }, 'rank, top-k and entropy are per tokenizer and not compared'),
      inst.note ? h('div', { class: `banner ${inst.comparable ? 'info' : 'warn'}`, 'data-testid': 'segment-note' }, inst.note) : '',
    );
    this.drawPlot(inst, width);
    this.drawText(inst);
  }

  private drawPlot(inst: SegmentsInstance, width: number) {
    const sg = inst.segments;
    const n = sg.start.length;
    const W = Math.max(200, width);
    const H = 96;
    const L = 44;
    const bytes = Math.max(1, inst.summary.bytes ?? 1);
    const bpb = (k: 1 | 2, j: number) => (k === 1 ? sg.bits1[j]! : sg.bits2[j]!) / (sg.end[j]! - sg.start[j]!);
    let top = 0;
    for (let j = 0; j < n; j++) top = Math.max(top, bpb(1, j), bpb(2, j));
    top = top > 0 ? top : 1;
    const x = (b: number) => L + ((W - L - 10) * b) / bytes;
    const y = (v: number) => 8 + (H - 16) * (1 - v / top);
    const root = svg('svg', { width: W, height: H, class: 'stepplot', 'data-testid': 'segment-plot' });
    root.append(svg('line', { x1: L, x2: W - 10, y1: y(0), y2: y(0), stroke: '#d9dae1' }));
    for (const v of [0, top / 2, top]) {
      const t = svg('text', { x: L - 6, y: y(v) + 4, 'text-anchor': 'end', 'font-size': 10, fill: '#6b6d80' });
      t.textContent = v.toFixed(1);
      root.append(t);
    }
    for (const k of [1, 2] as const) {
      let d = '';
      for (let j = 0; j < n; j++) d += `${j ? 'L' : 'M'}${x(sg.start[j]!)},${y(bpb(k, j))}H${x(sg.end[j]!)}`;
      root.append(svg('path', { d, fill: 'none', stroke: k === 1 ? RED : BLUE, 'stroke-width': 1.6 }));
    }
    this.plot.replaceChildren(root);
  }

  private drawText(inst: SegmentsInstance) {
    const sg = inst.segments;
    const bytes = enc.encode(inst.text);
    const scale = Math.max(1e-9, ...sg.dbpb.map((v) => Math.abs(v)));
    // a boundary inside a UTF-8 character (byte-level tokens): the character is shown in the
    // segment where it starts; a segment of continuation bytes only shows a placeholder
    const charStart = (i: number) => i >= bytes.length || (bytes[i]! & 0xc0) !== 0x80;
    const snap = (i: number) => {
      while (!charStart(i)) i++;
      return i;
    };
    this.spans = sg.start.map((a, j) => {
      const bg = shade(sg.dbpb[j]! / scale);
      const [s0, s1] = [snap(a), snap(sg.end[j]!)];
      const shown = s1 > s0 ? dec.decode(bytes.slice(s0, s1)).replace(/\n/g, '↵\n') : '·';
      const attrs: Record<string, string> = { class: 'tok seg', 'data-testid': 'segment', style: `background:${bg};color:${inkOn(bg)}` };
      if (s1 <= s0) Object.assign(attrs, { 'data-cont': '1', title: 'bytes inside the character before' });
      const s = h('span', attrs, shown);
      s.addEventListener('mouseenter', () => this.showTip(j));
      s.addEventListener('mouseleave', () => (this.tip.hidden = true));
      return s;
    });
    this.text.replaceChildren(...this.spans);
  }

  private tokenRows(m: SegModel, range: [number, number]): HTMLElement {
    const rows: HTMLElement[] = [];
    for (let i = range[0]; i < range[1]; i++)
      rows.push(h('tr', null, h('td', { class: 'tok-cell' }, listToken(m.tokens[i]!.text)), h('td', null, fmtProb(m.scores.prob[i]!)), h('td', null, String(m.scores.rank[i]!))));
    return h('table', { class: 'stats' }, h('tr', null, h('th', null, 'token'), h('th', null, 'p'), h('th', null, 'rank')), ...rows);
  }

  private showTip(j: number) {
    const inst = this.inst;
    if (!inst) return;
    const sg = inst.segments;
    const nb = sg.end[j]! - sg.start[j]!;
    this.tip.replaceChildren(
      h(
        'div',
        { class: 'details' },
        h('div', { class: 'details-head' }, h('span', { class: 'details-tok' }, `segment ${j + 1}`), h('span', { class: 'details-pos' }, `bytes ${sg.start[j]}–${sg.end[j]} · Δ ${fmtSigned(sg.dbpb[j]!)} bits/byte`)),
        h('div', { class: 'c1', 'data-testid': 'segment-tip-m1' }, h('b', null, this.names[0]), ` · ${fmtNum(sg.bits1[j]!)} bits · ${fmtNum(sg.bits1[j]! / nb)} bits/byte`),
        this.tokenRows(inst.m1, sg.m1_tokens[j]!),
        h('div', { class: 'c2', 'data-testid': 'segment-tip-m2' }, h('b', null, this.names[1]), ` · ${fmtNum(sg.bits2[j]!)} bits · ${fmtNum(sg.bits2[j]! / nb)} bits/byte`),
        this.tokenRows(inst.m2, sg.m2_tokens[j]!),
      ),
    );
    this.tip.hidden = false;
    const r = this.spans[j]!.getBoundingClientRect();
    const tw = this.tip.offsetWidth;
    const left = Math.max(8, Math.min(document.documentElement.clientWidth - tw - 8, r.left + r.width / 2 - tw / 2));
    this.tip.style.left = `${Math.round(left)}px`;
    this.tip.style.top = `${Math.round(r.bottom + 8)}px`;
    this.tip.style.setProperty('--arrow-x', `${Math.round(r.left + r.width / 2 - left)}px`);
  }

  hideTip(): void {
    this.tip.hidden = true;
  }
}
