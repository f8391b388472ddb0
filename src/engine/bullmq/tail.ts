/**
 * The output of a distributed run, written as the run goes: `run --redis` appends each row the workers save (read
 * from the run's journal in Redis) to the output as it comes, not only when it collects at the end. A Redis lost
 * mid-run (restarted empty, flushed) then loses no paid answer: the output has it, and the next run takes it back.
 * The final collect still rewrites the output whole, one row per file.
 */
import type { OutputFormat } from '../../shared/config.js';
import { ResultFile } from '../../shared/output/result-file.js';
import type { RowLayout } from '../../shared/row.js';
import { RunResults } from './results.js';

export class OutputTail {
  private closed = false;

  private constructor(
    private readonly results: RunResults,
    private readonly file: ResultFile,
    private after: string,
  ) {}

  /** Opens (locks) the output and starts after the rows the run's journal has now. */
  static async open(results: RunResults, out: string, format: OutputFormat, layout: RowLayout): Promise<OutputTail> {
    const after = await results.journalEnd();
    return new OutputTail(results, await ResultFile.open(out, format, layout), after);
  }

  /** Appends the rows saved since the last pull; returns how many. */
  async pull(): Promise<number> {
    let appended = 0;
    for (;;) {
      const { rows, next } = await this.results.savedSince(this.after);
      for (const row of rows) this.file.append(row);
      appended += rows.length;
      if (next === this.after) return appended;
      this.after = next;
    }
  }

  /** Closes the output without compacting it: the final collect rewrites it. */
  closeNow(): void {
    this.closed = true;
    this.file.closeNow();
  }

  /** Closes and compacts the output to one row per file (the run ends without a collect). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.file.finish();
  }
}
