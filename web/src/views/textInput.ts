// textInput.ts - the free-text box and its Analyze button.

import { h } from '../dom';
import type { State, Store } from '../store';
import { errorBox } from './common';

export const DEFAULT_TEXT =
  'The dominant sequence transduction models are based on complex recurrent or convolutional neural networks that include an encoder and a decoder. The best performing models also connect the encoder and decoder through an attention mechanism.';

export class TextInput {
  readonly el: HTMLElement;
  private area: HTMLTextAreaElement;
  private button: HTMLButtonElement;
  private err: HTMLElement;
  private count: HTMLElement;

  constructor(
    store: Store,
    private onAnalyze: (text: string) => void,
  ) {
    this.area = h('textarea', {
      class: 'text-area',
      rows: 6,
      spellcheck: 'false',
      'aria-label': 'text to analyze',
      'data-testid': 'text-input',
      oninput: () => {
        store.set({ text: this.area.value });
      },
      onkeydown: (e: Event) => {
        const k = e as KeyboardEvent;
        if (k.key === 'Enter' && (k.ctrlKey || k.metaKey)) {
          k.preventDefault();
          this.submit();
        }
      },
    });
    this.button = h('button', { class: 'btn primary', 'data-testid': 'analyze', onclick: () => this.submit() }, 'Analyze');
    this.count = h('span', { class: 'hint' });
    this.err = h('div', { class: 'err-slot', 'data-testid': 'analyze-error-slot' });
    this.el = h(
      'section',
      { class: 'panel', 'aria-labelledby': 'text-h' },
      h('h2', { id: 'text-h', class: 'panel-title' }, 'Your text'),
      this.area,
      h('div', { class: 'row between' }, this.count, this.button),
      this.err,
    );
    store.subscribe((s, p) => {
      if (s.text !== p.text && this.area.value !== s.text) this.area.value = s.text;
      if (s.text !== p.text || s.analyzeStatus !== p.analyzeStatus || s.analyzeError !== p.analyzeError || s.m1 !== p.m1 || s.m2 !== p.m2 || s.models !== p.models || s.source !== p.source)
        this.render(s);
    });
  }

  private submit() {
    if (!this.button.disabled) this.onAnalyze(this.area.value);
  }

  render(s: State): void {
    const a = s.models.find((m) => m.id === s.m1);
    const b = s.models.find((m) => m.id === s.m2);
    const ok = !!a && !!b; // any pair: different tokenizers are compared by segments
    const busy = s.analyzeStatus === 'loading';
    this.button.disabled = busy || !ok || s.text.length === 0;
    this.button.classList.toggle('busy', busy);
    this.button.textContent = busy ? 'Analyzing…' : 'Analyze';
    this.count.textContent = `${s.text.length.toLocaleString('en-US')} character${s.text.length === 1 ? '' : 's'} · Ctrl+Enter`;
    this.err.replaceChildren(
      s.analyzeStatus === 'error' && s.analyzeError ? errorBox(s.analyzeError, 'analyze-error') : '',
    );
  }
}
