/**
 * What the operator sees while a run works, on stderr:
 * - a terminal (TTY): one status line redrawn in place (`\r` + clear line) a few times a second: files done / total
 *   (`N found` until discovery ends), rate, ETA, tokens and cost so far, failures by code. Failure lines are printed
 *   above it, so the scrollback holds only what matters.
 * - not a terminal (CI, cron, a pipe): the same line as a plain `omni-batch: progress: ...` line every 10 s.
 * - `--log json`: one JSON object per line (pino): every finished file (`event: "row"`, `warn` when it failed),
 *   every note, and the progress every 10 s, for log shippers.
 * - `--quiet`: nothing until the final summary (errors that end the run are still printed).
 */
import type { Logger } from 'pino';
import { lazy } from '../shared/lazy.js';
import type { Row } from '../shared/row.js';

/** The stream the display draws on (stderr in the CLI). */
export interface Terminal {
  write(text: string): void;
  readonly isTTY: boolean;
  /** Width in characters, when known; the status line is cut to fit so that it never wraps. */
  readonly columns: number | undefined;
}

export const LOG_MODES = ['text', 'json'] as const;
export type LogMode = (typeof LOG_MODES)[number];

export interface DisplayOptions {
  /** `text` (default) or `json`. */
  readonly log: LogMode;
  /** Only the final summary. Default false. */
  readonly quiet: boolean;
  /** Plain-line and JSON progress interval. Default 10 s (env OMNI_BATCH_PROGRESS_MS). */
  readonly intervalMs: number;
}

/** At most this many failure lines are printed while a run works; the rest are counted in the status line. */
const MAX_FAILURE_LINES = 20;
/** The TTY line is redrawn at most this often. */
const REDRAW_MS = 200;
const CLEAR = '\r\x1b[2K';

/** `--log` and `--quiet` as the CLI parsed them (commander checks --log's choices) -> options. */
export function displayOptions(flags: { log?: LogMode | undefined; quiet?: boolean | undefined }, env: NodeJS.ProcessEnv, defaultIntervalMs = 10_000): DisplayOptions {
  const fromEnv = Number(env.OMNI_BATCH_PROGRESS_MS);
  return { log: flags.log ?? 'text', quiet: flags.quiet === true, intervalMs: Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : defaultIntervalMs };
}

/**
 * pino writing one JSON object per line with a level name and an ISO time, the shape log collectors (Loki,
 * CloudWatch, ELK) take as is; synchronously through `write`, so nothing is lost when the process exits.
 */
export function jsonLogger(write: (line: string) => void): Logger {
  const { pino } = pinoModule();
  return pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, { write });
}

/** Loaded for `--log json` only. */
const pinoModule = lazy<typeof import('pino')>('pino');

/** The fields of a finished file's `row` event, for `run --log json` and `worker --log json` alike. */
export function rowEvent(row: Row): Record<string, unknown> {
  return {
    event: 'row',
    path: row.path,
    kind: row.kind,
    status: row.status,
    error_code: row.error_code || undefined,
    error_message: row.error_message || undefined,
    tokens: row.usage.total_tokens,
    cost: row.cost,
    requests: row.requests,
    retries: row.retries,
    latency_ms: row.latency_ms,
  };
}

/** What an engine reports to the display: the in-process engine from its own counters, `run --redis` from Redis. */
export interface ProgressCounts {
  /** Items discovered so far; the total once `discoveryDone`. */
  discovered: number;
  discoveryDone: boolean;
  /** Left alone: already `ok` in the output. */
  alreadyDone: number;
  /** Rows written by this run. */
  rowsWritten: number;
  apiRequests: number;
  /** In process: API requests in flight (a retry waiting out its backoff included), not files being preprocessed. */
  inFlight?: number;
  /** In process: files being preprocessed (ffmpeg, sharp), shown as `preparing N` when there are any. */
  preparing?: number;
  /** Distributed: jobs running on the workers (preprocessing and API calls alike), and connected workers. */
  running?: number;
  workers?: number;
  /** The pacing flag that holds requests back right now (`--rpm 60`), when pacing is what sets the rate. */
  pacedBy?: string;
}

/** What the display knows besides the engine's counts: what the rows said. */
export interface RowTally {
  tokens: number;
  cost: number;
  failures: Map<string, number>;
}

