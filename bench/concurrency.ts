/**
 * Part 2, concurrency utilisation: the stand-in answers after 200 ms, so with C requests in flight the ideal is
 * C / 0.2 s jobs/s. In-process at 32 (ideal 160/s); BullMQ with 1, 2 and 4 worker processes at 8 each (ideal 40,
 * 80, 160/s). Targets: >= 0.95 of ideal in-process, >= 0.90 on BullMQ; and (issue 16) in-process >= 0.95 of the bare
 * SDK loop at the same concurrency.
 * Run: npm run bench:concurrency -- [--seconds 10] [--latency-ms 200] [--concurrency 32] [--workers 1,2,4]
 */
import { parseArgs } from 'node:util';
import { textTree } from './lib/datasets.js';
import { apiRate, bare, distributed, inProcess, statuses, type Measured } from './lib/engines.js';
import { requireBuild, startRedis, startStandInProcess, stopAll } from './lib/processes.js';
import { markdown, publish, ratio, verdict, type Table } from './lib/report.js';

export const DEFAULTS = { seconds: 10, latencyMs: 200, concurrency: 32, workers: '1,2,4', workerConcurrency: 8 };

export async function concurrency(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { seconds: { type: 'string' }, 'latency-ms': { type: 'string' }, concurrency: { type: 'string' }, workers: { type: 'string' } },
  });
  const seconds = Number(values.seconds ?? DEFAULTS.seconds);
  const latency = Number(values['latency-ms'] ?? DEFAULTS.latencyMs);
  const c = Number(values.concurrency ?? DEFAULTS.concurrency);
  // --workers 0 (or an empty list) measures the in-process engine alone.
  const pools = (values.workers ?? DEFAULTS.workers).split(',').map(Number).filter((w) => w > 0);
  const wc = DEFAULTS.workerConcurrency;
  requireBuild();
  const ideal = (inFlight: number) => (inFlight * 1000) / latency;
  // Enough jobs for `seconds` at the ideal rate, rounded to whole waves of requests.
  const jobsFor = (inFlight: number) => Math.max(1, Math.round((ideal(inFlight) * seconds) / inFlight)) * inFlight;
  const most = Math.max(jobsFor(c), ...pools.map((w) => jobsFor(w * wc)));
  const dir = await textTree(most);
  const api = await startStandInProcess({ latencyMs: latency });
  const redis = await startRedis();
  const table: Table = {
    head: ['engine', 'in flight allowed', 'jobs', 'ideal jobs/s', 'jobs/s (stand-in)', 'ratio to ideal', 'target', 'result', 'ratio to bare', 'target', 'result', 'mean in flight (stand-in)', 'HTTP statuses'],
    rows: [],
  };
  let bareRate: number | undefined;
  const add = (m: Measured, inFlight: number, target: number | undefined, bareTarget?: number) => {
    const r = apiRate(m) / ideal(inFlight);
    const incomplete = m.ok !== m.jobs || m.stats.requests !== m.jobs;
    const toBare = bareTarget !== undefined && bareRate ? apiRate(m) / bareRate : undefined;
    table.rows.push([
      m.engine,
      inFlight,
      m.jobs,
      ideal(inFlight).toFixed(0),
      apiRate(m).toFixed(1),
      ratio(r),
      target === undefined ? '' : `>= ${target.toFixed(2)}`,
      incomplete ? `incomplete: ${m.ok} ok` : target === undefined ? '' : verdict(r, target),
      toBare === undefined ? '' : ratio(toBare),
      toBare === undefined ? '' : `>= ${bareTarget?.toFixed(2)}`,
      toBare === undefined || bareTarget === undefined ? '' : incomplete ? 'incomplete' : verdict(toBare, bareTarget),
      m.stats.meanInFlight.toFixed(1),
      statuses(m.stats),
    ]);
  };
  try {
    // The bare SDK loop at the same concurrency: what the SDK and one event loop reach on this machine (no target).
    const b = await bare(api, dir, 'text', c, jobsFor(c));
    bareRate = apiRate(b);
    add(b, c, undefined);
    add(await inProcess(api, { input: ['--input', dir, '--max-files', String(jobsFor(c))], concurrency: c }), c, 0.95, 0.95);
    for (const w of pools) {
      const m = await distributed(api, redis, w, wc, { input: ['--input', dir, '--max-files', String(jobsFor(w * wc))], concurrency: wc });
      add(m, w * wc, 0.9);
    }
  } finally {
    await stopAll();
  }
  await publish(
    'concurrency',
    `2. Concurrency utilisation (${latency} ms per request)`,
    `Text jobs, about ${seconds} s of work each at the ideal rate (in flight / ${latency} ms). jobs/s = requests / (first request arrival -> last moment one was in flight), as the stand-in saw them; mean in flight is sampled by the stand-in every 2 ms over the same span.\n\n${markdown(table)}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await concurrency(process.argv.slice(2));
