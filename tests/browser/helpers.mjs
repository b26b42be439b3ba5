// helpers.mjs - shared by the browser tests: the server under test and a headless Chromium.
//
// LMD_URL=http://127.0.0.1:8000 runs the tests against a running `lmdiff serve`; without it
// they start the development mock (web/mock/server.mjs) on a free port, serving web/dist
// (build it first: `npm run build` in web/).
// LMD_CHROMIUM overrides the browser binary (default /usr/bin/chromium, Debian's package).

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const webDir = resolve(here, '..', '..', 'web');
// playwright-core is a dev dependency of web/, not of the repository root
const require = createRequire(join(webDir, 'package.json'));
const { chromium } = require('playwright-core');

export async function startServer() {
  if (process.env.LMD_URL) {
    const url = process.env.LMD_URL.replace(/\/?$/, '/');
    return { url, mock: false, stop: async () => {} };
  }
  if (!existsSync(join(webDir, 'dist', 'index.html'))) throw new Error('web/dist is missing: run "npm run build" in web/ first');
  const child = spawn(process.execPath, [join(webDir, 'mock', 'server.mjs'), '--port', '0', ...(process.env.LMD_MOCK_ARGS ?? '').split(' ').filter(Boolean)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((ok, fail) => {
    let buf = '';
    const timer = setTimeout(() => fail(new Error('mock server did not start in 10 s')), 10000);
    child.stdout.on('data', (d) => {
      buf += d;
      const m = /listening on (http:\/\/\S+)/.exec(buf);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on('exit', (code) => fail(new Error(`mock server exited with ${code}`)));
  });
  return {
    url,
    mock: true,
    stop: () =>
      new Promise((ok) => {
        child.once('exit', ok);
        child.kill('SIGTERM');
      }),
  };
}

/** A headless Chromium with a new empty profile; each page gets the given viewport. */
export async function launch(viewport = { width: 1440, height: 1000 }) {
  const profile = mkdtempSync(join(tmpdir(), 'lmd-chromium-'));
  // launchPersistentContext passes --user-data-dir=<profile> itself
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.LMD_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport,
    deviceScaleFactor: 1,
    timeout: 60000,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** The calling test file's server under test and headless Chromium, started before its first
 * test and stopped after its last; { server: false } or { browser: false } leaves one out, an
 * object as browser is its viewport.  Returns { server, browser }, filled in by then. */
export function setUp({ server = true, browser = true } = {}) {
  const env = { server: null, browser: null };
  before(async () => {
    if (server) env.server = await startServer();
    if (browser) env.browser = await launch(browser === true ? undefined : browser);
  });
  after(async () => {
    await env.browser?.close();
    await env.server?.stop();
  });
  return env;
}

/** A new page that refuses (and records) any request that leaves the server under test. */
export async function newPage(context, base) {
  const page = await context.newPage();
  const origin = new URL(base).origin;
  const foreign = [];
  await page.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(origin) || u.startsWith('data:')) return route.continue();
    foreign.push(u);
    return route.abort();
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return { page, foreign, errors };
}

/** Two model ids of the same group from GET /api/models (the first such pair). */
export async function comparablePair(base) {
  const models = await (await fetch(new URL('api/models', base))).json();
  for (const a of models) for (const b of models) if (a !== b && a.group === b.group) return [a, b, models];
  throw new Error('the server has no two models with the same tokenizer group');
}

/** Parses a number as the app shows it ("−0.0123", "+4", "1.23e−5", "1 024"). */
export function shown(s) {
  return Number(String(s).trim().replace(/\u2212/g, '-').replace(/\s/g, '').replace(/^\+/, ''));
}
