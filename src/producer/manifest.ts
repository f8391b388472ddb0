/**
 * Manifest rows -> items. A manifest is CSV (with a header) or JSONL, read as a stream.
 *
 * Columns with a meaning: `path` (a local file, relative to the manifest's folder and inside it, or inside the
 * job's manifestRoot), `url` (http/https, passed
 * through untouched), `frames` (a frame list: a JSON array in JSONL, `;`-separated in CSV, of paths or URLs).
 * At most one of them per row; a row with none is a text-only row. Every column is also a {{row.<column>}}.
 *
 * A manifest row's result is identified by the row (`path` = `manifest.csv#3`), and the file, URL or frame list
 * it names goes in `source`: the same image may be asked two different questions on two rows.
 */
import { createReadStream } from 'node:fs';
import { access, realpath } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import { ConfigError } from '../shared/errors.js';
import { displayPath } from '../shared/display-path.js';
import { MODELS } from '../shared/models.js';
import { fileVars, NO_FILE, urlFileVars, type Item, type Source } from './item.js';
import { isInside } from './scan.js';

export interface ManifestRow {
  /** 1-based data row number (the header is not counted). */
  readonly n: number;
  readonly columns: Record<string, string>;
}

function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

function manifestFormat(file: string): 'csv' | 'jsonl' {
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  throw new ConfigError(`--manifest ${file}: cannot tell the format from "${ext}"; expected .csv or .jsonl`);
}

/** The CSV header, for checking {{row.*}} variables before any call. Undefined for JSONL (columns vary by row). */
export async function manifestColumns(file: string): Promise<string[] | undefined> {
  await access(file).catch(() => {
    throw new ConfigError(`--manifest ${file}: no such file`);
  });
  if (manifestFormat(file) === 'csv') {
    const header = createReadStream(file).pipe(parse({ to_line: 1, bom: true }));
    for await (const rec of header) return (rec as string[]).map(String);
    return [];
  }
  // JSONL rows may differ: the columns are those seen in the first rows (a column only later rows have is
  // still filled row by row; one no row has is refused before any call).
  const keys = new Set<string>();
  let n = 0;
  for await (const row of readRows(file)) {
    for (const k of Object.keys(row.columns)) if (k !== '__error') keys.add(k);
    if (++n >= JSONL_COLUMN_SAMPLE) break;
  }
  return [...keys];
}

/** JSONL rows read to learn the manifest's columns. */
const JSONL_COLUMN_SAMPLE = 1000;

/** Streams the rows; a JSONL line that is not an object becomes a row with `__error`. */
export async function* readRows(file: string): AsyncGenerator<ManifestRow> {
  if (manifestFormat(file) === 'csv') {
    // A broken record (a stray quote, a line cut short) becomes a row with the reason; the others go on.
    const parser = createReadStream(file).pipe(
      parse({ columns: true, bom: true, skip_empty_lines: true, relax_column_count: true, relax_quotes: true, skip_records_with_error: true, trim: false }),
    );
    const broken: string[] = [];
    parser.on('skip', (err: Error & { lines?: number }) => broken.push(`line ${err.lines ?? '?'}: not valid CSV (${err.message})`));
    let n = 0;
    try {
      for await (const rec of parser) {
        while (broken.length) yield { n: ++n, columns: { __error: broken.shift() ?? '' } };
        yield { n: ++n, columns: rec as Record<string, string> };
      }
      while (broken.length) yield { n: ++n, columns: { __error: broken.shift() ?? '' } };
    } catch (err) {
      throw new ConfigError(`--manifest ${file}: not valid CSV after row ${n}: ${(err as Error).message}`);
    }
    return;
  }
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    if (!line.trim()) continue;
    n++;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      yield { n, columns: { __error: 'not valid JSON' } };
      continue;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      yield { n, columns: { __error: 'expected a JSON object' } };
      continue;
    }
    const columns: Record<string, string> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'frames' && Array.isArray(v)) columns[k] = JSON.stringify(v);
      else columns[k] = typeof v === 'string' ? v : v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v as number | boolean);
    }
    yield { n, columns };
  }
}

