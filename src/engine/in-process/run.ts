/**
 * One in-process run once its files are open: discovery streams items, p-limit keeps the API and preprocessing
 * slots busy, each item becomes a row (or is left alone), and the counts a progress display reads are kept here.
 */
import { rm } from 'node:fs/promises';
import pLimit from 'p-limit';
import { discover, eachDiscovered } from '../../producer/discover.js';
import type { Item } from '../../producer/item.js';
import { jobId, planItem, type PlanContext, type Planned } from '../../producer/plan.js';
import { misfitRow, processJob, RunFatalError, type WorkerContext } from '../../worker/process.js';
import { ReachWatch } from '../../worker/reach.js';
import type { RunConfig } from '../../shared/config.js';
import { EXIT, OmniError, OperatorError, OutputError } from '../../shared/errors.js';
import type { Job } from '../../shared/job.js';
import { ioReason } from '../../shared/output/disk.js';
import type { PriorRow, ResultFile } from '../../shared/output/result-file.js';
import type { RunStats } from '../../shared/output/totals.js';
import { LocalPacer, PauseGate } from '../../shared/rate-limit.js';
import { rowWithoutAnswer, type Row } from '../../shared/row.js';
import { alreadyDone, answeredElsewhere, keptReviewed, limitsOf, workerContext, type WorkerParts } from '../common.js';
import { addEstimate, plannedRow, type RunEstimate } from './estimate.js';
import { AutoConcurrency, describeDecision, type AutoReport } from './auto-concurrency.js';
import { systemClock } from '../../shared/clock.js';
import type { ApiDialect } from '../../shared/dialect.js';
import type { Preplanned } from './max-cost.js';

export interface RunHooks {
  /** A line for the operator (stderr in the CLI). Never receives the API key. */
  readonly log: (line: string) => void;
  /** Called for every row written, and for every job planned in a dry run. */
  readonly onRow?: (row: Row) => void;
  readonly onPlanned?: (job: Job) => void;
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
  /** `--rpm 60` while requests wait for the pacer (see GcraPacer.pacedBy). */
  pacedBy?: string;
}

/** What a run works with: its settings, plans, files, and the outside world (API client, stop signals). */
export interface RunParts {
  readonly cfg: RunConfig;
  readonly ctx: PlanContext;
  readonly hooks: RunHooks;
  readonly redact: (text: string) => string;
  /** The output (undefined in a dry run), the dry run's estimate file, and the rows the output had. */
  readonly out: ResultFile | undefined;
  readonly estimateFile: ResultFile | undefined;
  readonly priorRows: ReadonlyMap<string, PriorRow>;
  readonly estimate: RunEstimate;
  /** The API client and temp folder; undefined without a key (a dry run). */
  readonly worker: Pick<WorkerParts, 'client' | 'tmpDir' | 'clock' | 'uploads'> | undefined;
  readonly hard: AbortController;
  /** Aborted on a drain: files that are not sending yet end without a row (waits for a rate limit included). */
  readonly drain: AbortSignal;
  readonly isDraining: () => boolean;
}

export class InProcessRun {
  private apiRequests = 0;
  private discovered = 0;
  private alreadyDone = 0;
  private rowsWritten = 0;
  private discoveryDone = false;
  /** Dry run: files planned. */
  planned = 0;
  /** One line saying why the run ended early (fatal API error), if it did. */
  fatal: string | undefined;
  private configFailure: OperatorError | undefined;
  private readonly runCpu: ReturnType<typeof pLimit>;
  private readonly runApi: ReturnType<typeof pLimit>;
  private readonly worker: WorkerContext | undefined;
  private pacer: LocalPacer | undefined;
  /** `--concurrency auto`: decides the API slots from the turns that came back. */
  private readonly auto: AutoConcurrency | undefined;

  constructor(private readonly p: RunParts) {
    this.runCpu = pLimit(p.cfg.cpuConcurrency);
    const clock = p.worker?.clock ?? systemClock;
    this.auto = p.cfg.autoConcurrency ? new AutoConcurrency(clock.now(), { max: p.cfg.concurrency }) : undefined;
    this.runApi = pLimit(this.auto?.level ?? p.cfg.concurrency);
    this.worker = p.worker && this.workerFor(p.worker);
  }

  /** A turn came back (times from the run's clock): `--concurrency auto` may raise the API slots, or settle them. */
  private onTurn(startedAt: number, finishedAt: number, tokens: number): void {
    const decision = this.auto?.observe(startedAt, finishedAt, tokens);
    if (!decision || !this.auto) return;
    this.runApi.concurrency = this.auto.level;
    this.p.hooks.log(describeDecision(decision));
  }

