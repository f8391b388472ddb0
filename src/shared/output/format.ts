import type { OutputFormat } from '../config.js';
import { csvFormat } from './csv.js';
import { jsonlFormat } from './jsonl.js';
import type { RowFormat } from './row-format.js';

/** The row format of an output; `csvRaw`: CSV cells without the formula escape (reading is the same either way). */
export function formatFor(format: OutputFormat, opts: { csvRaw?: boolean | undefined } = {}): RowFormat {
  return format === 'csv' ? csvFormat({ raw: opts.csvRaw ?? false }) : jsonlFormat;
}
