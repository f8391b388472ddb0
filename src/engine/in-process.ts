/**
 * The in-process engine: discovery streams items, p-limit keeps `concurrency` jobs in flight, and every job goes
 * through planItem + processJob, the same pipeline the BullMQ engine runs. Rows are appended as they finish;
 * files that already have an `ok` row for the same id are left alone (resume).
 *
 * Two limits: `concurrency` API requests, and `cpuConcurrency` preprocessing jobs (ffmpeg, sharp), so that files
 * are being fitted while others are being asked about. Temp files live in one run folder, removed at the end and
 * on interrupt (each job also removes its own subfolder when it finishes or fails).
 *
 * Stopping: `drain()` (first Ctrl-C) stops taking new files and lets in-flight ones finish and be written;
 * `abortNow()` (second Ctrl-C) aborts in-flight streams at once. Either way every line in the output is whole.
 */
import { setMaxListeners } from 'node:events';
import { rm } from 'node:fs/promises';
import { makeTempDir } from '../shared/temp-dir.js';
import pLimit from 'p-limit';
import { discover, eachDiscovered } from '../producer/discover.js';
import type { Item } from '../producer/item.js';
import { jobId, planItem, withoutInlineText, type PlanContext, type Planned } from '../producer/plan.js';
import { checkInputs } from '../producer/scan.js';
import { planContext } from '../producer/templates.js';
import { misfitRow, processJob, RunFatalError, type WorkerContext } from '../worker/process.js';
import { checkFfmpeg } from '../worker/preprocess/ffmpeg.js';
import { createClient } from '../worker/qwen-omni.js';
import type { RunConfig } from '../shared/config.js';
import { ConfigError, EXIT, OmniError } from '../shared/errors.js';
import { promptTotal } from '../shared/estimate.js';
import type { Job, TokenEstimate } from '../shared/job.js';
import { modelInfo } from '../shared/models.js';
import { ResultFile, type PriorRow } from '../shared/output/result-file.js';
import { writeRunFile } from '../shared/output/run-file.js';
import { writeTotals, type Totals } from '../shared/output/totals.js';
import { LocalPacer, PauseGate } from '../shared/rate-limit.js';
import { noMedia, rowLayout, rowWithoutAnswer, type Row } from '../shared/row.js';
import type { MediaKind } from '../shared/job.js';

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
  /** What the jobs to send were estimated at, before any call (dry run and real run alike). */
  readonly estimate: RunEstimate;
}

export interface KindEstimate {
  /** Files planned, and of those the ones that would be sent. */
  files: number;
  send: number;
  tokens: TokenEstimate;
  cost: number;
}

export interface RunEstimate {
  byKind: Partial<Record<MediaKind, KindEstimate>>;
  tokens: number;
  /** In the price table's currency; 0 when the model has no price. */
  cost: number;
  currency: string | null;
}

function addEstimate(e: RunEstimate, kind: MediaKind, job: Job | undefined): void {
  const k = (e.byKind[kind] ??= { files: 0, send: 0, tokens: { text: 0, image: 0, audio: 0, video: 0 }, cost: 0 });
  k.files++;
  if (!job) return;
  k.send++;
  for (const key of ['text', 'image', 'audio', 'video'] as const) k.tokens[key] += job.estimate[key];
  k.cost += job.estimatedCost ?? 0;
  e.tokens += promptTotal(job.estimate);
  e.cost += job.estimatedCost ?? 0;
}

/** The row a dry run writes for a job it would send: status `planned`, with the estimate and the probe facts. */
function plannedRow(job: Job): Row {
  return {
    ...rowWithoutAnswer(job, 'skipped', 'internal_error', ''),
    status: 'planned',
    error_code: '',
    ...noMedia(),
    source_bytes: job.facts.bytes ?? null,
    duration_sec: job.facts.durationSec ?? null,
    width: job.facts.width ?? null,
    height: job.facts.height ?? null,
    estimated_tokens: promptTotal(job.estimate),
    estimated_cost: job.estimatedCost,
  };
}


export interface RunControl {
  drain(): void;
  abortNow(): void;
  /** What the run has done so far, for a progress display (all zero until the run has started working). */
  counts(): RunCounts;
}

/** Counts of the run in progress. */
export interface RunCounts {
  /** Items discovered so far; the total once `discoveryDone`. */
  discovered: number;
  discoveryDone: boolean;
  /** Left alone: already `ok` in the output. */
  alreadyDone: number;
  rowsWritten: number;
  apiRequests: number;
  /** API requests in flight (holding an API slot, a retry's backoff included); not files being preprocessed. */
  inFlight: number;
  /** Files being preprocessed (holding a CPU slot). */
  preparing: number;
}

/** --max-cost keeps the plans of at most this many files for the run (env OMNI_BATCH_KEEP_PLANNED; default 20,000). */
function keepPlannedLimit(): number {
  const raw = process.env.OMNI_BATCH_KEEP_PLANNED;
  const n = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : 20_000;
}

