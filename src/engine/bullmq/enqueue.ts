/**
 * The producer of a distributed run: streams the scan into the queue in batches. It plans each item (probe,
 * render, id), writes rows that need no call (skipped, unreadable), leaves alone files that already have an `ok`
 * row with the same id, copies the answer of a job already answered under another path, and adds the rest.
 * Memory: one batch plus the set of paths seen in this pass.
 */
import { keptColumns } from '../../producer/templates.js';
import os from 'node:os';
import type { Queue } from 'bullmq';
import type { RedisClient } from './connection.js';
import pLimit from 'p-limit';
import { discover, eachDiscovered } from '../../producer/discover.js';
import type { Item } from '../../producer/item.js';
import { planItem, withoutInlineText, type PlanContext } from '../../producer/plan.js';
import { checkInputs } from '../../producer/scan.js';
import { planContext } from '../../producer/templates.js';
import type { RunConfig } from '../../shared/config.js';
import type { Job } from '../../shared/job.js';
import { recordedSettings } from '../../shared/output/run-file.js';
import { rowLayout } from '../../shared/row.js';
import { alreadyDone, answeredElsewhere, FirstFailure, keptReviewed, workerSettings, type WorkerSettings } from '../common.js';
import { adoptFixedRows, indexRun } from './collect.js';
import { bullJobId } from './keys.js';
import { jobsQueue, type FileJobData } from './queues.js';
import { RunResults } from './results.js';

export interface EnqueueResult {
  runId: string;
  discovered: number;
  enqueued: number;
  alreadyDone: number;
  /** Rows written by the producer itself (skipped or failed before any call). */
  rowsWritten: number;
}

export interface EnqueueOptions {
  readonly runId: string;
  readonly log: (line: string) => void;
  /** Called with the counts so far whenever they change (`run --redis` shows them live). */
  readonly onProgress?: (counts: Readonly<EnqueueResult>) => void;
  /** Checked before each file: true stops discovering; what was planned is still enqueued (a Ctrl-C). */
  readonly shouldStop?: () => boolean;
}

/** Queue jobs added per round trip. */
const BATCH = 200;

/** Enqueues a run (see the top of this file) and returns what the pass did. */
export async function enqueueRun(cfg: RunConfig, redis: RedisClient, opts: EnqueueOptions): Promise<EnqueueResult> {
  const { runId, log } = opts;
  const shouldStop = opts.shouldStop ?? (() => false);
  const ctx = await planContext(cfg);
  await checkInputs(cfg.inputs);
  const results = new RunResults(redis, runId);
  const okIds = await startPass(cfg, results, log);
  const queue = jobsQueue(redis);
  const pass = new EnqueuePass({ runId, results, queue, okIds, settings: workerSettings(cfg), onProgress: opts.onProgress });
  try {
    await pass.planAll(cfg, ctx, shouldStop);
  } finally {
    await queue.close();
  }
  const counts = pass.counts;
  await endPass(results, counts);
  const cut = shouldStop() ? ' (stopped early: run the same command again to enqueue the rest)' : '';
  log(`run ${runId}: ${counts.discovered} files, ${counts.enqueued} enqueued, ${counts.alreadyDone} already done, ${counts.rowsWritten} rows written without a call${cut}`);
  return counts;
}

/**
 * Before a pass: takes in the rows an in-process retry fixed, lists the run, and records its settings. Returns,
 * per job id, a path whose row has its answer (one pass over the run's rows serves both).
 */
async function startPass(cfg: RunConfig, results: RunResults, log: (line: string) => void): Promise<Map<string, string>> {
  const { notDone, okIds } = await indexRun(results);
  const { fixed, restored } = await adoptFixedRows(results, cfg.out, cfg.format, notDone, (row) => {
    if (!okIds.has(row.id)) okIds.set(row.id, row.path);
  });
  if (fixed) log(`run ${results.runId}: ${fixed} ok rows of ${cfg.out} that Redis had as not done (fixed by an in-process retry) were saved to Redis, not sent again`);
  if (restored) log(`run ${results.runId}: ${restored} ok rows of ${cfg.out} that Redis did not have (it lost them) were saved to Redis, not sent again`);
  const now = new Date().toISOString();
  await results.setMetaOnce('createdAt', now);
  await results.register(Date.parse(now));
  await results.setMeta({
    out: cfg.out,
    format: cfg.format,
    turns: 1 + cfg.followUps.length,
    // The columns collect writes (schema fields, reasoning, audio_path): collect has no job file to derive them from.
    layout: JSON.stringify(rowLayout(1 + cfg.followUps.length, cfg.answer, await keptColumns(cfg))),
    model: cfg.model,
    // The totals' currency: status and collect have no job file to find the model's prices in.
    currency: cfg.prices?.currency ?? '',
    baseURL: cfg.baseURL,
    // The settings `collect` records beside the output, so that `omni-batch retry OUTPUT` works on it (no key in them).
    config: JSON.stringify(recordedSettings(cfg)),
    enqueueStartedAt: now,
    producerDone: 0,
    finished: 0,
  });
  return okIds;
}