function duration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function compact(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)}M` : n >= 1e4 ? `${(n / 1e3).toFixed(1)}k` : String(n);
}

/** The status line: `12/40 files  1.9/s  ETA 15s  tokens 3.2k  cost 0.0123 CNY  failed: rate_limited 2`. */
export function progressLine(c: ProgressCounts, t: RowTally, elapsedMs: number, currency: string | null): string {
  const done = c.rowsWritten + c.alreadyDone;
  const rate = elapsedMs > 0 ? c.rowsWritten / (elapsedMs / 1000) : 0;
  // Until discovery ends, the total is what was found so far: shown with a +, and the ETA as the least it can be.
  const more = c.discoveryDone ? '' : '+';
  const parts = [`${done}/${c.discovered}${more} files`];
  parts.push(`${rate.toFixed(rate < 10 ? 1 : 0)}/s${c.pacedBy ? ` (paced by ${c.pacedBy})` : ''}`);
  parts.push(`ETA ${rate > 0 ? duration((c.discovered - done) / rate) : '?'}${more && `${more} (still finding files)`}`);
  if (c.inFlight !== undefined) parts.push(`${c.inFlight} in flight`);
  if (c.preparing) parts.push(`preparing ${c.preparing}`);
  if (c.workers !== undefined) parts.push(c.workers === 0 ? 'no worker connected' : `${c.running ?? 0} running on ${c.workers} worker${c.workers === 1 ? '' : 's'}`);
  parts.push(`tokens ${compact(t.tokens)}`);
  if (currency) parts.push(`cost ${t.cost.toFixed(4)} ${currency}`);
  const failed = [...t.failures].sort((a, b) => b[1] - a[1]);
  if (failed.length) parts.push(`failed: ${failed.map(([code, n]) => `${code} ${n}`).join(', ')}`);
  return parts.join('  ');
}

export class ProgressDisplay {
  private tally: RowTally = { tokens: 0, cost: 0, failures: new Map() };
  private readonly t0 = Date.now();
  private counts: () => ProgressCounts = () => ({ discovered: 0, discoveryDone: false, alreadyDone: 0, rowsWritten: 0, apiRequests: 0 });
  private timer: NodeJS.Timeout | undefined;
  private failureLines = 0;
  private drawn = '';
  private logger: Logger | undefined;

  constructor(
    private readonly term: Terminal,
    private readonly opts: DisplayOptions,
    private readonly currency: string | null,
  ) {}

  private get live(): boolean {
    return this.term.isTTY && this.opts.log === 'text' && !this.opts.quiet;
  }

  /** Starts redrawing (TTY) or the periodic lines (otherwise). */
  start(counts: () => ProgressCounts): void {
    this.counts = counts;
    if (this.opts.quiet) return;
    this.timer = setInterval(() => this.tick(), this.live ? REDRAW_MS : this.opts.intervalMs);
    this.timer.unref();
  }

  /** Stops and leaves the terminal clean for the summary. */
  stop(): void {
    const started = this.timer !== undefined;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.live && this.drawn) this.term.write(CLEAR);
    this.drawn = '';
    // Plain lines and JSON end with the final counts (a log read later shows where the run ended, failures
    // included); on a terminal the summary that follows says it.
    // Not when the run stopped before finding anything (a config error): its one line says it all.
    if (started && !this.live && this.counts().discovered > 0) this.tick();
  }

  /** A note for the operator (stderr): printed above the status line, or as a JSON `log` event. */
  note(line: string): void {
    if (this.opts.quiet) return;
    if (this.opts.log === 'json') return this.json({ event: 'log', msg: line });
    this.above(`omni-batch: ${line}`);
  }

  /**
   * Replaces the tally with one counted elsewhere: `run --redis` reads tokens, cost and failures from the run's
   * totals in Redis, since the rows are written by the workers.
   */
  setTally(tally: RowTally): void {
    this.tally = tally;
  }

  /** A finished file. */
  row(row: Row): void {
    this.tally.tokens += row.usage.total_tokens;
    this.tally.cost += row.cost ?? 0;
    if (row.status === 'failed' && row.error_code) this.tally.failures.set(row.error_code, (this.tally.failures.get(row.error_code) ?? 0) + 1);
    if (this.opts.quiet) return;
    if (this.opts.log === 'json') {
      return this.json(rowEvent(row), row.status === 'failed' ? 'warn' : 'info');
    }
    if (row.status !== 'failed') return;
    if (++this.failureLines <= MAX_FAILURE_LINES) this.above(`omni-batch: failed ${row.path}: ${row.error_code}: ${row.error_message}`);
    else if (this.failureLines === MAX_FAILURE_LINES + 1) this.above(`omni-batch: more failures: counted in the progress line, listed in the summary and the output`);
  }

  private line(): string {
    return progressLine(this.counts(), this.tally, Date.now() - this.t0, this.currency);
  }

  private tick(): void {
    const line = this.line();
    if (this.opts.log === 'json') this.json({ event: 'progress', ...this.counts(), tokens: this.tally.tokens, cost: this.tally.cost, failures: Object.fromEntries(this.tally.failures) });
    else if (this.live) this.draw(line);
    else this.term.write(`omni-batch: progress: ${line}\n`);
  }

  private draw(line: string): void {
    // A pseudo-terminal may report 0 columns: assume a common width then.
    const width = this.term.columns !== undefined && this.term.columns >= 20 ? this.term.columns : 100;
    const cut = line.length >= width ? `${line.slice(0, Math.max(0, width - 2))}…` : line;
    if (cut === this.drawn) return;
    this.drawn = cut;
    this.term.write(`${CLEAR}${cut}`);
  }

  /** Prints a whole line; on a terminal, above the status line, which is then drawn again. */
  private above(text: string): void {
    if (!this.live) return this.term.write(`${text}\n`);
    const had = this.drawn;
    this.term.write(`${had ? CLEAR : ''}${text}\n`);
    this.drawn = '';
    // Drawn again at once, with what the new line changed (a failure count).
    if (had) this.draw(this.line());
  }

  private json(fields: Record<string, unknown>, level: 'info' | 'warn' = 'info'): void {
    this.logger ??= jsonLogger((line) => this.term.write(line));
    this.logger[level](fields);
  }
}
