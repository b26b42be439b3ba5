// Browser test 1: load the page, analyze a text, hover a token and check the tooltip's numbers
// against the API, pin a token, move with the keyboard, and reload the shared URL.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { comparablePair, newPage, setUp, shown } from './helpers.mjs';

const TEXT = 'The quick brown fox jumps over the lazy dog.\nIt was a good day,  said the model.';

const env = setUp();

async function analyzeApi(m1, m2, text) {
  const res = await fetch(new URL('api/analyze', env.server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ m1, m2, text }) });
  assert.equal(res.status, 200);
  return res.json();
}

/** Asserts a shown number matches the API's full-precision value to the shown precision. */
function near(label, text, want) {
  const got = shown(text);
  assert.ok(Number.isFinite(got), `${label}: cannot read "${text}"`);
  const tol = Math.max(5e-4 * Math.abs(want), 6e-5);
  assert.ok(Math.abs(got - want) <= tol, `${label}: shown ${text} but the API says ${want}`);
}

test('analyze a text, read the tooltip, pin a token, keyboard, reload', async () => {
  const [a, b] = await comparablePair(env.server.url);
  const { page, foreign, errors } = await newPage(env.browser.context, env.server.url);
  await page.goto(`${env.server.url}?m1=${encodeURIComponent(a.id)}&m2=${encodeURIComponent(b.id)}`);
  assert.equal(await page.title(), 'LMdiff');

  // pickers show the two models; the fonts are the bundled ones
  await page.waitForFunction(() => document.querySelector('[data-testid=model1]')?.value);
  assert.equal(await page.inputValue('[data-testid=model1]'), a.id);
  assert.equal(await page.inputValue('[data-testid=model2]'), b.id);

  await page.fill('[data-testid=text-input]', TEXT);
  const analyzeReq = page.waitForRequest((r) => r.url().endsWith('/api/analyze') && r.method() === 'POST');
  await page.click('[data-testid=analyze]');
  assert.deepEqual(JSON.parse((await analyzeReq).postData()), { m1: a.id, m2: b.id, text: TEXT });
  await page.waitForSelector('.tok');
  const want = await analyzeApi(a.id, b.id, TEXT);
  const n = want.tokens.length;
  assert.equal(await page.locator('.tok').count(), n, 'one element per token');

  // newlines are drawn visibly (↵) and break the line
  if (want.tokens.some((t) => t.text.includes('\n'))) {
    assert.ok((await page.locator('.tok.ws').allTextContents()).some((s) => s.includes('↵')), 'newline token shows ↵');
    assert.ok((await page.locator('[data-testid=tokens] br').count()) >= 1);
  }

  // hover a token: the tooltip shows the API's numbers
  const t = Math.min(3, n - 1);
  await page.locator('.tok').nth(t).hover();
  const tip = page.locator('[data-testid=tooltip]');
  await tip.waitFor({ state: 'visible' });
  const cell = (k) => tip.locator(`[data-k=${k}]`).textContent();
  near('prob m1', await cell('prob1'), want.m1.prob[t]);
  near('prob m2', await cell('prob2'), want.m2.prob[t]);
  near('logprob m1', await cell('logprob1'), want.m1.logprob[t]);
  near('logprob m2', await cell('logprob2'), want.m2.logprob[t]);
  near('prob diff', await cell('dprob'), want.diff.prob[t]);
  near('logprob diff', await cell('dlogprob'), want.diff.logprob[t]);
  near('entropy m1', await cell('entropy1'), want.m1.entropy[t]);
  assert.equal(shown(await cell('rank1')), want.m1.rank[t]);
  assert.equal(shown(await cell('rank2')), want.m2.rank[t]);
  assert.equal(shown(await cell('drank')), want.diff.rank[t]);
  assert.equal(shown(await cell('drank_clamped')), want.diff.rank_clamped[t]);
  assert.equal(shown(await cell('dtopk')), want.diff.topk[t]);
  // both top-k lists, the true token in bold where it is in the list
  for (const m of [1, 2]) {
    const list = tip.locator(`[data-testid=topk${m}] li`);
    const k = want[`m${m}`].topk[t].length;
    assert.equal(await list.count(), k);
    near(`top-1 prob m${m}`, await list.nth(0).locator('.p').textContent(), want[`m${m}`].topk[t][0].prob);
    const inList = want[`m${m}`].topk[t].some((e) => e.id === want.tokens[t].id);
    assert.equal(await tip.locator(`[data-testid=topk${m}] li.is-true`).count(), inList ? 1 : 0);
    if (inList) {
      const weight = await tip.locator(`[data-testid=topk${m}] li.is-true`).evaluate((el) => getComputedStyle(el).fontWeight);
      assert.ok(Number(weight) >= 600, 'true token is bold');
    }
  }

  // pin it: a card appears, the token and the URL say so
  await page.locator('.tok').nth(t).click();
  await page.waitForSelector(`[data-testid=pin-card][data-i="${t}"]`);
  assert.ok(await page.locator('.tok').nth(t).evaluate((el) => el.classList.contains('pinned')));
  await page.waitForFunction((i) => new URL(location.href).searchParams.get('pins') === String(i), t);
  near('card prob m1', await page.locator(`[data-testid=pin-card][data-i="${t}"] [data-k=prob1]`).textContent(), want.m1.prob[t]);

  // the colour measure is in the URL too
  await page.click('[data-mode=prob_diff]');
  await page.waitForFunction(() => new URL(location.href).searchParams.get('mode') === 'prob_diff');

  // reload the shared URL: same text, same pin, same measure
  const url = page.url();
  assert.equal(new URL(url).searchParams.get('text'), TEXT);
  await page.goto(url);
  await page.waitForSelector(`[data-testid=pin-card][data-i="${t}"]`);
  assert.equal(await page.locator('.tok').count(), n);
  assert.equal(await page.locator('[data-mode=prob_diff]').getAttribute('aria-checked'), 'true');

  // keyboard: focus the tokens, arrows move the highlighted token and its tooltip
  await page.mouse.move(0, 0);
  await page.focus('[data-testid=tokens]');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowRight');
  assert.equal(await page.locator('.tok.hot').getAttribute('data-i'), '2');
  await tip.waitFor({ state: 'visible' });
  near('prob m1 via keyboard', await tip.locator('[data-k=prob1]').textContent(), want.m1.prob[2]);
  await page.keyboard.press('ArrowLeft');
  assert.equal(await page.locator('.tok.hot').getAttribute('data-i'), '1');
  await page.keyboard.press('Enter');
  await page.waitForSelector('[data-testid=pin-card][data-i="1"]');

  // offline: bundled fonts, nothing fetched from anywhere else
  assert.ok(await page.evaluate(async () => (await document.fonts.load('14px "IBM Plex Sans"')).length > 0), 'IBM Plex Sans is bundled');
  assert.deepEqual(foreign, [], 'no request left the server');
  assert.deepEqual(errors, [], 'no script errors');
  await page.close();
});

