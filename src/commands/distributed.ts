/**
 * The distributed commands: enqueue, worker, status, collect, schedule, and `run --redis` (enqueue + follow +
 * collect). Thin: they resolve flags, open Redis, call the engine in shared/queue/bullmq.ts, and print.
 */
import path from 'node:path';
import type { Redis } from 'ioredis';
import { formatOf, resolveConfig, totalsPathFor, type Flags } from '../shared/config.js';
import { ConfigError, EXIT } from '../shared/errors.js';
import { collectRun, enqueueRun, progress, runIdFor, scheduleRun, startWorker, unscheduleRun, type Progress } from '../shared/queue/bullmq.js';
import { connectRedis } from '../shared/queue/redis.js';
import { RunResults } from '../shared/queue/results.js';
import { sleep } from '../shared/rate-limit.js';
import type { Io } from './run.js';
import { redisUrl } from './redis-url.js';

async function withRedis<T>(url: string, fn: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = await connectRedis(url);
  try {
    return await fn(redis);
  } finally {
    redis.disconnect();
  }
}

export interface DistributedFlags extends Flags {
  redis?: string;
  runId?: string;
}

export async function enqueueCommand(jobFile: string | undefined, flags: DistributedFlags, io: Io): Promise<number> {
  const cfg = await resolveConfig(jobFile, flags, io.env, io.cwd);
  const runId = flags.runId ?? runIdFor(cfg);
  await withRedis(redisUrl(flags.redis, io.env), (redis) => enqueueRun(cfg, redis, runId, (l) => io.err(`omni-batch: ${l}`)));
  io.out(runId);
  return EXIT.ok;
}

function fmtProgress(p: Progress): string {
  const eta = p.etaSec === undefined ? '?' : p.etaSec >= 3600 ? `${(p.etaSec / 3600).toFixed(1)} h` : p.etaSec >= 60 ? `${Math.round(p.etaSec / 60)} min` : `${p.etaSec} s`;
  const cost = p.currency ? `${p.cost.toFixed(6)} ${p.currency}` : 'unknown';
  return [
    `run ${p.runId}: ${p.rows} rows (${p.ok} ok, ${p.failed} failed, ${p.skipped} skipped) of ${p.discovered} files${p.producerDone ? '' : ' (still enqueueing)'}`,
    `  pending ${p.pending}, ETA ${eta}; tokens ${p.tokens}, cost ${cost}`,
    `  queue: ${p.waiting} waiting, ${p.active} running, ${p.workers} worker connection${p.workers === 1 ? '' : 's'}`,
  ].join('\n');
}

export async function statusCommand(runId: string, flags: DistributedFlags, io: Io): Promise<number> {
  const p = await withRedis(redisUrl(flags.redis, io.env), (redis) => progress(redis, runId));
  io.out(fmtProgress(p));
  return EXIT.ok;
}

export async function collectCommand(runId: string, flags: DistributedFlags, io: Io): Promise<number> {
  await withRedis(redisUrl(flags.redis, io.env), async (redis) => {
    const meta = await new RunResults(redis, runId).meta();
    const out = flags.out ? path.resolve(io.cwd, flags.out) : meta.out;
    if (!out) throw new ConfigError(`no run ${runId} in this Redis (omni-batch enqueue prints the run id)`);
    const format = formatOf(out, flags.format ?? (flags.out ? undefined : meta.format), '--format');
    const totals = await collectRun(redis, runId, out, format, totalsPathFor(out));
    io.out(`omni-batch: ${totals.rows} rows in ${out}: ${totals.byStatus.ok} ok, ${totals.byStatus.failed} failed, ${totals.byStatus.skipped} skipped; totals in ${totalsPathFor(out)}`);
  });
  return EXIT.ok;
}

