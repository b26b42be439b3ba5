// api.ts - the client of docs/api.md. Same origin: the API lives at <page dir>/api/.

import type { AnalyzeResult, Dataset, Model, SearchRequest, SearchResponse, SegmentsInstance } from './types';

export const isSegments = (r: AnalyzeResult): r is SegmentsInstance => (r as SegmentsInstance).mode === 'segments';

export class ApiError extends Error {
  /** HTTP status, or 0 when no answer came (network down, aborted, not JSON). */
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.name = 'ApiError';
  }
  /** "422 · text is empty" */
  get display(): string {
    return this.status ? `${this.status} · ${this.message}` : this.message;
  }
}

const base = new URL('api/', document.baseURI);

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL(path, base), { ...init, headers: { Accept: 'application/json', ...init?.headers } });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, `cannot reach the server (${(e as Error).message})`);
  }
  const body = await res.text();
  let json: unknown = undefined;
  try {
    json = body ? JSON.parse(body) : undefined;
  } catch {
    /* not JSON: handled below */
  }
  if (!res.ok) {
    const msg =
      json && typeof json === 'object' && typeof (json as { error?: unknown }).error === 'string'
        ? (json as { error: string }).error
        : res.statusText || 'request failed';
    throw new ApiError(res.status, msg);
  }
  if (json === undefined) throw new ApiError(res.status, 'the server sent a reply that is not JSON');
  return json as T;
}

const qs = (o: Record<string, string | number>) =>
  Object.entries(o)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join('&');

export const api = {
  models: () => call<Model[]>('models'),
  datasets: (m1: string, m2: string, signal?: AbortSignal) =>
    call<Dataset[]>(`datasets?${qs({ m1, m2 })}`, { signal }),
  /** kl: also KL(P₁‖P₂) per token (one tokenizer only; it costs a second run of both models) */
  analyze: (m1: string, m2: string, text: string, kl: boolean, signal?: AbortSignal) =>
    call<AnalyzeResult>('analyze', {
      method: 'POST',
      body: JSON.stringify(kl ? { m1, m2, text, kl } : { m1, m2, text }),
      headers: { 'Content-Type': 'application/json' },
      signal,
    }),
  search: (r: SearchRequest, signal?: AbortSignal) =>
    call<SearchResponse>(`search?${qs({ ...r })}`, { signal }),
};
