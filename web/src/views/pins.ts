// pins.ts - the pinned token cards.

import { h } from '../dom';
import { quoteToken } from '../format';
import type { HoverBus } from '../store';
import type { Instance, Model } from '../types';
import { tokenDetails } from './details';

export class PinsView {
  readonly el: HTMLElement;

  constructor(
    private hover: HoverBus,
    private unpin: (i: number) => void,
  ) {
    this.el = h('div', { class: 'pins', 'data-testid': 'pins' });
    hover.subscribe((i) => {
      this.el.querySelectorAll<HTMLElement>('.card').forEach((c) => c.classList.toggle('hot', Number(c.dataset.i) === i));
    });
  }

  render(inst: Instance, pins: number[], models: [Model | undefined, Model | undefined]): void {
    if (pins.length === 0) {
      this.el.replaceChildren(h('p', { class: 'muted small' }, 'Click a token (or press Enter on it) to pin its details here; pins are kept in the link.'));
      return;
    }
    this.el.replaceChildren(
      ...pins
        .filter((i) => i < inst.tokens.length)
        .map((i) =>
          h(
            'article',
            {
              class: 'card',
              'data-i': i,
              'data-testid': 'pin-card',
              onmouseenter: () => this.hover.set(i, 'card'),
              onmouseleave: () => this.hover.set(null, null),
            },
            h(
              'header',
              null,
              h('b', null, quoteToken(inst.tokens[i]!.text)),
              h('span', { class: 'muted' }, ` token ${i}`),
              h('button', { class: 'x', title: 'unpin', 'aria-label': `unpin token ${i}`, onclick: () => this.unpin(i) }, '×'),
            ),
            tokenDetails(inst, i, models[0], models[1], { head: false }),
          ),
        ),
    );
  }
}
