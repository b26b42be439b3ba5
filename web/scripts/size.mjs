// size.mjs - the web bundle's size: every file of dist/ gzipped at level 9, summed.
// Exits 1 when the total is over the budget (300 KB = 300 000 bytes).

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET = 300_000;
const dist = new URL('../dist/', import.meta.url).pathname;
const files = [];
const walk = (d) => {
  for (const f of readdirSync(d)) {
    const p = join(d, f);
    if (statSync(p).isDirectory()) walk(p);
    else files.push(p);
  }
};
walk(dist);
let raw = 0;
let gz = 0;
for (const f of files.sort()) {
  const data = readFileSync(f);
  const z = gzipSync(data, { level: 9 }).length;
  raw += data.length;
  gz += z;
  console.log(`${String(data.length).padStart(8)} ${String(z).padStart(8)}  ${relative(dist, f)}`);
}
console.log(`${String(raw).padStart(8)} ${String(gz).padStart(8)}  total (bytes, raw / gzip -9); budget ${BUDGET}`);
if (gz > BUDGET) {
  console.error(`over budget by ${gz - BUDGET} bytes`);
  process.exit(1);
}
