/**
 * THE pipeline: Job -> Row. Both engines call this and nothing else: preprocess the media until it fits the
 * model (CPU work, in its own concurrency and temp folder), check it fits, build the messages, stream each turn
 * (with retries, in the API concurrency), and turn the outcome into a row that says what was done.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type OpenAI from 'openai';
import { costOf } from '../shared/cost.js';
import { readFile } from '../shared/fast-fs.js';
import { retryPrompt } from '../shared/answer-schema.js';
import { isFatalForRun, OmniError, unreadableMessage, type ErrorCode } from '../shared/errors.js';
import { KEEP_CONTENT_BYTES, type Job } from '../shared/job.js';
import { promptTotal } from '../shared/estimate.js';
import { modelInfo, requireModel } from '../shared/models.js';
import { wavNameFor, writeWav } from '../shared/output/wav.js';
import type { Gate, Pacer } from '../shared/rate-limit.js';
import { addUsage, emptyUsage, rowWithoutAnswer, type Row } from '../shared/row.js';
import { checkFits } from './fit.js';
import { firstTurnMessages, nextTurn, type HeldFile } from './messages.js';
import { parseAnswer } from './parse-answer.js';
import { preprocess, type Prepared } from './preprocess/index.js';
import { streamTurn, type TurnOptions, type TurnResult } from './qwen-omni.js';
import { reservationTokens } from './pacing.js';
import { GaveUp, withRetries, type RetryPolicy } from './retry.js';

export interface WorkerContext {
  readonly client: OpenAI;
  readonly idleTimeoutMs: number;
  readonly retry: RetryPolicy;
  /** Run-wide pause after a 429 (shared by all workers of a distributed run). */
  readonly gate: Gate;
  /** Requests- and tokens-per-minute pacing (shared by all workers of a distributed run). */
  readonly pacer: Pacer;
  /** Aborted on a hard stop: in-flight streams end and their jobs get no row. */
  readonly signal: AbortSignal;
  /** Called before every API request (for counting). */
  readonly onRequest: () => void;
  /** Runs CPU-bound preprocessing within its own concurrency (default: one per core). */
  readonly runCpu: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Runs a job's API turns within the API concurrency, so preprocessing of later jobs runs ahead of it. */
  readonly runApi: <T>(fn: () => Promise<T>) => Promise<T>;
  /** The run's temp folder: each job works in its own subfolder and removes it; the engine removes the rest. */
  readonly tmpDir: string;
}

/** Raised for errors that end the whole run (401, unknown model): every other job would fail the same way. */
export class RunFatalError extends Error {
  constructor(readonly error: OmniError) {
    super(error.message);
  }
}

function undetailed(job: Job): TurnOptions['undetailedModality'] {
  switch (job.media?.type) {
    case 'image':
      return 'image_tokens';
    case 'audio':
      return 'audio_tokens';
    case 'video_file':
    case 'frames':
      return 'video_tokens';
    default:
      return 'text_tokens';
  }
}

/**
 * The reason a job would not be sent, or undefined when it would be (used by --dry-run too). Local media is
 * made to fit by preprocessing; URLs, manifest frame lists and text files are sent as they are, so they are
 * checked as they are.
 */
export function misfitRow(job: Job): Row | undefined {
  const m = job.media;
  if (m && m.type !== 'frames' && m.type !== 'text_file' && 'file' in m.source) return undefined;
  const misfit = checkFits(job, requireModel(job.model).limits);
  return misfit ? { ...rowWithoutAnswer(job, 'skipped', misfit.code, misfit.message), ...mediaColumns(job, undefined) } : undefined;
}

/** The row's media columns: the estimate always, what was sent once preprocessing is done. */
function mediaColumns(job: Job, prepared: Prepared | undefined): Pick<Row, 'preprocess' | 'source_bytes' | 'sent_bytes' | 'duration_sec' | 'width' | 'height' | 'estimated_tokens' | 'estimated_cost'> {
  const sent = prepared?.facts;
  return {
    preprocess: prepared?.note ?? '',
    source_bytes: job.facts.bytes ?? null,
    sent_bytes: sent?.bytes ?? null,
    duration_sec: sent?.durationSec === undefined ? null : Math.round(sent.durationSec * 1000) / 1000,
    width: sent?.width ?? null,
    height: sent?.height ?? null,
    estimated_tokens: promptTotal(job.estimate),
    estimated_cost: job.estimatedCost,
  };
}

