/**
 * The output file of a run: rows are written as they complete (a crash loses at most the rows in flight), and
 * the output is compacted to one row per path (the newest wins) when a run opens and finishes it.
 *
 * Where the rows go while a run works: into a new output directly; beside an output that already has rows, into a
 * hidden pending file (`.<out>.pending`), merged into the output when the run finishes (and by the next run, when
 * this one stopped first). So the output itself never holds two rows for a path: a disk that fills while the run
 * finishes leaves it as it was, with this run's rows waiting beside it, and the next run completes it.
 */
import { closeSync, fstatSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { OutputFormat } from '../config.js';
import { alive } from '../pid.js';
import { OutputError } from '../errors.js';
import { columnsFor, flatten, unflatten, type FlatRecord, type Row, type RowLayout } from '../row.js';
import { DigestSet } from '../digest-set.js';
import { compact, priorOf, readSources, sourcesOf, type Alias, type PriorRow } from './compact.js';
import { appendAll, ensureDir, ioReason } from './disk.js';
import { formatFor } from './format.js';
import type { RowFormat } from './row-format.js';
import { TotalsAccumulator } from './totals.js';

export type { PriorRow } from './compact.js';

/** `.captions.csv.pending` beside the output: this run's rows, until they are merged into it. */
export function pendingPathFor(out: string): string {
  return path.join(path.dirname(out), `.${path.basename(out)}.pending`);
}

interface Target {
  /** Where this run's rows are appended: the output itself, or its pending file. */
  readonly file: string;
  /** The rows replace the whole output (collect, the dry run's estimate), instead of being merged into it. */
  readonly fresh: boolean;
}

export class ResultFile {
  private fd: number | undefined;
  private size = 0;
  private closed = false;
  /** Rows this ResultFile wrote. */
  private rows = 0;
  private lock: string | undefined;
  private readonly aliases = new Map<string, Alias[]>();
  /** Id -> path of the `ok` rows already in the file. */
  okIds = new Map<string, string>();
  /** This run's rows as they are written, when it writes a JSONL file from empty (see OwnRows). */
  private own: OwnRows | undefined;

  private constructor(
    readonly file: string,
    private readonly format: RowFormat,
    private readonly columns: readonly string[],
    private readonly layout: RowLayout,
    /** Rows already in the file, by path, for resume. */
    readonly prior: Map<string, PriorRow>,
    private readonly target: Target,
  ) {}

  /**
   * Opens (or creates) the output. An existing file is compacted to the current columns first (with the rows a
   * stopped run left pending), so that rows written now line up with the header. `fresh`: this run's rows replace
   * the file when it finishes; `csvRaw`: CSV cells without the formula escape. Throws OutputError (exit 4) when
   * the file cannot be written. `layout`: the run's columns.
   */
  static async open(file: string, format: OutputFormat, layout: RowLayout, opts: { fresh?: boolean; csvRaw?: boolean | undefined } = {}): Promise<ResultFile> {
    const fmt = formatFor(format, { csvRaw: opts.csvRaw });
    const columns = columnsFor(layout);
    const pending = pendingPathFor(file);
    let lock: string | undefined;
    try {
      await ensureDir(path.dirname(file));
      if ((await stat(file).catch(() => undefined))?.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      lock = await takeLock(file);
      const c = { file, fmt, columns, layout };
      let rf: ResultFile;
      if (opts.fresh) {
        // Also proves the file is an output of ours: anything else is refused, never overwritten.
        await compact({ ...c, from: [file], checkOnly: true });
        await rm(pending, { force: true });
        rf = new ResultFile(file, fmt, columns, layout, new Map(), { file: pending, fresh: true });
      } else {
        const found = await compact({ ...c, from: [file, pending] });
        rf = new ResultFile(file, fmt, columns, layout, found.index, { file: found.index.size > 0 ? pending : file, fresh: false });
        rf.okIds = found.okIds;
      }
      rf.lock = lock;
      if (rf.target.file === file) {
        rf.fd = openSync(file, 'a');
        rf.size = fstatSync(rf.fd).size;
      }
      // A new output, or a pending file that replaces the output whole: every row in it is one this run writes.
      if (format === 'jsonl' && (rf.target.fresh || (rf.target.file === file && rf.size === 0))) rf.own = new OwnRows(layout);
      return rf;
    } catch (err) {
      if (lock) releaseLock(lock);
      if (err instanceof OutputError) throw err;
      throw new OutputError(`${file}: cannot write the output file (${ioReason(err)})`);
    }
  }

  /**
   * The rows already in an output, by path, without changing the file (for --dry-run and --max-cost). As in
   * compaction, a last line without its newline was cut by a crash and does not count, even when it parses.
   */
  static async readPrior(file: string, format: OutputFormat): Promise<Map<string, PriorRow>> {
    const index = new Map<string, PriorRow>();
    for await (const row of ResultFile.readRows(file, format)) index.set(row.path, priorOf(row));
    return index;
  }

  /**
   * Every row of an output and of the rows pending beside it (none when neither exists), without changing them;
   * a crash-cut last line is left out. The newest row of a path comes last.
   */
  static async *readRows(file: string, format: OutputFormat): AsyncGenerator<Row> {
    for await (const rec of readSources(formatFor(format), await sourcesOf([file, pendingPathFor(file)]))) {
      const row = unflatten(rec);
      if (row) yield row;
    }
  }

  /**
   * Writes one complete line, or nothing (a disk that fills mid-line: the part written is cut off again, and the
   * error is thrown). Synchronous on purpose: when it returns, the row survives a crash of this process.
   */
  append(row: Row): void {
    if (this.closed) throw new Error(`${this.file}: append after close`);
    const rec = flatten(row, this.layout);
    try {
      this.size = appendAll(this.fd ?? this.openPending(), this.format.line(rec, this.columns), this.size);
    } catch (err) {
      // No empty pending file is left behind.
      if (this.rows === 0 && this.target.file !== this.file) this.dropPending();
      throw err;
    }
    this.rows++;
    this.own?.add(rec);
  }

  /** The pending file, made on the first row: a run that writes nothing leaves nothing beside the output. */
  private openPending(): number {
    this.fd = openSync(this.target.file, 'w');
    this.size = 0;
    this.size = appendAll(this.fd, this.format.header(this.columns), 0);
    return this.fd;
  }

  private dropPending(): void {
    this.closeFd();
    try {
      unlinkSync(this.target.file);
    } catch {
      // never made
    }
  }

  private closeFd(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  /**
   * Gives `path` a copy of the `ok` row whose job has the same id (a manifest row that moved, a file renamed or
   * copied): the answer was paid for once and is not asked again. The copy is written when the file is finished.
   */
  alias(id: string, path: string, source: string, input: Pick<Alias, 'index' | 'kept'> = {}): void {
    const list = this.aliases.get(id) ?? [];
    list.push({ path, source, ...input });
    this.aliases.set(id, list);
  }

  /**
   * Closes the file, compacts it to one row per path (merging this run's pending rows), and returns totals over
   * what remains. OutputError (exit 4) when it cannot: the output is then as it was, the pending rows beside it.
   */
  async finish(): Promise<TotalsAccumulator> {
    this.closeFd();
    this.closed = true;
    const { file, target } = this;
    const from = target.fresh ? [target.file] : target.file === file ? [file] : [file, target.file];
    try {
      const own = this.own;
      if (own && this.rows > 0 && !own.duplicate && this.aliases.size === 0) {
        // One row per path, all of them this run's, in the current columns: the file is the output as it is.
        if (target.file !== file) await rename(target.file, file);
        return own.totals;
      }
      return (await compact({ file, from, fmt: this.format, columns: this.columns, layout: this.layout, aliases: this.aliases })).totals;
    } catch (err) {
      if (err instanceof OutputError) throw err;
      throw new OutputError(this.unfinished(ioReason(err)));
    } finally {
      this.unlock();
    }
  }

  /** What a compaction that failed left, and what to do. */
  private unfinished(reason: string): string {
    const left =
      this.target.file === this.file
        ? 'every row written is in it'
        : `it is as it was before this run${this.target.fresh ? '' : `, and this run's ${this.rows} rows wait beside it in ${path.basename(this.target.file)}`}`;
    return `${this.file}: cannot finish the output (${reason}); ${left}. Free some space and rerun the same command: it sends nothing again and completes the output`;
  }

  /** Closes without compacting (a hard stop): every line written so far is whole, and the next run merges it. */
  closeNow(): void {
    if (this.rows === 0 && this.target.file !== this.file) this.dropPending();
    this.closeFd();
    this.closed = true;
    this.unlock();
  }

  private unlock(): void {
    if (this.lock) releaseLock(this.lock);
    this.lock = undefined;
  }
}

/**
 * The totals of the rows a run writes into a JSONL file it started from empty (a new output, or the pending file
 * that replaces one), kept as they are written, and whether a path came twice. Finishing such a file then needs no
 * second read of it: before, every run ended by reading its whole output back (15-20 us a row: the read, the
 * parse and the totals). The totals are taken from the record as written (`unflatten` of what `flatten` gave, as
 * a read would); JSONL only, because a CSV cell comes back as text and its totals are what the read finds.
 */
class OwnRows {
  readonly totals: TotalsAccumulator;
  private readonly paths = new DigestSet();
  duplicate = false;

  constructor(layout: RowLayout) {
    this.totals = new TotalsAccumulator(layout.counted);
  }

  add(rec: FlatRecord): void {
    const row = unflatten(rec);
    if (!row || !this.paths.add(row.path)) {
      this.duplicate = true;
      return;
    }
    this.totals.add(row);
  }
}

/**
 * One writer per output: two runs appending to and compacting the same file would lose each other's rows.
 * The lock is a hidden file beside the output holding the writer's pid; a lock whose process is gone is stale.
 */
export async function takeLock(file: string): Promise<string> {
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

export function releaseLock(lock: string): void {
  try {
    unlinkSync(lock);
  } catch {
    // already gone
  }
}