async function endPass(results: RunResults, counts: EnqueueResult): Promise<void> {
  await results.setMeta({
    discovered: counts.discovered,
    enqueued: counts.enqueued,
    alreadyDone: counts.alreadyDone,
    producerRows: counts.rowsWritten,
    producerDone: 1,
    enqueueFinishedAt: new Date().toISOString(),
  });
  await results.incrMeta('enqueuePasses', 1);
}

interface PassParts {
  readonly runId: string;
  readonly results: RunResults;
  readonly queue: Queue<FileJobData>;
  /** Job id -> a path whose row answers it. */
  readonly okIds: ReadonlyMap<string, string>;
  readonly settings: WorkerSettings;
  readonly onProgress: ((counts: Readonly<EnqueueResult>) => void) | undefined;
}

/** One enqueue pass over the discovered items: what each becomes (a row, nothing, a copy, a queue job) and the counts. */
class EnqueuePass {
  readonly counts: EnqueueResult;
  private batch: { name: string; data: FileJobData; opts: { jobId: string } }[] = [];

  constructor(private readonly parts: PassParts) {
    this.counts = { runId: parts.runId, discovered: 0, enqueued: 0, alreadyDone: 0, rowsWritten: 0 };
  }

  async planAll(cfg: RunConfig, ctx: PlanContext, shouldStop: () => boolean): Promise<void> {
    const limit = pLimit(Math.max(2, os.availableParallelism()));
    const failure = new FirstFailure();
    const found = () => {
      this.counts.discovered++;
      this.changed();
    };
    await eachDiscovered(discover(cfg), { key: (item) => item.path, window: 64, stop: () => failure.failed || shouldStop(), onItem: found }, (item) =>
      limit(() => this.plan(item, ctx)).catch((err: unknown) => failure.capture(err)),
    );
    failure.throwIfAny();
    await this.flush();
  }

  private async plan(item: Item, ctx: PlanContext): Promise<void> {
    const planned = await planItem(item, ctx);
    if ('row' in planned) {
      if (keptReviewed(await this.parts.results.get(planned.row.path))) return this.count('alreadyDone');
      await this.parts.results.save(planned.row);
      this.count('rowsWritten');
    } else if (alreadyDone(await this.parts.results.get(planned.job.path), planned.job) || (await this.copyAnswer(planned.job))) {
      this.count('alreadyDone');
    } else {
      await this.add(planned.job);
    }
  }

  /** Gives the job's path the `ok` row of the same job under another path, if Redis has one; true when it did. */
  private async copyAnswer(job: Job): Promise<boolean> {
    const other = answeredElsewhere(this.parts.okIds, job);
    if (other === undefined) return false;
    const answered = await this.parts.results.get(other);
    if (answered?.status !== 'ok' || answered.id !== job.id) return false;
    // A copy of a reviewed answer is not itself reviewed (as in compaction's copies).
    await this.parts.results.save({ ...answered, path: job.path, source: job.source, index: job.index ?? null, kept: job.kept ?? {}, reviewed: null });
    return true;
  }

  private async add(job: Job): Promise<void> {
    const { runId, settings } = this.parts;
    // Redis holds the path, not the content: a queue of 200,000 text files stays small.
    this.batch.push({ name: 'file', data: { runId, job: withoutInlineText(job), settings }, opts: { jobId: bullJobId(runId, job) } });
    this.count('enqueued');
    if (this.batch.length >= BATCH) await this.flush();
  }

  private async flush(): Promise<void> {
    if (!this.batch.length) return;
    const b = this.batch;
    this.batch = [];
    // Pending first: a job that finishes before it is marked would otherwise stay pending forever.
    await this.parts.results.addPending(b.map((j) => ({ path: j.data.job.path, jobId: j.data.job.id, bullId: j.opts.jobId })));
    await this.parts.queue.addBulk(b);
  }

  private count(what: 'enqueued' | 'alreadyDone' | 'rowsWritten'): void {
    this.counts[what]++;
    this.changed();
  }

  private changed(): void {
    this.parts.onProgress?.({ ...this.counts });
  }
}
