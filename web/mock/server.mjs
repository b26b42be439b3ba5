#!/usr/bin/env node
// server.mjs - development mock of `lmdiff serve`: the JSON API of docs/api.md over made-up
// models (engine.mjs) and the built app from web/dist, on 127.0.0.1.
//
//   node mock/server.mjs [--port 8787] [--delay MS] [--dist DIR]
//
// --port 0 picks a free port. The first line on stdout is "mock: listening on http://HOST:PORT/".
// --delay adds latency to every /api reply (to see the loading states).
// Limits and error codes follow docs/api.md, so the same browser tests pass here and against the
// C server.

import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COLUMNS, instance, xinstance, loadFixtures, search } from './engine.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const port = Number(opt('port', process.env.PORT ?? 8787));
const delay = Number(opt('delay', process.env.MOCK_DELAY_MS ?? 0));
const dist = resolve(opt('dist', join(here, '..', 'dist')));
const host = '127.0.0.1';

const MAX_BODY = 262144;
const MAX_TOKENS = 4096;

const fx = loadFixtures(join(here, 'fixtures'));
const modelById = new Map(fx.models.map((m) => [m.id, m]));

class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.woff2': 'font/woff2',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
};

function sendJson(res, status, body, extra = {}) {
  const data = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': Buffer.byteLength(data),
    ...extra,
  });
  res.end(data);
}

function model(id, name) {
  if (id === null || id === undefined) throw new HttpError(400, `missing parameter "${name}"`);
  const m = modelById.get(id);
  if (!m) throw new HttpError(404, `unknown model "${id}"`);
  return m;
}

function readBody(req) {
  return new Promise((ok, fail) => {
    const chunks = [];
    let size = 0;
    let over = false;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) over = true;
      else chunks.push(c);
    });
    req.on('end', () => (over ? fail(new HttpError(413, `request body is larger than ${MAX_BODY} bytes`)) : ok(Buffer.concat(chunks))));
    req.on('error', fail);
  });
}

const intParam = (q, name, def) => {
  const s = q.get(name);
  if (s === null || s === '') return def;
  if (!/^-?\d+$/.test(s)) throw new HttpError(400, `parameter "${name}" is not an integer: "${s}"`);
  return Number(s);
};
const inRange = (name, v, lo, hi) => {
  if (v < lo || v > hi) throw new HttpError(422, `parameter "${name}" must be in ${lo}..${hi}, got ${v}`);
};

const datasetsFor = (m1, m2) =>
  m1.group !== m2.group ? [] : fx.datasets.filter((d) => d.models.includes(m1.id) && d.models.includes(m2.id));

