/** The two BullMQ queues of the distributed engine and what their jobs carry. */
import { Queue } from 'bullmq';
import type { RedisClient } from './connection.js';
import type { RunConfig } from '../../shared/config.js';
import type { Job } from '../../shared/job.js';
import type { WorkerSettings } from '../common.js';
import { CONTROL_QUEUE, JOBS_QUEUE, PREFIX } from './keys.js';

/** What a file job carries: the planned job and the run's settings. Never the API key. */
export interface FileJobData {
  readonly runId: string;
  readonly job: Job;
  /** The run's settings a worker needs, taken from its RunConfig. */
  readonly settings: WorkerSettings;
}

/** A scheduled enqueue: the run's whole configuration (plain data, no key). */
export interface ControlJobData {
  readonly runId: string;
  readonly config: RunConfig;
}

/** Attempts cover crashes around the pipeline (API errors are retried inside it); done jobs leave Redis at once. */
export function jobsQueue(redis: RedisClient): Queue<FileJobData> {
  return quiet(
    new Queue<FileJobData>(JOBS_QUEUE, {
      connection: redis,
      prefix: PREFIX,
      defaultJobOptions: { attempts: 3, backoff: { type: 'exponential', delay: 2_000 }, removeOnComplete: true, removeOnFail: true },
    }),
  );
}

export function controlQueue(redis: RedisClient): Queue<ControlJobData> {
  return quiet(new Queue<ControlJobData>(CONTROL_QUEUE, { connection: redis, prefix: PREFIX }));
}

/**
 * A Queue re-emits its connection's errors; with no listener BullMQ prints each with its stack (once per reconnect
 * attempt while Redis is away). A lost connection is reported once by RedisOutage, a failed command where it fails.
 */
function quiet<Q extends Queue>(queue: Q): Q {
  queue.on('error', () => undefined);
  return queue;
}
