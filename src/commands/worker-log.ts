/**
 * What a worker says while it runs (stderr), for the operator reading `docker logs` or journald:
 * - `--log text` (default): notes, every failed file (the first 100; then they are only counted), and every
 *   30 s, when something changed, one line of totals since start: jobs done, ok, failed by code, the rate.
 * - `--log json`: pino lines: one `row` event per finished job (with its run id; `warn` when it failed), the
 *   notes as `log` events and the totals as `stats` events.
 */
import type { Logger } from 'pino';
import type { Row } from '../shared/row.js';
import { jsonLogger, rowEvent, type LogMode } from './progress.js';

const MAX_FAILURE_LINES = 100;

export class WorkerLog {
  private logger: Logger | undefined;
  private done = 0;
  private ok = 0;
  private readonly failures = new Map<string, number>();
  private failureLines = 0;
  private lastReported = 0;
  private readonly t0 = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly write: (line: string) => void,
    private readonly mode: LogMode,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.stats(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.stats();
  }

  note(line: string, level: 'info' | 'warn' | 'error' = 'info'): void {
    if (this.mode === 'json') this.json()[level]({ event: 'log', msg: line });
    else this.write(`omni-batch worker: ${line}\n`);
  }

  row(row: Row, runId: string): void {
    this.done++;
    if (row.status === 'ok') this.ok++;
    if (row.status === 'failed') this.failures.set(row.error_code || 'unknown', (this.failures.get(row.error_code || 'unknown') ?? 0) + 1);
    if (this.mode === 'json') return this.json()[row.status === 'failed' ? 'warn' : 'info']({ ...rowEvent(row), run: runId });
    if (row.status !== 'failed') return;
    if (++this.failureLines <= MAX_FAILURE_LINES) this.write(`omni-batch worker: failed ${row.path} (run ${runId}): ${row.error_code}: ${row.error_message}\n`);
    else if (this.failureLines === MAX_FAILURE_LINES + 1) this.write(`omni-batch worker: more failures: counted in the totals line, kept in the runs' rows\n`);
  }

  /** The totals since start, when they changed. */
  private stats(): void {
    if (this.done === this.lastReported) return;
    this.lastReported = this.done;
    const sec = Math.max(0.001, (Date.now() - this.t0) / 1000);
    const failed = [...this.failures.values()].reduce((a, b) => a + b, 0);
    const byCode = Object.fromEntries([...this.failures].sort((a, b) => b[1] - a[1]));
    if (this.mode === 'json') {
      this.json().info({ event: 'stats', done: this.done, ok: this.ok, failed, failures: byCode, per_sec: Math.round((this.done / sec) * 100) / 100 });
      return;
    }
    const codes = Object.entries(byCode).map(([c, n]) => `${c} ${n}`).join(', ');
    this.write(`omni-batch worker: ${this.done} jobs done since start: ${this.ok} ok, ${failed} failed${codes ? ` (${codes})` : ''}; ${(this.done / sec).toFixed(1)}/s\n`);
  }

  private json(): Logger {
    return (this.logger ??= jsonLogger(this.write));
  }
}
