/**
 * The distributed engine on BullMQ: a producer enqueues one job per file, any number of workers on any number
 * of machines run processJob (the same pipeline the in-process engine runs), and rows land in Redis until
 * `collect` writes the same CSV/JSONL and totals file the in-process engine writes.
 *
 * Retries: API errors are retried inside processJob with backoff and the run-wide gate, exactly as in-process;
 * BullMQ's own attempts cover what happens around it (a worker that crashed, Redis that went away). A job
 * whose data cannot be processed at all fails with UnrecoverableError, so it is not retried.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { rm } from 'node:fs/promises';
import { makeTempDir } from '../../shared/temp-dir.js';
import os from 'node:os';
import path from 'node:path';
import { DelayedError, Queue, UnrecoverableError, Worker, type Job as BullJob } from 'bullmq';
import type { Redis } from 'ioredis';
import type OpenAI from 'openai';
import pLimit from 'p-limit';
import { discover, eachDiscovered } from '../../producer/discover.js';
import { planItem, withoutInlineText } from '../../producer/plan.js';
import { checkInputs } from '../../producer/scan.js';
import { planContext } from '../../producer/templates.js';
import { processJob, RunFatalError, type WorkerContext } from '../../worker/process.js';
import { createClient } from '../../worker/qwen-omni.js';
import type { OutputFormat, RunConfig } from '../../shared/config.js';
import { ConfigError, OmniError } from '../../shared/errors.js';
import { PLAIN_ANSWER, type Job } from '../../shared/job.js';
import { modelInfo } from '../../shared/models.js';
import { ResultFile } from '../../shared/output/result-file.js';
import { recordedSettings } from '../../shared/output/run-file.js';
import { writeTotals, type RunStats, type Totals } from '../../shared/output/totals.js';
import { rowLayout, rowWithoutAnswer, textLayout, type Row, type RowLayout } from '../../shared/row.js';
import { CONTROL_QUEUE, JOBS_QUEUE, PREFIX, RedisGate, RedisPacer } from './redis.js';
import { RunResults, type RunTotals } from './results.js';

/** What a file job carries: the planned job and the run's settings. Never the API key. */
export interface FileJobData {
  readonly runId: string;
  readonly job: Job;
  /** The run's settings a worker needs, taken from its RunConfig. */
  readonly settings: Pick<RunConfig, 'baseURL' | 'idleTimeoutMs' | 'retries' | 'retryBaseMs' | 'retryMaxMs' | 'rpm' | 'tpm'>;
}

/** A scheduled enqueue: the run's whole configuration (plain data, no key). */
export interface ControlJobData {
  readonly runId: string;
  readonly config: RunConfig;
}

/** A run is named by its output file: the same output is the same run, as with the in-process engine. */
export function runIdFor(cfg: RunConfig): string {
  const name = path.basename(cfg.out, path.extname(cfg.out)).replace(/[^A-Za-z0-9_-]+/g, '-').slice(0, 40) || 'run';
  return `${name}-${createHash('sha256').update(cfg.out).digest('hex').slice(0, 10)}`;
}

/** BullMQ id of a file job: one per run, file and job id, so identical files in one run are still two jobs. */
function bullJobId(runId: string, job: Job): string {
  return `${runId}.${createHash('sha256').update(job.path).digest('hex').slice(0, 16)}.${job.id}`;
}

/** Attempts cover crashes around the pipeline (API errors are retried inside it); done jobs leave Redis at once. */
export function jobsQueue(redis: Redis): Queue<FileJobData> {
  return new Queue<FileJobData>(JOBS_QUEUE, {
    connection: redis,
    prefix: PREFIX,
    defaultJobOptions: { attempts: 3, backoff: { type: 'exponential', delay: 2_000 }, removeOnComplete: true, removeOnFail: true },
  });
}

export function controlQueue(redis: Redis): Queue<ControlJobData> {
  return new Queue<ControlJobData>(CONTROL_QUEUE, { connection: redis, prefix: PREFIX });
}

export interface EnqueueResult {
  runId: string;
  discovered: number;
  enqueued: number;
  alreadyDone: number;
  /** Rows written by the producer itself (skipped or failed before any call). */
  rowsWritten: number;
}

const BATCH = 200;

/**
 * Streams the scan into the queue in batches: plans each item (probe, render, id), writes rows that need no
 * call (skipped, unreadable), leaves alone files that already have an `ok` row with the same id, and adds the
 * rest. Memory: one batch plus the set of paths seen in this pass.
 */
