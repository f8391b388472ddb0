/**
 * A worker of the distributed engine: runs file jobs through processJob (the same pipeline the in-process engine
 * runs) and saves their rows to Redis, and runs scheduled enqueues from the control queue.
 *
 * Retries: API errors are retried inside processJob with backoff and the run-wide gate, exactly as in-process;
 * BullMQ's own attempts cover what happens around it (a worker that crashed, Redis that went away). A job
 * whose data cannot be processed at all fails with UnrecoverableError, so it is not retried.
 */
import { setMaxListeners } from 'node:events';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import { DelayedError, UnrecoverableError, Worker, type Job as BullJob } from 'bullmq';
import type OpenAI from 'openai';
import pLimit from 'p-limit';
import { processJob, RunFatalError } from '../../worker/process.js';
import { createClient } from '../../worker/qwen-omni.js';
import { ReachWatch } from '../../worker/reach.js';
import { sleep, systemClock, type Clock } from '../../shared/clock.js';
import { refusedBaseUrl } from '../../shared/base-url.js';
import { DIALECTS, type ApiDialect } from '../../shared/dialect.js';
import { EXIT, OmniError, type ErrorCode } from '../../shared/errors.js';
import type { Job } from '../../shared/job.js';
import { rowWithoutAnswer, type Row } from '../../shared/row.js';
import { makeTempDir } from '../../shared/temp-dir.js';
import { alreadyDone, limitsOf, redactor, workerContext } from '../common.js';
import { enqueueRun } from './enqueue.js';
import { collectWhenDone } from './schedule.js';
import { nothingFound } from '../../producer/discover.js';
import { RedisGate } from './gate.js';
import { isConnectionError } from './outage.js';
import { retire, type RedisClient } from './connection.js';
import { CONTROL_QUEUE, JOBS_QUEUE, PREFIX } from './keys.js';
import { RedisPacer } from './pacer.js';
import type { ControlJobData, FileJobData } from './queues.js';
import { RunResults } from './results.js';
import { RedisUploadCache } from './upload-cache.js';

export interface WorkerOptions {
  readonly redis: RedisClient;
  /** Opens more connections like `redis` (BullMQ needs its own blocking connection per worker). */
  readonly connect: () => Promise<RedisClient>;
  /**
   * This worker's keys per dialect (shared/dialect.ts workerKeys): a job is sent with its own dialect's key only, so
   * the DashScope key never reaches another server. They never travel through Redis, and are redacted from every row
   * it saves. A job of a dialect this worker has no key for gets a failed row, auth_failed, and nothing is sent.
   */
  readonly apiKeys: Readonly<Partial<Record<ApiDialect, string>>>;
  /**
   * The base URLs this worker sends its key to (its own flags and environment decide, never a job): a job naming
   * another scheme, host or port gets a failed row, base_url_not_allowed, and no request is sent.
   */
  readonly allowedBaseURLs: readonly string[];
  readonly concurrency: number;
  /** How long a job's lock lasts without renewal; a worker that dies loses its jobs to others after this. */
  readonly lockDurationMs: number;
  readonly log: (line: string) => void;
  /** Every row this worker saved, after it is in Redis. */
  readonly onRow?: (row: Row, runId: string) => void;
  /** The API client for a run's base URL and dialect (asked once per pair). Default: the `openai` SDK with its key. */
  readonly clientFor?: (baseURL: string, api: ApiDialect, apiKey: string) => OpenAI;
  /** How the shared gate and pacer tell time and wait. Default: the system clock. */
  readonly clock?: Clock;
}

export interface RunningWorker {
  /**
   * Stops taking jobs and waits for the active ones (up to `deadlineMs`, then stops them hard); active jobs not
   * sending yet (waiting for a rate limit, a backoff, the pacer) go back to the queue at once.
   */
  drain(deadlineMs: number): Promise<void>;
  /** Aborts active jobs at once; they go back to the queue for another worker. */
  stopNow(): Promise<void>;
  /** Resolves with an exit code when the worker stopped on its own (a refused key, an API host it cannot reach). */
  readonly stopped: Promise<number>;
}

