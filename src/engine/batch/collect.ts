/**
 * Collecting a settled batch: its output and error files are downloaded and every line becomes its job's row
 * (worker/batch-row.ts); a request with no line gets a `failed` row with the reason (the batch expired, failed,
 * was cancelled, or left it out), ready for `retry` in any engine.
 */
import { readFile, rm } from 'node:fs/promises';
import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { batchLineRow, unansweredRow, type BatchOutputLine, type BatchRowOptions } from '../../worker/batch-row.js';
import type { BatchMeta } from '../../worker/batch-request.js';
import type { ErrorCode } from '../../shared/errors.js';
import type { Row } from '../../shared/row.js';
import { metaFileOf, requestFileOf, type BatchEntry } from './state.js';

async function lines(client: OpenAI, fileId: string | null | undefined): Promise<BatchOutputLine[]> {
  if (!fileId) return [];
  const text = await (await client.files.content(fileId)).text();
  const out: BatchOutputLine[] = [];
  for (const l of text.split('\n')) {
    if (!l.trim()) continue;
    try {
      out.push(JSON.parse(l) as BatchOutputLine);
    } catch {
      // A line that is not JSON names no request: its request gets the row of an unanswered one.
    }
  }
  return out;
}

/** Why the requests without a line have none, by the batch's status. */
function unanswered(batch: Batch): { code: ErrorCode; message: string } {
  const id = batch.id;
  switch (batch.status) {
    case 'expired':
      return { code: 'batch_expired', message: `batch ${id} expired before this request was answered` };
    case 'cancelled':
      return { code: 'batch_cancelled', message: `batch ${id} was cancelled before this request was answered` };
    case 'failed': {
      const why = batch.errors?.data?.map((d) => [d.code, d.message, d.line ? `line ${d.line}` : ''].filter(Boolean).join(' ')).join('; ');
      return { code: 'batch_failed', message: `batch ${id} failed${why ? `: ${why}` : ''}` };
    }
    default:
      return { code: 'batch_incomplete', message: `batch ${id} ${batch.status}, but its output has no line for this request` };
  }
}

async function readMeta(out: string, n: number): Promise<Map<string, BatchMeta>> {
  const metas = new Map<string, BatchMeta>();
  const text = await readFile(metaFileOf(out, n), 'utf8');
  for (const l of text.split('\n')) {
    if (!l) continue;
    const m = JSON.parse(l) as BatchMeta;
    metas.set(m.id, m);
  }
  return metas;
}

/** The requests an entry holds, id -> path (a resumed run does not send them again while their batch runs). */
export async function entryPaths(out: string, e: BatchEntry): Promise<Map<string, string>> {
  return new Map([...(await readMeta(out, e.n))].map(([id, m]) => [id, m.path]));
}

export interface CollectOptions extends BatchRowOptions {
  readonly client: OpenAI;
  readonly out: string;
  /** Writes a collected row; false when it was not written (its path's row is reviewed, and is kept). */
  readonly write: (row: Row) => boolean;
}

/** Writes the rows of one settled batch and removes its local files; the caller marks the entry collected. */
export async function collectBatch(e: BatchEntry, batch: Batch, o: CollectOptions): Promise<{ ok: number; failed: number; kept: number }> {
  const metas = await readMeta(o.out, e.n);
  const counts = { ok: 0, failed: 0, kept: 0 };
  const write = (row: Row) => void counts[o.write(row) ? (row.status === 'ok' ? 'ok' : 'failed') : 'kept']++;
  for (const line of [...(await lines(o.client, batch.output_file_id)), ...(await lines(o.client, batch.error_file_id))]) {
    const meta = metas.get(line.custom_id);
    if (!meta) continue;
    metas.delete(line.custom_id);
    write(batchLineRow(meta, line, o));
  }
  const why = unanswered(batch);
  for (const meta of metas.values()) write(unansweredRow(meta, why.code, why.message));
  await rm(requestFileOf(o.out, e.n), { force: true });
  await rm(metaFileOf(o.out, e.n), { force: true });
  return counts;
}
