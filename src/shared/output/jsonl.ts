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
      // A line a crash cut short is dropped: its file is redone by the next run.
      const rec = record(line);
      if (rec) yield rec;
    }
  },
  async *located(file) {
    let start = 0;
    let rest = Buffer.alloc(0);
    for await (const chunk of createReadStream(file)) {
      let buf = Buffer.concat([rest, chunk as Buffer]);
      for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a)) {
        const rec = record(buf.subarray(0, nl).toString('utf8'));
        if (rec) yield { rec, start, end: start + nl + 1 };
        start += nl + 1;
        buf = buf.subarray(nl + 1);
      }
      rest = buf;
    }
    // A last line without its newline was cut by a crash: not a row (as compaction has it).
  },
  parseLine(text) {
    return record(text);
  },
};

/** One line's object, or undefined (blank, cut short, not an object). */
function record(line: string): Record<string, unknown> | undefined {
  if (!line.trim()) return undefined;
  try {
    const rec: unknown = JSON.parse(line);
    return rec && typeof rec === 'object' && !Array.isArray(rec) ? (rec as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
