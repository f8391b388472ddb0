/** Totals over an output file's rows: counts by status and kind, every token field, cost, errors, label counts. */
import { USAGE_FIELDS, emptyUsage, addUsage, type Row, type RowStatus, type Usage } from '../row.js';
import type { MediaKind } from '../job.js';
import { replaceFile } from './replace-file.js';
import type { GpuCost } from '../run-price.js';

export interface KindCounts {
  files: number;
  ok: number;
  failed: number;
  skipped: number;
  planned: number;
  /** Over the rows that got an answer: prompt tokens estimated before the run, and as the API counted them. */
  estimated_tokens: number;
  prompt_tokens: number;
}

export interface RunStats {
  startedAt: string;
  finishedAt: string;
  wallMs: number;
  /** Files this run discovered. */
  discovered: number;
  /** Files this run left alone because the output already had an `ok` row for the same id. */
  alreadyDone: number;
  /** Rows this run wrote. */
  rowsWritten: number;
  /** API requests this run made, retries included. */
  apiRequests: number;
  interrupted: boolean;
  /** `--concurrency auto`: the level the run ended at, whether it settled (and why), and every level measured. */
  concurrency?: {
    level: number;
    settled: boolean;
    why: string;
    levels: readonly { level: number; msPerToken: number; samples: number }[];
  };
}

export interface Totals {
  output: string;
  rows: number;
  byStatus: Record<RowStatus, number>;
  byKind: Partial<Record<MediaKind, KindCounts>>;
  tokens: Usage;
  cost: number;
  currency: string | null;
  /** Rows with tokens but no price (a model missing from the price table). */
  rowsWithoutPrice: number;
  errors: Record<string, number>;
  /**
   * Answer schemas: per label / enum field, how many ok rows gave each value (every allowed value listed, 0 when
   * unused). A multi-label field counts each label of a row. Rows that failed with invalid_answer are in `errors`.
   */
  labels?: Record<string, Record<string, number>>;
  /**
   * Long media among the ok rows, from their `preprocess` column (only when there is any): `trimmed` to the model's
   * maximum (the model saw part of the file), asked in `segmented` parts, sent by temporary `uploaded` (oss://).
   */
  longMedia?: LongMedia;
  run?: RunStats;
  /**
   * A job's GPU-hour price (run-price.ts) over this run's wall time only (`scope: "this run"`: a resumed output's
   * earlier runs are not added); in-process runs only (a distributed run's workers are not timed); absent without one.
   */
  gpu?: GpuCost;
}

export interface LongMedia {
  trimmed: number;
  segmented: number;
  uploaded: number;
}

/** What a row's `preprocess` note says about long media (the notes of preprocess/ and process.ts). */
export function longMediaOf(note: string): { trimmed: boolean; segmented: boolean; uploaded: boolean } {
  const segmented = /^segments \d+ x /.test(note);
  return { segmented, trimmed: !segmented && /\btrimmed\b/.test(note), uploaded: /\boss:\/\//.test(note) };
}

export class TotalsAccumulator {
  private rows = 0;
  private readonly byStatus: Record<RowStatus, number> = { ok: 0, failed: 0, skipped: 0, planned: 0 };
  private readonly byKind: Partial<Record<MediaKind, KindCounts>> = {};
  private readonly tokens = emptyUsage();
  private cost = 0;
  private rowsWithoutPrice = 0;
  private readonly errors: Record<string, number> = {};
  private readonly labels: Record<string, Record<string, number>> = {};
  private readonly longMedia: LongMedia = { trimmed: 0, segmented: 0, uploaded: 0 };

  /** @param counted fields whose values are counted (the run's labels and enums); none by default */
  constructor(private readonly counted: readonly { readonly field: string; readonly values: readonly string[] }[] = []) {
    for (const { field, values } of counted) this.labels[field] = Object.fromEntries(values.map((v) => [v, 0]));
  }

  add(row: Row): void {
    this.rows++;
    this.byStatus[row.status]++;
    const k = (this.byKind[row.kind] ??= { files: 0, ok: 0, failed: 0, skipped: 0, planned: 0, estimated_tokens: 0, prompt_tokens: 0 });
    k.files++;
    k[row.status]++;
    if (row.status === 'ok') {
      k.estimated_tokens += row.estimated_tokens ?? 0;
      k.prompt_tokens += row.usage.prompt_tokens;
    }
    addUsage(this.tokens, row.usage);
    if (row.cost !== null) this.cost += row.cost;
    else if (row.usage.total_tokens > 0) this.rowsWithoutPrice++;
    if (row.error_code) this.errors[row.error_code] = (this.errors[row.error_code] ?? 0) + 1;
    if (row.status === 'ok' && row.preprocess) {
      const long = longMediaOf(row.preprocess);
      for (const key of ['trimmed', 'segmented', 'uploaded'] as const) if (long[key]) this.longMedia[key]++;
    }
    if (row.status === 'ok' && row.parsed) {
      for (const { field } of this.counted) {
        const value: unknown = row.parsed[field];
        const counts = (this.labels[field] ??= {});
        const values: unknown[] = Array.isArray(value) ? value : value === undefined || value === null ? [] : [value];
        for (const v of values) {
          const key = String(v);
          counts[key] = (counts[key] ?? 0) + 1;
        }
      }
    }
  }

  result(output: string, currency: string | null): Totals {
    const tokens = emptyUsage();
    for (const f of USAGE_FIELDS) tokens[f] = this.tokens[f];
    return {
      output,
      rows: this.rows,
      byStatus: { ...this.byStatus },
      byKind: structuredClone(this.byKind),
      tokens,
      // Sums of many small floats: round to what a price table can mean.
      cost: Math.round(this.cost * 1e8) / 1e8,
      currency,
      rowsWithoutPrice: this.rowsWithoutPrice,
      errors: { ...this.errors },
      ...(this.counted.length ? { labels: structuredClone(this.labels) } : {}),
      ...(Object.values(this.longMedia).some((n) => n > 0) ? { longMedia: { ...this.longMedia } } : {}),
    };
  }
}

/** Written whole, so a reader never sees half a totals file; OutputError (exit 4) when it cannot be. */
export async function writeTotals(file: string, totals: Totals): Promise<void> {
  await replaceFile(file, `${JSON.stringify(totals, null, 2)}\n`, 'totals file');
}
