// format.ts - numbers and tokens as a person reads them.

const MINUS = '−';

/** A probability: 4 decimals down to 0.001, then 3 significant digits in e-notation. */
export function fmtProb(p: number): string {
  if (p === 0) return '0';
  if (p >= 0.001) return p.toFixed(4);
  return p.toExponential(2).replace('-', MINUS);
}

/** A signed float with a leading + or − and `digits` decimals (e-notation for tiny values). */
export function fmtSigned(v: number | null | undefined, digits = 3): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (v === 0) return '0';
  const a = Math.abs(v);
  const s = a >= Math.pow(10, -digits) || a === 0 ? a.toFixed(digits) : a.toExponential(1);
  return (v > 0 ? '+' : MINUS) + s;
}

export function fmtInt(v: number, signed = false): string {
  const s = Math.abs(v).toLocaleString('en-US').replace(/,/g, ' ');
  if (v < 0) return MINUS + s;
  return signed && v > 0 ? '+' + s : s;
}

/** A float for tables: up to 4 significant digits, no exponent unless needed. */
export function fmtNum(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  if (Number.isInteger(v)) return fmtInt(v);
  const a = Math.abs(v);
  const s = a >= 100 ? v.toFixed(1) : a >= 1 ? v.toFixed(2) : a >= 0.001 ? v.toFixed(4) : v.toExponential(2);
  return s.replace('-', MINUS);
}

/** Parses what the fmt functions write (for tests and copy/paste). */
export function parseShown(s: string): number {
  return Number(s.replace(MINUS, '-').replace(/\s/g, '').replace(/^\+/, ''));
}

export interface TokenParts {
  /** leading spaces (drawn as a gap, not as part of the coloured chip) */
  lead: number;
  /** the visible body; whitespace-only tokens become visible marks */
  body: string;
  /** the body consists of marks for whitespace (drawn dimmer) */
  ws: boolean;
  /** how many line breaks follow the token */
  breaks: number;
}

/** Splits a token's display text into what the token view draws. */
export function tokenParts(text: string): TokenParts {
  if (/^\s+$/.test(text)) {
    const breaks = (text.match(/\n/g) ?? []).length;
    const body = text.replace(/\r/g, '').replace(/\n/g, '↵').replace(/\t/g, '→').replace(/ /g, '·');
    return { lead: 0, body: body || '·', ws: true, breaks };
  }
  const m = /^( +)/.exec(text);
  const lead = m ? m[1]!.length : 0;
  let body = text.slice(lead);
  let breaks = 0;
  if (/\n/.test(body)) {
    breaks = (body.match(/\n/g) ?? []).length;
    body = body.replace(/\n/g, '↵');
  }
  body = body.replace(/\t/g, '→');
  return { lead, body, ws: false, breaks };
}

/** A token inside a sentence of prose or a list: quotes that show its spaces. */
export function quoteToken(text: string): string {
  return '‹' + text.replace(/\n/g, '↵').replace(/\t/g, '→').replace(/ /g, '␣') + '›';
}

/** A top-k entry's text in a list: spaces made visible at the edges only. */
export function listToken(text: string): string {
  return text.replace(/\n/g, '↵').replace(/\t/g, '→').replace(/^ /, '␣').replace(/ $/, '␣') || '∅';
}
