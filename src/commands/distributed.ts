/**
 * The distributed commands: enqueue, worker, status, collect, schedule, and `run --redis` (enqueue + follow +
 * collect). Thin: they resolve flags, open Redis, call the engine in engine/bullmq/, and print.
 */
import { keptColumns } from '../producer/templates.js';
import path from 'node:path';
import type { RedisClient } from '../engine/bullmq/connection.js';
import { checkBaseUrl } from '../shared/base-url.js';
import { workerKeys } from '../shared/dialect.js';
import { estimatePathFor, formatOf, REGIONS, resolveConfig, totalsPathFor, type Flags, type Region, type RunConfig } from '../shared/config.js';
import { ConfigError, EXIT, IncompleteError } from '../shared/errors.js';
import { writeRunFile } from '../shared/output/run-file.js';
import { ledgerPathFor, sidecarRun, SidecarWriter, withCaptionText } from '../shared/output/sidecar.js';
import { collectRun, enqueuedConfig, missingRows } from '../engine/bullmq/collect.js';
import { connectRedis, retire, type ConnectOptions } from '../engine/bullmq/connection.js';
import { enqueueRun, type EnqueueResult } from '../engine/bullmq/enqueue.js';
import { runIdFor } from '../engine/bullmq/keys.js';
import { jobsQueue } from '../engine/bullmq/queues.js';
import { pacedByNow } from '../engine/bullmq/pacer.js';
import { RunResults, type RunTotals } from '../engine/bullmq/results.js';
import { scheduleRun, unscheduleRun } from '../engine/bullmq/schedule.js';
import { progress, queueStats, requireRun, serverRunId, type Progress } from '../engine/bullmq/status.js';
import { RedisOutage } from '../engine/bullmq/outage.js';
import { OutputTail } from '../engine/bullmq/tail.js';
import { rowLayout } from '../shared/row.js';
import { startWorker } from '../engine/bullmq/worker-host.js';
import { sleep } from '../shared/clock.js';
import type { Queue } from 'bullmq';
import { displayOptions, ProgressDisplay, type ProgressCounts, type Terminal } from './progress.js';
import { emptyPassExit, finishOutput, type Io } from './run.js';
import { WorkerLog } from './worker-log.js';
import { redisGiveUpMs, redisUrl } from './redis-url.js';

async function withRedis<T>(url: string, fn: (redis: RedisClient) => Promise<T>, opts: ConnectOptions = {}): Promise<T> {
  const redis = await connectRedis(url, opts);
  try {
    return await fn(redis);
  } finally {
    retire(redis);
  }
}

export interface DistributedFlags extends Flags {
  redis?: string;
  runId?: string;
}

export async function enqueueCommand(jobFile: string | undefined, flags: DistributedFlags, io: Io): Promise<number> {
  const cfg = await resolveConfig(jobFile, flags, io.env, io.cwd);
  for (const warning of cfg.warnings) io.err(`omni-batch: ${warning}`);
  const runId = flags.runId ?? runIdFor(cfg);
  const counts = await withRedis(redisUrl(flags.redis, io.env), (redis) => enqueueRun(cfg, redis, { runId, log: (l) => io.err(`omni-batch: ${l}`) }));
  io.out(runId);
  return emptyPassExit(cfg, counts.discovered, EXIT.ok, io);
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
  // Reading a run's numbers loses nothing: a Redis that may evict keys is not refused here.
  const p = await withRedis(redisUrl(flags.redis, io.env), (redis) => progress(redis, runId), { requireNoEviction: false });
  io.out(fmtProgress(p));
  return EXIT.ok;
}

