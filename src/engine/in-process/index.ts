/**
 * The in-process engine: discovery streams items, p-limit keeps `concurrency` jobs in flight, and every job goes
 * through planItem + processJob, the same pipeline the BullMQ engine runs. Rows are appended as they finish;
 * files that already have an `ok` row for the same id are left alone (resume).
 *
 * Two limits: `concurrency` API requests, and `cpuConcurrency` preprocessing jobs (ffmpeg, sharp), so that files
 * are being fitted while others are being asked about. Temp files live in one run folder, removed at the end and
 * on interrupt (each job also removes its own subfolder when it finishes or fails).
 *
 * Stopping: `drain()` (first Ctrl-C) stops taking new files and lets the requests already sent finish and be
 * written; files waiting to send (the pause after a rate limit, the pacer, a backoff) end without a row;
 * `abortNow()` (second Ctrl-C) aborts in-flight streams at once. Either way every line in the output is whole.
 *
 * The outside world comes in as options: the API client and the clock, so a test drives a whole run in-process.
 */
import { setMaxListeners } from 'node:events';
import type OpenAI from 'openai';
import { createClient } from '../../worker/qwen-omni.js';
import { systemClock, type Clock } from '../../shared/clock.js';
import type { RunConfig } from '../../shared/config.js';
import { OmniError } from '../../shared/errors.js';
import { ResultFile, type PriorRow } from '../../shared/output/result-file.js';
import { isDiskError } from '../../shared/output/disk.js';
import { writeRunFile } from '../../shared/output/run-file.js';
import { FileUploadCache, uploadCachePathFor } from '../../shared/output/upload-cache.js';
import type { Totals } from '../../shared/output/totals.js';
import { rowLayout } from '../../shared/row.js';
import { makeTempDir } from '../../shared/temp-dir.js';
import { finishWithTotals, preflight, redactor } from '../common.js';
import { emptyEstimate, type RunEstimate } from './estimate.js';
import { checkMaxCost } from './max-cost.js';
import { InProcessRun, type RunCounts, type RunHooks } from './run.js';

export interface RunOptions extends RunHooks {
  /** The DashScope key: required unless `cfg.dryRun`; redacted from every row and line. */
  readonly apiKey: string | undefined;
  /** The API client. Default: the `openai` SDK with `apiKey` at `cfg.baseURL`. */
  readonly client?: OpenAI;
  /** Times the run (startedAt, wallMs), and what retries and pacing wait by. Default: the system clock. */
  readonly clock?: Clock;
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
  /** Files (and manifest rows) discovered: 0 for an empty pass. */
  readonly discovered: number;
  /** What the jobs to send were estimated at, before any call (dry run and real run alike). */
  readonly estimate: RunEstimate;
}

export interface RunControl {
  drain(): void;
  abortNow(): void;
  /** What the run has done so far, for a progress display (all zero until the run has started working). */
  counts(): RunCounts;
}

const NOTHING_YET: RunCounts = { discovered: 0, discoveryDone: false, alreadyDone: 0, rowsWritten: 0, apiRequests: 0, inFlight: 0, preparing: 0 };

/** Starts a run in this process; `done` settles when it has ended (a ConfigError when it could not run at all). */
export function startRun(cfg: RunConfig, opts: RunOptions): { control: RunControl; done: Promise<RunResult> } {
  const hard = new AbortController();
  // Every request in flight listens to the hard stop: up to --concurrency listeners, not a leak (without this,
  // node warns "MaxListenersExceededWarning" at concurrency 11 and up).
  setMaxListeners(0, hard.signal);
  // The drain ends every wait of a file not sending yet (a rate limit's among them): one listener per waiting file.
  const drain = new AbortController();
  setMaxListeners(0, drain.signal);
  let draining = false;
  let running: InProcessRun | undefined;
  const control: RunControl = {
    counts: () => running?.counts() ?? { ...NOTHING_YET },
    drain: () => {
      draining = true;
      drain.abort(new OmniError('interrupted', 'draining'));
    },
    abortNow: () => {
      draining = true;
      drain.abort(new OmniError('interrupted', 'draining'));
      hard.abort(new OmniError('interrupted', 'stopped by the user'));
    },
  };
  const done = execute(cfg, opts, { hard, drain: drain.signal, isDraining: () => draining, onStarted: (r) => (running = r) });
  return { control, done };
}

interface Stops {
  readonly hard: AbortController;
  readonly drain: AbortSignal;
  readonly isDraining: () => boolean;
  readonly onStarted: (run: InProcessRun) => void;
}

async function execute(cfg: RunConfig, opts: RunOptions, stops: Stops): Promise<RunResult> {
  const clock = opts.clock ?? systemClock;
  const startedAt = clock.now();
  const ctx = await preflight(cfg, opts.apiKey);
  const currency = cfg.prices?.currency ?? null;
  const prior = cfg.dryRun || cfg.maxCost !== undefined ? await ResultFile.readPrior(cfg.out, cfg.format) : undefined;
  const preplanned = cfg.maxCost !== undefined && !cfg.dryRun ? await checkMaxCost({ ...cfg, maxCost: cfg.maxCost }, ctx, prior ?? new Map(), cfg.prices) : undefined;
  const files = await openFiles(cfg, prior, opts.log, ctx.keep);
  const estimate = emptyEstimate(currency);
  const uploads = new FileUploadCache(uploadCachePathFor(cfg.out));
  const worker = opts.apiKey ? { client: opts.client ?? createClient(opts.apiKey, cfg.baseURL), tmpDir: await makeTempDir('run'), clock, uploads } : undefined;
  const run = new InProcessRun({ cfg, ctx, hooks: opts, redact: redactor(opts.apiKey), ...files, estimate, worker, hard: stops.hard, drain: stops.drain, isDraining: stops.isDraining });
  stops.onStarted(run);
  await run.discoverAll(preplanned);
  if (files.estimateFile) await files.estimateFile.finish();
  const interrupted = run.interrupted;
  const totals = files.out
    ? await finishWithTotals(files.out, { out: cfg.out, totalsPath: cfg.totalsPath, currency, price: cfg.price }, () => run.stats(startedAt, clock.now(), interrupted))
    : undefined;
  const { alreadyDone, discovered } = run.counts();
  return { exitCode: run.exitCode, fatal: run.fatal, interrupted, totals, planned: run.planned, alreadyDone, discovered, estimate };
}

/** The output (not in a dry run) with the settings file beside it, or the dry run's estimate file; and the rows already there. */
async function openFiles(cfg: RunConfig, prior: Map<string, PriorRow> | undefined, log: (line: string) => void, keep: readonly string[] = []) {
  const layout = rowLayout(1 + cfg.followUps.length, cfg.answer, keep);
  const out = cfg.dryRun ? undefined : await ResultFile.open(cfg.out, cfg.format, layout, { csvRaw: cfg.csvRaw });
  // Beside the output, so that `omni-batch retry OUTPUT` can re-run its failures with the same settings. A disk
  // too full for this small file is too full for the rows: stop (exit 4) before anything is sent.
  if (out) {
    await writeRunFile(cfg).catch((err: unknown) => {
      if (!isDiskError((err as Error).cause)) return log(`cannot write the run settings beside the output (retry will not find them): ${String(err)}`);
      out.closeNow();
      throw err;
    });
  }
  const priorRows: Map<string, PriorRow> = out?.prior ?? prior ?? new Map<string, PriorRow>();
  const estimateFile = cfg.dryRun ? await ResultFile.open(cfg.estimatePath, cfg.format, layout, { fresh: true, csvRaw: cfg.csvRaw }) : undefined;
  return { out, estimateFile, priorRows };
}
