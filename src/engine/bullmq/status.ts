/** A run's progress as `status`, `run --redis` and the dashboard show it: its rows, totals, rate, and the queue. */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { ConfigError } from '../../shared/errors.js';
import { modelInfo } from '../../shared/models.js';
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

/** Throws the one line a command prints for a run id that Redis does not have. */
export function checkRunExists(runId: string, meta: Record<string, string>): void {
  if (!meta.createdAt) throw new ConfigError(`no run ${runId} in this Redis (omni-batch enqueue prints the run id)`);
}

/** A run's numbers; `shared` gives the queue's numbers already asked for (else a Queue is opened and closed here). */
export async function progress(redis: Redis, runId: string, shared?: () => Promise<QueueStats>): Promise<Progress> {
  const results = new RunResults(redis, runId);
  const [meta, totals, pending] = await Promise.all([results.meta(), results.totals(), results.pendingCount()]);
  checkRunExists(runId, meta);
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
      currency: modelInfo(meta.model ?? '')?.prices?.currency ?? null,
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