export async function collectCommand(runId: string, flags: DistributedFlags, io: Io): Promise<number> {
  await withRedis(redisUrl(flags.redis, io.env), async (redis) => {
    const results = new RunResults(redis, runId);
    const meta = await results.meta();
    const out = flags.out ? path.resolve(io.cwd, flags.out) : meta.out;
    await requireRun(redis, runId, meta, { out });
    if (!out) throw new ConfigError(`run ${runId}: Redis does not say where its output goes; give --out`);
    const format = formatOf(out, flags.format ?? (flags.out ? undefined : meta.format), '--format');
    const enqueued = enqueuedConfig(runId, meta);
    const cfg = { out, format, totalsPath: totalsPathFor(out), estimatePath: estimatePathFor(out) };
    // Row paths are relative to the folder the producer ran in: sidecars are placed from there.
    const sidecars = io.sidecar ? new SidecarWriter(withCaptionText(io.sidecar, enqueued), ledgerPathFor(out), enqueued.cwd, enqueued.inputs) : undefined;
    const totals = await collectRun(redis, { runId, out, format, csvRaw: enqueued.csvRaw, totalsPath: cfg.totalsPath, log: (line) => io.err(`omni-batch: ${line}`) });
    await recordSettings({ ...enqueued, ...cfg }, runId, io);
    await finishOutput(cfg, totals, sidecars, io, true);
    const gap = await missingRows(results, totals.rows);
    if (gap) throw new IncompleteError(`${gap}; ${out} has the ${totals.rows} rows there are: collect again once the workers are done, or run the same run --redis / enqueue command again to send only what is missing`);
  });
  return EXIT.ok;
}

async function recordSettings(cfg: RunConfig, runId: string, io: Io): Promise<void> {
  await writeRunFile(cfg, { runId }).catch((err: unknown) => io.err(`omni-batch: cannot write the run settings beside the output (retry will not find them): ${String(err)}`));
}

/** `run --redis`: enqueue, follow until every job of the run has its row, then collect. Workers do the work. */
export async function runDistributed(jobFile: string | undefined, flags: DistributedFlags, io: Io): Promise<number> {
  const cfg = await resolveConfig(jobFile, flags, io.env, io.cwd);
  for (const warning of cfg.warnings) io.err(`omni-batch: ${warning}`);
  if (cfg.dryRun) throw new ConfigError('--dry-run runs in process: leave out --redis');
  if (cfg.engine === 'batch') throw new ConfigError('--engine batch runs DashScope Batch jobs from this process: leave out --redis');
  return followRun(cfg, flags.runId ?? runIdFor(cfg), redisUrl(flags.redis, io.env), io);
}

/**
 * Enqueues a resolved configuration (`run --redis`, and `retry --redis` with `cfg.only`), shows its progress from
 * the run's totals in Redis while the workers work, then collects it and ends as an in-process run ends: the
 * settings file, sidecars and the summary.
 */
export async function followRun(resolved: RunConfig, runId: string, url: string, io: Io): Promise<number> {
  // Sidecars written next to the inputs are never enqueued as inputs.
  const { sidecars, cfg } = sidecarRun(io.sidecar, resolved);
  const term: Terminal = io.terminal ?? { write: (t) => io.err(t.replace(/\n$/, '')), isTTY: false, columns: undefined };
  const display = new ProgressDisplay(term, io.display ?? displayOptions({}, io.env), cfg.prices?.currency ?? null);
  const giveUpMs = redisGiveUpMs(io.env);
  return withRedis(url, async (redis) => {
    const startedAt = new Date();
    const results = new RunResults(redis, runId);
    const counts = await followWithTail({ redis, url, runId, display, before: await results.totals(), giveUpMs }, cfg, io);
    if (!counts) return EXIT.interrupted;
    const pass = { startedAt: startedAt.toISOString(), wallMs: Date.now() - startedAt.getTime(), ...counts };
    const totals = await collectRun(redis, { runId, out: cfg.out, format: cfg.format, csvRaw: cfg.csvRaw, totalsPath: cfg.totalsPath, pass });
    await recordSettings(cfg, runId, io);
    await finishOutput(cfg, totals, sidecars, io, true);
    const gap = await missingRows(results, totals.rows);
    if (gap) throw new IncompleteError(`${gap}; run the same command again to send only what is missing`);
    return emptyPassExit(cfg, counts.discovered, EXIT.ok, io);
  });
}

/**
 * Follows the run while appending each row saved to the output (see tail.ts), through Redis outages up to the
 * give-up time. On a stop (undefined) or an error the output is compacted and keeps every row it got.
 */