/** Runs file jobs and scheduled enqueues until drained or stopped. */
export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const hard = new AbortController();
  // One listener per job in flight (up to --concurrency): not a leak, so no MaxListenersExceededWarning.
  setMaxListeners(0, hard.signal);
  const drain = new AbortController();
  setMaxListeners(0, drain.signal);
  const tmpDir = await makeTempDir('worker');
  let stopWith: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((resolve) => (stopWith = resolve));
  const processFile = fileProcessor(opts, { signal: hard.signal, drain: drain.signal, tmpDir, stop: (code) => stopWith(code) });
  const [workerConnection, controlConnection] = [await opts.connect(), await opts.connect()];
  const worker = new Worker<FileJobData, string>(JOBS_QUEUE, processFile, {
    connection: workerConnection,
    prefix: PREFIX,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs,
    stalledInterval: Math.max(1_000, Math.round(opts.lockDurationMs / 2)),
    maxStalledCount: 3,
  });
  rowForFailedJobs(worker, opts);
  // Connection errors are the outage's to report, once (see outage.ts), not a line per reconnect attempt.
  worker.on('error', (err) => void (isConnectionError(err) || opts.log(`worker: ${err.message}`)));
  const control = controlWorker(opts, controlConnection, drain.signal);
  const closing = (force: boolean) => Promise.all([worker.close(force), control.close(force)]);
  /**
   * Closes within `graceMs` whatever Redis does: past it, jobs in hand are aborted and the connections cut (a Redis
   * that is gone would keep a close waiting for it forever).
   */
  const shutdown = async (graceMs: number, closed: Promise<unknown>) => {
    const timer = new AbortController();
    const inTime = await Promise.race([closed.then(() => true, () => true), sleep(graceMs, timer.signal).then(() => false, () => true)]);
    timer.abort();
    if (!inTime) {
      hard.abort(new OmniError('interrupted', 'drain deadline passed'));
      retire(workerConnection);
      retire(controlConnection);
      const grace = new AbortController();
      await Promise.race([closed.catch(() => undefined), sleep(CUT_GRACE_MS, grace.signal).catch(() => undefined)]);
      grace.abort();
    }
    retire(workerConnection);
    retire(controlConnection);
    await rm(tmpDir, { recursive: true, force: true });
  };
  return {
    drain: (deadlineMs) => {
      // Waits before a request (the gate, backoff, pacing) end at once; requests under way get until the deadline.
      drain.abort(new OmniError('interrupted', 'draining'));
      return shutdown(deadlineMs, closing(false));
    },
    async stopNow() {
      hard.abort(new OmniError('interrupted', 'stopped'));
      await shutdown(STOP_GRACE_MS, closing(false));
    },
    stopped,
  };
}

/** How long a hard stop waits for its jobs to go back to the queue before it cuts the connections. */
const STOP_GRACE_MS = 10_000;
/** After the connections are cut, how long the jobs in hand get to end. */
const CUT_GRACE_MS = 1_000;

/** The API client per (base URL, dialect), made once each with that dialect's key. */
function clientCache(opts: Pick<WorkerOptions, 'clientFor'>): (baseURL: string, api: ApiDialect, apiKey: string) => OpenAI {
  const make = opts.clientFor ?? ((baseURL: string, _api: ApiDialect, apiKey: string) => createClient(apiKey, baseURL));
  const made = memo<OpenAI>();
  return (baseURL, api, apiKey) => made(`${api} ${baseURL}`, () => make(baseURL, api, apiKey));
}

