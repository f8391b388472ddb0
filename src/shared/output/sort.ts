/**
 * `--sort input`: rewrites a finished output in input order (by its `index` column; rows without one last, in the
 * order they had). Rows are written as files finish, so this is for whoever reads the file top to bottom. The rows
 * are held in memory while the file is rewritten (about the file's size), and the file is replaced whole.
 *
 * The read and the replace are made under the output's lock: the run released it when it finished the file, and a
 * review page saving an edit in between would otherwise have its edit renamed away by the sorted copy.
 */
import type { OutputFormat } from '../config.js';
import { OutputError } from '../errors.js';
import type { FlatRecord } from '../row.js';
import { formatFor } from './format.js';
import { replaceFile } from './replace-file.js';
import { releaseLock, takeLock } from './result-file.js';

export async function sortByInput(out: string, format: OutputFormat, csvRaw: boolean): Promise<void> {
  let lock: string;
  try {
    lock = await takeLock(out);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new OutputError(`${reason}; every row is in ${out}, not sorted in input order: run the same command again to sort it`);
  }
  try {
    await sortLocked(out, format, csvRaw);
  } finally {
    releaseLock(lock);
  }
}

async function sortLocked(out: string, format: OutputFormat, csvRaw: boolean): Promise<void> {
  const fmt = formatFor(format, { csvRaw });
  const records: Record<string, unknown>[] = [];
  for await (const rec of fmt.read(out)) records.push(rec);
  const at = (rec: Record<string, unknown>) => {
    const n = rec.index === null || rec.index === undefined || rec.index === '' ? NaN : Number(rec.index);
    return Number.isFinite(n) ? n : Infinity;
  };
  // Array.prototype.sort is stable: rows without an index keep their order.
  records.sort((a, b) => at(a) - at(b) || 0);
  const columns = Object.keys(records[0] ?? {});
  const text = fmt.header(columns) + records.map((rec) => fmt.line(rec as FlatRecord, columns)).join('');
  await replaceFile(out, text, 'output sorted in input order');
}
