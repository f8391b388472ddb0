/**
 * CSV rows: RFC 4180 quoting by csv-stringify, read back by csv-parse.
 *
 * Two protections for whoever opens the file: every cell holding a CR or LF is quoted (csv-stringify leaves a bare
 * CR unquoted, and Python's csv module then splits the record), and by default a text cell that starts like a
 * formula (= + - @, a tab or a CR, and their full-width forms: csv-stringify's `escape_formulas`, after OWASP) gets
 * a leading `'`, so that Excel and LibreOffice show it instead of running it.
 *
 * Reading strips that `'` again, so resume, retry and the summary see the values as they were. To make that exact,
 * a value that already starts with `'` before such a character gets one more when written (in raw mode too), and
 * reading removes one: `=x` <-> `'=x`, `'=x` <-> `''=x`, `'x` <-> `'x`.
 */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import type { FlatRecord } from '../row.js';
import { endsWithNewline } from './disk.js';
import type { RowFormat } from './row-format.js';

/** Quotes, then a character a spreadsheet starts a formula with (csv-stringify's `escape_formulas` list). */
const FORMULA = /^'*[=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20]/;

/** A typed value as one flat cell: arrays joined by `;` (objects in them as JSON), objects as JSON, missing as empty. */
function flat(v: FlatRecord[string] | undefined): string | number {
  if (v === null || v === undefined) return '';
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.map((x: unknown) => (x !== null && typeof x === 'object' ? JSON.stringify(x) : String(x))).join(';');
  return typeof v === 'object' ? JSON.stringify(v) : v;
}

function cell(v: FlatRecord[string] | undefined): string | number {
  const value = flat(v);
  return typeof value === 'string' && value.startsWith("'") && FORMULA.test(value) ? `'${value}` : value;
}

/** The value a cell was written from (see the escaping above). */
function unescape(value: unknown): unknown {
  return typeof value === 'string' && value.startsWith("'") && FORMULA.test(value) ? value.slice(1) : value;
}

function unescaped(row: Record<string, unknown>): Record<string, unknown> {
  for (const k of Object.keys(row)) row[k] = unescape(row[k]);
  return row;
}

/** CSV that escapes formulas (the default), or writes them raw (`--csv-raw`); both read alike. */
export function csvFormat(opts: { raw?: boolean } = {}): RowFormat {
  const options = { record_delimiter: '\n', quoted_match: /[\r\n]/, escape_formulas: !opts.raw };
  return {
    header(columns) {
      return stringify([columns], options);
    },
    line(rec: FlatRecord, columns) {
      return stringify([columns.map((c) => cell(rec[c]))], options);
    },
    async *read(file, end) {
      if (end !== undefined && end < 0) return;
      // A crash can cut the last line short; such a record is dropped (its file is redone by the next run).
      const parser = createReadStream(file, end === undefined ? {} : { end }).pipe(
        parse({ columns: true, skip_empty_lines: true, skip_records_with_error: true, bom: true }),
      );
      for await (const rec of parser) yield unescaped(rec as Record<string, unknown>);
    },
    async *located(file) {
      // A last record without its newline was cut by a crash: not a row (as compaction has it), even when its
      // column count adds up, so the review page never offers it for an edit.
      const { size, whole } = await endsWithNewline(file);
      // csv-parse's info.bytes: the offset after the record (its line ending included); raw: the record's text.
      const parser = createReadStream(file).pipe(parse({ columns: true, skip_empty_lines: true, skip_records_with_error: true, bom: true, info: true, raw: true }));
      for await (const item of parser) {
        const { record, raw, info } = item as { record: Record<string, unknown>; raw: string; info: { bytes: number } };
        if (!whole && info.bytes >= size) continue;
        yield { rec: unescaped(record), start: info.bytes - Buffer.byteLength(raw), end: info.bytes };
      }
    },
    parseLine(text, columns) {
      const [rec] = parseSync<Record<string, unknown>>(text, { columns: [...columns], relax_column_count: false });
      return rec ? unescaped(rec) : undefined;
    },
  };
}
