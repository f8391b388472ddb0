import type { FlatRecord } from '../row.js';

/** How one output format writes a header and a row, and reads rows back. */
export interface RowFormat {
  /** The text that starts a new file ('' when the format has none). */
  header(columns: readonly string[]): string;
  /** One complete line (ending in a newline) for one row. */
  line(rec: FlatRecord, columns: readonly string[]): string;
  /** Every well-formed record in the file, in order; with `end`, only the bytes up to that offset (inclusive). */
  read(file: string, end?: number): AsyncIterable<Record<string, unknown>>;
}