  /** Where `--concurrency auto` ended (for the totals); undefined without it. */
  autoReport(): AutoReport | undefined {
    return this.auto?.report();
  }

  private workerFor(w: Pick<WorkerParts, 'client' | 'tmpDir' | 'clock' | 'uploads'>): WorkerContext {
    const cfg = this.p.cfg;
    return workerContext(cfg, {
      ...w,
      runCpu: (fn) => this.runCpu(fn),
      runApi: (fn) => this.runApi(fn),
      gate: new PauseGate(w.clock),
      pacer: (this.pacer = new LocalPacer(limitsOf(cfg), w.clock)),
      signal: this.p.hard.signal,
      drain: this.p.drain,
      reach: new ReachWatch(),
      onRequest: () => void this.apiRequests++,
      ...(this.auto ? { onTurn: (a: number, b: number, t: number) => this.onTurn(a, b, t) } : {}),
    });
  }

  /** The CLI's progress display (src/commands/progress.ts) reads these; the engine prints no progress itself. */
  counts(): RunCounts {
    const { discovered, discoveryDone, alreadyDone, rowsWritten, apiRequests } = this;
    const pacedBy = this.pacer?.pacedBy();
    return { discovered, discoveryDone, alreadyDone, rowsWritten, apiRequests, inFlight: this.runApi.activeCount, preparing: this.runCpu.activeCount, ...(pacedBy ? { pacedBy } : {}) };
  }

  /** What this run did, for the totals file; `startedAt`/`finishedAt` in ms. */
  stats(startedAt: number, finishedAt: number, interrupted: boolean): RunStats {
    const { discovered, alreadyDone, rowsWritten, apiRequests } = this;
    const wallMs = Math.round(finishedAt - startedAt);
    const auto = this.auto?.report();
    return { startedAt: new Date(startedAt).toISOString(), finishedAt: new Date(finishedAt).toISOString(), wallMs, discovered, alreadyDone, rowsWritten, apiRequests, interrupted, ...(auto ? { concurrency: auto } : {}) };
  }

  get exitCode(): number {
    return this.fatal ? EXIT.api : this.interrupted ? EXIT.interrupted : EXIT.ok;
  }

  get interrupted(): boolean {
    return this.p.isDraining() && !this.fatal;
  }

  private get stopped(): boolean {
    return this.p.isDraining() || this.fatal !== undefined || this.configFailure !== undefined;
  }

  /**
   * Takes every discovered item (or the plans --max-cost kept) through the pipeline, then removes the temp folder.
   * Throws the OperatorError (ConfigError or OutputError) that stopped the run (output not writable, a manifest that cannot be read).
   */
  async discoverAll(preplanned: Preplanned[] | undefined): Promise<void> {
    // Jobs in flight: the API slots plus the preprocessing slots, so that the next files are being fitted while
    // earlier ones wait for the API (runCpu and runApi inside the worker keep each side to its own limit).
    const slots = this.p.cfg.concurrency + this.p.cfg.cpuConcurrency;
    const limit = pLimit(slots);
    try {
      // One file found twice is one row and one request; never more than two jobs waiting per slot.
      await eachDiscovered(
        this.source(preplanned),
        { key: (e) => e.item.path, window: slots * 2, stop: () => this.stopped, onItem: () => void this.discovered++, onTaken: () => void (this.discoveryDone = true) },
        (e) => limit(() => this.task(e.item, e.planned).catch((err: unknown) => this.onTaskError(err, e.item))),
      );
    } catch (err) {
      // Discovery failed (a manifest that is not CSV, ...): what was in flight has finished; report.
      if (err instanceof OperatorError) this.configFailure ??= err;
      else throw err;
    } finally {
      if (this.p.worker) await rm(this.p.worker.tmpDir, { recursive: true, force: true });
    }
    if (this.configFailure) {
      this.p.out?.closeNow();
      this.p.estimateFile?.closeNow();
      throw this.configFailure;
    }
  }

  private async *source(preplanned: Preplanned[] | undefined): AsyncGenerator<Preplanned> {
    if (preplanned) yield* preplanned;
    else for await (const item of discover(this.p.cfg)) yield { item, planned: undefined };
  }

