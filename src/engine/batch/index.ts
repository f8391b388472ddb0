/**
 * The Batch engine: the same producer, preprocessing, fit checks and rows as the in-process engine, sent as
 * DashScope Batch jobs (half price, answered within the completion window). It builds request files
 * (requests.ts), uploads and submits them (submit.ts), follows the batches (follow.ts) and writes their rows
 * (collect.ts); every id goes into the run file as soon as it exists (state.ts), so `run` again, or
 * `omni-batch batch status OUT`, picks the batches up where they are. A stop (Ctrl-C) never cancels a batch.
 */
import { rm } from 'node:fs/promises';
import OpenAI, { APIConnectionError, APIError } from 'openai';
import type { Batch } from 'openai/resources/batches';
import pLimit from 'p-limit';
import { discover, eachDiscovered } from '../../producer/discover.js';
import type { Item } from '../../producer/item.js';
import { jobId, planItem, type PlanContext } from '../../producer/plan.js';
import { batchRequest } from '../../worker/batch-request.js';
import { codeForStatus, createClient } from '../../worker/qwen-omni.js';
import { BATCH_PRICE_FACTOR, scaledPrices } from '../../shared/batch.js';
import { systemClock, type Clock } from '../../shared/clock.js';
import type { RunConfig } from '../../shared/config.js';
import { EXIT, OmniError } from '../../shared/errors.js';
import { ResultFile } from '../../shared/output/result-file.js';
import type { Totals } from '../../shared/output/totals.js';
import { rowLayout, rowWithoutAnswer, type Row } from '../../shared/row.js';
import { makeTempDir } from '../../shared/temp-dir.js';
import { alreadyDone, answeredElsewhere, finishWithTotals, keptReviewed, preflight, redactor } from '../common.js';
import { collectBatch, entryPaths } from './collect.js';
import { describeBatch, followAll } from './follow.js';
import { RequestFiles } from './requests.js';
import { readBatchState, StateFile } from './state.js';
import { submitAll } from './submit.js';
import { checkBatchable } from './support.js';

export interface BatchRunOptions {
  /** The DashScope key; redacted from every row and line. */
  readonly apiKey: string;
  /** The API client. Default: the `openai` SDK with `apiKey` at `cfg.baseURL`. */
  readonly client?: OpenAI;
  /** What the waits between retrieves take their time from. Default: the system clock. */
  readonly clock?: Clock;
  /** Between two retrieves of the batches, in ms. Default 60 s (DashScope allows 1,000 retrieves a minute). */
  readonly pollMs?: number | undefined;
  /** `run` (default): discover, submit, follow to the end. `status`: one round over the batches there are. */
  readonly mode?: 'run' | 'status';
  readonly log: (line: string) => void;
  readonly onRow?: (row: Row) => void;
}

export interface BatchRunResult {
  readonly exitCode: number;
  readonly fatal: string | undefined;
  readonly interrupted: boolean;
  readonly totals: Totals;
  readonly discovered: number;
  readonly alreadyDone: number;
  /** Request files uploaded by this run (0 when it resumed batches already submitted). */
  readonly uploads: number;
  /** Batches still running at DashScope when the run ended. */
  readonly open: number;
  /** One line per batch seen: id, status, request counts (a run also logs each change as it happens). */
  readonly statuses: readonly string[];
}

export const DEFAULT_POLL_MS = 60_000;

/** Starts a batch run; `stop()` ends the wait (batches go on at DashScope), `done` settles with what was done. */
export function startBatchRun(cfg: RunConfig, opts: BatchRunOptions): { stop: () => void; done: Promise<BatchRunResult> } {
  const stop = new AbortController();
  // No temporary uploads: an oss:// URL needs a per-request header a batch line cannot carry, and lasts 48 h, less
  // than a completion window may (MODELS-2026.md section 4). Long media are trimmed to fit, as with --no-upload;
  // `upload` is not part of a job's id, so the rows keep the ids the real-time engine gives them.
  const run = new BatchRun({ ...cfg, preprocess: { ...cfg.preprocess, upload: false } }, opts, stop.signal);
  return { stop: () => stop.abort(), done: run.execute() };
}

class BatchRun {
  private readonly client: OpenAI;
  private readonly redact: (t: string) => string;
  private out!: ResultFile;
  private state!: StateFile;
  private discovered = 0;
  private alreadyDone = 0;
  private rowsWritten = 0;
  private uploads = 0;
  private fatal: string | undefined;
  private readonly statuses = new Map<string, string>();

