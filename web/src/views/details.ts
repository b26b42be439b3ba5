// details.ts - everything about one token: both models' numbers, the deltas and both top-k
// lists. Used by the hover tooltip and by the pinned cards.

import { h } from '../dom';
import { fmtInt, fmtProb, fmtSigned, listToken, quoteToken } from '../format';
import { BLUE, RED } from '../measures';
import type { Instance, Model, TopEntry } from '../types';

const deltaClass = (v: number, favours2WhenPositive: boolean) =>
  v === 0 ? 'delta' : (v > 0) === favours2WhenPositive ? 'delta pos2' : 'delta pos1';

function topList(list: TopEntry[], trueId: number, other: TopEntry[], m: 1 | 2): HTMLElement {
  const otherIds = new Set(other.map((e) => e.id));
  const max = Math.max(1e-9, ...list.map((e) => e.prob));
  return h(
    'ol',
    { class: `topk m${m}`, 'data-testid': `topk${m}` },
    ...list.map((e) =>
      h(
        'li',
        {
          class: [e.id === trueId ? 'is-true' : '', otherIds.has(e.id) ? '' : 'only'].filter(Boolean).join(' ') || null,
          title: otherIds.has(e.id) ? null : `not in model ${3 - m}'s top ${list.length}`,
        },
        h('span', { class: 'bar', style: `width:${((e.prob / max) * 100).toFixed(1)}%;background:${m === 1 ? RED : BLUE}` }),
        h('span', { class: 'tk' }, listToken(e.text)),
        h('span', { class: 'p' }, fmtProb(e.prob)),
      ),
    ),
  );
}

export function tokenDetails(inst: Instance, t: number, m1: Model | undefined, m2: Model | undefined, opts: { head?: boolean } = {}): HTMLElement {
  const tok = inst.tokens[t]!;
  const a = inst.m1;
  const b = inst.m2;
  const d = inst.diff;
  const cell = (k: string, text: string, cls?: string) => h('td', { 'data-k': k, class: cls ?? null }, text);
  const k = a.topk[t]!.length;
  return h(
    'div',
    { class: 'details' },
    opts.head === false
      ? null
      : h('div', { class: 'details-head' }, h('span', { class: 'details-tok', 'data-k': 'token' }, quoteToken(tok.text)), h('span', { class: 'details-pos' }, `token ${t} · id ${tok.id}`)),
    h(
      'table',
      { class: 'stats' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', null, ''),
          h('th', { class: 'c1', title: m1?.id ?? '' }, m1?.name ?? 'model 1'),
          h('th', { class: 'c2', title: m2?.id ?? '' }, m2?.name ?? 'model 2'),
          h('th', { class: 'cd' }, 'Δ (2 − 1)'),
        ),
      ),
      h(
        'tbody',
        null,
        h('tr', null, h('th', null, 'prob'), cell('prob1', fmtProb(a.prob[t]!)), cell('prob2', fmtProb(b.prob[t]!)), cell('dprob', fmtSigned(d.prob[t]!, 4), deltaClass(d.prob[t]!, true))),
        h(
          'tr',
          null,
          h('th', null, 'log-prob'),
          cell('logprob1', fmtSigned(a.logprob[t]!, 3)),
          cell('logprob2', fmtSigned(b.logprob[t]!, 3)),
          cell('dlogprob', fmtSigned(d.logprob[t]!, 3), deltaClass(d.logprob[t]!, true)),
        ),
        h('tr', null, h('th', null, 'rank'), cell('rank1', fmtInt(a.rank[t]!)), cell('rank2', fmtInt(b.rank[t]!)), cell('drank', fmtInt(d.rank[t]!, true), deltaClass(d.rank[t]!, false))),
        h('tr', null, h('th', null, 'rank ≤ 50'), cell('crank1', fmtInt(Math.min(a.rank[t]!, 50))), cell('crank2', fmtInt(Math.min(b.rank[t]!, 50))), cell('drank_clamped', fmtInt(d.rank_clamped[t]!, true), deltaClass(d.rank_clamped[t]!, false))),
        h(
          'tr',
          null,
          h('th', null, 'entropy'),
          cell('entropy1', a.entropy[t]!.toFixed(3)),
          cell('entropy2', b.entropy[t]!.toFixed(3)),
          cell('dentropy', fmtSigned(d.entropy[t]!, 3), deltaClass(d.entropy[t]!, false)),
        ),
        inst.kl ? h('tr', null, h('th', null, 'KL (nats)'), h('td', { colspan: 2, class: 'note' }, 'KL(P₁‖P₂), whole vocabulary'), cell('kl', fmtProb(inst.kl[t]!))) : null,
        h('tr', null, h('th', null, `top-${k} diff`), h('td', { colspan: 2, class: 'note' }, `of model 1's top ${k}, not in model 2's`), cell('dtopk', String(d.topk[t]!))),
      ),
    ),
    h('div', { class: 'lists' }, topList(a.topk[t]!, tok.id, b.topk[t]!, 1), topList(b.topk[t]!, tok.id, a.topk[t]!, 2)),
  );
}
