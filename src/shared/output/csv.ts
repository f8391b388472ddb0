/** CSV rows: RFC 4180 quoting by csv-stringify, read back by csv-parse. */
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { stringify } from 'csv-stringify/sync';
import type { FlatRecord } from '../row.js';
import type { RowFormat } from './row-format.js';

export const csvFormat: RowFormat = {
  header(columns) {
    return stringify([columns], { record_delimiter: '\n' });
  },
  line(rec: FlatRecord, columns) {
    // `parsed` (the answer object) is the one value that is not a scalar: JSON text in a cell.
    const cells = columns.map((c) => {
      const v = rec[c];
      return v !== null && typeof v === 'object' ? JSON.stringify(v) : (v ?? '');
    });
    return stringify([cells], { record_delimiter: '\n' });
  },
  async *read(file, end) {
    if (end !== undefined && end < 0) return;
    // A crash can cut the last line short; such a record is dropped (its file is redone by the next run).
    const parser = createReadStream(file, end === undefined ? {} : { end }).pipe(
      parse({ columns: true, skip_empty_lines: true, skip_records_with_error: true, bom: true }),
    );
    for await (const rec of parser) yield rec as Record<string, unknown>;
  },
};
