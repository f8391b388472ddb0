/** JSONL rows: one JSON object per line, the same columns as CSV, typed: arrays as arrays, null for every missing value. */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { FlatRecord } from '../row.js';
import type { RowFormat } from './row-format.js';

export const jsonlFormat: RowFormat = {
  header() {
    return '';
  },
  line(rec: FlatRecord, columns) {
    const ordered: FlatRecord = {};
    for (const c of columns) ordered[c] = rec[c] ?? null;
    return `${JSON.stringify(ordered)}\n`;
  },
  async *read(file, end) {
    if (end !== undefined && end < 0) return;
    const lines = createInterface({ input: createReadStream(file, end === undefined ? { encoding: 'utf8' } : { encoding: 'utf8', end }), crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line.trim()) continue;
      try {
        const rec: unknown = JSON.parse(line);
        if (rec && typeof rec === 'object' && !Array.isArray(rec)) yield rec as Record<string, unknown>;
      } catch {
        // A line a crash cut short: dropped, its file is redone by the next run.
      }
    }
  },
};