export async function enqueueRun(
  cfg: RunConfig,
  redis: Redis,
  runId: string,
  log: (line: string) => void,
  /** Filled in as the pass goes: give one to watch the counts (`run --redis` shows them live). */
  result: EnqueueResult = { runId, discovered: 0, enqueued: 0, alreadyDone: 0, rowsWritten: 0 },
  /** Checked before each file: true stops discovering; what was planned is still enqueued (a Ctrl-C). */
  shouldStop: () => boolean = () => false,
): Promise<EnqueueResult> {
  const ctx = await planContext(cfg);
  await checkInputs(cfg.inputs);
  const queue = jobsQueue(redis);
  const results = new RunResults(redis, runId);
  // One pass over the run's rows serves both the rows to adopt and the answers to copy (below).
  const { notDone, okIds } = await indexRun(results);
  const adopted = await adoptFixedRows(results, cfg.out, cfg.format, notDone, (row) => {
    if (!okIds.has(row.id)) okIds.set(row.id, row.path);
  });
  if (adopted) log(`run ${runId}: ${adopted} ok rows of ${cfg.out} that Redis had as not done (fixed by an in-process retry) were saved to Redis, not sent again`);
  const now = new Date().toISOString();
  await results.setMetaOnce('createdAt', now);
  await results.register(Date.parse(now));
  await results.setMeta({
    out: cfg.out,
    format: cfg.format,
    turns: 1 + cfg.followUps.length,
    // The columns collect writes (schema fields, reasoning, audio_path): collect has no job file to derive them from.
    layout: JSON.stringify(rowLayout(1 + cfg.followUps.length, cfg.answer)),
    model: cfg.model,
    baseURL: cfg.baseURL,
    // The settings `collect` records beside the output, so that `omni-batch retry OUTPUT` works on it (no key in them).
    config: JSON.stringify(recordedSettings(cfg)),
    enqueueStartedAt: now,
    producerDone: 0,
    finished: 0,
  });
  const settings: FileJobData['settings'] = {
    baseURL: cfg.baseURL,
    idleTimeoutMs: cfg.idleTimeoutMs,
    retries: cfg.retries,
    retryBaseMs: cfg.retryBaseMs,
    retryMaxMs: cfg.retryMaxMs,
    rpm: cfg.rpm,
    tpm: cfg.tpm,
  };
  let batch: { name: string; data: FileJobData; opts: { jobId: string } }[] = [];
  const flush = async () => {
    if (!batch.length) return;
    const b = batch;
    batch = [];
    // Pending first: a job that finishes before it is marked would otherwise stay pending forever.
    await results.addPending(b.map((j) => j.opts.jobId));
    await queue.addBulk(b);
  };
  // Jobs already answered under another path (a file renamed or copied, a manifest row that moved): their ok row
  // is copied to the new path, not paid for again, as the in-process engine does from its output file (okIds).
  const limit = pLimit(Math.max(2, os.availableParallelism()));
  let failure: Error | undefined;
  const plan = async (item: Parameters<typeof planItem>[0]) => {
    const planned = await planItem(item, ctx);
    if ('row' in planned) {
      await results.save(planned.row);
      result.rowsWritten++;
      return;
    }
    const prior = await results.get(planned.job.path);
    if (prior && prior.id === planned.job.id && prior.status === 'ok') {
      result.alreadyDone++;
      return;
    }
    const sameJob = okIds.get(planned.job.id);
    if (sameJob !== undefined && sameJob !== planned.job.path) {
      const answered = await results.get(sameJob);
      if (answered?.status === 'ok' && answered.id === planned.job.id) {
        await results.save({ ...answered, path: planned.job.path, source: planned.job.source });
        result.alreadyDone++;
        return;
      }
    }
    // Redis holds the path, not the content: a queue of 200,000 text files stays small.
    batch.push({ name: 'file', data: { runId, job: withoutInlineText(planned.job), settings }, opts: { jobId: bullJobId(runId, planned.job) } });
    result.enqueued++;
    if (batch.length >= BATCH) await flush();
  };
  try {
    await eachDiscovered(discover(cfg), { key: (item) => item.path, window: 64, stop: () => failure !== undefined || shouldStop(), onItem: () => void result.discovered++ }, (item) =>
      limit(() => plan(item)).catch((err: unknown) => {
        failure ??= err instanceof Error ? err : new Error(String(err));
      }),
    );
    if (failure) throw failure;
    await flush();
  } finally {
    await queue.close();
  }
  await results.setMeta({
    discovered: result.discovered,
    enqueued: result.enqueued,
    alreadyDone: result.alreadyDone,
    producerRows: result.rowsWritten,
    producerDone: 1,
    enqueueFinishedAt: new Date().toISOString(),
  });
  await results.incrMeta('enqueuePasses', 1);
  const cut = shouldStop() ? ' (stopped early: run the same command again to enqueue the rest)' : '';
  log(`run ${runId}: ${result.discovered} files, ${result.enqueued} enqueued, ${result.alreadyDone} already done, ${result.rowsWritten} rows written without a call${cut}`);
  return result;
}

