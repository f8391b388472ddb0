/**
 * Following batches: each open batch is retrieved, its status and request counts kept in the run file, and a
 * batch that has settled (completed, failed, expired, cancelled) is handed to `collect`. Between rounds the run
 * waits on its clock; a stop (Ctrl-C) ends the wait and leaves every batch running at DashScope, never cancelled.
 */
import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import type { Clock } from '../../shared/clock.js';
import type { BatchEntry, StateFile } from './state.js';

export const SETTLED: ReadonlySet<string> = new Set(['completed', 'failed', 'expired', 'cancelled']);

export interface FollowOptions {
  readonly client: OpenAI;
  readonly state: StateFile;
  readonly clock: Clock;
  readonly pollMs: number;
  /** Aborted on a stop: the wait ends, the batches go on. */
  readonly signal: AbortSignal;
  /** One round only (`omni-batch batch status`): settled batches are collected, the others left as they are. */
  readonly once: boolean;
  readonly collect: (entry: BatchEntry, batch: Batch) => Promise<void>;
  readonly onStatus?: (entry: BatchEntry, batch: Batch) => void;
}

/** One line about a batch: its id, status and request counts. */
export function describeBatch(b: Pick<Batch, 'id' | 'status' | 'request_counts'>): string {
  const c = b.request_counts;
  return `${b.id}: ${b.status}${c ? ` (${c.completed} of ${c.total} answered, ${c.failed} failed)` : ''}`;
}

async function round(o: FollowOptions): Promise<void> {
  for (const e of o.state.open) {
    if (e.batchId === undefined || o.signal.aborted) continue;
    const batch = await o.client.batches.retrieve(e.batchId);
    const changed = batch.status !== e.status;
    e.status = batch.status;
    if (changed) await o.state.save();
    o.onStatus?.(e, batch);
    if (SETTLED.has(batch.status)) await o.collect(e, batch);
  }
}

/** Follows until every batch is collected, or one round when `once`; returns false when stopped first. */
export async function followAll(o: FollowOptions): Promise<boolean> {
  for (;;) {
    await round(o);
    if (o.state.open.every((e) => e.collected || e.batchId === undefined)) return true;
    if (o.once || o.signal.aborted) return false;
    try {
      await o.clock.sleep(o.pollMs, o.signal);
    } catch {
      return false;
    }
  }
}