async function followWithTail(parts: Omit<FollowParts, 'tail' | 'outage' | 'server'> & { url: string; giveUpMs: number }, cfg: RunConfig, io: Io): Promise<PassCounts | undefined> {
  const { redis, display } = parts;
  const tail = await OutputTail.open(new RunResults(redis, parts.runId), cfg.out, cfg.format, rowLayout(1 + cfg.followUps.length, cfg.answer, await keptColumns(cfg)));
  const outage = new RedisOutage(parts.url, {
    giveUpMs: parts.giveUpMs,
    note: (l) => display.note(l),
    afterGiveUp: `the rows saved so far are in ${cfg.out}; run the same command again once Redis is back (only what the output lacks is sent)`,
  });
  const unwatch = outage.watch(redis);
  try {
    const counts = await new Follower({ ...parts, tail, outage, server: await serverRunId(redis) }).follow(cfg, io);
    if (counts) tail.closeNow();
    return counts;
  } finally {
    unwatch();
    outage.stop();
    // Not closed above: stopped or failed. Compacted, so the output holds one row per file whatever happened.
    await tail.close().catch(() => undefined);
  }
}

/** The enqueue pass of `run --redis`, running while the run is followed: its counts so far, and how it ended. */
class BackgroundEnqueue {
  counts: Readonly<EnqueueResult>;
  done = false;
  error: Error | undefined;
  stopped = false;
  readonly finished: Promise<void>;

  constructor(cfg: RunConfig, redis: RedisClient, runId: string, note: (line: string) => void) {
    this.counts = { runId, discovered: 0, enqueued: 0, alreadyDone: 0, rowsWritten: 0 };
    const onProgress = (c: Readonly<EnqueueResult>) => void (this.counts = c);
    this.finished = enqueueRun(cfg, redis, { runId, log: note, onProgress, shouldStop: () => this.stopped }).then(
      () => void (this.done = true),
      (err: unknown) => {
        this.error = err instanceof Error ? err : new Error(String(err));
        this.done = true;
      },
    );
  }
}

/** What `run --redis` counts for its totals file: this pass's files, and what the workers did for it. */
type PassCounts = Pick<ProgressCounts, 'discovered' | 'alreadyDone' | 'rowsWritten' | 'apiRequests'>;

interface FollowParts {
  readonly redis: RedisClient;
  readonly runId: string;
  readonly display: ProgressDisplay;
  /** The run's totals before this pass: what it spent is the difference. */
  readonly before: RunTotals;
  /** Appends the rows saved to the output as they come. */
  readonly tail: OutputTail;
  readonly outage: RedisOutage;
  /** The Redis server's run_id when the follow began (a restart changes it). */
  readonly server: string | undefined;
}

/** Follows a run while it is enqueued and worked on: the progress display, until every job has its row or a Ctrl-C. */
class Follower {
  private readonly results: RunResults;
  private counts: ProgressCounts = { discovered: 0, discoveryDone: false, alreadyDone: 0, rowsWritten: 0, apiRequests: 0 };
  private readonly startedAt = Date.now();
  private warnedNoWorker = false;
  private seen = false;

  constructor(private readonly parts: FollowParts) {
    this.results = new RunResults(parts.redis, parts.runId);
  }

  /** Enqueues `cfg` and follows the run; the pass's counts once every job has its row, undefined when stopped. */
  async follow(cfg: RunConfig, io: Io): Promise<PassCounts | undefined> {
    const { display, runId, redis } = this.parts;
    const enqueue = new BackgroundEnqueue(cfg, redis, runId, (l) => display.note(l));
    const remove = io.onSignal?.(() => {
      enqueue.stopped = true;
      if (!enqueue.done) display.note(`stopping: enqueueing the ${enqueue.counts.discovered} files found so far, then stopping (the rest: run the same command again)`);
      display.note(`stopped following; the jobs stay queued. Later: omni-batch status ${runId} / omni-batch collect ${runId}`);
    });
    display.start(() => this.counts);
    display.note(`run ${runId}; following it (workers: omni-batch worker --redis ...)`);
    // One Queue for the whole follow loop (it polls 4 times a second), not one opened and closed per poll.
    const jobs = jobsQueue(redis);
    try {
      return await this.loop(enqueue, jobs, cfg.out);
    } finally {
      remove?.();
      display.stop();
      await Promise.race([jobs.close(), this.parts.outage.gaveUp]);
    }
  }