test('KL colour mode: asked for only when chosen, greys by class, tooltip in nats, in the URL', async () => {
  const [a, b] = await comparablePair(env.server.url);
  const { page, errors } = await newPage(env.browser.context, env.server.url);
  await page.goto(`${env.server.url}?m1=${encodeURIComponent(a.id)}&m2=${encodeURIComponent(b.id)}`);
  await page.waitForFunction(() => document.querySelector('[data-testid=model1]')?.value);
  await page.fill('[data-testid=text-input]', TEXT);
  await page.click('[data-testid=analyze]');
  await page.waitForSelector('.tok');
  // choosing KL runs the text again with "kl": true (the KL costs a second run of both models)
  const klReq = page.waitForRequest((r) => r.url().endsWith('/api/analyze') && r.method() === 'POST');
  await page.click('[data-mode=kl]');
  assert.deepEqual(JSON.parse((await klReq).postData()), { m1: a.id, m2: b.id, text: TEXT, kl: true });
  const res = await fetch(new URL('api/analyze', env.server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ m1: a.id, m2: b.id, text: TEXT, kl: true }) });
  const want = await res.json();
  const n = want.tokens.length;
  assert.equal(want.kl.length, n);
  assert.ok(want.kl.every((x) => x >= 0) && want.kl_max === Math.max(...want.kl));
  await page.waitForFunction(() => new URL(location.href).searchParams.get('mode') === 'kl');
  await page.waitForFunction((n) => [...document.querySelectorAll('.legend .lcount')].reduce((s, e) => s + Number(e.textContent || 0), 0) === n, n);

  // each token's colour is its class's grey: bounds .001, .01, .1, 1 nats
  const greys = ['rgb(255, 255, 255)', 'rgb(235, 235, 236)', 'rgb(207, 208, 212)', 'rgb(169, 171, 179)', 'rgb(125, 128, 140)'];
  const cls = (v) => [0.001, 0.01, 0.1, 1].filter((x) => v >= x).length;
  const bgs = await page.locator('.tok').evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
  assert.deepEqual(bgs, want.kl.map((v) => greys[cls(v)]));

  // the tooltip gives the token's KL in nats
  const t = want.kl.indexOf(want.kl_max);
  await page.locator('.tok').nth(t).hover();
  const tip = page.locator('[data-testid=tooltip]');
  await tip.waitFor({ state: 'visible' });
  near('kl', await tip.locator('[data-k=kl]').textContent(), want.kl[t]);

  // a reload of the shared URL asks for the KL again
  const again = page.waitForRequest((r) => r.url().endsWith('/api/analyze') && r.method() === 'POST');
  await page.goto(page.url());
  assert.equal(JSON.parse((await again).postData()).kl, true);
  await page.waitForSelector('.tok');
  assert.equal(await page.locator('[data-mode=kl]').getAttribute('aria-checked'), 'true');
  assert.deepEqual(errors, [], 'no script errors');
  await page.close();
});
