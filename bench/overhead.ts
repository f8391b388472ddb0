/**
 * Part 1, overhead vs the physical limit: the same small jobs through the bare SDK loop, `omni-batch run`
 * in-process and `omni-batch run --redis` with one worker, against one stand-in at 0 ms latency.
 * Targets (issue 16): in-process >= 0.90 of the bare loop's jobs/s with client CPU per job <= 1.2x the bare loop's;
 * BullMQ with one worker >= 0.80 of its jobs/s with the worker's CPU per job <= 1.5x (what decides how many workers
 * a machine holds; the run process that enqueues and collects is counted in client CPU, not here).
 * Each engine runs --rounds times, interleaved (bare, in-process, BullMQ, bare, ...); the table shows the round
 * with the median rate and the ratio of the medians, and the per-round ratios beside it (this machine is noisy).
 * Run: npm run bench:overhead -- [--text 5000] [--images 2000] [--concurrency 16] [--rounds 3]
 */
import { parseArgs } from 'node:util';
import { imageTree, textTree } from './lib/datasets.js';
import { apiRate, bare, distributed, inProcess, statuses, type Measured } from './lib/engines.js';
import { requireBuild, startRedis, startStandInProcess, stopAll } from './lib/processes.js';
import { markdown, publish, ratio, verdict, type Table } from './lib/report.js';

export const DEFAULTS = { text: 5000, images: 2000, concurrency: 16, rounds: 3 };

export async function overhead(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { text: { type: 'string' }, images: { type: 'string' }, concurrency: { type: 'string' }, rounds: { type: 'string' } },
  });
  const n = { text: Number(values.text ?? DEFAULTS.text), images: Number(values.images ?? DEFAULTS.images) };
  const c = Number(values.concurrency ?? DEFAULTS.concurrency);
  const rounds = Math.max(1, Math.floor(Number(values.rounds ?? DEFAULTS.rounds)) || 1);
  requireBuild();
  const dirs = { text: await textTree(n.text), image: await imageTree(n.images) };
  const api = await startStandInProcess({ latencyMs: 0 });
  const redis = await startRedis();
  const table: Table = {
    head: ['jobs', 'engine', 'jobs/s (stand-in)', 'ratio to bare', 'per-round ratios', 'target', 'result', 'client CPU ms/job', 'CPU ratio to bare', 'of which worker ms/job', 'CPU target', 'CPU result', 'wall s', 'HTTP statuses'],
    rows: [],
  };
  try {
    for (const kind of ['text', 'image'] as const) {
      const dir = dirs[kind];
      const jobs = kind === 'text' ? n.text : n.images;
      const input = { input: ['--input', dir], concurrency: c };
      // [name, run, jobs/s target, CPU target (in-process: the run's CPU; BullMQ: the worker's)]
      const engines: [string, () => Promise<Measured>, number | undefined, number | undefined][] = [
        ['bare', () => bare(api, dir, kind, c), undefined, undefined],
        ['in-process', () => inProcess(api, input), 0.9, 1.2],
        ['bullmq', () => distributed(api, redis, 1, c, input, `omni-batch BullMQ, 1 worker x ${c}`), 0.8, 1.5],
      ];
      const measured: Measured[][] = engines.map(() => []);
      for (let r = 0; r < rounds; r++) for (const [i, [, go]] of engines.entries()) measured[i]?.push(await go());
      const bares = measured[0] ?? [];
      const base = median(bares);
      if (!base) continue;
      const bareCpu = base.cpuMs / base.jobs;
      for (const [i, [, , target, cpuTarget]] of engines.entries()) {
        const all = measured[i] ?? [];
        const m = median(all);
        if (!m) continue;
        const r = apiRate(m) / apiRate(base);
        const perRound = all.map((x, k) => ratio(apiRate(x) / apiRate(bares[k] ?? base))).join(' / ');
        const cpu = m.cpuMs / m.jobs;
        const worker = m.workerCpuMs === undefined ? undefined : m.workerCpuMs / m.jobs;
        const cpuRatio = (worker ?? cpu) / bareCpu;
        const complete = all.every((x) => x.ok === jobs && x.stats.requests === jobs);
        table.rows.push([
          `${jobs} ${kind}`,
          m.engine,
          apiRate(m).toFixed(0),
          target === undefined ? '1.00' : ratio(r),
          target === undefined ? '' : perRound,
          target === undefined ? '' : `>= ${target.toFixed(2)}`,
          target === undefined ? '' : complete ? verdict(r, target) : `incomplete: ${all.map((x) => x.ok).join(' / ')} ok of ${jobs}`,
          cpu.toFixed(2),
          ratio(cpu / bareCpu),
          worker === undefined ? '' : `${worker.toFixed(2)} (${ratio(worker / bareCpu)}x)`,
          cpuTarget === undefined ? '' : `<= ${cpuTarget.toFixed(1)}x`,
          cpuTarget === undefined ? '' : verdict(cpuRatio, cpuTarget, false),
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
    `Concurrency ${c} everywhere; one stand-in process at 0 ms latency. ${rounds} round(s), the engines interleaved; each row is the engine's round with the median jobs/s, and the ratio is of the medians (per-round ratios: that round's engine vs that round's bare loop). jobs/s = requests / (first request arrival -> last response), as the stand-in saw them; wall s is the whole command (start-up, scan, enqueue, collect). Client CPU = user + system time of every client process (run, workers), from /proc; the CPU target is on the run's CPU in-process and on the worker's alone on BullMQ (the run that enqueues and collects is one process however many workers there are). Images are 448x336 JPEGs, sent as they are.\n\n${markdown(table)}`,
  );
}

/** The measurement with the median API rate (the lower middle one for an even count). */
function median(ms: Measured[]): Measured | undefined {
  const sorted = [...ms].sort((a, b) => apiRate(a) - apiRate(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

if (import.meta.url === `file://${process.argv[1]}`) await overhead(process.argv.slice(2));
