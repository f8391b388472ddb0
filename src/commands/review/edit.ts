/**
 * An answer edited on the review page, saved: the row's line is replaced (its answer, `reviewed` true, and `ok`
 * when it was not), every other byte of the output stays as it was, and the whole file is renamed into place
 * (replaceFile), under the output's lock. Refused, with nothing written, when the file changed on disk since the
 * page read it, when a run is writing it, or when a stopped run's rows wait beside it (they would win over the edit).
 * Then the row's sidecar is written again, by the sidecar rules (only one omni-batch wrote, or with --overwrite;
 * under the run's --sidecar-skip-existing, none that exists: the edit is then in the output only).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { OutputError } from '../../shared/errors.js';
import { pendingPathFor, releaseLock, takeLock } from '../../shared/output/result-file.js';
import { replaceFile } from '../../shared/output/replace-file.js';
import { ledgerPathFor, SidecarWriter, withCaptionText, type SidecarOptions } from '../../shared/output/sidecar.js';
import { unflatten, type FlatRecord } from '../../shared/row.js';
import { parseAnswer } from '../../worker/parse-answer.js';
import { versionOf, type ReviewStore } from './store.js';

/** A save that was not made: the page shows `message`; `status` is the HTTP status. */
export class EditRefused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Edit {
  /** The output's version the page read the row at. */
  readonly version: string;
  /** The row's path (checked against row `n`). */
  readonly path: string;
  /** The new text of each answer column, in order (`answer`, `answer_2`, ...). */
  readonly answers: readonly string[];
}

/** `answer`, `answer_2`, ... among an output's columns. */
export const answerColumnsOf = (columns: readonly string[]) => columns.filter((c) => /^answer(_\d+)?$/.test(c));

/** The row's record with the edit applied; a 400 when the answer does not fit the run's labels or schema. */
function applyEdit(store: ReviewStore, rec: Record<string, unknown>, answers: readonly string[]): FlatRecord {
  const out = { ...rec } as FlatRecord;
  const cols = answerColumnsOf(store.columns);
  cols.forEach((c, i) => {
    if (answers[i] !== undefined) out[c] = answers[i];
  });
  const format = store.run.format;
  const last = cols.at(-1);
  if (format && last !== undefined) {
    const text = out[last];
    const checked = parseAnswer(typeof text === 'string' ? text : '', format);
    if (!checked.ok) throw new EditRefused(400, `not saved: the answer does not fit the run's ${format.labels ? 'labels' : 'schema'} (${checked.error})`);
    out.parsed = checked.value;
    for (const f of store.fields()) out[f] = (checked.value[f] ?? null) as FlatRecord[string];
  }
  if (out.status !== 'ok') Object.assign(out, { status: 'ok', error_code: null, error_message: null });
  out.reviewed = true;
  return out;
}

/** The output with bytes [start, end) replaced by `line`, as chunks. */
async function* spliced(file: string, start: number, end: number, size: number, line: string): AsyncGenerator<Uint8Array> {
  if (start > 0) yield* createReadStream(file, { start: 0, end: start - 1 }) as AsyncIterable<Buffer>;
  yield Buffer.from(line);
  if (end < size) yield* createReadStream(file, { start: end }) as AsyncIterable<Buffer>;
}

/** Checks the edit may be saved now (see the top of this file); the row's record. */
async function check(store: ReviewStore, n: number, edit: Edit): Promise<Record<string, unknown>> {
  const s = await stat(store.file);
  if (versionOf(s) !== edit.version || store.version !== edit.version) {
    throw new EditRefused(409, `not saved: ${store.file} changed on disk since this page read it (a run still writing it?); reload the page and edit again`);
  }
  if (await stat(pendingPathFor(store.file)).catch(() => undefined)) {
    throw new EditRefused(409, `not saved: rows of a stopped run wait beside ${store.file} and would replace the edit; run the same command again to finish the output, then reload`);
  }
  const rec = await store.record(n);
  if (!rec || rec.path !== edit.path) throw new EditRefused(409, `not saved: row ${n} of ${store.file} is not ${edit.path} any more; reload the page`);
  if (store.outputFormat === 'csv' && !store.columns.includes('reviewed')) {
    throw new EditRefused(409, `not saved: ${store.file} was written by an omni-batch without the reviewed column; run the same command again (nothing is sent again: it brings the file up to date), then reload`);
  }
  return rec;
}

/** Saves the edit of row `n`; the sidecar line (undefined when the run writes no sidecars). */
export async function saveEdit(store: ReviewStore, n: number, edit: Edit, sidecars: SidecarOptions | undefined): Promise<{ sidecar: string | undefined }> {
  let lock: string;
  try {
    lock = await takeLock(store.file);
  } catch (err) {
    throw new EditRefused(409, `not saved: ${err instanceof OutputError ? err.message : String(err)}`);
  }
  try {
    const rec = await check(store, n, edit);
    const updated = applyEdit(store, rec, edit.answers);
    const columns = store.columns.includes('reviewed') ? store.columns : [...store.columns, 'reviewed'];
    const line = store.fmt.line(updated, columns);
    const entry = store.entries[n];
    if (!entry) throw new EditRefused(409, `not saved: row ${n} is gone; reload the page`);
    const { size } = await stat(store.file);
    await replaceFile(store.file, spliced(store.file, entry.start, entry.end, size, line), 'output');
    const delta = Buffer.byteLength(line) - (entry.end - entry.start);
    for (const e of store.entries.slice(n + 1)) {
      e.start += delta;
      e.end += delta;
    }
    entry.end += delta;
    const row = unflatten(updated);
    if (row) Object.assign(entry, store.facets(row, updated));
    store.version = versionOf(await stat(store.file));
  } finally {
    releaseLock(lock);
  }
  return { sidecar: sidecars ? await writeSidecar(store, edit.path, sidecars) : undefined };
}

/** The sidecar of the edited row, by the run's sidecar settings; the summary line, or why it could not be written. */
async function writeSidecar(store: ReviewStore, rowPath: string, opts: SidecarOptions): Promise<string> {
  const { run } = store;
  const writer = new SidecarWriter(withCaptionText(opts, run), ledgerPathFor(store.file), run.cwd, run.inputs);
  try {
    await writer.fromOutput(store.file, store.outputFormat, new Set([rowPath]));
    return (await writer.finish()).trim();
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
