// screenshots.mjs - takes the README screenshots from the mock (or LMD_URL):
//   node scripts/screenshots.mjs [outdir]     (default ../docs/img)
// Writes web-instance.png and web-search.png.
// With LMD_SHOTS=FILE.json (a list of {"file", "query", "width"?, "height"?, "wait"?,
// "hover"?, "clip"?}) it takes those instead: each page is the app opened at ?query (a shared
// link, e.g. m1=&m2=&ds=&i=&measure=&mode=), shot once its tokens are drawn; "hover": token
// index whose tooltip shows, "clip": {x, y, width, height} of the page to keep.  This is how
// docs/case-studies.md's screenshots are made (against the real server, LMD_URL).

import { mkdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { comparablePair, launch, newPage, startServer } from '../../tests/browser/helpers.mjs';

const out = resolve(process.argv[2] ?? '../docs/img');
mkdirSync(out, { recursive: true });
const server = await startServer();
let browser = null;
if (process.env.LMD_SHOTS) {
  try {
    const shots = JSON.parse(readFileSync(process.env.LMD_SHOTS, 'utf8'));
    for (const shot of shots) {
      browser = await launch({ width: shot.width ?? 1280, height: shot.height ?? 860 });
      const { page } = await newPage(browser.context, server.url);
      await page.goto(`${server.url}?${shot.query}`);
      await page.waitForSelector('[data-testid=result]', { timeout: 60000 });
      await page.waitForSelector(shot.wait ?? '.tok', { timeout: 60000 }); // segments: [data-testid=segment]
      await page.waitForTimeout(400);
      if (shot.hover !== undefined) {
        await page.locator('.tok').nth(shot.hover).hover();
        await page.waitForSelector('[data-testid=tooltip]', { state: 'visible' });
      }
      await page.screenshot({ path: `${out}/${shot.file}`, clip: shot.clip });
      console.log(`wrote ${out}/${shot.file}`);
      await browser.close();
      browser = null;
    }
  } finally {
    await browser?.close();
    await server.stop();
  }
  process.exit(0);
}
try {
  browser = await launch({ width: 1440, height: 980 });
  const [a, b] = await comparablePair(server.url);
  const { page } = await newPage(browser.context, server.url);
  // search view: the histogram of a corpus measure, the result list, one result opened
  await page.goto(`${server.url}?m1=${a.id}&m2=${b.id}&measure=avg_clamped_rank_diff&mode=rank_clamped`);
  await page.waitForSelector('[data-testid=dataset] option', { state: 'attached' });
  await page.click('[data-testid=search]');
  await page.waitForSelector('[data-testid=result]', { timeout: 60000 });
  await page.locator('[data-testid=result]').nth(1).click();
  await page.waitForSelector('.tok');
  await page.locator('[data-testid=result]').nth(4).hover();
  await page.waitForTimeout(250);
  await page.screenshot({ path: `${out}/web-search.png` });
  // instance view: a free text, two pinned tokens and the tooltip of a third
  await page.goto(`${server.url}?m1=${a.id}&m2=${b.id}&mode=logprob_diff`);
  await page.waitForSelector('[data-testid=analyze]:not([disabled])');
  await page.click('[data-testid=analyze]');
  await page.waitForSelector('.tok');
  await page.locator('.tok').nth(4).click();
  await page.locator('.tok').nth(23).click();
  await page.locator('.tok').nth(9).hover();
  await page.waitForTimeout(250);
  await page.screenshot({ path: `${out}/web-instance.png` });
  console.log(`wrote ${out}/web-instance.png and ${out}/web-search.png`);
} finally {
  await browser?.close();
  await server.stop();
}