const routes = {
  'GET /api/models': () => fx.models.map((m) => ({ id: m.id, name: m.name, arch: m.arch, scoring: /MaskedLM$/.test(m.arch) ? 'pseudo-likelihood' : 'causal', group: m.group })),

  'GET /api/datasets': (q) => {
    const m1 = model(q.get('m1'), 'm1');
    const m2 = model(q.get('m2'), 'm2');
    return datasetsFor(m1, m2).map((d) => ({ id: d.id, name: d.name, n_texts: d.texts.length, kl: d.kl !== false }));
  },

  'POST /api/analyze': async (_q, req) => {
    const raw = await readBody(req);
    let body;
    try {
      body = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
    } catch {
      throw new HttpError(400, 'request body is not valid JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'request body is not a JSON object');
    for (const k of ['m1', 'm2', 'text']) {
      if (!(k in body)) throw new HttpError(400, `missing field "${k}"`);
      if (typeof body[k] !== 'string') throw new HttpError(400, `field "${k}" is not a string`);
    }
    if ('kl' in body && typeof body.kl !== 'boolean') throw new HttpError(400, '"kl" must be true or false');
    const m1 = model(body.m1, 'm1');
    const m2 = model(body.m2, 'm2');
    if (body.text.length === 0) throw new HttpError(422, 'text is empty');
    const bySegments = m1.group !== m2.group || body.segments === true;
    if (bySegments && body.kl === true) throw new HttpError(422, '"kl" needs a pair compared token by token (one tokenizer); this pair is compared by segments');
    for (const m of m1.group !== m2.group || body.segments === true ? [m1, m2] : [m1]) {
      const n = m.tok.encode(body.text).length;
      if (n > MAX_TOKENS) throw new HttpError(413, `text has ${n} tokens; the limit is ${MAX_TOKENS}`);
    }
    // different tokenizers (or "segments": true): by segments, docs/cli.md
    if (m1.group !== m2.group || body.segments === true) return xinstance(fx, m1, m2, body.text);
    return instance(fx, m1, m2, body.text, body.kl === true);
  },

  'GET /api/search': (q) => {
    for (const k of ['m1', 'm2', 'dataset', 'measure']) if (q.get(k) === null) throw new HttpError(400, `missing parameter "${k}"`);
    const k = intParam(q, 'k', 50);
    const bins = intParam(q, 'bins', 30);
    const m1 = model(q.get('m1'), 'm1');
    const m2 = model(q.get('m2'), 'm2');
    const ds = datasetsFor(m1, m2).find((d) => d.id === q.get('dataset'));
    if (!ds) throw new HttpError(404, `dataset "${q.get('dataset')}" is not preprocessed for "${m1.id}" and "${m2.id}"`);
    const measure = q.get('measure');
    if (!COLUMNS.includes(measure)) throw new HttpError(422, `unknown measure "${measure}"`);
    const order = q.get('order') ?? 'abs';
    if (!['abs', 'desc', 'asc'].includes(order)) throw new HttpError(422, `order must be abs, desc or asc, got "${order}"`);
    inRange('k', k, 1, 200);
    inRange('bins', bins, 1, 200);
    return search(fx, m1, m2, ds, measure, order, k, bins);
  },
};

const allowed = (path) => Object.keys(routes).filter((r) => r.endsWith(` ${path}`)).map((r) => r.split(' ')[0]);

async function serveStatic(req, res, path) {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET' }).end();
    return;
  }
  let rel;
  try {
    rel = decodeURIComponent(path);
  } catch {
    res.writeHead(400).end();
    return;
  }
  if (rel === '/' || rel === '') rel = '/index.html';
  const file = normalize(join(dist, rel));
  if (!file.startsWith(dist + sep)) {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    return;
  }
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new Error('not a file');
    const data = await readFile(file);
    const hashed = rel.startsWith('/assets/');
    res.writeHead(200, {
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': data.length,
      'Cache-Control': hashed ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : data);
  } catch {
    const hint = rel === '/index.html' ? `no built app in ${dist}: run "npm run build" in web/\n` : 'not found\n';
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end(hint);
  }
}

const server = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', `http://${host}`);
  const path = url.pathname;
  if (!path.startsWith('/api/')) return serveStatic(req, res, path);
  if (delay > 0) await new Promise((r) => setTimeout(r, delay));
  const handler = routes[`${req.method} ${path}`];
  try {
    if (!handler) {
      const allow = allowed(path);
      if (allow.length) throw Object.assign(new HttpError(405, `${req.method} is not allowed on ${path}; use ${allow.join(', ')}`), { allow });
      throw new HttpError(404, `no such route: ${path}`);
    }
    sendJson(res, 200, await handler(url.searchParams, req));
  } catch (e) {
    if (e instanceof HttpError) {
      sendJson(res, e.status, { error: e.message }, e.allow ? { Allow: e.allow.join(', ') } : {});
      if (e.status === 413) req.resume();
    } else {
      console.error(e);
      sendJson(res, 500, { error: `internal error: ${e.message}` });
    }
  }
});

server.listen(port, host, () => {
  const addr = server.address();
  console.log(`mock: listening on http://${host}:${addr.port}/`);
});

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => server.close(() => process.exit(0)));
