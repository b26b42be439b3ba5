// Browser test: the page of `lmdiff diff --html` (one self-contained file) in headless Chromium.
// It loads from file:// with every other request refused and recorded (none may happen), shows
// one coloured span per token with both models' probabilities in its hover box, and the
// per-token table; the numbers are those of `lmdiff diff --json` for the same text.
// Run by tests/cli/diff_html.sh, which writes the page (LMD_DIFF_HTML) and the JSON
// (LMD_DIFF_JSON); skipped when they are not given (e.g. in the web app's own runs).

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { setUp } from './helpers.mjs';

const htmlPath = process.env.LMD_DIFF_HTML;
const jsonPath = process.env.LMD_DIFF_JSON;
const skip = !htmlPath || !jsonPath ? 'LMD_DIFF_HTML/LMD_DIFF_JSON not set (tests/cli/diff_html.sh sets them)' : false;

const env = setUp({ server: false, browser: !skip && { width: 1200, height: 900 } });

test('the diff page: self-contained, coloured tokens, hover, table', { skip }, async () => {
  const doc = JSON.parse(readFileSync(jsonPath, 'utf8'));
  const url = pathToFileURL(htmlPath).href;
  const page = await env.browser.context.newPage();
  const foreign = [];
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (u === url) return route.continue();
    foreign.push(u);
    return route.abort();
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  const spans = page.locator('.text .t');
  const n = doc.tokens.length;
  assert.equal(await spans.count(), n, 'one span per token');
  // every span has a background; a token where model 2 is better (logprob diff > 0) is bluish
  const bgs = await spans.evaluateAll((els) => els.map((e) => getComputedStyle(e).backgroundColor));
  const rgb = (s) => s.match(/\d+/g).map(Number);
  let checked = 0;
  doc.diff.logprob.forEach((d, i) => {
    const [r, , b] = rgb(bgs[i]);
    if (Math.abs(d) < 1e-3) return;
    assert.ok(d > 0 ? b > r : r > b, `token ${i}: diff ${d} but background ${bgs[i]}`);
    checked++;
  });
  assert.ok(checked > 0, 'some tokens differ');
  // hover: the box (CSS ::after) shows both probabilities and ranks
  const i = 1;
  await spans.nth(i).hover();
  const tip = await spans.nth(i).evaluate((e) => getComputedStyle(e, '::after').content);
  const p1 = Number(doc.m1.prob[i]).toPrecision(4).replace(/\.?0+$/, '');
  assert.match(tip, new RegExp(`p1 ${p1.replace('.', '\\.')}`), `hover box: ${tip}`);
  assert.match(tip, new RegExp(`rank ${doc.m1.rank[i]}`));
  assert.match(tip, new RegExp(`rank ${doc.m2.rank[i]}`));
  const box = await spans.nth(i).evaluate((e) => getComputedStyle(e, '::after').display);
  assert.notEqual(box, 'none');
  // the table: one row per token, r1 and r2 as in the JSON
  const rows = page.locator('table.tokens tbody tr');
  assert.equal(await rows.count(), n);
  const r = await rows.nth(n - 1).locator('td').allTextContents();
  assert.equal(Number(r[4]), doc.m1.rank[n - 1]);
  assert.equal(Number(r[5]), doc.m2.rank[n - 1]);
  assert.equal(await page.locator('svg.legend').count(), 1);
  assert.deepEqual(foreign, [], 'no request leaves the file');
  assert.deepEqual(errors, []);
  await page.close();
});