/**
 * Runs one job to its row. Throws RunFatalError for run-ending API errors, and OmniError('interrupted') when the
 * run is stopped hard mid-job (then the job has no row and the next run does it). `content`: the local file's
 * bytes when planning kept them (in-process), so the file is not read again; its id was made from these bytes.
 */
export async function processJob(job: Job, ctx: WorkerContext, content?: Buffer): Promise<Row> {
  const skipped = misfitRow(job);
  if (skipped) return skipped;
  // Local image, audio and video files are worked on in a folder of their own, made only when a step writes a file.
  let made: Promise<string> | undefined;
  const dir = () => (made ??= mkdtemp(path.join(ctx.tmpDir, 'job-')));
  const m = job.media;
  // A small local image is read once (unless planning handed its bytes over): checked, maybe resized, and sent
  // from memory.
  if (!content && m?.type === 'image' && 'file' in m.source && (job.facts.bytes ?? Infinity) <= KEEP_CONTENT_BYTES) {
    try {
      content = await readFile(m.source.file);
    } catch (err) {
      return { ...rowWithoutAnswer(job, 'failed', 'file_unreadable', unreadableMessage(job.path, err)), ...mediaColumns(job, undefined) };
    }
  }
  try {
    let prepared: Prepared;
    try {
      prepared = await ctx.runCpu(() => preprocess(job, dir, ctx.signal, content));
    } catch (err) {
      // Unreadable or unfixable media is final: a row now, no retry, no API call.
      if (err instanceof OmniError && err.code !== 'interrupted') return { ...rowWithoutAnswer(job, 'failed', err.code, err.message), ...mediaColumns(job, undefined) };
      throw err;
    }
    // What preprocessing made must fit; if it does not, that is our bug, and it costs a row, not a 400.
    const misfit = checkFits({ ...job, media: prepared.media, facts: prepared.facts }, requireModel(job.model).limits);
    if (misfit) return { ...rowWithoutAnswer(job, 'skipped', misfit.code, `${misfit.message} (after preprocessing: ${prepared.note})`), ...mediaColumns(job, prepared) };
    const original = m && 'source' in m && 'file' in m.source ? m.source.file : undefined;
    const held = content && original !== undefined ? { file: original, bytes: content } : undefined;
    const row = await ctx.runApi(() => {
      // A job that waited for an API slot through a hard stop must not start a request.
      if (ctx.signal.aborted) throw new OmniError('interrupted', 'stopped before this file was sent');
      return ask(job, prepared, ctx, held);
    });
    return { ...row, ...mediaColumns(job, prepared) };
  } finally {
    // A folder that could not be made needs no removing (its error has already reached the step that asked).
    const folder = await made?.catch(() => undefined);
    if (folder) await rm(folder, { recursive: true, force: true });
  }
}

