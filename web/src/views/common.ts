// common.ts - bits shared by several views.

import type { ApiError } from '../api';
import { h } from '../dom';

export function errorBox(e: ApiError, testid: string): HTMLElement {
  return h(
    'div',
    { class: 'error', role: 'alert', 'data-testid': testid },
    h('span', { class: 'error-code' }, e.status ? String(e.status) : 'no reply'),
    h('span', { class: 'error-msg' }, e.message),
  );
}

export function spinner(): HTMLElement {
  return h('span', { class: 'spinner', 'aria-hidden': 'true' });
}
