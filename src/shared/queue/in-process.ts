/**
 * The in-process engine: discovery streams items, p-limit keeps `concurrency` jobs in flight, and every job goes
 * through planItem + processJob, the same pipeline the BullMQ engine runs. Rows are appended as they finish;
 * files that already have an `ok` row for the same id are left alone (resume).
 *
 * Stopping: `drain()` (first Ctrl-C) stops taking new files and lets in-flight ones finish and be written;
 * `abortNow()` (second Ctrl-C) aborts in-flight streams at once. Either way every line in the output is whole.
 */
import pLimit from 'p-limit';
import { discover } from '../../producer/discover.js';
import { jobId, planItem, type PlanContext } from '../../producer/plan.js';
import { checkInputs } from '../../producer/scan.js';
import { planContext } from '../../producer/templates.js';
import { misfitRow, processJob, RunFatalError, type WorkerContext } from '../../worker/process.js';
import { createClient } from '../../worker/qwen-omni.js';
import type { RunConfig } from '../config.js';
import { ConfigError, EXIT, OmniError } from '../errors.js';
import type { Job } from '../job.js';
import { modelInfo } from '../models.js';
import { ResultFile } from '../output/result-file.js';
import { writeTotals, type Totals } from '../output/totals.js';
import { LocalPacer, PauseGate } from '../rate-limit.js';
import { rowWithoutAnswer, type Row } from '../row.js';

export interface RunHooks {
  /** A line for the operator (stderr in the CLI). Never receives the API key. */
  readonly log: (line: string) => void;
  /** Called for every row written, and for every job planned in a dry run. */
  readonly onRow?: (row: Row) => void;
  readonly onPlanned?: (job: Job) => void;
}

export interface RunResult {
  readonly exitCode: number;
  /** One line saying why the run ended early (fatal API error), if it did. */
  readonly fatal: string | undefined;
  readonly interrupted: boolean;
  /** Totals over the whole output file (undefined for a dry run). */
  readonly totals: Totals | undefined;
  /** Dry run: planned jobs and rows that would be written without a call. */
  readonly planned: number;
  /** Files left alone because the output already has an `ok` row for the same id. */
  readonly alreadyDone: number;
}

export interface RunControl {
  drain(): void;
  abortNow(): void;
}

/** Replaces the key wherever it might have slipped into a message. */
export function redactor(secret: string | undefined): (text: string) => string {
  if (!secret || secret.length < 4) return (t) => t;
  return (t) => t.split(secret).join('***');
}

export function startRun(cfg: RunConfig, apiKey: string | undefined, hooks: RunHooks): { control: RunControl; done: Promise<RunResult> } {
  const hard = new AbortController();
  let draining = false;
  const control: RunControl = {
    drain: () => {
      draining = true;
    },
    abortNow: () => {
      draining = true;
      hard.abort(new OmniError('interrupted', 'stopped by the user'));
    },
  };
  return { control, done: run(cfg, apiKey, hooks, hard, () => draining) };
}

