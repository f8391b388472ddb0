/**
 * The output file under review: one small entry per row (where its line is, and what the filters look at), so
 * that the filters and their counts run over the whole file while only a page of rows is read and sent. The file
 * is read again when it changed on disk (a run still writing it); an edit replaces one row's line (edit.ts).
 */
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { countedFields, answerFields, type AnswerSchema } from '../../shared/answer-schema.js';
import type { OutputFormat, RecordedSidecars } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import { formatFor } from '../../shared/output/format.js';
import type { RowFormat } from '../../shared/output/row-format.js';
import { readRunRecord } from '../../shared/output/run-file.js';
import { unflatten, type Row } from '../../shared/row.js';
import { MediaFiles, namesOf } from './media.js';

/** What the page filters on, per row, and where the row's line is. */
export interface Entry {
  start: number;
  end: number;
  readonly path: string;
  status: string;
  code: string;
  reviewed: boolean;
  /** `field=value` per counted answer field (labels, enums, booleans). */
  labels: string[];
}

/** What the run file says about the output, when there is one. */
export interface RunInfo {
  /** The folder the rows' paths are relative to. */
  readonly cwd: string;
  readonly format: AnswerSchema | undefined;
  readonly sidecars: RecordedSidecars | undefined;
  readonly captionPrefix: string | undefined;
  readonly captionSuffix: string | undefined;
  readonly inputs: readonly string[];
}

export interface Filter {
  readonly status?: string | undefined;
  readonly code?: string | undefined;
  readonly label?: string | undefined;
  /** 'yes' or 'no'. */
  readonly reviewed?: string | undefined;
}

export type Counts = Record<'status' | 'code' | 'label' | 'reviewed', Record<string, number>>;

/** The version of a file as the page saw it: any append, rewrite or rename changes it. */
export const versionOf = (s: { size: number; mtimeMs: number; ino: number }) => `${s.size}-${s.mtimeMs}-${s.ino}`;

/** csv or jsonl, from the extension (what run --out does), else from the run file. */
function outputFormatOf(file: string, recorded: OutputFormat | undefined): OutputFormat | undefined {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  return recorded;
}

export class ReviewStore {
  entries: Entry[] = [];
  columns: string[] = [];
  version = '';
  /** The files the output names: the only ones the page may fetch. */
  readonly media: MediaFiles;

  private constructor(
    readonly file: string,
    readonly outputFormat: OutputFormat,
    readonly fmt: RowFormat,
    readonly run: RunInfo,
  ) {
    this.media = new MediaFiles(run.cwd);
  }

  /** Opens an output for review; a ConfigError (one line, exit 2) when it is missing or not an output of ours. */
  static async open(file: string, cwd: string): Promise<ReviewStore> {
    const s = await stat(file).catch(() => undefined);
    if (!s) throw new ConfigError(`${file}: not found (give the output file of a run: omni-batch review out.csv)`);
    if (!s.isFile()) throw new ConfigError(`${file}: not a file (give the output file of a run: omni-batch review out.csv)`);
    const recorded = await readRunRecord(file)
      .then((r) => (path.resolve(r.config.out) === file ? r.config : undefined))
      .catch(() => undefined);
    const format = outputFormatOf(file, recorded?.format);
    if (!format) throw new ConfigError(`${file}: not an omni-batch output (expected a .csv or .jsonl file)`);
    const run: RunInfo = {
      cwd: recorded?.cwd ?? cwd,
      format: recorded?.answer.format,
      sidecars: recorded?.sidecars,
      captionPrefix: recorded?.captionPrefix,
      captionSuffix: recorded?.captionSuffix,
      inputs: recorded?.inputs ?? [],
    };
    const store = new ReviewStore(file, format, formatFor(format, { csvRaw: recorded?.csvRaw }), run);
    const { records, ours } = await store.scan();
    if (ours === 0 && (records > 0 || !(await store.looksEmptyOutput(s.size)))) {
      throw new ConfigError(`${file}: not an omni-batch output (no rows with id, path and status)`);
    }
    return store;
  }

