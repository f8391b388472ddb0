/** Scheduled runs: a BullMQ job scheduler on the control queue re-enqueues a job file; any worker runs the enqueue. */
import type { RedisClient } from './connection.js';
import type { RunConfig } from '../../shared/config.js';
import type { Clock } from '../../shared/clock.js';
import { collectRun } from './collect.js';
import { controlQueue } from './queues.js';
import { RunResults } from './results.js';

/** How often a firing looks whether its jobs are done. */
const DONE_POLL_MS = 500;

/**
 * After a scheduled firing has enqueued its jobs: waits until the run has none pending, then writes the output
 * (and its totals) where the job file says, as `collect` would, so `labels.csv` is up to date after every firing.
 * A drain of the worker ends the wait (the next firing, or `collect`, writes it). True when it wrote the output.
 */
export async function collectWhenDone(redis: RedisClient, cfg: RunConfig, runId: string, opts: { clock: Clock; signal: AbortSignal; log: (line: string) => void }): Promise<boolean> {
  const results = new RunResults(redis, runId);
  while ((await results.pendingCount()) > 0) {
    if (opts.signal.aborted) return false;
    await opts.clock.sleep(DONE_POLL_MS, opts.signal).catch(() => undefined);
  }
  if (opts.signal.aborted) return false;
  const totals = await collectRun(redis, { runId, out: cfg.out, format: cfg.format, csvRaw: cfg.csvRaw, totalsPath: cfg.totalsPath, log: opts.log });
  opts.log(`scheduled run ${runId}: ${totals.rows} rows written to ${cfg.out}`);
  return true;
}

/** Adds or replaces the scheduler that re-enqueues a job file (cron pattern or interval). */
export async function scheduleRun(redis: RedisClient, cfg: RunConfig, runId: string, when: { cron?: string; everyMs?: number }): Promise<string> {
  const queue = controlQueue(redis);
  try {
    const repeat = when.cron ? { pattern: when.cron } : { every: when.everyMs ?? 0 };
    await queue.upsertJobScheduler(runId, repeat, { name: 'enqueue', data: { runId, config: cfg }, opts: { removeOnComplete: 100, removeOnFail: 100 } });
    return runId;
  } finally {
    await queue.close();
  }
}

export async function unscheduleRun(redis: RedisClient, runId: string): Promise<boolean> {
  const queue = controlQueue(redis);
  try {
    return await queue.removeJobScheduler(runId);
  } finally {
    await queue.close();
  }
}