  private async loop(enqueue: BackgroundEnqueue, jobs: Queue, out: string): Promise<PassCounts | undefined> {
    const { outage } = this.parts;
    for (;;) {
      if (enqueue.error) throw enqueue.error;
      if (enqueue.stopped) {
        await Promise.race([enqueue.finished, outage.gaveUp]);
        return undefined;
      }
      // Until the pass has reset the run's counters, they are the previous pass's. Nothing is asked while Redis is away.
      if (!outage.gone && (enqueue.done || enqueue.counts.discovered > 0) && (await Promise.race([this.poll(enqueue, jobs, out), outage.gaveUp]))) {
        const { discovered, alreadyDone, rowsWritten, apiRequests } = this.counts;
        return { discovered, alreadyDone, rowsWritten, apiRequests };
      }
      await Promise.race([sleep(250), outage.gaveUp]);
    }
  }

  /** Reads the run's numbers into the display; true once the pass is enqueued and every job of it has its row. */
  private async poll(enqueue: BackgroundEnqueue, jobs: Queue, out: string): Promise<boolean> {
    const { redis, runId, before, tail } = this.parts;
    // Read before the pending count: the last batch's jobs are in the pending set once the enqueue is done.
    const allEnqueued = enqueue.done;
    await tail.pull();
    const serverChanged = async () => this.parts.server !== undefined && (await serverRunId(redis)) !== this.parts.server;
    const p = await progress(redis, runId, () => queueStats(jobs), { out, seen: this.seen, serverChanged });
    this.seen = true;
    const t = await this.results.totals();
    const pass = enqueue.counts;
    this.counts = {
      discovered: pass.discovered,
      discoveryDone: enqueue.done,
      alreadyDone: pass.alreadyDone,
      rowsWritten: pass.rowsWritten + Number(p.meta.finished ?? 0),
      apiRequests: t.spent.requests - before.spent.requests,
      running: p.active,
      workers: p.workers,
    };
    const pacedBy = await pacedByNow(redis);
    if (pacedBy) this.counts.pacedBy = pacedBy;
    // Tokens and cost this run spent; failures as the run's rows have them now.
    this.parts.display.setTally({ tokens: t.spent.tokens - before.spent.tokens, cost: t.spent.cost - before.spent.cost, failures: new Map(Object.entries(t.failures)) });
    if (allEnqueued && p.pending === 0) return true;
    if (p.workers === 0 && !this.warnedNoWorker && Date.now() - this.startedAt > 3_000) {
      this.parts.display.note('no worker is connected: start one with omni-batch worker --redis URL');
      this.warnedNoWorker = true;
    }
    return false;
  }
}

/** As the CLI parsed them: typed and in range (commander checks them). */
export interface WorkerFlags {
  redis?: string;
  /** Jobs in flight at once in this worker. Default 4. */
  concurrency?: number;
  /** Seconds. Default 60. */
  lockDuration?: number;
  /** Seconds. Default 120. */
  drainTimeout?: number;
  /** As progress.ts's LogMode. */
  log?: 'text' | 'json';
  /** API base URLs this worker sends its key to (with --region and DASHSCOPE_BASE_URL; default every region's). */
  allowBaseUrl?: string[];
  region?: Region;
}

/**
 * Where this worker's key may go: what its own flags and environment name, else DashScope's documented endpoints
 * of every region. A job in Redis naming anything else is refused (shared/base-url.ts).
 */
export function keyDestinations(flags: Pick<WorkerFlags, 'allowBaseUrl' | 'region'>, env: NodeJS.ProcessEnv): string[] {
  const named = (flags.allowBaseUrl ?? []).map((u) => checkBaseUrl(u, '--allow-base-url'));
  const preset = flags.region ? REGIONS[flags.region] : undefined;
  if (preset) named.push(preset);
  const envBase = env.DASHSCOPE_BASE_URL?.trim();
  if (envBase) named.push(checkBaseUrl(envBase, 'DASHSCOPE_BASE_URL'));
  return named.length > 0 ? named : Object.values(REGIONS).filter((u) => u !== undefined);
}