async function run(cfg: RunConfig, apiKey: string | undefined, hooks: RunHooks, hard: AbortController, isDraining: () => boolean): Promise<RunResult> {
  const startedAt = new Date();
  const t0 = performance.now();
  const redact = redactor(apiKey);
  const ctx: PlanContext = await planContext(cfg);
  await checkInputs(cfg.inputs);
  if (!cfg.dryRun && !apiKey) {
    throw new ConfigError('DASHSCOPE_API_KEY is not set: export DASHSCOPE_API_KEY=sk-... (a key from the region of --region/--base-url), or use --dry-run');
  }
  const info = modelInfo(cfg.model);
  const currency = info?.prices?.currency ?? null;
  const out = cfg.dryRun ? undefined : await ResultFile.open(cfg.out, cfg.format, 1 + cfg.followUps.length);
  const prior = out?.prior ?? (await ResultFile.readPrior(cfg.out, cfg.format));

  let apiRequests = 0;
  let discovered = 0;
  let alreadyDone = 0;
  let rowsWritten = 0;
  let planned = 0;
  let fatal: string | undefined;
  let configFailure: ConfigError | undefined;
  const worker: WorkerContext | undefined = apiKey
    ? {
        client: createClient(apiKey, cfg.baseURL),
        idleTimeoutMs: cfg.idleTimeoutMs,
        retry: { retries: cfg.retries, baseMs: cfg.retryBaseMs, maxMs: cfg.retryMaxMs },
        gate: new PauseGate(),
        pacer: new LocalPacer({ rpm: cfg.rpm || undefined, tpm: cfg.tpm || undefined }),
        signal: hard.signal,
        onRequest: () => void apiRequests++,
      }
    : undefined;

  const write = (row: Row) => {
    row.error_message = redact(row.error_message);
    out?.append(row);
    rowsWritten++;
    hooks.onRow?.(row);
  };

  const task = async (item: Parameters<typeof planItem>[0]) => {
    if (hard.signal.aborted || fatal || configFailure) return;
    const plannedItem = await planItem(item, ctx);
    if ('row' in plannedItem) {
      if (cfg.dryRun) {
        planned++;
        hooks.onRow?.(plannedItem.row);
      } else write(plannedItem.row);
      return;
    }
    const job = plannedItem.job;
    const done = prior.get(job.path);
    if (done && done.id === job.id && done.status === 'ok') {
      alreadyDone++;
      return;
    }
    if (cfg.dryRun) {
      planned++;
      const misfit = misfitRow(job);
      if (misfit) hooks.onRow?.(misfit);
      else hooks.onPlanned?.(job);
      return;
    }
    if (!worker) throw new Error('no API client');
    write(await processJob(job, worker));
  };

  const limit = pLimit(cfg.concurrency);
  const inflight = new Set<Promise<void>>();
  const guarded = (item: Parameters<typeof planItem>[0]) =>
    task(item).catch((err: unknown) => {
      if (err instanceof RunFatalError) {
        if (!fatal) {
          fatal = redact(`${err.error.message} (${err.error.code}): ${advice(err.error.code, cfg.baseURL)}`);
          hard.abort(err.error);
        }
      } else if (err instanceof ConfigError) {
        configFailure ??= err;
        hard.abort(err);
      } else if (err instanceof OmniError && err.code === 'interrupted') {
        // A hard stop: this file gets no row now; the next run does it.
      } else {
        const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
        hooks.log(redact(`internal error on ${item.path}: ${message}`));
        write(rowWithoutAnswer({ id: jobId([cfg.model, item.path, 'internal_error']), path: item.path, kind: 'unknown', model: cfg.model }, 'failed', 'internal_error', redact(`${item.path}: ${err instanceof Error ? err.message : String(err)}`)));
      }
    });

  const ticker = setInterval(() => {
    hooks.log(`progress: ${discovered} found, ${rowsWritten} rows written, ${alreadyDone} already done, ${limit.activeCount} in flight, ${apiRequests} API requests`);
  }, 10_000);
  ticker.unref();
  const seen = new Set<string>();
  try {
    for await (const item of discover(cfg)) {
      if (isDraining() || fatal || configFailure) break;
      // The same file named twice (a folder and a manifest row) is one file: one row, one request.
      if (seen.has(item.path)) continue;
      seen.add(item.path);
      discovered++;
      // Backpressure: never more than two jobs waiting per slot, so a 200,000-file tree is not all in memory.
      while (inflight.size >= cfg.concurrency * 2) await Promise.race(inflight);
      const p: Promise<void> = limit(() => guarded(item)).finally(() => inflight.delete(p));
      inflight.add(p);
    }
  } catch (err) {
    // Discovery failed (a manifest that is not CSV, ...): stop taking work, finish what is in flight, then report.
    if (err instanceof ConfigError) configFailure ??= err;
    else throw err;
  } finally {
    await Promise.allSettled(inflight);
    clearInterval(ticker);
  }
  if (configFailure) {
    out?.closeNow();
    throw configFailure;
  }

  const interrupted = isDraining() && !fatal;
  let totals: Totals | undefined;
  if (out) {
    const acc = await out.finish();
    const finishedAt = new Date();
    totals = {
      ...acc.result(cfg.out, currency),
      run: {
        startedAt: startedAt.toISOString(),
        finishedAt: finishedAt.toISOString(),
        wallMs: Math.round(performance.now() - t0),
        discovered,
        alreadyDone,
        rowsWritten,
        apiRequests,
        interrupted,
      },
    };
    await writeTotals(cfg.totalsPath, totals);
  }
  const exitCode = fatal ? EXIT.api : interrupted ? EXIT.interrupted : EXIT.ok;
  return { exitCode, fatal, interrupted, totals, planned, alreadyDone };
}

function advice(code: string, baseURL: string): string {
  if (code === 'auth_failed') {
    return `check DASHSCOPE_API_KEY, and that the key belongs to the region of ${baseURL} (--region cn|intl|us); the run stopped, rerun the same command to continue`;
  }
  return 'check --model; the run stopped, rerun the same command to continue';
}
