// tokens.ts - the text as coloured tokens, with hover, click-to-pin, keyboard moves and the
// hover tooltip.

import { h } from '../dom';
import { tokenParts } from '../format';
import { colorOf, inkOn, type Mode } from '../measures';
import type { HoverBus } from '../store';
import type { Instance, Model } from '../types';
import { tokenDetails } from './details';

export class TokenView {
  readonly el: HTMLElement;
  private spans: HTMLElement[] = [];
  private inst: Instance | null = null;
  private models: [Model | undefined, Model | undefined] = [undefined, undefined];
  private tip: HTMLElement;
  private tipFor: number | null = null;

  constructor(
    private hover: HoverBus,
    private togglePin: (i: number) => void,
  ) {
    this.el = h('div', {
      class: 'tokens',
      tabindex: 0,
      role: 'group',
      'aria-label': 'tokens: arrow keys move, Enter pins',
      'data-testid': 'tokens',
    });
    this.tip = h('div', { class: 'tooltip', role: 'tooltip', 'data-testid': 'tooltip', hidden: true });
    document.body.append(this.tip);

    const indexOf = (e: Event) => {
      const t = (e.target as HTMLElement).closest<HTMLElement>('.tok');
      return t ? Number(t.dataset.i) : null;
    };
    this.el.addEventListener('mouseover', (e) => {
      const i = indexOf(e);
      if (i !== null) hover.set(i, 'tokens');
    });
    this.el.addEventListener('mouseleave', () => {
      if (hover.origin === 'tokens') hover.set(null, null);
    });
    this.el.addEventListener('click', (e) => {
      const i = indexOf(e);
      if (i !== null) togglePin(i);
    });
    this.el.addEventListener('keydown', (e) => this.key(e));
    this.el.addEventListener('focus', () => {
      if (this.inst && hover.index === null) hover.set(0, 'keyboard');
    });
    this.el.addEventListener('blur', () => {
      if (hover.origin === 'keyboard') hover.set(null, null);
    });
    hover.subscribe((i) => this.setHover(i));
    window.addEventListener('scroll', () => this.placeTip(), { passive: true });
    window.addEventListener('resize', () => this.placeTip());
  }

  private key(e: KeyboardEvent) {
    if (!this.inst) return;
    const n = this.inst.tokens.length;
    const cur = this.hover.index ?? -1;
    let next: number | null = null;
    switch (e.key) {
      case 'ArrowRight':
        next = Math.min(n - 1, cur + 1);
        break;
      case 'ArrowLeft':
        next = Math.max(0, cur < 0 ? 0 : cur - 1);
        break;
      case 'ArrowDown':
      case 'ArrowUp':
        next = this.vertical(cur < 0 ? 0 : cur, e.key === 'ArrowDown' ? 1 : -1);
        break;
      case 'Home':
        next = 0;
        break;
      case 'End':
        next = n - 1;
        break;
      case 'Enter':
      case ' ':
        if (cur >= 0) this.togglePin(cur);
        e.preventDefault();
        return;
      case 'Escape':
        this.hover.set(null, null);
        this.el.blur();
        return;
      default:
        return;
    }
    e.preventDefault();
    this.hover.set(next, 'keyboard');
    this.spans[next]?.scrollIntoView({ block: 'nearest', inline: 'nearest' });
  }

  /** The token on the next/previous line closest in x. */
  private vertical(cur: number, dir: 1 | -1): number {
    const r0 = this.spans[cur]!.getBoundingClientRect();
    const cx = r0.left + r0.width / 2;
    let best = cur;
    let bestScore = Infinity;
    for (let i = cur + dir; i >= 0 && i < this.spans.length; i += dir) {
      const r = this.spans[i]!.getBoundingClientRect();
      const dy = (r.top - r0.top) * dir;
      if (dy < r0.height / 2) continue;
      if (bestScore !== Infinity && dy > bestScore + r0.height) break;
      const score = dy + Math.abs(r.left + r.width / 2 - cx) / 4;
      if (score < bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return best;
  }

  render(inst: Instance, mode: Mode, pins: number[], models: [Model | undefined, Model | undefined]): void {
    this.inst = inst;
    this.models = models;
    const pinned = new Set(pins);
    this.spans = inst.tokens.map((tok, i) => {
      const p = tokenParts(tok.text);
      const bg = colorOf(mode, mode.value(inst, i));
      const cls = ['tok', p.ws ? 'ws' : '', p.lead ? 'lead' : '', pinned.has(i) ? 'pinned' : ''].filter(Boolean).join(' ');
      return h('span', { class: cls, 'data-i': i, style: `background:${bg};color:${inkOn(bg)}` }, p.body);
    });
    const nodes: Node[] = [];
    inst.tokens.forEach((tok, i) => {
      nodes.push(this.spans[i]!);
      const p = tokenParts(tok.text);
      for (let b = 0; b < Math.min(p.breaks, 2); b++) nodes.push(h('br'));
    });
    this.el.replaceChildren(...nodes);
    this.setHover(this.hover.index);
  }

  setPins(pins: number[]): void {
    const pinned = new Set(pins);
    this.spans.forEach((s, i) => s.classList.toggle('pinned', pinned.has(i)));
  }

  private setHover(i: number | null) {
    this.el.querySelector('.tok.hot')?.classList.remove('hot');
    if (i === null || !this.inst || i >= this.spans.length) {
      this.hideTip();
      return;
    }
    this.spans[i]!.classList.add('hot');
    if (this.hover.origin === 'card') this.hideTip();
    else this.showTip(i);
  }

  private showTip(i: number) {
    if (!this.inst) return;
    if (this.tipFor !== i || this.tip.hidden) {
      this.tip.replaceChildren(tokenDetails(this.inst, i, this.models[0], this.models[1]));
      this.tipFor = i;
    }
    this.tip.hidden = false;
    this.placeTip();
  }

  hideTip(): void {
    this.tip.hidden = true;
    this.tipFor = null;
  }

  private placeTip() {
    if (this.tip.hidden || this.tipFor === null) return;
    const span = this.spans[this.tipFor];
    if (!span) return;
    const r = span.getBoundingClientRect();
    const tw = this.tip.offsetWidth;
    const th = this.tip.offsetHeight;
    const vw = document.documentElement.clientWidth;
    const vh = window.innerHeight;
    let left = r.left + r.width / 2 - tw / 2;
    left = Math.max(8, Math.min(vw - tw - 8, left));
    let top = r.bottom + 8;
    let above = false;
    if (top + th > vh - 8 && r.top - th - 8 > 8) {
      top = r.top - th - 8;
      above = true;
    }
    this.tip.style.left = `${Math.round(left)}px`;
    this.tip.style.top = `${Math.round(top)}px`;
    this.tip.classList.toggle('above', above);
    this.tip.style.setProperty('--arrow-x', `${Math.round(r.left + r.width / 2 - left)}px`);
  }
}