export async function workerCommand(flags: WorkerFlags, io: Io): Promise<number> {
  const url = redisUrl(flags.redis, io.env);
  // Each job is sent with its own dialect's key: DashScope's to DashScope only, OMNI_API_KEY to a server of your own.
  const apiKeys = workerKeys(io.env);
  if (!apiKeys) throw new ConfigError('neither DASHSCOPE_API_KEY nor OMNI_API_KEY is set: every worker needs its key in its own environment (it never travels through Redis): DASHSCOPE_API_KEY for DashScope jobs, OMNI_API_KEY for a server of your own');
  const allowedBaseURLs = keyDestinations(flags, io.env);
  const concurrency = flags.concurrency ?? 4;
  const lockDurationMs = (flags.lockDuration ?? 60) * 1000;
  const drainMs = (flags.drainTimeout ?? 120) * 1000;
  // A worker's totals line every 30 s (OMNI_BATCH_PROGRESS_MS overrides it, as for run's progress).
  const { log: mode, intervalMs } = displayOptions({ log: flags.log }, io.env, 30_000);
  const giveUpMs = redisGiveUpMs(io.env);
  const redis = await connectRedis(url);
  const wlog = new WorkerLog((line) => io.err(line.replace(/\n$/, '')), mode, intervalMs);
  const outage = new RedisOutage(url, { giveUpMs, note: (l) => wlog.note(l, 'warn'), afterGiveUp: 'its jobs go back to the queue for other workers; start it again once Redis is back' });
  const unwatch = outage.watch(redis);
  const worker = await startWorker({
    redis,
    connect: () => connectRedis(url),
    apiKeys,
    allowedBaseURLs,
    concurrency,
    lockDurationMs,
    log: (l) => wlog.note(l, 'warn'),
    onRow: (row, runId) => wlog.row(row, runId),
  });
  wlog.note(`ready (concurrency ${concurrency}); Ctrl-C once finishes the jobs in hand, twice returns them to the queue`);
  wlog.start();
  let signals = 0;
  let resolveStop: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((r) => (resolveStop = r));
  const remove = io.onSignal?.(() => {
    signals++;
    if (signals === 1) {
      wlog.note(`draining: finishing the jobs in hand (up to ${drainMs / 1000} s; Ctrl-C again to stop now)`);
      void worker.drain(drainMs).then(() => resolveStop(EXIT.interrupted));
    } else {
      wlog.note('stopping now; the jobs in hand go back to the queue');
      void worker.stopNow().then(() => resolveStop(EXIT.interrupted));
    }
  });
  const gaveUp = outage.gaveUp.catch(async (err: unknown) => {
    await worker.drain(Math.min(drainMs, 10_000));
    throw err;
  });
  try {
    return await Promise.race([
      stopped,
      worker.stopped.then(async (c) => {
        await worker.drain(drainMs);
        return c;
      }),
      gaveUp,
    ]);
  } finally {
    remove?.();
    wlog.stop();
    unwatch();
    outage.stop();
    retire(redis);
  }
}

export interface ScheduleFlags extends DistributedFlags {
  cron?: string;
  /** Seconds. */
  every?: number;
  remove?: boolean;
}

export async function scheduleCommand(jobFile: string | undefined, flags: ScheduleFlags, io: Io): Promise<number> {
  const cfg = await resolveConfig(jobFile, flags, io.env, io.cwd);
  for (const warning of cfg.warnings) io.err(`omni-batch: ${warning}`);
  const runId = flags.runId ?? runIdFor(cfg);
  return withRedis(redisUrl(flags.redis, io.env), async (redis) => {
    if (flags.remove) {
      const removed = await unscheduleRun(redis, runId);
      io.out(removed ? `removed the schedule of ${runId}` : `no schedule for ${runId}`);
      return EXIT.ok;
    }
    if (!flags.cron === !flags.every) throw new ConfigError('schedule: give --cron "0 3 * * *" or --every SECONDS (one of them)');
    const everyMs = flags.every ? flags.every * 1000 : undefined;
    await scheduleRun(redis, cfg, runId, flags.cron ? { cron: flags.cron } : { everyMs: everyMs ?? 0 });
    io.out(runId);
    io.err(`omni-batch: ${runId} re-enqueues ${flags.cron ? `on "${flags.cron}"` : `every ${everyMs! / 1000} s`}; workers run it; only new or changed files are sent`);
    return EXIT.ok;
  });
}
