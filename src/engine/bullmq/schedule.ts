/** Scheduled runs: a BullMQ job scheduler on the control queue re-enqueues a job file; any worker runs the enqueue. */
import type { RedisClient } from './connection.js';
import type { RunConfig } from '../../shared/config.js';
import { controlQueue } from './queues.js';

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
