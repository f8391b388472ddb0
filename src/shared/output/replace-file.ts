/** Small files written beside an output (totals, run settings): whole or not at all. */
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OutputError } from '../errors.js';
import { ioReason, isDiskError } from './disk.js';

/**
 * Writes `text` (a string, or chunks: an output rewritten as it is read) to a hidden temporary file beside `file`,
 * then renames it over `file`, so a reader never sees half of it. Throws OutputError (exit 4) naming the file and
 * `what` it is when it cannot be written.
 */
export async function replaceFile(file: string, text: string | AsyncIterable<Uint8Array>, what: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  try {
    await writeFile(tmp, text);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new OutputError(`${file}: cannot write the ${what} (${ioReason(err)})${isDiskError(err) ? '; free some space and rerun the same command' : ''}`, err);
  }
}