export interface WorkerOptions {
  readonly redis: Redis;
  /** Opens more connections like `redis` (BullMQ needs its own blocking connection per worker). */
  readonly connect: () => Promise<Redis>;
  readonly apiKey: string;
  readonly concurrency: number;
  /** How long a job's lock lasts without renewal; a worker that dies loses its jobs to others after this. */
  readonly lockDurationMs: number;
  readonly log: (line: string) => void;
  /** Every row this worker saved, after it is in Redis. */
  readonly onRow?: (row: Row, runId: string) => void;
}

export interface RunningWorker {
  /** Stops taking jobs and waits for the active ones (up to `deadlineMs`, then stops them hard). */
  drain(deadlineMs: number): Promise<void>;
  /** Aborts active jobs at once; they go back to the queue for another worker. */
  stopNow(): Promise<void>;
  /** Resolves with an exit code when the worker stopped on its own (a refused key). */
  readonly stopped: Promise<number>;
}

/** Runs file jobs and scheduled enqueues until drained or stopped. */
export async function startWorker(opts: WorkerOptions): Promise<RunningWorker> {
  const hard = new AbortController();
  // One listener per job in flight (up to --concurrency): not a leak, so no MaxListenersExceededWarning.
  setMaxListeners(0, hard.signal);
  const clients = new Map<string, OpenAI>();
  const client = (baseURL: string) => {
    let c = clients.get(baseURL);
    if (!c) clients.set(baseURL, (c = createClient(opts.apiKey, baseURL)));
    return c;
  };
  const gate = new RedisGate(opts.redis);
  // Preprocessing (sharp, ffmpeg) gets one slot per core; the worker's concurrency bounds the API calls.
  const cpu = pLimit(Math.max(1, os.availableParallelism()));
  const tmpDir = await makeTempDir('worker');
  const host = os.hostname();
  let stopWith: ((code: number) => void) | undefined;
  const stopped = new Promise<number>((resolve) => (stopWith = resolve));

  const processFile = async (bull: BullJob<FileJobData>, token?: string): Promise<string> => {
    const data = bull.data;
    if (!data?.job?.path || !data.runId || !data.settings) throw new UnrecoverableError(`job ${bull.id}: not an omni-batch file job`);
    // Jobs enqueued by an older omni-batch have no answer options: they asked for free text.
    const job: Job = data.job.answer ? data.job : { ...data.job, answer: PLAIN_ANSWER };
    const results = new RunResults(opts.redis, data.runId);
    const s = data.settings;
    const ctx: WorkerContext = {
      client: client(s.baseURL),
      idleTimeoutMs: s.idleTimeoutMs,
      retry: { retries: s.retries, baseMs: s.retryBaseMs, maxMs: s.retryMaxMs },
      gate,
      pacer: new RedisPacer(opts.redis, { rpm: s.rpm || undefined, tpm: s.tpm || undefined }),
      signal: hard.signal,
      onRequest: () => undefined,
      runCpu: (fn) => cpu(fn),
      runApi: (fn) => fn(),
      tmpDir,
    };
    let row: Row;
    try {
      row = await processJob(job, ctx);
    } catch (err) {
      if (err instanceof RunFatalError && err.error.code === 'auth_failed') {
        // This worker's key is refused: leave the job for a worker whose key works, and stop.
        await bull.moveToDelayed(Date.now() + 5_000, token);
        opts.log(`the API key of this worker was refused (${err.error.message}); check DASHSCOPE_API_KEY and its region; worker stopping`);
        stopWith?.(3);
        throw new DelayedError();
      }
      if (err instanceof RunFatalError) {
        row = rowWithoutAnswer(job, 'failed', err.error.code, err.error.message, 1);
      } else if (err instanceof OmniError && err.code === 'interrupted') {
        // A hard stop: the job goes straight back to the queue, without using up an attempt.
        await bull.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      } else throw err;
    }
    if (row.error_code === 'file_unreadable') row.error_message = `${row.error_message} (on worker host ${host})`;
    row.error_message = row.error_message.split(opts.apiKey).join('***');
    await results.save(row, bull.id ?? '');
    opts.onRow?.(row, data.runId);
    return row.status;
  };

  const workerConnection = await opts.connect();
  const controlConnection = await opts.connect();
  const worker = new Worker<FileJobData, string>(JOBS_QUEUE, processFile, {
    connection: workerConnection,
    prefix: PREFIX,
    concurrency: opts.concurrency,
    lockDuration: opts.lockDurationMs,
    stalledInterval: Math.max(1_000, Math.round(opts.lockDurationMs / 2)),
    maxStalledCount: 3,
  });
  // A job that failed for good around the pipeline (not an API error: those become rows) still gets its row.
  worker.on('failed', (bull, err) => {
    if (!bull?.data?.job || err instanceof DelayedError) return;
    const attempts = bull.opts.attempts ?? 1;
    if (!(err instanceof UnrecoverableError) && bull.attemptsMade < attempts) return;
    const row = rowWithoutAnswer(bull.data.job, 'failed', 'internal_error', `${bull.data.job.path}: ${err.message}`.split(opts.apiKey).join('***'));
    new RunResults(opts.redis, bull.data.runId)
      .save(row, bull.id ?? '')
      .then(() => opts.onRow?.(row, bull.data.runId))
      .catch(() => undefined);
  });
  worker.on('error', (err) => opts.log(`worker: ${err.message}`));

  const control = new Worker<ControlJobData, string>(
    CONTROL_QUEUE,
    async (bull) => {
      const r = await enqueueRun(bull.data.config, opts.redis, bull.data.runId, opts.log);
      return `${r.enqueued} enqueued`;
    },
    { connection: controlConnection, prefix: PREFIX, concurrency: 1, lockDuration: Math.max(opts.lockDurationMs, 60_000) },
  );
  control.on('error', (err) => opts.log(`control: ${err.message}`));

  const closeAll = async (force: boolean) => {
    await Promise.all([worker.close(force), control.close(force)]);
    workerConnection.disconnect();
    controlConnection.disconnect();
    await rm(tmpDir, { recursive: true, force: true });
  };
  return {
    async drain(deadlineMs) {
      const timer = setTimeout(() => hard.abort(new OmniError('interrupted', 'drain deadline passed')), deadlineMs);
      await closeAll(false);
      clearTimeout(timer);
    },
    async stopNow() {
      hard.abort(new OmniError('interrupted', 'stopped'));
      await closeAll(false);
    },
    stopped,
  };
}

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

