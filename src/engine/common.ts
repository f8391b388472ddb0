/**
 * What every engine does alike, written once: whether a job is already answered, the context the worker runs a
 * job in, the totals file, the first failure of a planning pass, and keeping the API key out of messages.
 */
import { gpuCostOf, type RunPrice } from '../shared/run-price.js';
import type OpenAI from 'openai';
import type { PlanContext } from '../producer/plan.js';
import { checkInputs } from '../producer/scan.js';
import { planContext } from '../producer/templates.js';
import { ConfigError } from '../shared/errors.js';
import type { WorkerContext } from '../worker/process.js';
import { HALF_PRICE_BASE_URLS, type RunConfig } from '../shared/config.js';
import { BATCH_PRICE_FACTOR } from '../shared/batch.js';
import type { Job } from '../shared/job.js';
import type { ResultFile } from '../shared/output/result-file.js';
import { writeTotals, type RunStats, type Totals } from '../shared/output/totals.js';
import type { Limits, Gate, Pacer } from '../shared/rate-limit.js';
import type { RowStatus } from '../shared/row.js';
import type { Clock } from '../shared/clock.js';

/** Replaces the key wherever it might have slipped into a message. */
export function redactor(...secrets: (string | undefined)[]): (text: string) => string {
  const hidden = secrets.filter((s): s is string => s !== undefined && s.length >= 4 && s !== 'EMPTY');
  return (t) => hidden.reduce((text, secret) => text.split(secret).join('***'), t);
}

/**
 * True when the row a path already has is this very job (same id), answered, or an answer a person reviewed (set
 * on the review page: kept whatever the prompt or model is now): the file is left alone.
 */
export function alreadyDone<T extends { readonly id: string; readonly status: RowStatus; readonly reviewed?: boolean | null | undefined }>(prior: T | undefined, job: Job): prior is T {
  return prior !== undefined && (prior.reviewed === true || (prior.id === job.id && prior.status === 'ok'));
}

/**
 * True when the row a path already has is an answer a person reviewed: a row made now without asking the model (a
 * file planning skips or fails under another model or prompt) or a batch's row collected later never replaces it.
 */
export function keptReviewed(prior: { readonly reviewed?: boolean | null | undefined } | undefined): boolean {
  return prior?.reviewed === true;
}

/**
 * The path whose `ok` row answers the same job (same content, prompts, model) under another path, if any: a file
 * renamed or copied, a manifest row that moved. Its answer is copied, not paid for again.
 */
export function answeredElsewhere(okIds: ReadonlyMap<string, string>, job: Job): string | undefined {
  const other = okIds.get(job.id);
  return other !== undefined && other !== job.path ? other : undefined;
}

/** The settings of a run that the worker needs to run one of its jobs (plain data: a queue job carries them). */
export type WorkerSettings = Pick<RunConfig, 'baseURL' | 'idleTimeoutMs' | 'retries' | 'retryBaseMs' | 'retryMaxMs' | 'rpm' | 'tpm'>;

export function workerSettings(cfg: RunConfig): WorkerSettings {
  const { baseURL, idleTimeoutMs, retries, retryBaseMs, retryMaxMs, rpm, tpm } = cfg;
  return { baseURL, idleTimeoutMs, retries, retryBaseMs, retryMaxMs, rpm, tpm };
}

/** The pacer's limits of a run: 0 (the default) is no limit. */
export function limitsOf(s: Pick<WorkerSettings, 'rpm' | 'tpm'>): Limits {
  return { rpm: s.rpm || undefined, tpm: s.tpm || undefined };
}

/** What an engine hands the worker besides the run's settings: where the job runs and what it shares. */
export interface WorkerParts {
  readonly client: OpenAI;
  readonly gate: Gate;
  readonly pacer: Pacer;
  readonly signal: AbortSignal;
  /** Aborted on a drain: jobs not sending yet end without a row (WorkerContext.drain). */
  readonly drain?: AbortSignal;
  /** Watches whether the API host answers at all (WorkerContext.reach). */
  readonly reach?: WorkerContext['reach'];
  readonly tmpDir: string;
  readonly runCpu: WorkerContext['runCpu'];
  readonly runApi: WorkerContext['runApi'];
  readonly onRequest?: () => void;
  /** Called when a turn came back (WorkerContext.onTurn). */
  readonly onTurn?: WorkerContext['onTurn'];
  /** What retries wait by (default: the system clock). */
  readonly clock?: Clock;
  /** Where temporary uploads are remembered (WorkerContext.uploads). */
  readonly uploads?: WorkerContext['uploads'];
}

export function workerContext(s: WorkerSettings, parts: WorkerParts): WorkerContext {
  return {
    client: parts.client,
    idleTimeoutMs: s.idleTimeoutMs,
    retry: { retries: s.retries, baseMs: s.retryBaseMs, maxMs: s.retryMaxMs },
    gate: parts.gate,
    pacer: parts.pacer,
    signal: parts.signal,
    drain: parts.drain,
    reach: parts.reach,
    onRequest: parts.onRequest ?? (() => undefined),
    ...(parts.onTurn ? { onTurn: parts.onTurn } : {}),
    runCpu: parts.runCpu,
    runApi: parts.runApi,
    tmpDir: parts.tmpDir,
    ...(parts.clock ? { clock: parts.clock } : {}),
    ...(parts.uploads ? { uploads: parts.uploads } : {}),
    priceFactor: HALF_PRICE_BASE_URLS.includes(s.baseURL.replace(/\/+$/, '')) ? BATCH_PRICE_FACTOR : 1,
  };
}

/**
 * Finishes an output file (compacted to one row per path) and writes the totals file beside it: totals over the
 * whole output, and `run`, what this run did (asked once the file is finished, so its end time is the end).
 */
export async function finishWithTotals(
  file: ResultFile,
  where: { readonly out: string; readonly totalsPath: string; readonly currency: string | null; readonly price?: RunPrice | undefined },
  run: () => RunStats | Promise<RunStats>,
): Promise<Totals> {
  const acc = await file.finish();
  const stats = await run();
  // A GPU-hour price is this run's wall time at that rate (rows carry no cost then: a GPU-hour is shared).
  const gpu = gpuCostOf(where.price, stats.wallMs);
  const totals: Totals = { ...acc.result(where.out, where.currency), run: stats, ...(gpu ? { gpu } : {}) };
  await writeTotals(where.totalsPath, totals);
  return totals;
}

/**
 * The first error of a pass over many files (planning them in parallel): the pass stops taking files once there is
 * one, lets the ones in flight finish, then throws it.
 */
export class FirstFailure {
  private error: Error | undefined;

  capture(err: unknown): void {
    this.error ??= err instanceof Error ? err : new Error(String(err));
  }

  get failed(): boolean {
    return this.error !== undefined;
  }

  throwIfAny(): void {
    if (this.error) throw this.error;
  }
}

/**
 * What must hold before anything is read or written: templates that render, inputs that exist, a key. ffmpeg is
 * not among them: text and images (sharp) run without it, and the first file that needs it stops the run with
 * the install command (ToolMissingError).
 */
export async function preflight(cfg: RunConfig, apiKey: string | undefined): Promise<PlanContext> {
  const ctx = await planContext(cfg);
  await checkInputs(cfg.inputs);
  if (!cfg.dryRun && !apiKey) {
    throw new ConfigError('DASHSCOPE_API_KEY is not set: export DASHSCOPE_API_KEY=sk-... (a key from the region of --region/--base-url), or use --dry-run');
  }
  return ctx;
}
