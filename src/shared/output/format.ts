import type { OutputFormat } from '../config.js';
import { csvFormat } from './csv.js';
import { jsonlFormat } from './jsonl.js';
import type { RowFormat } from './row-format.js';

export function formatFor(format: OutputFormat): RowFormat {
  return format === 'csv' ? csvFormat : jsonlFormat;
}