/** Why this worker sends nothing for a job: a base URL its configuration does not allow, or no key for its dialect. */
function refusal(s: FileJobData['settings'], api: ApiDialect, opts: WorkerOptions, hostname: string): { code: ErrorCode; why: string } | undefined {
  const refused = refusedBaseUrl(s.baseURL, opts.allowedBaseURLs);
  if (refused) return { code: 'base_url_not_allowed', why: refused };
  if (opts.apiKeys[api] !== undefined) return undefined;
  const variable = DIALECTS[api].keyVariable;
  return { code: 'auth_failed', why: `the ${api} dialect needs ${variable}, and worker host ${hostname} has none: set ${variable} in its environment (keys never travel through Redis)` };
}

interface HostParts {
  readonly signal: AbortSignal;
  readonly drain: AbortSignal;
  readonly tmpDir: string;
  /** Stops the worker with an exit code (its key was refused, the API host cannot be reached). */
  readonly stop: (code: number) => void;
}

/** What the worker does with a file job: runs the pipeline and saves the row (or hands the job back). */
function fileProcessor(opts: WorkerOptions, host: HostParts): (bull: BullJob<FileJobData>, token?: string) => Promise<string> {
  const client = clientCache(opts);
  const clock = opts.clock ?? systemClock;
  const gate = new RedisGate(opts.redis, clock);
  // Preprocessing (sharp, ffmpeg) gets one slot per core; the worker's concurrency bounds the API calls.
  const cpu = pLimit(Math.max(1, os.availableParallelism()));
  const redact = redactor(...Object.values(opts.apiKeys));
  const hostname = os.hostname();
  const reaches = memo<ReachWatch>();
  const reach = (baseURL: string) => reaches(baseURL, () => new ReachWatch());
  return async (bull, token) => {
    const data = bull.data;
    if (!data?.job?.path || !data.runId || !data.settings) throw new UnrecoverableError(`job ${bull.id}: not an omni-batch file job`);
    const results = new RunResults(opts.redis, data.runId);
    // An enqueue pass (a schedule firing, a second `enqueue`) that read the rows just before this job's first
    // delivery saved its row and left the queue adds the job again: its row is already this job, answered.
    const prior = await results.get(data.job.path);
    if (alreadyDone(prior, data.job)) {
      await results.save(prior, bull.id ?? '');
      return prior.status;
    }
    const s = data.settings;
    const api = data.job.api ?? 'dashscope';
    const refused = refusal(s, api, opts, hostname);
    const ctx = (apiKey: string) => workerContext(s, {
      client: client(s.baseURL, api, apiKey),
      gate,
      pacer: new RedisPacer(opts.redis, limitsOf(s), clock),
      signal: host.signal,
      drain: host.drain,
      reach: reach(s.baseURL),
      runCpu: (fn) => cpu(fn),
      runApi: (fn) => fn(),
      tmpDir: host.tmpDir,
      clock,
      uploads: new RedisUploadCache(opts.redis, data.runId),
    });
    const row = refused
      ? rowWithoutAnswer(data.job, 'failed', refused.code, refused.why)
      : await processJob(data.job, ctx(opts.apiKeys[api] ?? '')).catch((err: unknown) => rowOrHandBack(err, { bull, token, job: data.job, opts, host }));
    if (row.error_code === 'file_unreadable') row.error_message = `${row.error_message} (on worker host ${hostname})`;
    row.error_message = redact(row.error_message);
    await results.save(row, bull.id ?? '');
    opts.onRow?.(row, data.runId);
    return row.status;
  };
}

/** One `T` per key (a base URL, a dialect and base URL), made when first asked for. */
function memo<T>(): (key: string, make: () => T) => T {
  const made = new Map<string, T>();
  return (key, make) => {
    let t = made.get(key);
    if (t === undefined) made.set(key, (t = make()));
    return t;
  };
}

/** Run-ending errors that say nothing about the job, only about this worker: its key, its way to the API. */
const WORKER_FAULTS: Partial<Record<ErrorCode, string>> = {
  auth_failed: 'the API key of this worker was refused ({message}); check {key}{region}; worker stopping',
  api_unreachable: 'this worker cannot reach the API ({message}); check its network and --allow-base-url / --region; worker stopping, its jobs stay queued for a worker that can',
};

