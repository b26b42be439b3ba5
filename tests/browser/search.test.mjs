// Browser test 2: search a dataset, check the histogram and the list against the API, click a
// result and see its tokens at once (from the caches, no live analysis), reload its URL.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { comparablePair, newPage, setUp, shown } from './helpers.mjs';

const env = setUp();

/** A comparable pair and the first dataset preprocessed for it (null: none). */
async function pairWithDataset() {
  const [a, b] = await comparablePair(env.server.url);
  const q = new URLSearchParams({ m1: a.id, m2: b.id });
  const datasets = await (await fetch(new URL(`api/datasets?${q}`, env.server.url))).json();
  return [a, b, datasets[0] ?? null];
}

test('search a dataset, open a result, reload it', async (t) => {
  const [a, b, ds] = await pairWithDataset();
  if (!ds) return t.skip(`no dataset is preprocessed for ${a.id} and ${b.id}`);
  const { page, foreign, errors } = await newPage(env.browser.context, env.server.url);
  const analyzeCalls = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/analyze')) analyzeCalls.push(r.url());
  });
  await page.goto(`${env.server.url}?m1=${encodeURIComponent(a.id)}&m2=${encodeURIComponent(b.id)}`);
  await page.waitForSelector(`[data-testid=dataset] option[value="${ds.id}"]`, { state: 'attached' });
  await page.selectOption('[data-testid=dataset]', ds.id);
  await page.selectOption('[data-testid=measure]', 'avg_rank_diff');
  await page.click('[data-testid=search]');
  await page.waitForSelector('[data-testid=result]', { timeout: 60000 });

  const q = new URLSearchParams({ m1: a.id, m2: b.id, dataset: ds.id, measure: 'avg_rank_diff', order: 'abs', k: '50', bins: '30' });
  const want = await (await fetch(new URL(`api/search?${q}`, env.server.url))).json();
  assert.equal(await page.locator('[data-testid=result]').count(), want.results.length);
  assert.equal(await page.locator('.corpus-hist rect.bar').count(), want.histogram.counts.length, 'one bar per bin');
  assert.equal(await page.locator('.corpus-hist line.stripe').count(), want.results.length, 'one stripe per result');

  // stripes line up with the bars: each stripe lies inside the bar of its bin (marks)
  const bars = await page.locator('.corpus-hist rect.bar').evaluateAll((els) => els.map((e) => [Number(e.getAttribute('x')), Number(e.getAttribute('width'))]));
  const stripes = await page.locator('.corpus-hist line.stripe').evaluateAll((els) => els.map((e) => Number(e.getAttribute('x1'))));
  stripes.forEach((x, j) => {
    const [bx, bw] = bars[want.histogram.marks[j]];
    assert.ok(x >= bx - 1.01 && x <= bx + bw + 1.01, `stripe ${j} at ${x} is outside its bar [${bx}, ${bx + bw}]`);
  });

  // the list: the value of each row, coloured by sign (rank diff > 0: model 1 better, red)
  const first = page.locator('[data-testid=result]').first();
  assert.ok(Math.abs(shown(await first.locator('.result-value').textContent()) - want.results[0].value) <= 0.01 * Math.max(1, Math.abs(want.results[0].value)));
  const sign = await first.locator('.sign').evaluate((el) => getComputedStyle(el).backgroundColor);
  const v0 = want.results[0].value;
  assert.equal(sign, v0 > 0 ? 'rgb(214, 96, 77)' : v0 < 0 ? 'rgb(67, 147, 195)' : 'rgb(180, 182, 192)');

  // click a result: its tokens appear at once, with the cached numbers, and no analyze call
  const j = Math.min(2, want.results.length - 1);
  const r = want.results[j];
  await page.locator('[data-testid=result]').nth(j).click();
  await page.waitForSelector('.tok');
  assert.equal(await page.locator('.tok').count(), r.tokens.length);
  assert.match(await page.locator('[data-testid=source]').textContent(), new RegExp(`#${r.index}\\b`));
  assert.equal(await page.inputValue('[data-testid=text-input]'), r.text, 'the text box holds the text');
  await page.locator('.tok').nth(0).hover();
  const tip = page.locator('[data-testid=tooltip]');
  await tip.waitFor({ state: 'visible' });
  assert.equal(shown(await tip.locator('[data-k=rank1]').textContent()), r.m1.rank[0]);
  assert.equal(shown(await tip.locator('[data-k=rank2]').textContent()), r.m2.rank[0]);
  assert.deepEqual(analyzeCalls, [], 'a search result is shown without running the models');

  // the URL names the dataset text; reloading it shows the same text again
  await page.waitForFunction((i) => new URL(location.href).searchParams.get('i') === String(i), r.index);
  const url = new URL(page.url());
  assert.equal(url.searchParams.get('ds'), ds.id);
  assert.equal(url.searchParams.get('measure'), 'avg_rank_diff');
  await page.goto(url.href);
  await page.waitForSelector('.tok', { timeout: 60000 });
  assert.equal(await page.locator('.tok').count(), r.tokens.length);
  assert.equal(await page.locator('[data-testid=result].selected').getAttribute('data-index'), String(r.index));
  assert.deepEqual(foreign, []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('search by mean KL, open a result in the KL colour mode from the cached kl', async (t) => {
  const [a, b, ds] = await pairWithDataset();
  if (!ds) return t.skip(`no dataset is preprocessed for ${a.id} and ${b.id}`);
  const q = new URLSearchParams({ m1: a.id, m2: b.id, dataset: ds.id, measure: 'avg_kl', order: 'desc', k: '50', bins: '30' });
  const want = await (await fetch(new URL(`api/search?${q}`, env.server.url))).json();
  if (!want.results[0]?.kl) {
    t.skip('this dataset was preprocessed without the KL pass');
    return;
  }
  const r0 = want.results[0];
  assert.equal(r0.kl.length, r0.tokens.length);
  assert.ok(Math.abs(r0.kl.reduce((s, x) => s + x, 0) / r0.kl.length - r0.value) <= 1e-6 * r0.value, 'avg_kl is the mean of the per-token kl');
  const { page, errors } = await newPage(env.browser.context, env.server.url);
  const analyzeCalls = [];
  page.on('request', (r) => {
    if (r.url().includes('/api/analyze')) analyzeCalls.push(r.url());
  });
  await page.goto(`${env.server.url}?m1=${encodeURIComponent(a.id)}&m2=${encodeURIComponent(b.id)}&mode=kl`);
  await page.waitForSelector(`[data-testid=dataset] option[value="${ds.id}"]`, { state: 'attached' });
  await page.selectOption('[data-testid=dataset]', ds.id);
  await page.selectOption('[data-testid=measure]', 'avg_kl');
  await page.selectOption('[data-testid=order]', 'desc');
  await page.click('[data-testid=search]');
  // the list of this search, not of one the page ran before the measure was chosen
  const firstIs = (i) => document.querySelector('[data-testid=result]')?.getAttribute('data-index') === String(i);
  await page.waitForFunction(firstIs, r0.index, { timeout: 60000 });
  await page.locator('[data-testid=result]').first().click();
  await page.waitForSelector('.tok');
  const greys = ['rgb(255, 255, 255)', 'rgb(235, 235, 236)', 'rgb(207, 208, 212)', 'rgb(169, 171, 179)', 'rgb(125, 128, 140)'];
  const cls = (v) => [0.001, 0.01, 0.1, 1].filter((x) => v >= x).length;
  const bgs = await page.locator('.tok').evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
  assert.deepEqual(bgs, r0.kl.map((v) => greys[cls(v)]));
  assert.deepEqual(analyzeCalls, [], 'the kl came with the results: no live analysis');
  assert.deepEqual(errors, [], 'no script errors');
  await page.close();
});

/** A pair of one tokenizer with a dataset that has no KL ("kl": false) and one that has it (or
 * null), from /api/datasets; null when the server has no dataset without KL. */
async function datasetsWithoutKl() {
  const models = await (await fetch(new URL('api/models', env.server.url))).json();
  for (const a of models)
    for (const b of models) {
      if (a === b || a.group !== b.group) continue;
      const q = new URLSearchParams({ m1: a.id, m2: b.id });
      const list = await (await fetch(new URL(`api/datasets?${q}`, env.server.url))).json();
      const none = list.find((d) => d.kl === false);
      if (none) return { a, b, none, has: list.find((d) => d.kl === true) ?? null };
    }
  return null;
}

test('a dataset without KL: the KL measures are off with a reason; KL colouring is computed live and says so', async (t) => {
  const found = await datasetsWithoutKl();
  if (!found) return t.skip('every dataset of this server has KL');
  const { a, b, none, has } = found;
  const { page, errors } = await newPage(env.browser.context, env.server.url);
  const klCalls = [];
  page.on('request', (r) => {
    if (r.url().endsWith('/api/analyze') && r.method() === 'POST') klCalls.push(JSON.parse(r.postData()).kl === true);
  });
  // a link asks for a KL measure: on the dataset without KL the app falls back to the default
  await page.goto(`${env.server.url}?m1=${encodeURIComponent(a.id)}&m2=${encodeURIComponent(b.id)}&mode=kl&measure=avg_kl&ds_pick=${encodeURIComponent(none.id)}`);
  await page.waitForSelector(`[data-testid=dataset] option[value="${none.id}"]`, { state: 'attached' });
  await page.selectOption('[data-testid=dataset]', none.id);
  const reason = page.locator('[data-testid=no-kl]');
  await reason.waitFor();
  assert.match(await reason.textContent(), /no KL/i);
  const klOff = () => page.locator('[data-testid=measure] option[value=avg_kl]').evaluate((o) => o.matches(':disabled'));
  assert.equal(await klOff(), true, 'avg_kl cannot be chosen');
  assert.notEqual(await page.inputValue('[data-testid=measure]'), 'avg_kl');
  if (has) {
    // the flag is the dataset's: one with KL offers the KL measures again, without the note
    await page.selectOption('[data-testid=dataset]', has.id);
    await reason.waitFor({ state: 'detached' });
    assert.equal(await klOff(), false);
    await page.selectOption('[data-testid=dataset]', none.id);
    await reason.waitFor();
  }
  // KL colouring of a result: /api/analyze computes it now, and the page says so
  await page.click('[data-testid=search]');
  await page.waitForSelector('[data-testid=result]', { timeout: 60000 });
  await page.locator('[data-testid=result]').first().click();
  const notice = page.locator('[data-testid=notice]');
  await notice.waitFor({ timeout: 60000 });
  assert.match(await notice.textContent(), /no precomputed KL/);
  assert.deepEqual(klCalls, [true], 'one live analysis, with "kl": true');
  await page.waitForSelector('.tok');
  const text = await page.inputValue('[data-testid=text-input]');
  const body = JSON.stringify({ m1: a.id, m2: b.id, text, kl: true });
  const want = await (await fetch(new URL('api/analyze', env.server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body })).json();
  const greys = ['rgb(255, 255, 255)', 'rgb(235, 235, 236)', 'rgb(207, 208, 212)', 'rgb(169, 171, 179)', 'rgb(125, 128, 140)'];
  const cls = (v) => [0.001, 0.01, 0.1, 1].filter((x) => v >= x).length;
  const bgs = await page.locator('.tok').evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
  assert.deepEqual(bgs, want.kl.map((v) => greys[cls(v)]), 'tokens coloured by the live KL');
  assert.deepEqual(errors, [], 'no script errors');
  await page.close();
});