  /** An output with no row yet: empty, or a CSV header of ours. */
  private async looksEmptyOutput(size: number): Promise<boolean> {
    if (size === 0) return true;
    const head = (await this.read(0, Math.min(size, 4096))).split('\n')[0] ?? '';
    return this.outputFormat === 'csv' && /^id,path,source,kind,status\b/.test(head);
  }

  /** The counted answer fields (labels, enums), from the run's answer format. */
  private counted(): { field: string; array: boolean }[] {
    const format = this.run.format;
    if (!format) return [];
    const props = (format.schema.properties ?? {}) as Record<string, { type?: unknown }>;
    return countedFields(format).map(({ field }) => ({ field, array: props[field]?.type === 'array' }));
  }

  /** The answer-schema fields (one column each), for an edit. */
  fields(): string[] {
    return this.run.format ? answerFields(this.run.format) : [];
  }

  /** Reads every row's entry again. */
  async scan(): Promise<{ records: number; ours: number }> {
    const s = await stat(this.file);
    const counted = this.counted();
    const entries: Entry[] = [];
    const names: string[][] = [];
    let records = 0;
    for await (const { rec, start, end } of this.fmt.located(this.file)) {
      if (records++ === 0) this.columns = Object.keys(rec);
      const row = unflatten(rec);
      if (!row) continue;
      entries.push({ start, end, ...this.facets(row, rec, counted) });
      names.push(namesOf(row));
    }
    this.entries = entries;
    this.media.reset(names);
    this.version = versionOf(s);
    return { records, ours: entries.length };
  }

  /** The filter values of one row. */
  facets(row: Row, rec: Record<string, unknown>, counted = this.counted()): Omit<Entry, 'start' | 'end'> {
    const labels: string[] = [];
    for (const { field, array } of counted) {
      const v = rec[field];
      const values = Array.isArray(v) ? v : array && typeof v === 'string' ? v.split(';') : v === null || v === undefined || v === '' ? [] : [v];
      for (const x of values) labels.push(`${field}=${String(x)}`);
    }
    return { path: row.path, status: row.status, code: row.error_code, reviewed: row.reviewed === true, labels };
  }

  /** Reads the file again when it changed on disk since the last read. */
  async fresh(): Promise<void> {
    const s = await stat(this.file).catch(() => undefined);
    if (!s) throw new ConfigError(`${this.file}: the output is gone`);
    if (versionOf(s) !== this.version) await this.scan();
  }

  /** Bytes [start, end) of the file as text. */
  async read(start: number, end: number): Promise<string> {
    const fh = await open(this.file, 'r');
    try {
      const buf = Buffer.alloc(end - start);
      const { bytesRead } = await fh.read(buf, 0, buf.length, start);
      return buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
  }

  /** The record of entry `n`, as the file has it now. */
  async record(n: number): Promise<Record<string, unknown> | undefined> {
    const e = this.entries[n];
    return e ? this.fmt.parseLine(await this.read(e.start, e.end), this.columns) : undefined;
  }

  /** The entries (by number) that pass `filter`, and the counts of every filter value over the whole file. */
  query(filter: Filter): { matches: number[]; counts: Counts } {
    const counts: Counts = { status: {}, code: {}, label: {}, reviewed: {} };
    const bump = (k: keyof Counts, v: string) => (counts[k][v] = (counts[k][v] ?? 0) + 1);
    const matches: number[] = [];
    this.entries.forEach((e, n) => {
      bump('status', e.status);
      if (e.code) bump('code', e.code);
      for (const l of e.labels) bump('label', l);
      bump('reviewed', e.reviewed ? 'yes' : 'no');
      if (filter.status && e.status !== filter.status) return;
      if (filter.code && e.code !== filter.code) return;
      if (filter.label && !e.labels.includes(filter.label)) return;
      if (filter.reviewed && (e.reviewed ? 'yes' : 'no') !== filter.reviewed) return;
      matches.push(n);
    });
    return { matches, counts };
  }
}