  private async task(item: Item, pre: Planned | undefined): Promise<void> {
    // Draining: files that were queued but not started wait for the next run.
    if (this.p.hard.signal.aborted || this.stopped) return;
    const plannedItem = pre ?? (await planItem(item, this.p.ctx));
    if ('row' in plannedItem) {
      if (keptReviewed(this.p.priorRows.get(plannedItem.row.path))) return void this.alreadyDone++;
      return this.rowWithoutCall(plannedItem.row);
    }
    const job = plannedItem.job;
    if (this.leftAlone(job)) {
      this.alreadyDone++;
      return;
    }
    const misfit = misfitRow(job);
    addEstimate(this.p.estimate, job.kind, misfit ? undefined : job);
    if (this.p.cfg.dryRun) return this.dryRunJob(job, misfit);
    if (!this.worker) throw new Error('no API client');
    this.write(await processJob(job, this.worker, plannedItem.content));
  }

  /** A row planning gave without a call (skipped, unreadable): written, or in a dry run listed as planned. */
  private rowWithoutCall(row: Row): void {
    if (!this.p.cfg.dryRun) return this.write(row);
    this.planned++;
    addEstimate(this.p.estimate, row.kind, undefined);
    this.plan(row);
    this.p.hooks.onRow?.(row);
  }

  /** Already answered: this path has an `ok` row of the same job, or (not in a dry run) another path has one to copy. */
  private leftAlone(job: Job): boolean {
    if (alreadyDone(this.p.priorRows.get(job.path), job)) return true;
    const out = this.p.out;
    if (!out || this.p.cfg.dryRun || answeredElsewhere(out.okIds, job) === undefined) return false;
    out.alias(job.id, job.path, job.source, { index: job.index, kept: job.kept });
    return true;
  }

  private dryRunJob(job: Job, misfit: Row | undefined): void {
    this.planned++;
    if (misfit) {
      this.plan(misfit);
      this.p.hooks.onRow?.(misfit);
    } else {
      this.plan(plannedRow(job));
      this.p.hooks.onPlanned?.(job);
    }
  }

  /** A dry run's row, into the estimate file: as with the output, a disk that fills stops the run (exit 4). */
  private plan(row: Row): void {
    try {
      this.p.estimateFile?.append(row);
    } catch (err) {
      throw new OutputError(`${this.p.cfg.estimatePath}: cannot write the estimate file (${ioReason(err)}); free some space and rerun`);
    }
  }

  private write(row: Row): void {
    if (this.configFailure) return;
    row.error_message = this.p.redact(row.error_message);
    try {
      this.p.out?.append(row);
    } catch (err) {
      // Disk full, file too large, the folder gone: nothing more can be recorded, so nothing more is sent.
      this.stopWith(new OutputError(`${this.p.cfg.out}: cannot write the output file any more (${ioReason(err)}); the rows written so far are kept: free some space and rerun the same command to finish`));
      return;
    }
    this.rowsWritten++;
    this.p.hooks.onRow?.(row);
  }

  private stopWith(err: OperatorError): void {
    this.configFailure ??= err;
    this.p.hard.abort(err);
  }

  /** What a file's failure means for the run: the end of it (fatal API error, config), nothing (a hard stop), or a row. */
  private onTaskError(err: unknown, item: Item): void {
    const { cfg, redact } = this.p;
    if (err instanceof RunFatalError) {
      if (this.fatal) return;
      this.fatal = redact(`${err.error.message} (${err.error.code}): ${advice(err.error.code, cfg.baseURL, cfg.api)}`);
      this.p.hard.abort(err.error);
    } else if (err instanceof OperatorError) {
      this.stopWith(err);
    } else if (!(err instanceof OmniError && err.code === 'interrupted')) {
      // (A hard stop gives this file no row now; the next run does it.) Anything else is our bug: a row says so.
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      this.p.hooks.log(redact(`internal error on ${item.path}: ${message}`));
      const id = jobId([cfg.model, item.path, 'internal_error']);
      this.write(rowWithoutAnswer({ id, path: item.path, kind: 'unknown', model: cfg.model }, 'failed', 'internal_error', redact(`${item.path}: ${err instanceof Error ? err.message : String(err)}`)));
    }
  }
}

function advice(code: string, baseURL: string, api: ApiDialect): string {
  if (code === 'auth_failed' && api !== 'dashscope') {
    return `check OMNI_API_KEY: it must be the key ${baseURL} was started with (vLLM's --api-key) or the provider's; the run stopped, rerun the same command to continue`;
  }
  if (code === 'auth_failed') {
    return `check DASHSCOPE_API_KEY, and that the key belongs to the region of ${baseURL} (--region cn|intl|us); the run stopped, rerun the same command to continue`;
  }
  if (code === 'api_unreachable') return `check --base-url / --region (this run sends to ${baseURL}) and this machine's network; the run stopped, rerun the same command to continue`;
  if (code === 'access_denied') return 'the account may not use this model (free tier only, or no access): check the account in the DashScope console; the run stopped';
  return 'check --model; the run stopped, rerun the same command to continue';
}
