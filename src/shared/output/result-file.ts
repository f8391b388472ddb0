/**
 * The output file of a run: rows are appended as they complete (a crash loses at most the rows in flight),
 * and the file is compacted to one row per path (the newest wins) when a run opens and finishes it.
 */
import { closeSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { OutputFormat } from '../config.js';
import { alive } from '../pid.js';
import { OutputError } from '../errors.js';
import { columnsFor, flatten, unflatten, type Row, type RowLayout, type RowStatus } from '../row.js';
import { formatFor } from './format.js';
import type { RowFormat } from './row-format.js';
import { TotalsAccumulator } from './totals.js';

export interface PriorRow {
  readonly id: string;
  readonly status: RowStatus;
}

interface CompactResult {
  index: Map<string, PriorRow>;
  /** Id -> path of the rows that are `ok`: an answer that can serve another path with the same job id. */
  okIds: Map<string, string>;
  totals: TotalsAccumulator;
}

/** A path that gets a copy of another path's `ok` row, because its job is the same (same id). */
interface Alias {
  readonly path: string;
  readonly source: string;
}

export class ResultFile {
  private fd: number | undefined;
  private lock: string | undefined;
  private readonly aliases = new Map<string, Alias[]>();
  /** Id -> path of the `ok` rows already in the file. */
  okIds = new Map<string, string>();

  private constructor(
    readonly file: string,
    private readonly format: RowFormat,
    private readonly columns: readonly string[],
    private readonly layout: RowLayout,
    /** Rows already in the file, by path, for resume. */
    readonly prior: Map<string, PriorRow>,
  ) {}

  /**
   * Opens (or creates) the output. An existing file is compacted to the current columns first, so that rows
   * appended now line up with the header. Throws OutputError (exit 4) when the file cannot be written.
   * `layout`: the run's columns.
   */
  static async open(file: string, format: OutputFormat, layout: RowLayout, opts: { fresh?: boolean } = {}): Promise<ResultFile> {
    const fmt = formatFor(format);
    const columns = columnsFor(layout);
    let index = new Map<string, PriorRow>();
    let okIds = new Map<string, string>();
    let lock: string | undefined;
    try {
      await mkdir(path.dirname(file), { recursive: true });
      const existing = await stat(file).catch(() => undefined);
      if (existing?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      lock = await takeLock(file);
      if (existing && existing.size > 0) {
        // Compacting also proves the file is an output of ours: anything else is refused, never overwritten.
        const found = await compact(file, fmt, columns, layout, !!opts.fresh, new Map());
        index = found.index;
        okIds = found.okIds;
      }
      if (!existing || existing.size === 0 || opts.fresh) await writeWhole(file, fmt.header(columns));
      const fd = openSync(file, 'a');
      const rf = new ResultFile(file, fmt, columns, layout, opts.fresh ? new Map<string, PriorRow>() : index);
      rf.fd = fd;
      rf.lock = lock;
      if (!opts.fresh) rf.okIds = okIds;
      return rf;
    } catch (err) {
      if (lock) releaseLock(lock);
      if (err instanceof OutputError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      throw new OutputError(`${file}: cannot write the output file (${code})`);
    }
  }

  /**
   * The rows already in an output, by path, without changing the file (for --dry-run and --max-cost). As in
   * compaction, a last line without its newline was cut by a crash and does not count, even when it parses.
   */
  static async readPrior(file: string, format: OutputFormat): Promise<Map<string, PriorRow>> {
    const index = new Map<string, PriorRow>();
    for await (const row of ResultFile.readRows(file, format)) index.set(row.path, { id: row.id, status: row.status });
    return index;
  }

  /** Every row of an output (none when it does not exist), without changing it; a crash-cut last line is left out. */
  static async *readRows(file: string, format: OutputFormat): AsyncGenerator<Row> {
    if (!(await stat(file).catch(() => undefined))?.isFile()) return;
    const end = (await endsWithNewline(file)) ? undefined : await lastNewline(file);
    for await (const rec of formatFor(format).read(file, end)) {
      const row = unflatten(rec);
      if (row) yield row;
    }
  }

  /** Appends one complete line. Synchronous on purpose: when it returns, the row survives a crash of this process. */
  append(row: Row): void {
    if (this.fd === undefined) throw new Error(`${this.file}: append after close`);
    writeSync(this.fd, this.format.line(flatten(row, this.layout), this.columns));
  }

  /**
   * Gives `path` a copy of the `ok` row whose job has the same id (a manifest row that moved, a file renamed or
   * copied): the answer was paid for once and is not asked again. The copy is written when the file is finished.
   */
  alias(id: string, path: string, source: string): void {
    const list = this.aliases.get(id) ?? [];
    list.push({ path, source });
    this.aliases.set(id, list);
  }

  /** Closes the file, compacts it to one row per path, and returns totals over what remains. */
  async finish(): Promise<TotalsAccumulator> {
    if (this.fd !== undefined) {
      closeSync(this.fd);
      this.fd = undefined;
    }
    try {
      return (await compact(this.file, this.format, this.columns, this.layout, false, this.aliases)).totals;
    } finally {
      this.unlock();
    }
  }

  /** Closes without compacting (a hard stop): every line written so far is whole. */
  closeNow(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.unlock();
  }

  private unlock(): void {
    if (this.lock) releaseLock(this.lock);
    this.lock = undefined;
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

/** Byte offset of the last newline (-1 when there is none): where the whole lines of a cut file end. */
async function lastNewline(file: string): Promise<number> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    const chunk = Buffer.alloc(64 * 1024);
    for (let endPos = size; endPos > 0; ) {
      const start = Math.max(0, endPos - chunk.length);
      const { bytesRead } = await fh.read(chunk, 0, endPos - start, start);
      const at = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (at >= 0) return start + at;
      endPos = start;
    }
    return -1;
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
 * One writer per output: two runs appending to and compacting the same file would lose each other's rows.
 * The lock is a hidden file beside the output holding the writer's pid; a lock whose process is gone is stale.
 */
async function takeLock(file: string): Promise<string> {
  const lock = path.join(path.dirname(file), `.${path.basename(file)}.lock`);
  for (let tries = 0; tries < 2; tries++) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return lock;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (pid > 0 && alive(pid)) {
        throw new OutputError(`${file}: another omni-batch (pid ${pid}) is writing this output; wait for it or choose another --out`);
      }
      await rm(lock, { force: true });
    }
  }
  throw new OutputError(`${file}: cannot take the output lock`);
}

function releaseLock(lock: string): void {
  try {
    unlinkSync(lock);
  } catch {
    // already gone
  }
}

/** What one read of an output found: the last row of each path, and whether the file must be rewritten. */
interface Scan {
  /** Where the whole lines end (undefined: the whole file); a line a crash cut short is never read. */
  end: number | undefined;
  /** Path -> index of its last row among the rows of ours. */
  last: Map<string, number>;
  index: Map<string, PriorRow>;
  totals: TotalsAccumulator;
  /** Rows of ours, and records that are not (no id, path and status). */
  records: number;
  foreign: number;
  /** The file ends with a newline, holds only rows of ours, and its header is `columns`. */
  sameColumns: boolean;
}

/** Reads an output once, keeping one small entry per path. */
async function scanOutput(file: string, fmt: RowFormat, columns: readonly string[], layout: RowLayout): Promise<Scan> {
  const complete = await endsWithNewline(file);
  const scan: Scan = { end: complete ? undefined : await lastNewline(file), last: new Map(), index: new Map(), totals: new TotalsAccumulator(layout.counted), records: 0, foreign: 0, sameColumns: complete };
  for await (const rec of fmt.read(file, scan.end)) {
    const row = unflatten(rec);
    if (!row) {
      scan.foreign++;
      scan.sameColumns = false; // something that is not a row of ours: rewrite without it
      continue;
    }
    if (scan.records === 0) scan.sameColumns &&= sameKeys(Object.keys(rec), columns);
    scan.last.set(row.path, scan.records);
    scan.index.set(row.path, { id: row.id, status: row.status });
    scan.totals.add(row);
    scan.records++;
  }
  return scan;
}

/**
 * Keeps the last row per path, in the current columns. Reads the file once; rewrites it (to a temporary file,
 * then rename) only when it has duplicates, other columns, or a line cut short. Memory: one small entry per path.
 * The last record counts only when the file ends with a newline: a crash can cut a line so that it still parses
 * (a CSV line cut between two fields), and such a row must not pass for done.
 * A file that holds records but none of ours is refused (exit 4), never overwritten; `checkOnly` stops there.
 */
async function compact(
  file: string,
  fmt: RowFormat,
  columns: readonly string[],
  layout: RowLayout,
  checkOnly: boolean,
  aliases: ReadonlyMap<string, readonly Alias[]>,
): Promise<CompactResult> {
  const scan = await scanOutput(file, fmt, columns, layout);
  if (scan.records === 0 && scan.foreign > 0) {
    throw new OutputError(`${file} exists and is not an omni-batch output (no id, path and status columns): choose another --out, or move the file away`);
  }
  const { index } = scan;
  const okIds = new Map<string, string>();
  for (const [p, prior] of index) if (prior.status === 'ok' && !okIds.has(prior.id)) okIds.set(prior.id, p);
  const clean = scan.records > 0 && scan.sameColumns && scan.records === scan.last.size && aliases.size === 0;
  if (checkOnly || clean) return { index, okIds, totals: scan.totals };
  // Hidden, so that an output kept inside an input folder is never scanned as an input.
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.compact-${process.pid}`);
  const out = openSync(tmp, 'w');
  let totals: TotalsAccumulator;
  try {
    totals = await writeCompacted({ file, fmt, columns, layout, end: scan.end, last: scan.last, aliases }, (text) => writeSync(out, text));
  } catch (err) {
    closeSync(out);
    await rm(tmp, { force: true });
    throw err;
  }
  closeSync(out);
  await rename(tmp, file);
  return { index, okIds, totals };
}

interface Rewrite {
  file: string;
  fmt: RowFormat;
  columns: readonly string[];
  layout: RowLayout;
  end: number | undefined;
  last: ReadonlyMap<string, number>;
  aliases: ReadonlyMap<string, readonly Alias[]>;
}

/** Writes the header, the last row of each path, and the copies for aliased paths; returns totals over them. */
async function writeCompacted(r: Rewrite, write: (text: string) => void): Promise<TotalsAccumulator> {
  const aliasTargets = new Set([...r.aliases.values()].flat().map((a) => a.path));
  const copied = new Set<string>();
  const totals = new TotalsAccumulator(r.layout.counted);
  const keep = (row: Row) => {
    write(r.fmt.line(flatten(row, r.layout), r.columns));
    totals.add(row);
  };
  write(r.fmt.header(r.columns));
  let j = 0;
  for await (const rec of r.fmt.read(r.file, r.end)) {
    const row = unflatten(rec);
    if (!row) continue;
    if (r.last.get(row.path) === j && !aliasTargets.has(row.path)) keep(row);
    // The copies come from the row that had the answer, even when its own path has a newer row now.
    if (row.status === 'ok' && !copied.has(row.id)) {
      for (const a of r.aliases.get(row.id) ?? []) keep({ ...row, path: a.path, source: a.source });
      copied.add(row.id);
    }
    j++;
  }
  return totals;
}

function sameKeys(keys: readonly string[], columns: readonly string[]): boolean {
  return keys.length === columns.length && keys.every((k, i) => k === columns[i]);
}
