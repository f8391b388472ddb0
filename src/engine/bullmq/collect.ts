/**
 * Collecting a distributed run: its rows from Redis into the same CSV/JSONL and totals file the in-process engine
 * writes, and the rows an in-process retry fixed in that output taken back into Redis.
 */
import type { RedisClient } from './connection.js';
import type { OutputFormat, RunConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { metaCurrency } from '../../shared/models.js';
import { ResultFile } from '../../shared/output/result-file.js';
import type { RunStats, Totals } from '../../shared/output/totals.js';
import type { Row, RowLayout } from '../../shared/row.js';
import { finishWithTotals } from '../common.js';
import { RunResults } from './results.js';
import { requireRun } from './status.js';

export interface CollectOptions {
  readonly runId: string;
  readonly out: string;
  readonly format: OutputFormat;
  readonly totalsPath: string;
  /** CSV cells without the formula escape (`--csv-raw`). Default false. */
  readonly csvRaw?: boolean | undefined;
  /** What this pass did (`run --redis` knows); by default the run's counts since it was first enqueued. */
  readonly pass?: Partial<RunStats>;
  readonly log?: (line: string) => void;
}

/**
 * Writes the run's rows to a fresh CSV/JSONL (streamed from Redis a page at a time) and the totals file beside
 * it: the same files the in-process engine writes.
 */
export async function collectRun(redis: RedisClient, opts: CollectOptions): Promise<Totals> {
  const { runId, out, format } = opts;
  const results = new RunResults(redis, runId);
  const meta = await results.meta();
  await requireRun(redis, runId, meta, { out });
  const { fixed, restored } = await adoptFixedRows(results, out, format);
  if (fixed) opts.log?.(`${fixed} ok rows of ${out} that Redis had as not done (fixed by an in-process retry) were kept and saved to Redis`);
  if (restored) opts.log?.(`${restored} ok rows of ${out} that Redis did not have (it lost them) were kept and saved to Redis`);
  const file = await ResultFile.open(out, format, JSON.parse(meta.layout ?? '') as RowLayout, { fresh: true, csvRaw: opts.csvRaw });
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
  const createdAt = meta.createdAt ?? '';
  const currency = metaCurrency(meta);
  return finishWithTotals(file, { out, totalsPath: opts.totalsPath, currency }, async () => ({
    startedAt: createdAt,
    finishedAt: new Date().toISOString(),
    wallMs: Date.now() - Date.parse(createdAt),
    discovered: Number(meta.discovered ?? rows),
    alreadyDone: Number(meta.alreadyDone ?? 0),
    rowsWritten: rows,
    apiRequests: (await results.totals()).spent.requests,
    interrupted: false,
    ...opts.pass,
  }));
}

/** Ok rows of an output taken into Redis: fixed by an in-process retry, or restored after Redis lost them. */
export interface Adopted {
  fixed: number;
  restored: number;
}

/**
 * Ok rows of the output that Redis does not have as ok are saved to Redis before it is enqueued from or collected
 * over that output, so a paid answer is never thrown away nor asked again: rows an in-process retry (`omni-batch
 * retry OUT`) fixed (same path and job id as a row Redis has as not done), and rows Redis has no row for at all
 * (it was flushed or restarted empty; `run --redis` wrote them to the output as they came), and rows a person
 * edited on the review page (`reviewed`), which Redis has as the model answered them. A row's job id still
 * decides later whether it answers the job as planned now. Memory: the paths Redis has not done, and a page of rows.
 */
export async function adoptFixedRows(
  results: RunResults,
  out: string,
  format: OutputFormat,
  /** The run's paths not done, with their job ids (from indexRun; read here when not given). Entries adopted are removed. */
  notDone?: Map<string, string>,
  onAdopted: (row: Row) => void = () => undefined,
): Promise<Adopted> {
  const todo = notDone ?? (await indexRun(results)).notDone;
  const adopted: Adopted = { fixed: 0, restored: 0 };
  let page: Row[] = [];
  const flush = async () => {
    const have = await results.hasRows(page.map((r) => r.path));
    for (const [i, row] of page.entries()) {
      const fixed = todo.get(row.path) === row.id;
      // A reviewed row (edited on the review page) replaces what Redis has: collecting again keeps the edit.
      if (have[i] && !fixed && row.reviewed !== true) continue;
      await results.save(row);
      todo.delete(row.path);
      onAdopted(row);
      adopted[fixed ? 'fixed' : 'restored']++;
    }
    page = [];
  };
  for await (const row of ResultFile.readRows(out, format)) {
    if (row.status !== 'ok') continue;
    page.push(row);
    if (page.length >= 500) await flush();
  }
  await flush();
  return adopted;
}

/**
 * What a collected run lacks, in one line, or undefined when every file of its latest pass has its row: jobs
 * still queued or running, or rows Redis lost (fewer rows than files).
 */
export async function missingRows(results: RunResults, rows: number): Promise<string | undefined> {
  const [meta, pending] = await Promise.all([results.meta(), results.pendingCount()]);
  const files = Number(meta.discovered ?? 0);
  if (pending === 0 && rows >= files) return undefined;
  const lost = Math.max(0, files - rows - pending);
  const parts = [pending ? `${pending} jobs still queued or running` : '', lost ? `${lost} rows missing from Redis (lost: evicted or flushed)` : ''].filter(Boolean);
  return `run ${results.runId} is not complete: ${rows} rows for ${files} files, ${parts.join(', ')}`;
}

/** One pass over a run's rows: the paths not done (path -> job id), and per job id the first path that has its answer. */
export async function indexRun(results: RunResults): Promise<{ notDone: Map<string, string>; okIds: Map<string, string> }> {
  const notDone = new Map<string, string>();
  const okIds = new Map<string, string>();
  for await (const row of results.scan()) {
    if (row.status !== 'ok') notDone.set(row.path, row.id);
    else if (!okIds.has(row.id)) okIds.set(row.id, row.path);
  }
  return { notDone, okIds };
}

/** The settings the run was last enqueued with (see enqueueRun), as `retry` needs them beside the output. */
export function enqueuedConfig(runId: string, meta: Record<string, string>): RunConfig {
  try {
    return { ...(JSON.parse(meta.config ?? '') as RunConfig), dryRun: false };
  } catch {
    throw new ConfigError(`run ${runId}: its settings in Redis cannot be read; enqueue it again to record them`);
  }
}
