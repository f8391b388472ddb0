/**
 * A job as one line of a DashScope Batch request file: the same fit checks, preprocessing and messages as the
 * real-time call (processJob), without the call. Batch does not stream (and refuses `stream`), and runs one turn
 * per request: what the row needs later (its id, path, kind, media columns) travels beside the line.
 */
import { OmniError } from '../shared/errors.js';
import type { Job, MediaKind } from '../shared/job.js';
import { rowWithoutAnswer, type Row } from '../shared/row.js';
import { firstTurnMessages } from './messages.js';
import { afterMedia, mediaColumns, onPrepared, turnBody, undetailed, type MediaColumns, type PrepareContext } from './process.js';
import { requestBody, type TurnOptions } from './qwen-omni.js';

/** What a row of a batch request needs besides the answer: written beside the request file, read back when its output comes. */
export interface BatchMeta {
  readonly id: string;
  readonly path: string;
  readonly source: string;
  readonly kind: MediaKind;
  readonly model: string;
  /** The answer follows media: its text is priced as output after media. */
  readonly afterMedia: boolean;
  /** Which prompt bucket gets tokens the API did not break down by modality. */
  readonly undetailed: TurnOptions['undetailedModality'];
  readonly columns: MediaColumns;
}

/** One line of a request file (`custom_id` = the row id), in the OpenAI batch input format. */
export interface BatchRequestLine {
  readonly custom_id: string;
  readonly method: 'POST';
  readonly url: '/v1/chat/completions';
  readonly body: Record<string, unknown>;
}

export interface BatchRequest {
  readonly line: BatchRequestLine;
  readonly meta: BatchMeta;
}

/** The endpoint every line of a Batch file names (and its batch is created with). */
export const BATCH_ENDPOINT = '/v1/chat/completions';

/**
 * The request line of a job, or the row of a job that is skipped or fails before any request (exactly the rows
 * the real-time path gives such files).
 */
export async function batchRequest(job: Job, ctx: PrepareContext, content?: Buffer): Promise<{ request: BatchRequest } | { row: Row }> {
  return onPrepared(job, ctx, content, async (prepared, held) => {
    const columns = mediaColumns(job, prepared);
    try {
      const messages = await firstTurnMessages(job, prepared.media, held, prepared.extra);
      // The thinking parameter is set either way (Batch asks for it explicitly); batch gives no speech output.
      const body = requestBody(job.model, messages, { body: turnBody(job) }) as unknown as Record<string, unknown>;
      const meta: BatchMeta = { id: job.id, path: job.path, source: job.source, kind: job.kind, model: job.model, afterMedia: afterMedia(job), undetailed: undetailed(job), columns };
      return { request: { line: { custom_id: job.id, method: 'POST', url: BATCH_ENDPOINT, body }, meta } };
    } catch (err) {
      if (err instanceof OmniError) return { row: { ...rowWithoutAnswer(job, 'failed', err.code, err.message), ...columns } };
      throw err;
    }
  });
}