  constructor(
    private readonly cfg: RunConfig,
    private readonly opts: BatchRunOptions,
    private readonly signal: AbortSignal,
  ) {
    this.client = opts.client ?? createClient(opts.apiKey, cfg.baseURL);
    this.redact = redactor(opts.apiKey);
  }

  async execute(): Promise<BatchRunResult> {
    const { cfg } = this;
    const startedAt = (this.opts.clock ?? systemClock).now();
    checkBatchable(cfg, this.opts.log);
    const ctx = this.opts.mode === 'status' ? undefined : await preflight(cfg, this.opts.apiKey);
    const prior = await readBatchState(cfg.out);
    this.out = await ResultFile.open(cfg.out, cfg.format, rowLayout(1, cfg.answer), { csvRaw: cfg.csvRaw });
    this.state = new StateFile(cfg, prior ?? { model: cfg.model, entries: [] });
    await this.state.save();
    const finished = await this.work(ctx).catch((err: unknown) => this.onApiError(err));
    if (finished) await this.state.clearIfDone();
    const currency = cfg.prices?.currency ?? null;
    const interrupted = this.signal.aborted && !this.fatal;
    const totals = await finishWithTotals(this.out, { out: cfg.out, totalsPath: cfg.totalsPath, currency }, () => this.stats(startedAt, interrupted));
    const exitCode = this.fatal ? EXIT.api : interrupted ? EXIT.interrupted : EXIT.ok;
    const { discovered, alreadyDone, uploads, fatal } = this;
    return { exitCode, fatal, interrupted, totals, discovered, alreadyDone, uploads, open: this.state.open.length, statuses: [...this.statuses.values()] };
  }

  private stats(startedAt: number, interrupted: boolean) {
    const finishedAt = (this.opts.clock ?? systemClock).now();
    const { discovered, alreadyDone, rowsWritten } = this;
    const apiRequests = this.state.state.entries.reduce((n, e) => n + e.lines, 0);
    return { startedAt: new Date(startedAt).toISOString(), finishedAt: new Date(finishedAt).toISOString(), wallMs: Math.round(finishedAt - startedAt), discovered, alreadyDone, rowsWritten, apiRequests, interrupted };
  }

  /** Prepare (run mode), submit, follow: true when every batch has been collected. */
  private async work(ctx: PlanContext | undefined): Promise<boolean> {
    if (ctx) {
      await this.prepareAll(ctx);
      this.uploads = await submitAll({ client: this.client, state: this.state, out: this.cfg.out, completionWindowHours: this.cfg.completionWindowHours, stopped: () => this.signal.aborted, log: this.opts.log });
    }
    return followAll({
      client: this.client,
      state: this.state,
      clock: this.opts.clock ?? systemClock,
      pollMs: this.opts.pollMs ?? DEFAULT_POLL_MS,
      signal: this.signal,
      once: this.opts.mode === 'status',
      onStatus: (_e, b) => this.onStatus(b),
      collect: async (e, batch) => {
        const prices = scaledPrices(this.cfg.prices, BATCH_PRICE_FACTOR);
        // A row reviewed on the review page while the batch ran (the run was stopped, or status collects it) is kept.
        const write = (r: Row) => !keptReviewed(this.out.prior.get(r.path)) && (this.write(r), true);
        const c = await collectBatch(e, batch, { client: this.client, out: this.cfg.out, write, format: this.cfg.answer.format, prices });
        e.collected = true;
        await this.state.save();
        this.opts.log(`batch ${batch.id} ${batch.status}: ${c.ok} ok and ${c.failed} failed rows written${c.kept ? `; ${c.kept} reviewed rows kept as they were` : ''}`);
      },
    });
  }

  /** A batch's status as last seen; while a run waits, each change is one line for the operator. */
  private onStatus(b: Batch): void {
    const line = describeBatch(b);
    if (this.opts.mode !== 'status' && this.statuses.get(b.id) !== line) this.opts.log(`batch ${line}`);
    this.statuses.set(b.id, line);
  }