/** Replaces the key wherever it might have slipped into a message. */
export function redactor(secret: string | undefined): (text: string) => string {
  if (!secret || secret.length < 4) return (t) => t;
  return (t) => t.split(secret).join('***');
}

export function startRun(cfg: RunConfig, apiKey: string | undefined, hooks: RunHooks): { control: RunControl; done: Promise<RunResult> } {
  const hard = new AbortController();
  // Every request in flight listens to the hard stop: up to --concurrency listeners, not a leak (without this,
  // node warns "MaxListenersExceededWarning" at concurrency 11 and up).
  setMaxListeners(0, hard.signal);
  let draining = false;
  const live = { counts: (): RunCounts => ({ discovered: 0, discoveryDone: false, alreadyDone: 0, rowsWritten: 0, apiRequests: 0, inFlight: 0, preparing: 0 }) };
  const control: RunControl = {
    counts: () => live.counts(),
    drain: () => {
      draining = true;
    },
    abortNow: () => {
      draining = true;
      hard.abort(new OmniError('interrupted', 'stopped by the user'));
    },
  };
  return { control, done: run(cfg, apiKey, hooks, hard, () => draining, live) };
}

async function run(
  cfg: RunConfig,
  apiKey: string | undefined,
  hooks: RunHooks,
  hard: AbortController,
  isDraining: () => boolean,
  live: { counts: () => RunCounts },
): Promise<RunResult> {
  const startedAt = new Date();
  const t0 = performance.now();
  const redact = redactor(apiKey);
  const ctx: PlanContext = await planContext(cfg);
  await checkInputs(cfg.inputs);
  if (!cfg.dryRun && !apiKey) {
    throw new ConfigError('DASHSCOPE_API_KEY is not set: export DASHSCOPE_API_KEY=sk-... (a key from the region of --region/--base-url), or use --dry-run');
  }
  const missing = await checkFfmpeg();
  if (missing) throw new ConfigError(missing);
  const info = modelInfo(cfg.model);
  const currency = info?.prices?.currency ?? null;
  const estimate: RunEstimate = { byKind: {}, tokens: 0, cost: 0, currency };
  const layout = rowLayout(1 + cfg.followUps.length, cfg.answer);
  const prior = cfg.dryRun || cfg.maxCost !== undefined ? await ResultFile.readPrior(cfg.out, cfg.format) : undefined;

  // --max-cost: estimate every file first (probes only, no decoding) and refuse before any call or any write.
  // The plans are kept for the run, so nothing is probed twice, up to keepPlanned files; a bigger run keeps none
  // and probes again as it goes, so memory stays flat at any size.
  let preplanned: { item: Item; planned: Planned }[] | undefined;
  if (cfg.maxCost !== undefined && !cfg.dryRun) {
    const keepPlanned = keepPlannedLimit();
    let kept: { item: Item; planned: Planned }[] | undefined = [];
    const check: RunEstimate = { byKind: {}, tokens: 0, cost: 0, currency };
    const probeLimit = pLimit(cfg.cpuConcurrency);
    let failure: Error | undefined;
    await eachDiscovered(discover(cfg), { key: (item) => item.path, window: cfg.cpuConcurrency * 4, stop: () => failure !== undefined }, (item) =>
      probeLimit(async () => {
        try {
          const planned = await planItem(item, ctx);
          if ('job' in planned) {
            const done = prior?.get(planned.job.path);
            if (!(done && done.id === planned.job.id && done.status === 'ok') && !misfitRow(planned.job)) addEstimate(check, planned.job.kind, planned.job);
          }
          if (kept && kept.length < keepPlanned) kept.push({ item, planned: 'job' in planned ? { job: withoutInlineText(planned.job) } : planned }); // not the text files' content
          else kept = undefined;
        } catch (err) {
          failure ??= err instanceof Error ? err : new Error(JSON.stringify(err));
        }
      }),
    );
    if (failure) throw failure;
    preplanned = kept;
    if (info?.prices && check.cost > cfg.maxCost) {
      throw new ConfigError(
        `--max-cost: the run is estimated at ${check.cost.toFixed(4)} ${currency} (${check.tokens} prompt tokens) for the files not yet done, over the limit of ${cfg.maxCost} ${currency}; nothing was sent (see --dry-run for the per-kind estimate)`,
      );
    }
  }

  const out = cfg.dryRun ? undefined : await ResultFile.open(cfg.out, cfg.format, layout);
  // Beside the output, so that `omni-batch retry OUTPUT` can re-run its failures with the same settings.
  if (out) await writeRunFile(cfg).catch((err: unknown) => hooks.log(`cannot write the run settings beside the output (retry will not find them): ${String(err)}`));
  const priorRows: Map<string, PriorRow> = out?.prior ?? prior ?? new Map<string, PriorRow>();
  const estimateFile = cfg.dryRun ? await ResultFile.open(cfg.estimatePath, cfg.format, layout, { fresh: true }) : undefined;
  const tmpDir = await makeTempDir('run');

  let apiRequests = 0;
  let discovered = 0;
  let alreadyDone = 0;
  let rowsWritten = 0;
  let planned = 0;
  let fatal: string | undefined;
  let configFailure: ConfigError | undefined;
  const runCpu = pLimit(cfg.cpuConcurrency);
  const runApi = pLimit(cfg.concurrency);
  const worker: WorkerContext | undefined = apiKey
    ? {
        runCpu: (fn) => runCpu(fn),
        runApi: (fn) => runApi(fn),
        tmpDir,
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
    if (configFailure) return;
    row.error_message = redact(row.error_message);
    try {
      out?.append(row);
    } catch (err) {
      // Disk full, file too large, the folder gone: nothing more can be recorded, so nothing more is sent.
      configFailure = new ConfigError(`${cfg.out}: cannot write the output file any more (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the rows written so far are kept, rerun to finish`, EXIT.output);
      hard.abort(configFailure);
      return;
    }
    rowsWritten++;
    hooks.onRow?.(row);
  };

  const task = async (item: Item, pre: Planned | undefined) => {
    // Draining: files that were queued but not started wait for the next run.
    if (hard.signal.aborted || fatal || configFailure || isDraining()) return;
    const plannedItem = pre ?? (await planItem(item, ctx));
    if ('row' in plannedItem) {
      if (cfg.dryRun) {
        planned++;
        addEstimate(estimate, plannedItem.row.kind, undefined);
        estimateFile?.append(plannedItem.row);
        hooks.onRow?.(plannedItem.row);
      } else write(plannedItem.row);
      return;
    }
    const job = plannedItem.job;
    const done = priorRows.get(job.path);
    if (done && done.id === job.id && done.status === 'ok') {
      alreadyDone++;
      return;
    }
    // The same job (same content, prompts, model) already has an ok row under another path: copy it, do not pay.
    const sameJob = out?.okIds.get(job.id);
    if (sameJob !== undefined && sameJob !== job.path && !cfg.dryRun) {
      out?.alias(job.id, job.path, job.source);
      alreadyDone++;
      return;
    }
    const misfit = misfitRow(job);
    addEstimate(estimate, job.kind, misfit ? undefined : job);
    if (cfg.dryRun) {
      planned++;
      if (misfit) {
        estimateFile?.append(misfit);
        hooks.onRow?.(misfit);
      } else {
        estimateFile?.append(plannedRow(job));
        hooks.onPlanned?.(job);
      }
      return;
    }
    if (!worker) throw new Error('no API client');
    write(await processJob(job, worker, plannedItem.content));
  };

  // Jobs in flight: the API slots plus the preprocessing slots, so that the next files are being fitted while
  // earlier ones wait for the API (runCpu and runApi inside the worker keep each side to its own limit).
  const slots = cfg.concurrency + cfg.cpuConcurrency;
  const limit = pLimit(slots);
  const guarded = (item: Item, pre: Planned | undefined) =>
    task(item, pre).catch((err: unknown) => {
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

  // The CLI's progress display (src/commands/progress.ts) reads these; the engine prints no progress itself.
  let discoveryDone = false;
  live.counts = () => ({ discovered, discoveryDone, alreadyDone, rowsWritten, apiRequests, inFlight: runApi.activeCount, preparing: runCpu.activeCount });
  async function* source(): AsyncGenerator<{ item: Item; planned: Planned | undefined }> {
    if (preplanned) yield* preplanned;
    else for await (const item of discover(cfg)) yield { item, planned: undefined };
  }
  try {
    // One file found twice is one row and one request; never more than two jobs waiting per slot.
    await eachDiscovered(
      source(),
      {
        key: (e) => e.item.path,
        window: slots * 2,
        stop: () => isDraining() || fatal !== undefined || configFailure !== undefined,
        onItem: () => void discovered++,
        onTaken: () => void (discoveryDone = true),
      },
      (e) => limit(() => guarded(e.item, e.planned)),
    );
  } catch (err) {
    // Discovery failed (a manifest that is not CSV, ...): what was in flight has finished; report.
    if (err instanceof ConfigError) configFailure ??= err;
    else throw err;
  } finally {
    await rm(tmpDir, { recursive: true, force: true });
  }
  if (configFailure) {
    out?.closeNow();
    estimateFile?.closeNow();
    throw configFailure;
  }
  if (estimateFile) await estimateFile.finish();

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
  return { exitCode, fatal, interrupted, totals, planned, alreadyDone, estimate };
}

function advice(code: string, baseURL: string): string {
  if (code === 'auth_failed') {
    return `check DASHSCOPE_API_KEY, and that the key belongs to the region of ${baseURL} (--region cn|intl|us); the run stopped, rerun the same command to continue`;
  }
  if (code === 'access_denied') return 'the account may not use this model (free tier only, or no access): check the account in the DashScope console; the run stopped';
  return 'check --model; the run stopped, rerun the same command to continue';
}
