/**
 * Part 1, overhead vs the physical limit: the same small jobs through the bare SDK loop, `omni-batch run`
 * in-process and `omni-batch run --redis` with one worker, against one stand-in at 0 ms latency.
 * Targets: in-process >= 0.90 of the bare loop's jobs/s, BullMQ with one worker >= 0.50.
 * Run: npm run bench:overhead -- [--text 5000] [--images 2000] [--concurrency 16]
 */
import { parseArgs } from 'node:util';
import { imageTree, textTree } from './lib/datasets.js';
import { apiRate, bare, distributed, inProcess, statuses, type Measured } from './lib/engines.js';
import { requireBuild, startRedis, startStandInProcess, stopAll } from './lib/processes.js';
import { markdown, publish, ratio, verdict, type Table } from './lib/report.js';

export const DEFAULTS = { text: 2000, images: 1000, concurrency: 16 };

export async function overhead(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { text: { type: 'string' }, images: { type: 'string' }, concurrency: { type: 'string' } },
  });
  const n = { text: Number(values.text ?? DEFAULTS.text), images: Number(values.images ?? DEFAULTS.images) };
  const c = Number(values.concurrency ?? DEFAULTS.concurrency);
  requireBuild();
  const dirs = { text: await textTree(n.text), image: await imageTree(n.images) };
  const api = await startStandInProcess({ latencyMs: 0 });
  const redis = await startRedis();
  const table: Table = {
    head: ['jobs', 'engine', 'jobs/s (stand-in)', 'ratio to bare', 'target', 'result', 'client CPU ms/job', 'CPU ratio to bare', 'wall s', 'HTTP statuses'],
    rows: [],
  };
  try {
    for (const kind of ['text', 'image'] as const) {
      const dir = dirs[kind];
      const jobs = kind === 'text' ? n.text : n.images;
      const input = { input: ['--input', dir], concurrency: c };
      const runs: [Measured, number | undefined][] = [
        [await bare(api, dir, kind, c), undefined],
        [await inProcess(api, input), 0.9],
        [await distributed(api, redis, 1, c, input, `omni-batch BullMQ, 1 worker x ${c}`), 0.5],
      ];
      const [base] = runs[0] ?? [];
      if (!base) continue;
      for (const [m, target] of runs) {
        const r = apiRate(m) / apiRate(base);
        const cpu = m.cpuMs / m.jobs;
        const complete = m.ok === jobs && m.stats.requests === jobs;
        table.rows.push([
          `${jobs} ${kind}`,
          m.engine,
          apiRate(m).toFixed(0),
          target === undefined ? '1.00' : ratio(r),
          target === undefined ? '' : `>= ${target.toFixed(2)}`,
          target === undefined ? '' : complete ? verdict(r, target) : `incomplete: ${m.ok} ok of ${jobs}`,
          cpu.toFixed(2),
          ratio(cpu / (base.cpuMs / base.jobs)),
          (m.wallMs / 1000).toFixed(1),
          statuses(m.stats),
        ]);
      }
    }
  } finally {
    await stopAll();
  }
  await publish(
    'overhead',
    '1. Overhead vs the bare SDK loop (0 ms latency)',
    `Concurrency ${c} everywhere; one stand-in process at 0 ms latency. jobs/s = requests / (first request arrival -> last response), as the stand-in saw them; wall s is the whole command (start-up, scan, enqueue, collect). Client CPU = user + system time of every client process (run, workers), from /proc. Images are 448x336 JPEGs, sent as they are.\n\n${markdown(table)}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await overhead(process.argv.slice(2));
