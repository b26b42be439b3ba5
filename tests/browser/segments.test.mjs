// Browser test: two models with different tokenizers (issue #15). The pickers allow the pair, a
// note says it is compared by segments, Analyze runs, the instance view draws the segments
// (their texts join to the text, one per segment of the API's answer) with a step plot, and the
// tooltip of a segment lists both models' own tokens in it; with a preprocessed corpus of such a
// pair, the search view ranks its texts by bits per byte and a result opens as segments. Skipped
// when the server has no two models with different tokenizers (the C server of
// tests/cli/server.sh) or no such corpus; tests/cli/xtok.sh and xtok_corpus.sh run it against a
// real `lmdiff serve` with a causal and a masked model.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newPage, setUp } from './helpers.mjs';

const env = setUp();

const TEXT = 'The cat sat on the mat, naïvely.';
// (byte-level tokenizers cut ï between its two bytes: the placeholder case)

test('models with different tokenizers: analyzed by segments, tooltips list both models’ tokens', async (t) => {
  const models = await (await fetch(new URL('api/models', env.server.url))).json();
  const a = models[0];
  const b = models.find((m) => m.group !== a.group);
  if (!b) {
    t.skip('all models of this server share one tokenizer');
    return;
  }
  const { page, errors, foreign } = await newPage(env.browser.context, env.server.url);
  await page.goto(`${env.server.url}?m1=${encodeURIComponent(a.id)}&m2=${encodeURIComponent(b.id)}`);
  const note = page.locator('[data-testid=tokenizer-warning]');
  await note.waitFor();
  assert.match(await note.textContent(), /compared by segments/);
  await page.fill('[data-testid=text-input]', TEXT);
  await page.waitForSelector('[data-testid=analyze]:not([disabled])');
  const answer = page.waitForResponse((r) => r.url().endsWith('/api/analyze'));
  await page.click('[data-testid=analyze]');
  const doc = await (await answer).json();
  assert.equal(doc.mode, 'segments');
  await page.waitForSelector('[data-testid=segments-view]:not([hidden])');
  const segs = page.locator('[data-testid=segment]');
  const n = doc.segments.start.length;
  assert.ok(n > 1);
  assert.equal(await segs.count(), n);
  // (a segment of bytes inside one character shows a placeholder: the character is in the one before)
  const shownText = await page.locator('[data-testid=segment]:not([data-cont])').allTextContents();
  assert.equal(shownText.join(''), TEXT, 'the segments join to the text');
  assert.equal(await page.locator('[data-testid=segment-plot] path').count(), 2, 'one step line per model');
  assert.match(await page.locator('[data-testid=segment-stats]').textContent(), /bits per byte/);
  if (!doc.comparable) assert.match(await page.locator('[data-testid=segment-note]').textContent(), /not the same quantity/);
  // the tooltip of the segment with the most tokens lists them all, for both models
  let j = 0;
  const size = (k) => doc.segments.m1_tokens[k][1] - doc.segments.m1_tokens[k][0] + doc.segments.m2_tokens[k][1] - doc.segments.m2_tokens[k][0];
  for (let k = 1; k < n; k++) if (size(k) > size(j)) j = k;
  await segs.nth(j).hover();
  const tip = page.locator('[data-testid=segment-tip]');
  await tip.waitFor();
  const rows = await tip.locator('table').evaluateAll((ts) => ts.map((x) => x.querySelectorAll('tr').length - 1));
  const [r1, r2] = [doc.segments.m1_tokens[j], doc.segments.m2_tokens[j]];
  assert.deepEqual(rows, [r1[1] - r1[0], r2[1] - r2[0]]);
  assert.match(await tip.textContent(), new RegExp(a.name.replace(/[()]/g, '.')));
  assert.match(await tip.textContent(), new RegExp(b.name.replace(/[()]/g, '.')));
  assert.deepEqual(errors, []);
  assert.deepEqual(foreign, []);
  await page.close();
});

test('a corpus of models with different tokenizers: searched by bits per byte, a result opens as segments', async (t) => {
  const models = await (await fetch(new URL('api/models', env.server.url))).json();
  const a = models[0];
  const b = models.find((m) => m.group !== a.group);
  const q = b && new URLSearchParams({ m1: a.id, m2: b.id });
  const datasets = b ? await (await fetch(new URL(`api/datasets?${q}`, env.server.url))).json() : [];
  if (!datasets.length) {
    t.skip('no corpus preprocessed for a pair with different tokenizers');
    return;
  }
  const { page, errors, foreign } = await newPage(env.browser.context, env.server.url);
  await page.goto(`${env.server.url}?${q}`);
  await page.waitForSelector('[data-testid=search]:not([disabled])');
  assert.equal(await page.locator('[data-testid=measure]').inputValue(), 'bpb_diff', 'the default measure of such a pair');
  const answer = page.waitForResponse((r) => r.url().includes('/api/search'));
  await page.click('[data-testid=search]');
  const res = await (await answer).json();
  assert.equal(res.request.measure, 'bpb_diff');
  assert.ok(res.results.length > 0);
  const items = page.locator('[data-testid=result]');
  await items.first().waitFor();
  assert.equal(await items.count(), res.results.length);
  assert.match(await items.first().textContent(), /bytes/);
  const analyzed = page.waitForResponse((r) => r.url().endsWith('/api/analyze'));
  await items.first().click();
  const resp = await analyzed;
  assert.equal(JSON.parse(resp.request().postData()).text, res.results[0].text, 'the text of the result');
  const doc = await resp.json();
  assert.equal(doc.mode, 'segments');
  await page.waitForSelector('[data-testid=segments-view]:not([hidden])');
  assert.equal(await page.locator('[data-testid=segment]').count(), doc.segments.start.length);
  assert.deepEqual(errors, []);
  assert.deepEqual(foreign, []);
  await page.close();
});