function frameList(raw: string, jsonl: boolean): string[] {
  if (jsonl && raw.trim().startsWith('[')) {
    const parsed: unknown = JSON.parse(raw);
    if (!Array.isArray(parsed) || parsed.some((f) => typeof f !== 'string')) throw new Error('frames must be an array of strings');
    return parsed as string[];
  }
  return raw
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * The folder a manifest's local paths must stay inside: by name (`../x`, `/etc/x`) and, for a path that exists,
 * by where its symlinks lead (the rule folder scans have for symlinks). Checked before anything is read.
 */
class ManifestRoot {
  private constructor(
    readonly dir: string,
    readonly real: string,
  ) {}

  static async of(dir: string): Promise<ManifestRoot> {
    const abs = path.resolve(dir);
    return new ManifestRoot(abs, await realpath(abs).catch(() => abs));
  }

  /** Why `abs` (as the row gave it: `given`) may not be read, or undefined when it may. */
  async refuse(abs: string, given: string): Promise<string | undefined> {
    if (!isInside(abs, this.dir)) return `path ${JSON.stringify(given)} is outside the manifest root ${this.dir}`;
    // A missing file passes here and gets its `no such file` row from planning, without anything read.
    const real = await realpath(abs).catch(() => undefined);
    if (real !== undefined && !isInside(real, this.real)) return `path ${JSON.stringify(given)} links to ${real}, outside the manifest root ${this.real}`;
    return undefined;
  }
}

/**
 * A cell longer than this cannot fit any model's input window (4 characters a token): it is not kept in the
 * item (which may wait in the planning window for a while); a row whose prompt uses it gets `too_large`.
 */
export const CELL_MAX_CHARS = 4 * Math.max(...Object.values(MODELS).map((m) => m.limits.inputTokens));

/** What every row of one manifest shares. */
interface RowContext {
  readonly dir: string;
  readonly jsonl: boolean;
  readonly label: string;
  readonly cwd: string;
  readonly root: ManifestRoot;
}

/**
 * Turns manifest rows into items. Problems with one row give that row a `skip`, never a stopped run. Local paths
 * must stay inside `root` (default: the manifest's folder); URLs are passed through.
 */
export async function* manifestItems(file: string, cwd: string, root: string = path.dirname(file)): AsyncGenerator<Item> {
  const rc: RowContext = { dir: path.dirname(file), jsonl: manifestFormat(file) === 'jsonl', label: displayPath(file, cwd), cwd, root: await ManifestRoot.of(root) };
  for await (const { n, columns } of readRows(file)) yield await rowItem(n, columns, rc);
}

/** The row's columns without the cells too long for any model (their lengths kept apart), or the reason it is unusable. */
function withoutHugeCells(columns: Record<string, string>): { row: Record<string, string>; oversized: Record<string, number> | undefined } | string {
  let row = columns;
  let oversized: Record<string, number> | undefined;
  for (const [k, v] of Object.entries(columns)) {
    if (v.length <= CELL_MAX_CHARS) continue;
    if (MEDIA_COLUMNS.has(k)) return `column ${k} is ${v.length} characters long`;
    if (row === columns) row = { ...columns };
    row[k] = '';
    (oversized ??= {})[k] = v.length;
  }
  return { row, oversized };
}

const MEDIA_COLUMNS = new Set(['path', 'url', 'frames', 'media', 'kind']);

async function rowItem(n: number, columns: Record<string, string>, rc: RowContext): Promise<Item> {
  const rowPath = `${rc.label}#${n}`;
  const bad = (message: string, row: Record<string, string> = columns): Item => ({ path: rowPath, file: NO_FILE, media: undefined, row, skip: { code: 'manifest_row_invalid', message: `${rowPath}: ${message}` } });
  if (columns.__error) return bad(columns.__error);
  const kept = withoutHugeCells(columns);
  if (typeof kept === 'string') return bad(kept, {});
  const { row, oversized } = kept;
  const base = { path: rowPath, row, ...(oversized ? { oversized } : {}) };
  const given = (['path', 'url', 'frames', 'media'] as const).filter((k) => row[k]?.trim());
  if (given.length > 1) return bad(`give one of path, url, frames or media, not ${given.join(' and ')}`, row);
  const pathCol = row.path?.trim();
  const urlCol = row.url?.trim();
  const framesCol = row.frames?.trim();
  if (pathCol) {
    if (isUrl(pathCol)) return { ...base, source: pathCol, file: urlFileVars(pathCol), media: { type: 'single', source: { url: pathCol } } };
    const abs = path.resolve(rc.dir, pathCol);
    const source = displayPath(abs, rc.cwd);
    const refused = await rc.root.refuse(abs, pathCol);
    if (refused) return outside(base, source, refused);
    return { ...base, source, file: fileVars(path.relative(rc.dir, abs)), media: { type: 'single', source: { file: abs } } };
  }
  if (urlCol) {
    if (!isUrl(urlCol)) return bad(`url ${JSON.stringify(urlCol)} is not an http(s) URL`, row);
    return { ...base, source: urlCol, file: urlFileVars(urlCol), media: { type: 'single', source: { url: urlCol } } };
  }
  if (framesCol) return framesItem(base, framesCol, rc, bad);
  const mediaCol = row.media?.trim();
  if (mediaCol) return mixedItem(base, mediaCol, rc, bad);
  return { ...base, file: NO_FILE, media: undefined };
}

/** A row whose local path leaves the manifest root: a `skipped` row naming the path and the root; nothing is read. */
function outside(base: Pick<Item, 'path' | 'row'>, source: string, why: string): Item {
  const message = `${base.path}: ${why} (a manifest may only name files inside its folder, or inside manifestRoot / --manifest-root)`;
  return { path: base.path, row: base.row, source, file: NO_FILE, media: undefined, skip: { code: 'path_outside_root', message } };
}

/** A `media` list (as frames are given): an image and an audio, say, asked about in one message. */
async function mixedItem(base: Pick<Item, 'path' | 'row'>, raw: string, rc: RowContext, bad: (message: string, row?: Record<string, string>) => Item): Promise<Item> {
  const listed = await listedSources(base, raw, rc, 'media item');
  if ('item' in listed) return listed.item;
  if ('error' in listed) return bad(listed.error, base.row);
  if (listed.sources.length < 2) return bad('media lists two or more files (one goes in path)', base.row);
  return { ...base, source: listed.source, file: NO_FILE, media: { type: 'mixed', parts: listed.sources } };
}

/** A `;` (CSV) or JSON (JSONL) list of paths and URLs, every local one inside the root. */
async function listedSources(base: Pick<Item, 'path' | 'row'>, raw: string, rc: RowContext, what: string): Promise<{ sources: Source[]; source: string } | { item: Item } | { error: string }> {
  let names: string[];
  try {
    names = frameList(raw, rc.jsonl);
  } catch (err) {
    return { error: (err as Error).message };
  }
  const sources: Source[] = names.map((p) => (isUrl(p) ? { url: p } : { file: path.resolve(rc.dir, p) }));
  const source = sources.map((f) => ('file' in f ? displayPath(f.file, rc.cwd) : f.url)).join(';');
  for (const [i, f] of sources.entries()) {
    const refused = 'file' in f ? await rc.root.refuse(f.file, names[i] ?? '') : undefined;
    if (refused) return { item: outside(base, source, `${what} ${i + 1}: ${refused}`) };
  }
  return { sources, source };
}

async function framesItem(base: Pick<Item, 'path' | 'row'>, raw: string, rc: RowContext, bad: (message: string, row?: Record<string, string>) => Item): Promise<Item> {
  const listed = await listedSources(base, raw, rc, 'frame');
  if ('item' in listed) return listed.item;
  if ('error' in listed) return bad(listed.error, base.row);
  return { ...base, source: listed.source, file: NO_FILE, media: { type: 'frames', frames: listed.sources } };
}
