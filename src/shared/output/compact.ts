/**
 * Compaction: an output and the rows pending beside it (see ResultFile) made into one file with one row per path
 * (the newest wins), written to a hidden temporary file and renamed over the output. Until the rename the output
 * is as it was; after it, complete. A disk that fills on the way leaves the output and the pending rows as they
 * were, and removes the temporary file.
 */
import { closeSync, openSync } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { OutputError } from '../errors.js';
import { flatten, unflatten, type Row, type RowLayout, type RowStatus } from '../row.js';
import { endsWithNewline, writeAll } from './disk.js';
import type { RowFormat } from './row-format.js';
import { TotalsAccumulator } from './totals.js';

export interface PriorRow {
  readonly id: string;
  readonly status: RowStatus;
  /** A person edited it on the review page: it is never asked again, whatever its id (see alreadyDone). */
  readonly reviewed?: boolean;
}

/** A path that gets a copy of another path's `ok` row, because its job is the same (same id). */
export interface Alias {
  readonly path: string;
  readonly source: string;
  /** The aliased row's own input position and kept columns. */
  readonly index?: number | null | undefined;
  readonly kept?: Readonly<Record<string, string>> | undefined;
}

export interface CompactResult {
  index: Map<string, PriorRow>;
  /** Id -> path of the rows that are `ok`: an answer that can serve another path with the same job id. */
  okIds: Map<string, string>;
  totals: TotalsAccumulator;
}

/** One file rows are read from, and where its whole lines end (undefined: the whole file). */
interface Source {
  readonly file: string;
  readonly end: number | undefined;
}

/** The files of `files` that exist, in order, each with the end of its whole lines (a crash cuts the last one). */
export async function sourcesOf(files: readonly string[]): Promise<Source[]> {
  const sources: Source[] = [];
  for (const file of files) {
    if (!(await stat(file).catch(() => undefined))?.isFile()) continue;
    sources.push({ file, end: (await endsWithNewline(file)).whole ? undefined : await lastNewline(file) });
  }
  return sources;
}

/** Every record of the sources, in order. */
export async function* readSources(fmt: RowFormat, sources: readonly Source[]): AsyncGenerator<Record<string, unknown>> {
  for (const s of sources) yield* fmt.read(s.file, s.end);
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

/** What one read of the sources found: the last row of each path, and whether the output must be rewritten. */
interface Scan {
  /** Path -> index of its last row among the rows of ours. */
  last: Map<string, number>;
  index: Map<string, PriorRow>;
  totals: TotalsAccumulator;
  /** Rows of ours, and records that are not (no id, path and status). */
  records: number;
  foreign: number;
  /** Every source ends with a newline, holds only rows of ours, and its header is `columns`. */
  sameColumns: boolean;
}

/** Reads the sources once, keeping one small entry per path. */
async function scanSources(sources: readonly Source[], fmt: RowFormat, columns: readonly string[], layout: RowLayout): Promise<Scan> {
  const scan: Scan = { last: new Map(), index: new Map(), totals: new TotalsAccumulator(layout.counted), records: 0, foreign: 0, sameColumns: sources.every((s) => s.end === undefined) };
  for (const source of sources) {
    let first = true;
    for await (const rec of fmt.read(source.file, source.end)) {
      const row = unflatten(rec);
      if (!row) {
        scan.foreign++;
        scan.sameColumns = false; // something that is not a row of ours: rewrite without it
        continue;
      }
      if (first) scan.sameColumns &&= sameKeys(Object.keys(rec), columns);
      first = false;
      scan.last.set(row.path, scan.records);
      scan.index.set(row.path, priorOf(row));
      scan.totals.add(row);
      scan.records++;
    }
  }
  return scan;
}

export interface Compaction {
  /** The output: what the result replaces. */
  readonly file: string;
  /** Where the rows are read from, oldest first: the output and the rows pending beside it, or only the latter. */
  readonly from: readonly string[];
  readonly fmt: RowFormat;
  readonly columns: readonly string[];
  readonly layout: RowLayout;
  /** Only read: prove the file is an output of ours and index it, change nothing. */
  readonly checkOnly?: boolean;
  readonly aliases?: ReadonlyMap<string, readonly Alias[]>;
}

/**
 * Keeps the last row per path, in the current columns. Reads the sources once; rewrites the output only when it
 * has duplicates, other columns, a line cut short, aliases or pending rows; then removes the pending rows' file.
 * Memory: one small entry per path. The last record of a source counts only when it ends with a newline: a crash
 * can cut a line so that it still parses (a CSV line cut between two fields), and such a row must not pass for done.
 * A file that holds records but none of ours is refused (exit 4), never overwritten.
 */
export async function compact(c: Compaction): Promise<CompactResult> {
  const sources = await sourcesOf(c.from);
  const scan = await scanSources(sources, c.fmt, c.columns, c.layout);
  if (scan.records === 0 && scan.foreign > 0) {
    throw new OutputError(`${c.file} exists and is not an omni-batch output (no id, path and status columns): choose another --out, or move the file away`);
  }
  const { index } = scan;
  const okIds = new Map<string, string>();
  for (const [p, prior] of index) if (prior.status === 'ok' && !okIds.has(prior.id)) okIds.set(prior.id, p);
  const done = { index, okIds, totals: scan.totals };
  if (c.checkOnly) return done;
  const only = sources.length === 1 ? sources[0] : undefined;
  if (only && scan.records > 0 && scan.sameColumns && scan.records === scan.last.size && !c.aliases?.size) {
    // Already one row per path: the pending rows of a fresh output become it as they are.
    if (only.file !== c.file) await rename(only.file, c.file);
    return done;
  }
  const tmp = path.join(path.dirname(c.file), `.${path.basename(c.file)}.compact-${process.pid}`);
  try {
    const out = openSync(tmp, 'w');
    try {
      done.totals = await writeCompacted({ ...c, sources, last: scan.last, aliases: c.aliases ?? new Map() }, (text) => writeAll(out, text));
    } finally {
      closeSync(out);
    }
    await rename(tmp, c.file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // After the rename: a crash in between reads the pending rows twice, and the newest of a path is the same row.
  for (const s of sources) if (s.file !== c.file) await rm(s.file, { force: true });
  return done;
}

interface Rewrite {
  fmt: RowFormat;
  columns: readonly string[];
  layout: RowLayout;
  sources: readonly Source[];
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
  for await (const rec of readSources(r.fmt, r.sources)) {
    const row = unflatten(rec);
    if (!row) continue;
    if (r.last.get(row.path) === j && !aliasTargets.has(row.path)) keep(row);
    // The copies come from the row that had the answer, even when its own path has a newer row now. A person
    // reviewed the answer of that path, not of the copy's: a copy is never marked reviewed.
    if (row.status === 'ok' && !copied.has(row.id)) {
      for (const a of r.aliases.get(row.id) ?? []) keep({ ...row, path: a.path, source: a.source, index: a.index ?? null, kept: a.kept ?? {}, reviewed: null });
      copied.add(row.id);
    }
    j++;
  }
  return totals;
}

function sameKeys(keys: readonly string[], columns: readonly string[]): boolean {
  return keys.length === columns.length && keys.every((k, i) => k === columns[i]);
}

/** What resume needs of a row already in the output. */
export function priorOf(row: Row): PriorRow {
  return row.reviewed === true ? { id: row.id, status: row.status, reviewed: true } : { id: row.id, status: row.status };
}