/** `run --redis`: enqueue, follow until every job of the run has its row, then collect. Workers do the work. */
export async function runDistributed(jobFile: string | undefined, flags: DistributedFlags, io: Io): Promise<number> {
  const cfg = await resolveConfig(jobFile, flags, io.env, io.cwd);
  if (cfg.dryRun) throw new ConfigError('--dry-run runs in process: leave out --redis');
  const runId = flags.runId ?? runIdFor(cfg);
  return withRedis(redisUrl(flags.redis, io.env), async (redis) => {
    let stop = false;
    const remove = io.onSignal?.(() => {
      stop = true;
      io.err(`omni-batch: stopped following; the jobs stay queued. Later: omni-batch status ${runId} / omni-batch collect ${runId}`);
    });
    try {
      await enqueueRun(cfg, redis, runId, (l) => io.err(`omni-batch: ${l}`));
      io.err(`omni-batch: run ${runId}; following it (workers: omni-batch worker --redis ...)`);
      let last = 0;
      for (;;) {
        const p = await progress(redis, runId);
        if (p.pending === 0 && p.producerDone) break;
        if (stop) return EXIT.interrupted;
        if (Date.now() - last > 5_000) {
          io.err(`omni-batch: ${fmtProgress(p).split('\n').join(';')}`);
          if (p.workers === 0) io.err('omni-batch: no worker is connected: start one with omni-batch worker --redis URL');
          last = Date.now();
        }
        await sleep(500);
      }
      const totals = await collectRun(redis, runId, cfg.out, cfg.format, cfg.totalsPath);
      io.out(`omni-batch: ${totals.rows} rows in ${cfg.out}: ${totals.byStatus.ok} ok, ${totals.byStatus.failed} failed, ${totals.byStatus.skipped} skipped`);
      io.out(`  tokens: ${totals.tokens.total_tokens}, cost: ${totals.currency ? `${totals.cost.toFixed(6)} ${totals.currency}` : 'unknown'}; totals: ${cfg.totalsPath}`);
      return EXIT.ok;
    } finally {
      remove?.();
    }
  });
}

export interface WorkerFlags {
  redis?: string;
  concurrency?: string;
  lockDuration?: string;
  drainTimeout?: string;
}

function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new ConfigError(`--${name}: expected a positive number, received ${JSON.stringify(v)}`);
  return n;
}

export async function workerCommand(flags: WorkerFlags, io: Io): Promise<number> {
  const url = redisUrl(flags.redis, io.env);
  const apiKey = io.env.DASHSCOPE_API_KEY?.trim();
  if (!apiKey) throw new ConfigError('DASHSCOPE_API_KEY is not set: every worker needs the key in its own environment (it never travels through Redis)');
  const concurrency = Math.round(positive('concurrency', flags.concurrency, 4));
  const lockDurationMs = positive('lock-duration', flags.lockDuration, 60) * 1000;
  const drainMs = positive('drain-timeout', flags.drainTimeout, 120) * 1000;
  const redis = await connectRedis(url);
  const worker = await startWorker({
    redis,
    connect: () => connectRedis(url),
    apiKey,
    concurrency,
    lockDurationMs,
    log: (l) => io.err(`omni-batch worker: ${l}`),
  });
  io.err(`omni-batch worker: ready (concurrency ${concurrency}); Ctrl-C once finishes the jobs in hand, twice returns them to the queue`);
  let signals = 0;
  let resolveStop: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((r) => (resolveStop = r));
  const remove = io.onSignal?.(() => {
    signals++;
    if (signals === 1) {
      io.err(`omni-batch worker: draining: finishing the jobs in hand (up to ${drainMs / 1000} s; Ctrl-C again to stop now)`);
      void worker.drain(drainMs).then(() => resolveStop(EXIT.interrupted));
    } else {
      io.err('omni-batch worker: stopping now; the jobs in hand go back to the queue');
      void worker.stopNow().then(() => resolveStop(EXIT.interrupted));
    }
  });
  const code = await Promise.race([
    stopped,
    worker.stopped.then(async (c) => {
      await worker.drain(drainMs);
      return c;
    }),
  ]);
  remove?.();
  redis.disconnect();
  return code;
}

export interface ScheduleFlags extends DistributedFlags {
  cron?: string;
  every?: string;
  remove?: boolean;
}

export async function scheduleCommand(jobFile: string | undefined, flags: ScheduleFlags, io: Io): Promise<number> {
  const cfg = await resolveConfig(jobFile, flags, io.env, io.cwd);
  const runId = flags.runId ?? runIdFor(cfg);
  return withRedis(redisUrl(flags.redis, io.env), async (redis) => {
    if (flags.remove) {
      const removed = await unscheduleRun(redis, runId);
      io.out(removed ? `removed the schedule of ${runId}` : `no schedule for ${runId}`);
      return EXIT.ok;
    }
    if (!flags.cron === !flags.every) throw new ConfigError('schedule: give --cron "0 3 * * *" or --every SECONDS (one of them)');
    const everyMs = flags.every ? positive('every', flags.every, 1) * 1000 : undefined;
    await scheduleRun(redis, cfg, runId, flags.cron ? { cron: flags.cron } : { everyMs: everyMs ?? 0 });
    io.out(runId);
    io.err(`omni-batch: ${runId} re-enqueues ${flags.cron ? `on "${flags.cron}"` : `every ${everyMs! / 1000} s`}; workers run it; only new or changed files are sent`);
    return EXIT.ok;
  });
}
