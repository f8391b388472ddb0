/**
 * Manifest rows -> items. A manifest is CSV (with a header) or JSONL, read as a stream.
 *
 * Columns with a meaning: `path` (a local file, relative to the manifest's folder), `url` (http/https, passed
 * through untouched), `frames` (a frame list: a JSON array in JSONL, `;`-separated in CSV, of paths or URLs).
 * At most one of them per row; a row with none is a text-only row. Every column is also a {{row.<column>}}.
 *
 * A manifest row's result is identified by the row (`path` = `manifest.csv#3`), and the file, URL or frame list
 * it names goes in `source`: the same image may be asked two different questions on two rows.
 */
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parse } from 'csv-parse';
import { ConfigError } from '../shared/errors.js';
import { displayPath } from '../shared/display-path.js';
import { fileVars, NO_FILE, urlFileVars, type Item, type Source } from './item.js';

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

/** Turns manifest rows into items. Problems with one row give that row a `skip`, never a stopped run. */
export async function* manifestItems(file: string, cwd: string): AsyncGenerator<Item> {
  const dir = path.dirname(file);
  const jsonl = manifestFormat(file) === 'jsonl';
  const label = displayPath(file, cwd);
  const local = (p: string): Source => (isUrl(p) ? { url: p } : { file: path.resolve(dir, p) });
  for await (const { n, columns } of readRows(file)) {
    const rowPath = `${label}#${n}`;
    const bad = (message: string): Item => ({ path: rowPath, file: NO_FILE, media: undefined, row: columns, skip: { code: 'manifest_row_invalid', message: `${rowPath}: ${message}` } });
    if (columns.__error) {
      yield bad(columns.__error);
      continue;
    }
    const given = (['path', 'url', 'frames'] as const).filter((k) => columns[k]?.trim());
    if (given.length > 1) {
      yield bad(`give one of path, url or frames, not ${given.join(' and ')}`);
      continue;
    }
    const pathCol = columns.path?.trim();
    const urlCol = columns.url?.trim();
    const framesCol = columns.frames?.trim();
    if (pathCol) {
      if (isUrl(pathCol)) {
        yield { path: rowPath, source: pathCol, file: urlFileVars(pathCol), media: { type: 'single', source: { url: pathCol } }, row: columns };
        continue;
      }
      const abs = path.resolve(dir, pathCol);
      yield { path: rowPath, source: displayPath(abs, cwd), file: fileVars(path.relative(dir, abs)), media: { type: 'single', source: { file: abs } }, row: columns };
    } else if (urlCol) {
      if (!isUrl(urlCol)) {
        yield bad(`url ${JSON.stringify(urlCol)} is not an http(s) URL`);
        continue;
      }
      yield { path: rowPath, source: urlCol, file: urlFileVars(urlCol), media: { type: 'single', source: { url: urlCol } }, row: columns };
    } else if (framesCol) {
      let frames: string[];
      try {
        frames = frameList(framesCol, jsonl);
      } catch (err) {
        yield bad((err as Error).message);
        continue;
      }
      const sources = frames.map(local);
      yield {
        path: rowPath,
        source: sources.map((f) => ('file' in f ? displayPath(f.file, cwd) : f.url)).join(';'),
        file: NO_FILE,
        media: { type: 'frames', frames: sources },
        row: columns,
      };
    } else {
      yield { path: rowPath, file: NO_FILE, media: undefined, row: columns };
    }
  }
}
