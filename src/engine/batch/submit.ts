/**
 * Upload and submit: a sealed request file goes up once (`purpose: batch`) and becomes one batch. Each id is saved
 * in the run file the moment it exists, so a run stopped in between resumes from the step it had reached: a file
 * uploaded is never uploaded again, a batch created is never created again.
 */
import { createReadStream } from 'node:fs';
import type OpenAI from 'openai';
import type { Batch } from 'openai/resources/batches';
import { BATCH_ENDPOINT } from '../../worker/batch-request.js';
import { requestFileOf, type BatchEntry, type StateFile } from './state.js';

export interface SubmitOptions {
  readonly client: OpenAI;
  readonly state: StateFile;
  readonly out: string;
  readonly completionWindowHours: number;
  /** True once the run is stopping: no new upload or batch is begun. */
  readonly stopped: () => boolean;
  readonly log: (line: string) => void;
}

async function upload(e: BatchEntry, o: SubmitOptions): Promise<void> {
  const file = await o.client.files.create({ file: createReadStream(requestFileOf(o.out, e.n)), purpose: 'batch' });
  e.fileId = file.id;
  await o.state.save();
}

/**
 * The batch already made from this file, if any: a run killed between creating a batch and saving its id must not
 * create (and pay for) a second one. The newest 100 batches are looked at.
 */
async function madeFrom(fileId: string, o: SubmitOptions): Promise<Batch | undefined> {
  let seen = 0;
  for await (const b of o.client.batches.list({ limit: 100 })) {
    if (b.input_file_id === fileId) return b;
    if (++seen >= 100) break;
  }
  return undefined;
}

async function create(e: BatchEntry, fileId: string, o: SubmitOptions): Promise<void> {
  const found = await madeFrom(fileId, o);
  const batch = found ?? await o.client.batches.create({
    input_file_id: fileId,
    endpoint: BATCH_ENDPOINT,
    // The SDK's type knows OpenAI's one window; DashScope takes 24h to 336h.
    completion_window: `${o.completionWindowHours}h` as '24h',
  });
  e.batchId = batch.id;
  e.status = batch.status;
  await o.state.save();
  o.log(`batch ${batch.id} ${found ? 'found again' : 'submitted'}: ${e.lines} requests (completion window ${o.completionWindowHours}h); it runs at DashScope whether or not this process waits`);
}

/** Uploads and submits every entry that has not got that far; returns how many files were uploaded. */
export async function submitAll(o: SubmitOptions): Promise<number> {
  let uploads = 0;
  for (const e of o.state.open) {
    if (o.stopped()) break;
    if (e.fileId === undefined) {
      await upload(e, o);
      uploads++;
    }
    if (e.batchId === undefined && e.fileId !== undefined && !o.stopped()) await create(e, e.fileId, o);
  }
  return uploads;
}
