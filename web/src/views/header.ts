// header.ts - the title bar with the two model pickers and the tokenizer note.

import { h } from '../dom';
import type { State, Store } from '../store';
import type { Model } from '../types';

const short = (group: string) => group.slice(0, 8);

export class Header {
  readonly el: HTMLElement;
  readonly warning: HTMLElement;
  private sel1: HTMLSelectElement;
  private sel2: HTMLSelectElement;
  private about: HTMLElement;
  private compat: HTMLElement;

  constructor(
    store: Store,
    onModels: (m1: string, m2: string) => void,
  ) {
    const pick = (n: 1 | 2) =>
      h('select', {
        class: `model-select m${n}`,
        'aria-label': `model ${n}`,
        'data-testid': `model${n}`,
        onchange: () => onModels(this.sel1.value, this.sel2.value),
      });
    this.sel1 = pick(1);
    this.sel2 = pick(2);
    const swap = h(
      'button',
      {
        class: 'swap',
        title: 'swap the models',
        'aria-label': 'swap the models',
        onclick: () => onModels(this.sel2.value, this.sel1.value),
      },
      '⇄',
    );
    this.compat = h('span', { class: 'compat' });
    this.about = h(
      'div',
      { class: 'about', hidden: true },
      h(
        'p',
        null,
        'LMdiff compares two language models on the same text, token by token: how probable each model found every token, where it ranked it, and which tokens it expected instead. ',
        'Search a preprocessed corpus for the texts where the two models differ most, then inspect one of them. ',
        'A rebuild in C of the EMNLP 2021 demo by Strobelt, Hoover, Satyanarayan and Gehrmann.',
      ),
      h(
        'p',
        { class: 'about-keys' },
        'Keys: ',
        h('kbd', null, '←'),
        ' ',
        h('kbd', null, '→'),
        ' move along the tokens, ',
        h('kbd', null, 'Enter'),
        ' pins one, ',
        h('kbd', null, 'Esc'),
        ' leaves; ',
        h('kbd', null, 'Ctrl'),
        '+',
        h('kbd', null, 'Enter'),
        ' analyzes the text.',
      ),
    );
    this.el = h(
      'header',
      { class: 'topbar' },
      h(
        'div',
        { class: 'topbar-inner' },
        h('div', { class: 'brand' }, h('span', { class: 'logo', 'aria-hidden': 'true' }, h('i', { class: 'l1' }), h('i', { class: 'l2' })), h('b', null, 'LMdiff'), h('span', { class: 'tagline' }, 'two language models, token by token')),
        h(
          'div',
          { class: 'pickers' },
          h('label', { class: 'picker p1' }, h('span', { class: 'picker-label' }, 'model 1'), this.sel1),
          swap,
          h('label', { class: 'picker p2' }, h('span', { class: 'picker-label' }, 'model 2'), this.sel2),
          this.compat,
        ),
        h(
          'button',
          {
            class: 'about-btn',
            'aria-expanded': 'false',
            onclick: (e: Event) => {
              this.about.hidden = !this.about.hidden;
              (e.currentTarget as HTMLElement).setAttribute('aria-expanded', String(!this.about.hidden));
            },
          },
          'About',
        ),
      ),
      this.about,
    );
    this.warning = h('div', { class: 'banner info', hidden: true, role: 'status', 'data-testid': 'tokenizer-warning' });
    store.subscribe((s, p) => {
      if (s.models !== p.models || s.m1 !== p.m1 || s.m2 !== p.m2) this.render(s);
    });
  }

  private fill(sel: HTMLSelectElement, models: Model[], value: string) {
    const groups = new Map<string, Model[]>();
    for (const m of models) groups.set(m.group, [...(groups.get(m.group) ?? []), m]);
    sel.replaceChildren(
      ...[...groups.entries()].map(([g, ms]) =>
        h('optgroup', { label: `tokenizer ${short(g)}` }, ...ms.map((m) => h('option', { value: m.id, title: `${m.arch} · ${m.scoring} · ${m.id}` }, m.name))),
      ),
    );
    sel.value = value;
  }

  render(s: State): void {
    this.fill(this.sel1, s.models, s.m1);
    this.fill(this.sel2, s.models, s.m2);
    const a = s.models.find((m) => m.id === s.m1);
    const b = s.models.find((m) => m.id === s.m2);
    const bad = !!a && !!b && a.group !== b.group;
    const masked = [a, b].filter((m) => m?.scoring === 'pseudo-likelihood').map((m) => m!.name);
    this.compat.textContent =
      a && b && !bad
        ? `same tokenizer · ${short(a.group)}` +
          (masked.length ? ` · ${[...new Set(masked)].join(', ')}: masked LM, each token scored with itself masked` : '')
        : '';
    this.compat.title = a ? `tokenizer hash ${a.group}` : '';
    this.warning.hidden = !bad;
    if (bad) {
      const mixed = a.scoring !== b.scoring;
      this.warning.replaceChildren(
        h('b', null, 'Different tokenizers: compared by segments. '),
        `${a.name} uses tokenizer ${short(a.group)}, ${b.name} uses ${short(b.group)}. ` +
          'A text is cut where both have a token boundary and each segment is scored in bits per byte; ' +
          'probabilities, ranks and top-k stay per model; corpora are searched by bits per byte.' +
          (mixed ? ' One model is masked (pseudo-likelihood): its bits are not the same quantity.' : ''),
      );
    }
  }
}