/** A run's numbers; `shared` gives the queue's numbers already asked for (else a Queue is opened and closed here). */
export async function progress(redis: Redis, runId: string, shared?: () => Promise<QueueStats>): Promise<Progress> {
  const results = new RunResults(redis, runId);
  const [meta, totals, pending] = await Promise.all([results.meta(), results.totals(), results.pendingCount()]);
  if (!meta.createdAt) throw new ConfigError(`no run ${runId} in this Redis (omni-batch enqueue prints the run id)`);
  const queue = shared ? undefined : jobsQueue(redis);
  try {
    const { counts, workers } = await (shared ? shared() : queueStats(queue as Queue));
    const finished = Number(meta.finished ?? 0);
    const end = pending === 0 && meta.lastFinishedAt ? Number(meta.lastFinishedAt) : Date.now();
    const elapsed = (end - Date.parse(meta.enqueueStartedAt ?? meta.createdAt)) / 1000;
    const rate = elapsed > 0 ? finished / elapsed : 0;
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
      ratePerSec: rate,
      etaSec: pending === 0 ? 0 : rate > 0 ? Math.round(pending / rate) : undefined,
      waiting: (counts.waiting ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      workers,
    };
  } finally {
    await queue?.close();
  }
}

/**
 * Writes the run's rows to a fresh CSV/JSONL (streamed from Redis a page at a time) and the totals file beside
 * it: the same files the in-process engine writes.
 */