/**
 * A job's pipeline threw: an error that ends a run becomes the job's failed row; a refused key, an API host this
 * worker cannot reach, or a hard stop hands the job back to the queue (throws DelayedError); anything else is
 * BullMQ's to retry.
 */
async function rowOrHandBack(err: unknown, at: { bull: BullJob<FileJobData>; token: string | undefined; job: Job; opts: WorkerOptions; host: HostParts }): Promise<Row> {
  const fault = err instanceof RunFatalError ? WORKER_FAULTS[err.error.code] : undefined;
  if (err instanceof RunFatalError && fault) {
    // Leave the job for a worker whose key works and that reaches the API, and stop taking jobs.
    await at.bull.moveToDelayed(Date.now() + 5_000, at.token);
    const api = at.job.api ?? 'dashscope';
    at.opts.log(fault.replace('{message}', err.error.message).replace('{key}', DIALECTS[api].keyVariable).replace('{region}', api === 'dashscope' ? ' and its region' : ''));
    at.host.stop(EXIT.api);
    throw new DelayedError();
  }
  if (err instanceof RunFatalError) return rowWithoutAnswer(at.job, 'failed', err.error.code, err.error.message, 1);
  if (err instanceof OmniError && err.code === 'interrupted') {
    // A hard stop or a drain: the job goes straight back to the queue, without using up an attempt.
    await at.bull.moveToDelayed(Date.now(), at.token);
    throw new DelayedError();
  }
  throw err;
}

/** A job that failed for good around the pipeline (not an API error: those become rows) still gets its row. */
function rowForFailedJobs(worker: Worker<FileJobData, string>, opts: WorkerOptions): void {
  const redact = redactor(...Object.values(opts.apiKeys));
  worker.on('failed', (bull, err) => {
    if (!bull?.data?.job || err instanceof DelayedError) return;
    const attempts = bull.opts.attempts ?? 1;
    if (!(err instanceof UnrecoverableError) && bull.attemptsMade < attempts) return;
    const row = rowWithoutAnswer(bull.data.job, 'failed', 'internal_error', redact(`${bull.data.job.path}: ${err.message}`));
    new RunResults(opts.redis, bull.data.runId)
      .save(row, bull.id ?? '')
      .then(() => opts.onRow?.(row, bull.data.runId))
      .catch(() => undefined);
  });
}

/** Runs scheduled enqueues (one at a time), on a connection of its own. */
function controlWorker(opts: WorkerOptions, connection: RedisClient, drain: AbortSignal): Worker<ControlJobData, string> {
  const control = new Worker<ControlJobData, string>(
    CONTROL_QUEUE,
    async (bull) => {
      const cfg = bull.data.config;
      const r = await enqueueRun(cfg, opts.redis, { runId: bull.data.runId, log: opts.log });
      // An empty firing is a quiet night or a moved folder: said, never a failed job or a stopped worker.
      if (r.discovered === 0 && !cfg.allowEmpty) opts.log(`scheduled run ${bull.data.runId}: ${nothingFound(cfg)}`);
      // The output file is brought up to date once this firing's jobs are done (on this worker's filesystem).
      await collectWhenDone(opts.redis, cfg, bull.data.runId, { clock: opts.clock ?? systemClock, signal: drain, log: opts.log });
      return `${r.enqueued} enqueued`;
    },
    { connection, prefix: PREFIX, concurrency: 1, lockDuration: Math.max(opts.lockDurationMs, 60_000) },
  );
  control.on('error', (err) => void (isConnectionError(err) || opts.log(`control: ${err.message}`)));
  // A firing that cannot run (its input folder gone, a manifest that no longer parses) is said, and the next one tries again.
  control.on('failed', (bull, err) => opts.log(`scheduled run ${bull?.data.runId ?? '?'}: ${err.message}`));
  return control;
}
