// modeBar.ts - which measure colours the tokens, and its legend, which doubles as the
// histogram of that measure over the tokens of this text.

import { scaleLinear } from 'd3-scale';
import { select } from 'd3-selection';
import { h, SVG_NS } from '../dom';
import { classOf, MODE_ORDER, modeByKey, type Mode, type ModeKey } from '../measures';
import type { Instance } from '../types';

export class ModeBar {
  readonly el: HTMLElement;
  readonly legend: HTMLElement;
  private buttons = new Map<ModeKey, HTMLButtonElement>();

  constructor(onMode: (k: ModeKey) => void) {
    const group = (title: string, keys: ModeKey[]) =>
      h(
        'div',
        { class: 'seg-group' },
        h('span', { class: 'seg-title' }, title),
        h(
          'div',
          { class: 'seg', role: 'radiogroup', 'aria-label': title },
          ...keys.map((k) => {
            const m = modeByKey.get(k)!;
            const b = h('button', { role: 'radio', 'data-mode': k, title: m.formula, onclick: () => onMode(k) }, m.label.replace(/ m[12]$/, ''));
            this.buttons.set(k, b);
            return b;
          }),
        ),
      );
    const diffs = MODE_ORDER.filter((k) => modeByKey.get(k)!.group === 'diff');
    this.el = h(
      'div',
      { class: 'mode-bar', 'data-testid': 'modes' },
      group('difference', diffs),
      group('model 1', ['prob_m1', 'rank_m1']),
      group('model 2', ['prob_m2', 'rank_m2']),
    );
    this.legend = h('div', { class: 'legend', 'data-testid': 'legend' });
  }

  render(mode: Mode, inst: Instance): void {
    for (const [k, b] of this.buttons) {
      b.setAttribute('aria-checked', String(k === mode.key));
      b.classList.toggle('on', k === mode.key);
    }
    const n = inst.tokens.length;
    const counts = new Array<number>(mode.colors.length).fill(0);
    for (let t = 0; t < n; t++) {
      const v = mode.value(inst, t);
      if (!Number.isNaN(v)) counts[classOf(mode, v)]!++;
    }
    const C = counts.length;
    const cw = C > 5 ? 52 : 64;
    const W = C * cw;
    const H = 78;
    const barTop = 16;
    const barBottom = 46;
    const y = scaleLinear()
      .domain([0, Math.max(1, ...counts)])
      .range([barBottom, barTop]);
    const svg = select(document.createElementNS(SVG_NS, 'svg')).attr('width', W).attr('height', H).attr('viewBox', `0 0 ${W} ${H}`).attr('class', 'legend-svg');
    const g = svg
      .selectAll('g')
      .data(counts)
      .join('g')
      .attr('transform', (_, i) => `translate(${i * cw},0)`);
    g.append('rect')
      .attr('class', 'lbar')
      .attr('x', 6)
      .attr('width', cw - 12)
      .attr('y', (d) => y(d))
      .attr('height', (d) => Math.max(d > 0 ? 1 : 0, barBottom - y(d)))
      .attr('fill', (_, i) => mode.colors[i]!);
    g.append('text')
      .attr('class', 'lcount')
      .attr('x', cw / 2)
      .attr('y', (d) => y(d) - 3)
      .attr('text-anchor', 'middle')
      .text((d) => (d ? d : ''));
    g.append('rect')
      .attr('class', 'lswatch')
      .attr('x', 1)
      .attr('width', cw - 2)
      .attr('y', barBottom + 2)
      .attr('height', 10)
      .attr('fill', (_, i) => mode.colors[i]!);
    g.append('text')
      .attr('class', 'llabel')
      .attr('x', cw / 2)
      .attr('y', barBottom + 25)
      .attr('text-anchor', 'middle')
      .text((_, i) => mode.classLabels[i]!);
    this.legend.replaceChildren(
      h(
        'div',
        { class: 'legend-head' },
        h('b', null, mode.label),
        h('span', { class: 'formula' }, mode.formula),
        h('span', { class: 'muted', 'data-testid': 'legend-note' }, mode.key === 'kl' && !inst.kl ? 'no KL here: only two causal LMs of one tokenizer have it' : 'tokens of this text per colour'),
      ),
      svg.node()!,
      h(
        'div',
        { class: 'legend-ends', style: `width:${W}px` },
        h('span', { style: `color:${mode.endColors[0]}` }, `← ${mode.ends[0]}`),
        h('span', { style: `color:${mode.endColors[1]}` }, `${mode.ends[1]} →`),
      ),
    );
  }
}
