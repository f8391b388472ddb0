/**
 * Collecting a distributed run: its rows from Redis into the same CSV/JSONL and totals file the in-process engine
 * writes, and the rows an in-process retry fixed in that output taken back into Redis.
 */
import type { Redis } from 'ioredis';
import type { OutputFormat, RunConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { modelInfo } from '../../shared/models.js';
import { ResultFile } from '../../shared/output/result-file.js';
import type { RunStats, Totals } from '../../shared/output/totals.js';
import type { Row, RowLayout } from '../../shared/row.js';
import { finishWithTotals } from '../common.js';
import { RunResults } from './results.js';
import { checkRunExists } from './status.js';

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
export async function collectRun(redis: Redis, opts: CollectOptions): Promise<Totals> {
  const { runId, out, format } = opts;
  const results = new RunResults(redis, runId);
  const meta = await results.meta();
  checkRunExists(runId, meta);
  const adopted = await adoptFixedRows(results, out, format);
  if (adopted) opts.log?.(`${adopted} ok rows of ${out} that Redis had as not done (fixed by an in-process retry) were kept and saved to Redis`);
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
  const currency = modelInfo(meta.model ?? '')?.prices?.currency ?? null;
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
  checkRunExists(runId, meta);
  try {
    return { ...(JSON.parse(meta.config ?? '') as RunConfig), dryRun: false };
  } catch {
    throw new ConfigError(`run ${runId}: its settings in Redis cannot be read; enqueue it again to record them`);
  }
}