export async function collectRun(
  redis: Redis,
  runId: string,
  out: string,
  format: 'csv' | 'jsonl',
  totalsPath: string,
  /** What this pass did (`run --redis` knows); by default the run's counts since it was first enqueued. */
  pass?: Partial<RunStats>,
  log: (line: string) => void = () => undefined,
): Promise<Totals> {
  const results = new RunResults(redis, runId);
  const meta = await results.meta();
  if (!meta.createdAt) throw new ConfigError(`no run ${runId} in this Redis (omni-batch enqueue prints the run id)`);
  const adopted = await adoptFixedRows(results, out, format);
  if (adopted) log(`${adopted} ok rows of ${out} that Redis had as not done (fixed by an in-process retry) were kept and saved to Redis`);
  const turns = Math.max(1, Number(meta.turns ?? 1));
  // Runs enqueued before layouts were stored have plain-text answers.
  const layout: RowLayout = meta.layout ? (JSON.parse(meta.layout) as RowLayout) : textLayout(turns);
  const file = await ResultFile.open(out, format, layout, { fresh: true });
  let rows = 0;
  try {
    for await (const row of results.scan()) {
      file.append(row);
      rows++;
    }
  } catch (err) {
    file.closeNow();
    throw err;
  }
  const acc = await file.finish();
  const model = meta.model ?? '';
  const totals: Totals = {
    ...acc.result(out, modelInfo(model)?.prices?.currency ?? null),
    run: {
      startedAt: meta.createdAt,
      finishedAt: new Date().toISOString(),
      wallMs: Date.now() - Date.parse(meta.createdAt),
      discovered: Number(meta.discovered ?? rows),
      alreadyDone: Number(meta.alreadyDone ?? 0),
      rowsWritten: rows,
      apiRequests: (await results.totals()).spent.requests,
      interrupted: false,
      ...pass,
    },
  };
  await writeTotals(totalsPath, totals);
  return totals;
}

/**
 * An output that `omni-batch retry OUT` (in-process) fixed after a collect holds ok rows that Redis still has
 * as failed. Before Redis is enqueued from or collected over that output, those rows (same path, same job id)
 * are saved to Redis, so a paid answer is never thrown away nor asked again. Memory: the paths Redis has not done.
 */
export async function adoptFixedRows(
  results: RunResults,
  out: string,
  format: OutputFormat,
  /** The run's paths not done, with their job ids (from indexRun; read here when not given). Entries adopted are removed. */
  notDone?: Map<string, string>,
  onAdopted: (row: Row) => void = () => undefined,
): Promise<number> {
  const todo = notDone ?? (await indexRun(results)).notDone;
  if (todo.size === 0) return 0;
  let adopted = 0;
  for await (const row of ResultFile.readRows(out, format)) {
    if (row.status !== 'ok' || todo.get(row.path) !== row.id) continue;
    await results.save(row);
    todo.delete(row.path);
    onAdopted(row);
    adopted++;
  }
  return adopted;
}

/** One pass over a run's rows: the paths not done (path -> job id), and per job id the first path that has its answer. */
async function indexRun(results: RunResults): Promise<{ notDone: Map<string, string>; okIds: Map<string, string> }> {
  const notDone = new Map<string, string>();
  const okIds = new Map<string, string>();
  for await (const row of results.scan()) {
    if (row.status !== 'ok') notDone.set(row.path, row.id);
    else if (!okIds.has(row.id)) okIds.set(row.id, row.path);
  }
  return { notDone, okIds };
}

/** The settings the run was last enqueued with (see enqueueRun); undefined for a run enqueued before they were stored. */
export function enqueuedConfig(meta: Record<string, string>): RunConfig | undefined {
  if (!meta.config) return undefined;
  try {
    return { ...(JSON.parse(meta.config) as RunConfig), dryRun: false };
  } catch {
    return undefined;
  }
}

/** Adds or replaces the scheduler that re-enqueues a job file (cron pattern or interval). */
export async function scheduleRun(redis: Redis, cfg: RunConfig, runId: string, when: { cron?: string; everyMs?: number }): Promise<string> {
  const queue = controlQueue(redis);
  try {
    const repeat = when.cron ? { pattern: when.cron } : { every: when.everyMs ?? 0 };
    await queue.upsertJobScheduler(runId, repeat, { name: 'enqueue', data: { runId, config: cfg }, opts: { removeOnComplete: 100, removeOnFail: 100 } });
    return runId;
  } finally {
    await queue.close();
  }
}

export async function unscheduleRun(redis: Redis, runId: string): Promise<boolean> {
  const queue = controlQueue(redis);
  try {
    return await queue.removeJobScheduler(runId);
  } finally {
    await queue.close();
  }
}