async function ask(job: Job, prepared: Prepared, ctx: WorkerContext, held: HeldFile | undefined): Promise<Row> {
  const prices = modelInfo(job.model)?.prices;
  const afterMedia = job.media !== undefined && job.media.type !== 'text_file';

  let messages;
  try {
    messages = await firstTurnMessages(job, prepared.media, held);
  } catch (err) {
    if (err instanceof OmniError) return rowWithoutAnswer(job, 'failed', err.code, err.message);
    throw err;
  }

  const { format, audio: spoken, thinking } = job.answer;
  const answers: string[] = [];
  const reasoning: string[] = [];
  const usage = emptyUsage();
  let attempts = 0;
  let latency = 0;
  let ttft: number | null = null;
  let speech: Buffer | null = null;
  const base: TurnOptions = { idleTimeoutMs: ctx.idleTimeoutMs, signal: ctx.signal, undetailedModality: undetailed(job), thinking };
  // Speech is asked for the answer only (the last turn, and its retry), not for turns that lead up to it.
  const answering: TurnOptions = spoken ? { ...base, audio: { voice: spoken.voice, format: spoken.format } } : base;
  const lastTurn = job.prompts.length - 1;
  const reserve = reservationTokens(job);
  const paced = (opts: TurnOptions) => async () => {
    await ctx.pacer.acquire(reserve, ctx.signal);
    try {
      const result = await streamTurn(ctx.client, job.model, messages, opts);
      ctx.pacer.settle(reserve, result.usage.total_tokens);
      return result;
    } catch (err) {
      // A refused request used no tokens; a cut one may have: keep the reservation then.
      if (err instanceof OmniError && err.status !== undefined && err.status >= 400 && err.status < 500) ctx.pacer.settle(reserve, 0);
      throw err;
    }
  };
  const failed = (code: ErrorCode, message: string, audioPath = ''): Row => ({
    ...rowWithoutAnswer(job, 'failed', code, message, attempts),
    answers,
    reasoning: reasoning.join('\n\n'),
    audio_path: audioPath,
    usage,
    cost: usage.total_tokens > 0 ? costOf(usage, prices, afterMedia) : null,
    latency_ms: answers.length ? latency : null,
    ttft_ms: ttft,
  });
  /** One request with retries: the turn, or the row of a file that failed (run-ending errors are thrown). */
  const request = async (opts: TurnOptions, note: string): Promise<{ turn: TurnResult } | { row: Row }> => {
    try {
      const { value, attempts: n } = await withRetries(paced(opts), ctx.retry, ctx.gate, ctx.signal, ctx.onRequest);
      attempts += n;
      addUsage(usage, value.usage);
      latency += value.latencyMs;
      if (value.reasoning) reasoning.push(value.reasoning);
      return { turn: value };
    } catch (err) {
      if (!(err instanceof GaveUp)) throw err;
      attempts += err.attempts;
      if (isFatalForRun(err.error.code)) throw new RunFatalError(err.error);
      if (err.error.code === 'interrupted') throw err.error;
      return { row: failed(err.error.code, `${err.error.message}${note} (${err.attempts} attempt${err.attempts === 1 ? '' : 's'})`) };
    }
  };

  for (const [turn, prompt] of job.prompts.entries()) {
    if (turn > 0) nextTurn(messages, answers[turn - 1] ?? '', prompt);
    const r = await request(turn === lastTurn ? answering : base, job.prompts.length > 1 ? ` (turn ${turn + 1} of ${job.prompts.length})` : '');
    if ('row' in r) return r.row;
    answers.push(r.turn.text);
    if (turn === 0) ttft = r.turn.ttftMs;
    if (turn === lastTurn) speech = r.turn.audio;
  }

  let parsed: Record<string, unknown> | null = null;
  let invalid: string | undefined;
  if (format) {
    let check = parseAnswer(answers[lastTurn] ?? '', format);
    if (!check.ok) {
      // Once more, in the same conversation, with the error quoted: models fix what they are shown.
      const first = check.error;
      nextTurn(messages, answers[lastTurn] ?? '', retryPrompt(first));
      const r = await request(answering, ' (asked again after an invalid answer)');
      if ('row' in r) return r.row;
      answers[lastTurn] = r.turn.text;
      if (spoken) speech = r.turn.audio;
      check = parseAnswer(r.turn.text, format);
      if (!check.ok) invalid = `${first}; asked again: ${check.error}`;
    }
    if (check.ok) parsed = check.value;
  }

  let audioPath = '';
  if (spoken && speech && speech.length > 0) {
    const file = path.join(spoken.dir, wavNameFor(job.path, job.id));
    try {
      await writeWav(file, speech);
      audioPath = file;
    } catch (err) {
      return failed('audio_unwritable', `${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (invalid !== undefined) return failed('invalid_answer', invalid, audioPath);

  return {
    id: job.id,
    path: job.path,
    source: job.source,
    kind: job.kind,
    model: job.model,
    status: 'ok',
    answers,
    parsed,
    reasoning: reasoning.join('\n\n'),
    audio_path: audioPath,
    error_code: '',
    error_message: '',
    usage,
    cost: costOf(usage, prices, afterMedia),
    attempts,
    latency_ms: latency,
    ttft_ms: ttft,
    ...mediaColumns(job, prepared),
  };
}