  /** A failure of the Batch API itself (401, a host that cannot be reached): the run stops, its batches are kept. */
  private onApiError(err: unknown): false {
    if (!(err instanceof APIError) && !(err instanceof APIConnectionError)) throw err;
    const apiCode = err instanceof APIError ? (err.error as { code?: unknown } | undefined)?.code : undefined;
    const status = err instanceof APIConnectionError ? undefined : (err.status as number | undefined);
    const code = status === undefined ? 'api_unreachable' : codeForStatus(status, typeof apiCode === 'string' ? apiCode : '');
    this.fatal = this.redact(`${err.message} (${code}): the batch run stopped; batches already submitted are kept in ${this.cfg.out}.run.json: rerun the same command to continue`);
    return false;
  }

  /** Every discovered item becomes a request line, or its row now (skipped, failed before any call, done). */
  private async prepareAll(ctx: PlanContext): Promise<void> {
    const pending = new Map<string, string>();
    for (const e of this.state.open) for (const [id, p] of await entryPaths(this.cfg.out, e)) pending.set(id, p);
    const files = new RequestFiles(this.cfg.out, Math.max(0, ...this.state.state.entries.map((e) => e.n)) + 1);
    const slots = this.cfg.cpuConcurrency * 2;
    const limit = pLimit(slots);
    const cpu = pLimit(this.cfg.cpuConcurrency);
    const tmpDir = await makeTempDir('run');
    const seen = new Set<string>();
    const prep = { ctx, files, pending, seen, tmpDir, runCpu: <T>(fn: () => Promise<T>) => cpu(fn) };
    try {
      await eachDiscovered(discover(this.cfg), { key: (i) => i.path, window: slots * 2, stop: () => this.signal.aborted, onItem: () => void this.discovered++ }, (item) => limit(() => this.prepareItem(item, prep).catch((err: unknown) => this.onItemError(err, item))));
    } finally {
      await rm(tmpDir, { recursive: true, force: true });
    }
    const sealed = await files.seal();
    // A run stopped while it prepared sends nothing: its files are made again (from the same ids) by the next run.
    if (this.signal.aborted) return;
    this.state.state.entries.push(...sealed);
    await this.state.save();
  }

  private async prepareItem(item: Item, p: { ctx: PlanContext; files: RequestFiles; pending: ReadonlyMap<string, string>; seen: Set<string>; tmpDir: string; runCpu: <T>(fn: () => Promise<T>) => Promise<T> }): Promise<void> {
    const planned = await planItem(item, p.ctx);
    if ('row' in planned) return keptReviewed(this.out.prior.get(planned.row.path)) ? void this.alreadyDone++ : this.write(planned.row);
    const job = planned.job;
    if (alreadyDone(this.out.prior.get(job.path), job)) return void this.alreadyDone++;
    // The same job under two paths is asked once (custom_id is the row id, unique in a file); the other path gets a copy.
    if (answeredElsewhere(this.out.okIds, job) !== undefined || p.seen.has(job.id)) return this.out.alias(job.id, job.path, job.source);
    // In a batch already submitted (a resumed run): its row comes when the batch is collected; another path with
    // the same job gets a copy of it then.
    const inBatch = p.pending.get(job.id);
    if (inBatch !== undefined && inBatch !== job.path) return this.out.alias(job.id, job.path, job.source);
    if (inBatch !== undefined) return void this.alreadyDone++;
    p.seen.add(job.id);
    const made = await batchRequest(job, { runCpu: p.runCpu, tmpDir: p.tmpDir, signal: this.signal }, planned.content);
    if ('row' in made) return this.write(made.row);
    const refused = p.files.add(made.request);
    if (refused) this.write({ ...rowWithoutAnswer(job, 'skipped', 'too_large', `${job.path}: ${refused}`), ...made.request.meta.columns });
  }

  /** A stop while the item was prepared gives it no row (the next run does it); anything else is our bug, and a row says so. */
  private onItemError(err: unknown, item: Item): void {
    if (err instanceof OmniError && err.code === 'interrupted') return;
    const message = err instanceof Error ? err.message : String(err);
    this.opts.log(this.redact(`internal error on ${item.path}: ${err instanceof Error ? (err.stack ?? message) : message}`));
    this.write(rowWithoutAnswer({ id: jobId([this.cfg.model, item.path, 'internal_error']), path: item.path, kind: 'unknown', model: this.cfg.model }, 'failed', 'internal_error', `${item.path}: ${message}`));
  }

  private write(row: Row): void {
    row.error_message = this.redact(row.error_message);
    this.out.append(row);
    this.rowsWritten++;
    this.opts.onRow?.(row);
  }
}
