/**
 * Every Redis key and queue name of the distributed engine, and the ids it gives runs and file jobs.
 *
 * Every key starts with the hash tag `{omni-batch}`, so all of them live in one hash slot: the same deployment
 * runs on a single Redis, a managed Redis or Redis Cluster, and multi-key scripts stay legal.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { RunConfig } from '../../shared/config.js';
import type { Job } from '../../shared/job.js';

export const PREFIX = '{omni-batch}';
/** The queue of file jobs and the queue of control jobs (scheduled enqueues). */
export const JOBS_QUEUE = 'jobs';
export const CONTROL_QUEUE = 'control';

export function runKeys(runId: string) {
  const base = `${PREFIX}:run:${runId}`;
  return {
    meta: `${base}:meta`,
    rows: `${base}:rows`,
    totals: `${base}:totals`,
    pending: `${base}:pending`,
    /** The paths of the newest rows, newest first, capped (the dashboard's "latest rows"). */
    latest: `${base}:latest`,
    /** Per error code, the path and message of the newest row that failed (or was skipped) with it. */
    examples: `${base}:examples`,
    /** A capped stream of the paths whose row was saved, in order: `run --redis` appends them to the output as they come. */
    journal: `${base}:journal`,
    /** Temporary uploads (oss://) of the run's files, by content hash and model: every worker reuses them (48 h). */
    uploads: `${base}:uploads`,
  };
}

/** Every run ever enqueued, scored by its latest enqueue (ms): the dashboard lists runs from here. */
export const RUNS_KEY = `${PREFIX}:runs`;

/** The shared rate limits of all workers: the pause after a 429, and the pacer's two theoretical arrival times. */
export const LIMIT_KEYS = {
  pause: `${PREFIX}:limits:pause-until`,
  requestTat: `${PREFIX}:limits:request-tat`,
  tokenTat: `${PREFIX}:limits:token-tat`,
  /** `--rpm 60` while some worker's requests wait for the pacer (a short-lived key; see RedisPacer.onHeld). */
  pacedBy: `${PREFIX}:limits:paced-by`,
};

/** A run is named by its output file: the same output is the same run, as with the in-process engine. */
export function runIdFor(cfg: RunConfig): string {
  const name = path.basename(cfg.out, path.extname(cfg.out)).replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 40) || 'run';
  return `${name}-${createHash('sha256').update(cfg.out).digest('hex').slice(0, 10)}`;
}

/** BullMQ id of a file job: one per run, file and job id, so identical files in one run are still two jobs. */
export function bullJobId(runId: string, job: Job): string {
  return `${runId}.${createHash('sha256').update(job.path).digest('hex').slice(0, 16)}.${job.id}`;
}
