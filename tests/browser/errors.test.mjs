// Browser test 3: errors are shown, and the button comes back (the original stayed
// "processing" forever). A real error from the server (413: text too large), a 500 and a
// dropped connection (both injected in the browser, so this works against any server).
// (Models with different tokenizers are compared by segments: segments.test.mjs.)

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { comparablePair, newPage, setUp } from './helpers.mjs';

const env = setUp();

async function openPage() {
  const [a, b, models] = await comparablePair(env.server.url);
  const ctx = await newPage(env.browser.context, env.server.url);
  await ctx.page.goto(`${env.server.url}?m1=${encodeURIComponent(a.id)}&m2=${encodeURIComponent(b.id)}`);
  await ctx.page.waitForSelector('[data-testid=analyze]:not([disabled])');
  return { ...ctx, a, b, models };
}

const errorBox = (page) => page.locator('[data-testid=analyze-error]');
const button = (page) => page.locator('[data-testid=analyze]');

test('a text over the size limit: the server says 413, the page shows it', async () => {
  const { page } = await openPage();
  await page.fill('[data-testid=text-input]', 'lorem ipsum '.repeat(25000)); // 300 000 bytes
  await page.click('[data-testid=analyze]');
  await errorBox(page).waitFor({ timeout: 60000 });
  assert.match(await errorBox(page).textContent(), /413/);
  assert.equal(await button(page).isDisabled(), false, 'the button is enabled again');
  assert.equal(await button(page).textContent(), 'Analyze');
  // fixing the text clears the error
  await page.fill('[data-testid=text-input]', 'A short text.');
  await page.click('[data-testid=analyze]');
  await page.waitForSelector('.tok');
  assert.equal(await errorBox(page).count(), 0);
  await page.close();
});

test('a 500 and a dropped connection are shown; a retry works', async () => {
  const { page } = await openPage();
  await page.route('**/api/analyze', (route) =>
    route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: 'the model failed: out of memory' }) }),
  );
  await page.fill('[data-testid=text-input]', 'Hello there.');
  await page.click('[data-testid=analyze]');
  await errorBox(page).waitFor();
  const text = await errorBox(page).textContent();
  assert.match(text, /500/);
  assert.match(text, /the model failed: out of memory/);
  assert.equal(await button(page).isDisabled(), false);
  assert.equal(await page.locator('.progress').isHidden(), true, 'no progress bar left running');

  await page.unroute('**/api/analyze');
  await page.route('**/api/analyze', (route) => route.abort('connectionreset'));
  await page.click('[data-testid=analyze]');
  await page.waitForFunction(() => /no reply/.test(document.querySelector('[data-testid=analyze-error]')?.textContent ?? ''));
  assert.equal(await button(page).isDisabled(), false);

  await page.unroute('**/api/analyze');
  await page.click('[data-testid=analyze]');
  await page.waitForSelector('.tok');
  assert.equal(await errorBox(page).count(), 0, 'the error goes away on success');
  await page.close();
});

test('an empty text cannot be sent; a search error is shown in its panel', async () => {
  const { page } = await openPage();
  await page.fill('[data-testid=text-input]', '');
  assert.equal(await button(page).isDisabled(), true);
  // the server answers 422 for an empty text all the same
  const res = await fetch(new URL('api/analyze', env.server.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ m1: 'x', m2: 'y', text: '' }) });
  assert.ok([404, 422].includes(res.status));
  assert.equal(typeof (await res.json()).error, 'string');

  if ((await page.locator('[data-testid=dataset] option').count()) > 0) {
    await page.route('**/api/search**', (route) => route.fulfill({ status: 422, contentType: 'application/json', body: JSON.stringify({ error: 'unknown measure "x"' }) }));
    await page.click('[data-testid=search]');
    const box = page.locator('[data-testid=search-error]');
    await box.waitFor();
    assert.match(await box.textContent(), /422.*unknown measure/);
    assert.equal(await page.locator('[data-testid=search]').isDisabled(), false);
  }
  await page.close();
});
