/**
 * The output file of a run: rows are appended as they complete (a crash loses at most the rows in flight),
 * and the file is compacted to one row per path (the newest wins) when a run opens and finishes it.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { OutputFormat } from '../config.js';
import { ConfigError, EXIT } from '../errors.js';
import { columnsFor, flatten, unflatten, type Row, type RowStatus } from '../row.js';
import { formatFor, type RowFormat } from './format.js';
import { TotalsAccumulator } from './totals.js';

export interface PriorRow {
  readonly id: string;
  readonly status: RowStatus;
}

interface CompactResult {
  index: Map<string, PriorRow>;
  totals: TotalsAccumulator;
}

export class ResultFile {
  private fd: number | undefined;

  private constructor(
    readonly file: string,
    private readonly format: RowFormat,
    private readonly columns: readonly string[],
    private readonly turns: number,
    /** Rows already in the file, by path, for resume. */
    readonly prior: Map<string, PriorRow>,
  ) {}

  /**
   * Opens (or creates) the output. An existing file is compacted to the current columns first, so that rows
   * appended now line up with the header. Throws ConfigError (exit 4) when the file cannot be written.
   */
  static async open(file: string, format: OutputFormat, turns: number, opts: { fresh?: boolean } = {}): Promise<ResultFile> {
    const fmt = formatFor(format);
    const columns = columnsFor(turns);
    let index = new Map<string, PriorRow>();
    try {
      await mkdir(path.dirname(file), { recursive: true });
      const existing = await stat(file).catch(() => undefined);
      if (existing?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      if (existing && existing.size > 0 && !opts.fresh) index = (await compact(file, fmt, columns, turns)).index;
      else await writeWhole(file, fmt.header(columns));
      const fd = openSync(file, 'a');
      const rf = new ResultFile(file, fmt, columns, turns, index);
      rf.fd = fd;
      return rf;
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new ConfigError(`${file}: cannot write the output file (${code})`, EXIT.output);
    }
  }

  /** Starts a fresh output file (an existing one is replaced): for `collect`, which writes what Redis holds. */
  static async create(file: string, format: OutputFormat, turns: number): Promise<ResultFile> {
    await rm(file, { force: true }).catch(() => undefined);
    return ResultFile.open(file, format, turns);
  }

  /** The rows already in an output, by path, without changing the file (for --dry-run). */
  static async readPrior(file: string, format: OutputFormat): Promise<Map<string, PriorRow>> {
    const index = new Map<string, PriorRow>();
    if (!(await stat(file).catch(() => undefined))?.isFile()) return index;
    for await (const rec of formatFor(format).read(file)) {
      const row = unflatten(rec);
      if (row) index.set(row.path, { id: row.id, status: row.status });
    }
    return index;
  }

  /** Appends one complete line. Synchronous on purpose: when it returns, the row survives a crash of this process. */
  append(row: Row): void {
    if (this.fd === undefined) throw new Error(`${this.file}: append after close`);
    writeSync(this.fd, this.format.line(flatten(row, this.turns), this.columns));
  }

  /** Closes the file, compacts it to one row per path, and returns totals over what remains. */
  async finish(): Promise<TotalsAccumulator> {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    return (await compact(this.file, this.format, this.columns, this.turns)).totals;
  }

  /** Closes without compacting (a hard stop): every line written so far is whole. */
  closeNow(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

async function writeWhole(file: string, text: string): Promise<void> {
  const fh = await open(file, 'w');
  try {
    await fh.write(text);
  } finally {
    await fh.close();
  }
}

async function endsWithNewline(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) return true;
    const buf = Buffer.alloc(1);
    await fh.read(buf, 0, 1, size - 1);
    return buf[0] === 0x0a;
  } finally {
    await fh.close();
  }
}

/**
 * Keeps the last row per path, in the current columns. Reads the file once; rewrites it (to a temporary file,
 * then rename) only when it has duplicates, other columns, or a line cut short. Memory: one small entry per path.
 */
async function compact(file: string, fmt: RowFormat, columns: readonly string[], turns: number): Promise<CompactResult> {
  const last = new Map<string, number>();
  const index = new Map<string, PriorRow>();
  let totals = new TotalsAccumulator();
  let records = 0;
  let sameColumns = true;
  let i = 0;
  for await (const rec of fmt.read(file)) {
    const row = unflatten(rec);
    if (!row) {
      sameColumns = false; // something that is not a row of ours: rewrite without it
      continue;
    }
    if (i === 0) sameColumns &&= sameKeys(Object.keys(rec), columns);
    last.set(row.path, i);
    index.set(row.path, { id: row.id, status: row.status });
    totals.add(row);
    records++;
    i++;
  }
  const clean = records > 0 && sameColumns && records === last.size && (await endsWithNewline(file));
  if (clean) return { index, totals };

  totals = new TotalsAccumulator();
  // Hidden, so that an output kept inside an input folder is never scanned as an input.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.compact-${process.pid}`);
  const out = openSync(tmp, 'w');
  try {
    writeSync(out, fmt.header(columns));
    let j = 0;
    for await (const rec of fmt.read(file)) {
      const row = unflatten(rec);
      if (!row) continue;
      if (last.get(row.path) === j) {
        writeSync(out, fmt.line(flatten(row, turns), columns));
        totals.add(row);
      }
      j++;
    }
  } catch (err) {
    closeSync(out);
    await rm(tmp, { force: true });
    throw err;
  }
  closeSync(out);
  await rename(tmp, file);
  return { index, totals };
}

function sameKeys(keys: readonly string[], columns: readonly string[]): boolean {
  return keys.length === columns.length && keys.every((k, i) => k === columns[i]);
}
