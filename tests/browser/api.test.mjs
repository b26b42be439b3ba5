// The JSON API of docs/api.md, checked over HTTP: shapes, invariants and error codes.
// Runs against the mock by default and against the C server with LMD_URL (no browser needed).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { comparablePair, setUp } from './helpers.mjs';

const env = setUp({ browser: false });

const get = (path) => fetch(new URL(path, env.server.url));
const post = (path, body) => fetch(new URL(path, env.server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
const q = (o) => new URLSearchParams(o).toString();

async function expectError(res, status) {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}`);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  const body = await res.json();
  assert.equal(typeof body.error, 'string');
  assert.ok(body.error.length > 0);
  return body.error;
}

const isInt = (v) => Number.isInteger(v);
const isNum = (v) => typeof v === 'number' && Number.isFinite(v);

function checkInstance(inst, label) {
  const n = inst.tokens.length;
  assert.ok(n >= 1, `${label}: at least one token`);
  for (const t of inst.tokens) {
    assert.ok(isInt(t.id) && t.id >= 0);
    assert.equal(typeof t.text, 'string');
  }
  let k = null;
  for (const m of ['m1', 'm2']) {
    const s = inst[m];
    for (const f of ['prob', 'logprob', 'rank', 'entropy', 'topk']) assert.equal(s[f].length, n, `${label}: ${m}.${f} has N entries`);
    for (let t = 0; t < n; t++) {
      assert.ok(isNum(s.prob[t]) && s.prob[t] >= 0 && s.prob[t] <= 1);
      assert.ok(isNum(s.logprob[t]) && s.logprob[t] <= 1e-6);
      assert.ok(Math.abs(Math.exp(s.logprob[t]) - s.prob[t]) <= 1e-4 + 1e-3 * s.prob[t], `${label}: exp(logprob) = prob`);
      assert.ok(isInt(s.rank[t]) && s.rank[t] >= 1, `${label}: ranks are 1-based integers`);
      assert.ok(isNum(s.entropy[t]) && s.entropy[t] >= -1e-5);
      const top = s.topk[t];
      k ??= top.length;
      assert.equal(top.length, k, `${label}: every top-k list has k entries`);
      for (let i = 0; i < top.length; i++) {
        assert.ok(isInt(top[i].id) && typeof top[i].text === 'string' && isNum(top[i].prob));
        if (i) assert.ok(top[i - 1].prob > top[i].prob || (top[i - 1].prob === top[i].prob && top[i - 1].id < top[i].id), `${label}: top-k descending, ties by id`);
      }
      const at = top.findIndex((e) => e.id === inst.tokens[t].id);
      if (at >= 0) assert.equal(s.rank[t], at + 1, `${label}: a true token in the top-k has rank = its place`);
      else assert.ok(s.rank[t] > k, `${label}: a true token outside the top-k ranks below it`);
    }
  }
  const d = inst.diff;
  for (const f of ['prob', 'logprob', 'rank', 'rank_clamped', 'topk', 'entropy']) assert.equal(d[f].length, n, `${label}: diff.${f}`);
  for (let t = 0; t < n; t++) {
    const { m1, m2 } = inst;
    assert.ok(Math.abs(d.prob[t] - (m2.prob[t] - m1.prob[t])) <= 1e-6);
    assert.ok(Math.abs(d.logprob[t] - (m2.logprob[t] - m1.logprob[t])) <= 1e-6);
    assert.ok(Math.abs(d.entropy[t] - (m2.entropy[t] - m1.entropy[t])) <= 1e-5);
    assert.equal(d.rank[t], m2.rank[t] - m1.rank[t]);
    assert.equal(d.rank_clamped[t], Math.min(m2.rank[t], 50) - Math.min(m1.rank[t], 50));
    const ids2 = new Set(m2.topk[t].map((e) => e.id));
    assert.equal(d.topk[t], m1.topk[t].filter((e) => !ids2.has(e.id)).length);
  }
}

test('GET /api/models', async () => {
  const res = await get('api/models');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  const models = await res.json();
  assert.ok(Array.isArray(models) && models.length >= 2);
  for (const m of models) {
    assert.deepEqual(Object.keys(m).sort(), ['arch', 'group', 'id', 'name', 'scoring']);
    assert.ok(['causal', 'pseudo-likelihood'].includes(m.scoring), m.scoring);
    assert.match(m.group, /^[0-9a-f]{64}$/, 'group is the tokenizer hash');
  }
});

test('GET /api/datasets', async () => {
  const [a, b] = await comparablePair(env.server.url);
  const res = await get(`api/datasets?${q({ m1: a.id, m2: b.id })}`);
  assert.equal(res.status, 200);
  for (const d of await res.json()) {
    assert.equal(typeof d.id, 'string');
    assert.equal(typeof d.name, 'string');
    assert.ok(isInt(d.n_texts) && d.n_texts >= 0);
  }
  await expectError(await get(`api/datasets?${q({ m1: a.id })}`), 400);
  await expectError(await get(`api/datasets?${q({ m1: a.id, m2: 'no-such-model' })}`), 404);
});

test('POST /api/analyze', async () => {
  const [a, b] = await comparablePair(env.server.url);
  const text = 'Hello world.\nThe  cat sat on the mat.';
  const res = await post('api/analyze', { m1: a.id, m2: b.id, text });
  assert.equal(res.status, 200);
  const inst = await res.json();
  assert.equal(inst.text, text);
  checkInstance(inst, 'analyze');
  assert.equal(inst.tokens.map((t) => t.text).join(''), text, 'the tokens spell the text');
  // the same request twice gives the same numbers
  assert.deepEqual(await (await post('api/analyze', { m1: a.id, m2: b.id, text })).json(), inst);
});

test('POST /api/analyze errors', async () => {
  const [a, b, models] = await comparablePair(env.server.url);
  await expectError(await post('api/analyze', '{not json'), 400);
  await expectError(await post('api/analyze', '[1,2]'), 400);
  await expectError(await post('api/analyze', { m1: a.id, m2: b.id }), 400);
  await expectError(await post('api/analyze', { m1: a.id, m2: b.id, text: 5 }), 400);
  await expectError(await post('api/analyze', { m1: 'no-such-model', m2: b.id, text: 'x' }), 404);
  await expectError(await post('api/analyze', { m1: a.id, m2: b.id, text: '' }), 422);
  const other = models.find((m) => m.group !== a.group);
  if (other) {
    // different tokenizers: answered by segments (docs/cli.md), and an empty text is still 422
    const r = await post('api/analyze', { m1: a.id, m2: other.id, text: 'x y' });
    assert.equal(r.status, 200);
    assert.equal((await r.json()).mode, 'segments');
    await expectError(await post('api/analyze', { m1: a.id, m2: other.id, text: '' }), 422);
  }
  await expectError(await post('api/analyze', { m1: a.id, m2: b.id, text: 'word '.repeat(60000) }), 413);
  await expectError(await get('api/analyze'), 405);
  await expectError(await get('api/no-such-route'), 404);
});

test('GET /api/search', async (t) => {
  const [a, b] = await comparablePair(env.server.url);
  const datasets = await (await get(`api/datasets?${q({ m1: a.id, m2: b.id })}`)).json();
  if (!datasets.length) {
    t.skip('no dataset for this pair');
    return;
  }
  const ds = datasets[0];
  const base = { m1: a.id, m2: b.id, dataset: ds.id };
  const res = await get(`api/search?${q({ ...base, measure: 'avg_clamped_rank_diff', k: '7', bins: '12' })}`);
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.deepEqual(body.request, { ...base, measure: 'avg_clamped_rank_diff', order: 'abs', k: 7, bins: 12 });
  assert.equal(body.n_texts, ds.n_texts);
  const { counts, edges, marks } = body.histogram;
  assert.equal(counts.length, 12);
  assert.equal(edges.length, 13);
  assert.equal(marks.length, body.results.length);
  assert.ok(body.results.length <= 7);
  for (let i = 1; i < edges.length; i++) assert.ok(edges[i] > edges[i - 1]);
  const values = body.results.map((r) => r.value);
  for (let i = 1; i < values.length; i++) assert.ok(Math.abs(values[i - 1]) >= Math.abs(values[i]), 'order=abs: |value| descending');
  body.results.forEach((r, j) => {
    assert.ok(isInt(r.index) && r.index >= 0 && r.index < ds.n_texts);
    assert.equal(typeof r.text, 'string');
    assert.equal(r.value, r.measures.avg_clamped_rank_diff);
    assert.equal(Object.keys(r.measures).length, 53);
    assert.equal(r.measures.n_tokens, r.tokens.length);
    const bin = marks[j];
    assert.ok(r.value >= edges[bin] && (r.value < edges[bin + 1] || (bin === 11 && r.value <= edges[12])), 'marks[j] is the bin of results[j]');
    checkInstance(r, `result ${r.index}`);
  });
  // desc / asc
  const desc = await (await get(`api/search?${q({ ...base, measure: 'max_prob_diff', order: 'desc', k: '5' })}`)).json();
  for (let i = 1; i < desc.results.length; i++) assert.ok(desc.results[i - 1].value >= desc.results[i].value);
  const asc = await (await get(`api/search?${q({ ...base, measure: 'max_prob_diff', order: 'asc', k: '5' })}`)).json();
  for (let i = 1; i < asc.results.length; i++) assert.ok(asc.results[i - 1].value <= asc.results[i].value);
  // the histogram counts every text with a value
  const all = await (await get(`api/search?${q({ ...base, measure: 'n_tokens', k: '1', bins: '5' })}`)).json();
  assert.equal(all.histogram.counts.reduce((x, y) => x + y, 0), ds.n_texts);
  assert.ok(isInt(all.results[0].value));
  // errors
  await expectError(await get(`api/search?${q({ ...base })}`), 400);
  await expectError(await get(`api/search?${q({ ...base, measure: 'avg_rank_diff', k: 'ten' })}`), 400);
  await expectError(await get(`api/search?${q({ ...base, measure: 'no_such_measure' })}`), 422);
  await expectError(await get(`api/search?${q({ ...base, measure: 'avg_rank_diff', order: 'sideways' })}`), 422);
  await expectError(await get(`api/search?${q({ ...base, measure: 'avg_rank_diff', k: '0' })}`), 422);
  await expectError(await get(`api/search?${q({ ...base, measure: 'avg_rank_diff', bins: '201' })}`), 422);
  await expectError(await get(`api/search?${q({ ...base, dataset: 'no-such-dataset', measure: 'avg_rank_diff' })}`), 404);
});

test('static files', async () => {
  const res = await get('');
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/html/);
  const html = await res.text();
  const asset = /(?:src|href)="\.?\/?(assets\/[^"]+\.js)"/.exec(html);
  assert.ok(asset, 'index.html links its bundle');
  const js = await get(asset[1]);
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type'), /javascript/);
  assert.equal((await get('assets/..%2f..%2f..%2fetc%2fpasswd')).status, 404);
  assert.equal((await get('no-such-file.txt')).status, 404);
});
