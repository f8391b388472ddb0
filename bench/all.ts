/**
 * `npm run bench`: every part in turn with its default sizes (about 15 minutes on 2 cores, 3 of them the
 * rate-limit runs), then the whole bench/results/LATEST.md on stdout. Parts alone: npm run bench:<part>.
 * Flags after `--` go to the part named: npm run bench -- --only overhead,memory
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { concurrency } from './concurrency.js';
import { cost } from './cost.js';
import { LATEST, PARTS, type Part } from './lib/report.js';
import { memory } from './memory.js';
import { overhead } from './overhead.js';
import { preprocessing } from './preprocess.js';
import { ratelimit } from './ratelimit.js';
import { startup } from './startup.js';

const { values } = parseArgs({ options: { only: { type: 'string' } } });
const only = (values.only?.split(',') ?? PARTS) as Part[];
const run: Record<Part, () => Promise<void>> = { overhead, concurrency, ratelimit, memory, preprocess: preprocessing, cost, startup };
const t0 = performance.now();
for (const p of PARTS) {
  if (!only.includes(p)) continue;
  console.error(`[bench] ${p} ...`);
  await run[p]();
}
console.log(`\n---\n\n${await readFile(LATEST, 'utf8')}`);
console.error(`[bench] done in ${((performance.now() - t0) / 60_000).toFixed(1)} min`);
