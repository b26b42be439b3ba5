// make-examples.mjs - writes full example responses of docs/api.md from the mock:
//   fixtures/examples/models.json, datasets.json, analyze.json, search.json, error.json
// Run after changing the engine or the fixtures:  node mock/make-examples.mjs

import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { instance, loadFixtures, search } from './engine.mjs';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fx = loadFixtures(dir);
const [m1, m2] = fx.models;
const ds = fx.datasets.find((d) => d.id === 'news-mini');
const out = (name, v) => writeFileSync(join(dir, 'examples', name), JSON.stringify(v, null, 1) + '\n');

out('models.json', fx.models.map((m) => ({ id: m.id, name: m.name, arch: m.arch, scoring: /MaskedLM$/.test(m.arch) ? 'pseudo-likelihood' : 'causal', group: m.group })));
out('datasets.json', fx.datasets.filter((d) => d.models.includes(m1.id) && d.models.includes(m2.id)).map((d) => ({ id: d.id, name: d.name, n_texts: d.texts.length, kl: d.kl !== false })));
out('analyze.request.json', { m1: m1.id, m2: m2.id, text: 'The quick brown fox.' });
out('analyze.json', instance(fx, m1, m2, 'The quick brown fox.'));
const s = search(fx, m1, m2, ds, 'avg_clamped_rank_diff', 'abs', 2, 10);
out('search.json', s);
out('error.json', { error: 'unknown model "gpt3"' });
console.log('wrote fixtures/examples/*.json');
