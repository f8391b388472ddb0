import type { FlatRecord } from '../row.js';

/** How one output format writes a header and a row, and reads rows back. */
export interface RowFormat {
  /** The text that starts a new file ('' when the format has none). */
  header(columns: readonly string[]): string;
  /** One complete line (ending in a newline) for one row. */
  line(rec: FlatRecord, columns: readonly string[]): string;
  /** Every well-formed record in the file, in order; with `end`, only the bytes up to that offset (inclusive). */
  read(file: string, end?: number): AsyncIterable<Record<string, unknown>>;
  /** Every well-formed record with the bytes its line(s) take in the file, [start, end) (the review page rewrites one). */
  located(file: string): AsyncIterable<Located>;
  /** The record of one located line (its text), under the file's `columns`; undefined when it is not one. */
  parseLine(text: string, columns: readonly string[]): Record<string, unknown> | undefined;
}

/** A record and where it is in its file: bytes [start, end), the line ending included. */
export interface Located {
  readonly rec: Record<string, unknown>;
  readonly start: number;
  readonly end: number;
}
