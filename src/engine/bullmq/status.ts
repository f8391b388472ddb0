/** A run's progress as `status`, `run --redis` and the dashboard show it: its rows, totals, rate, and the queue. */
import type { Queue } from 'bullmq';
import type { RedisClient } from './connection.js';
import { ConfigError, IncompleteError } from '../../shared/errors.js';
import { readFile } from 'node:fs/promises';
import { runFilePathFor } from '../../shared/output/run-file.js';
import { metaCurrency } from '../../shared/models.js';
import { RUNS_KEY } from './keys.js';
import { jobsQueue } from './queues.js';
import { RunResults, type RunTotals } from './results.js';

export interface Progress {
  runId: string;
  meta: Record<string, string>;
  rows: number;
  ok: number;
  failed: number;
  skipped: number;
  discovered: number;
  /** Jobs of this run still queued or running. */
  pending: number;
  producerDone: boolean;
  cost: number;
  currency: string | null;
  tokens: number;
  /** Every count of the run: tokens by modality, rows by kind, failures by error code. */
  totals: RunTotals;
  /** Files finished per second in this pass (up to its last finished file once nothing is pending). */
  ratePerSec: number;
  /** Seconds to go at the rate of this pass so far, when it can be told. */
  etaSec: number | undefined;
  /** Jobs waiting in the shared queue (all runs) and running now, and connected workers. */
  waiting: number;
  active: number;
  workers: number;
}

/** The shared queue's numbers: the same for every run, so a page listing many runs asks once (see progress). */
export interface QueueStats {
  counts: Record<string, number>;
  workers: number;
}

export async function queueStats(queue: Queue): Promise<QueueStats> {
  const [counts, workers] = await Promise.all([queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized'), queue.getWorkersCount()]);
  return { counts, workers };
}

/** What a command knows that tells a Redis that lost a run apart from a mistyped run id. */
export interface RunHint {
  /** The run's output: its `.run.json` names the run that wrote it, and its ok rows survive Redis. */
  readonly out?: string | undefined;
  /** This command saw the run in Redis before (it follows it): gone now, it was lost, not mistyped. */
  readonly seen?: boolean;
  /** Whether the Redis server is another one than when the command started (its run_id changed: a restart). */
  readonly serverChanged?: () => Promise<boolean>;
}

/** The server's run_id (it changes when Redis restarts); undefined when INFO is refused or on a cluster. */
export async function serverRunId(redis: RedisClient): Promise<string | undefined> {
  if (redis.isCluster) return undefined;
  const info = await redis.info('server').catch(() => '');
  return /^run_id:(\S+)/m.exec(info)?.[1];
}

/** The run id an output's `.run.json` names (read loosely: only that field matters here), if any. */
async function runIdOf(out: string): Promise<string | undefined> {
  try {
    const { runId } = JSON.parse(await readFile(runFilePathFor(out), 'utf8')) as { runId?: unknown };
    return typeof runId === 'string' ? runId : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Throws the one line a command prints for a run id that Redis does not have. A Redis that lost its runs
 * (flushed, restarted without AOF, keys evicted) is told apart from a mistyped id: the former is IncompleteError
 * (exit 6) and says that the output's ok rows are safe, the latter a ConfigError naming some runs Redis has.
 */
export async function requireRun(redis: RedisClient, runId: string, meta: Record<string, string>, hint: RunHint = {}): Promise<void> {
  if (meta.createdAt) return;
  const runs = await redis.zrevrange(RUNS_KEY, 0, 2);
  const wrote = hint.out ? await runIdOf(hint.out) : undefined;
  const why =
    hint.serverChanged && (await hint.serverChanged())
      ? 'Redis restarted without its data'
      : hint.seen
        ? 'it was there while this command followed it'
        : wrote === runId
          ? `${hint.out ?? ''} was written by it`
          : runs.length === 0
            ? 'this Redis has no omni-batch run at all'
            : undefined;
  if (why) {
    const output = hint.out ? `the ok rows already in ${hint.out}` : "the ok rows in the run's output file";
    throw new IncompleteError(
      `run ${runId} is gone from Redis (${why}: flushed, restarted without AOF, or keys evicted); ${output} are safe: run the same run --redis or enqueue command again and only what the output lacks is sent`,
    );
  }
  const some = runs.length ? ` (runs in it: ${runs.join(', ')}${runs.length === 3 ? ', ...' : ''})` : '';
  throw new ConfigError(`no run ${runId} in this Redis${some}; check the run id (omni-batch enqueue prints it, and <out>.run.json names it)`);
}

/** A run's numbers; `shared` gives the queue's numbers already asked for (else a Queue is opened and closed here). */
export async function progress(redis: RedisClient, runId: string, shared?: () => Promise<QueueStats>, hint?: RunHint): Promise<Progress> {
  const results = new RunResults(redis, runId);
  const [meta, totals, pending] = await Promise.all([results.meta(), results.totals(), results.pendingCount()]);
  await requireRun(redis, runId, meta, hint);
  const queue = shared ? undefined : jobsQueue(redis);
  try {
    const { counts, workers } = await (shared ? shared() : queueStats(queue as Queue));
    const { ratePerSec, etaSec } = passRate(meta, pending);
    return {
      runId,
      meta,
      rows: totals.rows,
      ok: totals.byStatus.ok,
      failed: totals.byStatus.failed,
      skipped: totals.byStatus.skipped,
      discovered: Number(meta.discovered ?? 0),
      pending,
      producerDone: meta.producerDone === '1',
      cost: totals.cost,
      currency: metaCurrency(meta),
      tokens: totals.tokens.total_tokens ?? 0,
      totals,
      ratePerSec,
      etaSec,
      waiting: (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      workers,
    };
  } finally {
    await queue?.close();
  }
}

/** Files finished per second since this pass was enqueued, and the seconds to go at that rate. */
function passRate(meta: Record<string, string>, pending: number): { ratePerSec: number; etaSec: number | undefined } {
  const finished = Number(meta.finished ?? 0);
  const end = pending === 0 && meta.lastFinishedAt ? Number(meta.lastFinishedAt) : Date.now();
  const elapsed = (end - Date.parse(meta.enqueueStartedAt ?? meta.createdAt ?? '')) / 1000;
  const rate = elapsed > 0 ? finished / elapsed : 0;
  return { ratePerSec: rate, etaSec: pending === 0 ? 0 : rate > 0 ? Math.round(pending / rate) : undefined };
}
