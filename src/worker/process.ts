/**
 * THE pipeline: Job -> Row. Both engines call this and nothing else: preprocess the media until it fits the
 * model (CPU work, in its own concurrency and temp folder), check it fits, build the messages, stream each turn
 * (with retries, in the API concurrency), and turn the outcome into a row that says what was done.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import type OpenAI from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { systemClock, type Clock } from '../shared/clock.js';
import { scaledPrices } from '../shared/batch.js';
import { costOf } from '../shared/cost.js';
import { readFile } from '../shared/fast-fs.js';
import { retryPrompt } from '../shared/answer-schema.js';
import { isFatalForRun, OmniError, OutputError, unreadableMessage, type ErrorCode } from '../shared/errors.js';
import { KEEP_CONTENT_BYTES, type Job, type JobMedia } from '../shared/job.js';
import { promptTotal } from '../shared/estimate.js';
import { thinkingFields } from '../shared/models.js';
import { runPrices } from '../shared/run-price.js';
import { jobModel } from '../shared/model-overrides.js';
import { ioReason, isDiskError } from '../shared/output/disk.js';
import { wavNameFor, writeWav } from '../shared/output/wav.js';
import type { Gate, Pacer } from '../shared/rate-limit.js';
import { addUsage, emptyUsage, rowWithoutAnswer, type Row } from '../shared/row.js';
import { checkFits } from './fit.js';
import { firstTurnMessages, nextTurn, type HeldFile } from './messages.js';
import { dialectBody, firstRefusal, vllmFramesCap } from './dialect-parts.js';
import { parseAnswer } from './parse-answer.js';
import { preprocess, type Prepared, type PreparedPart } from './preprocess/index.js';
import type { WorkDir } from './preprocess/prepared.js';
import { streamTurn, type TurnOptions, type TurnResult } from './qwen-omni.js';
import { reservationTokens } from './pacing.js';
import type { ReachWatch } from './reach.js';
import { eitherSignal, GaveUp, withRetries, type RetryPolicy } from './retry.js';
import { OSS_RESOLVE_HEADER, uploadedUrl, type UploadCache, type UploadRecord } from './upload.js';

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
  /**
   * Aborted on a drain (the first Ctrl-C): jobs waiting to send (for the run's pause after a rate limit, the pacer,
   * a backoff) end with no row, for the next run; requests already sent finish.
   */
  readonly drain?: AbortSignal | undefined;
  /** Stops the run when its first attempts all fail to connect (api_unreachable); none: not watched. */
  readonly reach?: ReachWatch | undefined;
  /** Called before every API request (for counting). */
  readonly onRequest: () => void;
  /**
   * Called when a turn came back whole: when it was sent and when it ended (the context's clock), and its tokens
   * (prompt and answer). `--concurrency auto` decides from these.
   */
  readonly onTurn?: ((startedAt: number, finishedAt: number, tokens: number) => void) | undefined;
  /** Runs CPU-bound preprocessing within its own concurrency (default: one per core). */
  readonly runCpu: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Runs a job's API turns within the API concurrency, so preprocessing of later jobs runs ahead of it. */
  readonly runApi: <T>(fn: () => Promise<T>) => Promise<T>;
  /** The run's temp folder: each job works in its own subfolder and removes it; the engine removes the rest. */
  readonly tmpDir: string;
  /** Where the waits between retries take their time from (default: the system clock). */
  readonly clock?: Clock | undefined;
  /**
   * Where temporary uploads (oss://) are remembered: a file beside the output in-process, the run's keys in Redis
   * for a distributed run. Default: this process's memory.
   */
  readonly uploads?: UploadCache | undefined;
  /** The share of the list price answers cost (0.5 at Batch Chat's endpoint); default 1. */
  readonly priceFactor?: number | undefined;
}

/** Raised for errors that end the whole run (401, unknown model): every other job would fail the same way. */
export class RunFatalError extends Error {
  constructor(readonly error: OmniError) {
    super(error.message);
  }
}

export function undetailed(job: Job): TurnOptions['undetailedModality'] {
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
  const refused = refusalRow(job, [m, ...(job.extra ?? []).map((x) => x.media)], undefined);
  if (refused) return refused;
  const misfit = checkFits(job, jobModel(job).limits);
  return misfit ? { ...rowWithoutAnswer(job, 'skipped', misfit.code, misfit.message), ...mediaColumns(job, undefined) } : undefined;
}

/** The skipped row of media the job's dialect cannot express, or undefined when it can express all of them. */
function refusalRow(job: Job, media: readonly (JobMedia | undefined)[], prepared: Prepared | undefined): Row | undefined {
  const why = firstRefusal(job.api, media, vllmFramesCap(job, jobModel(job).limits.framesMax));
  return why ? { ...rowWithoutAnswer(job, 'skipped', 'unsupported_by_api', `${job.path}: ${why}`), ...mediaColumns(job, prepared) } : undefined;
}

/** The row's media columns: the estimate always, what was sent once preprocessing is done (`via`: how it travelled). */
export type MediaColumns = Pick<Row, 'preprocess' | 'source_bytes' | 'sent_bytes' | 'duration_sec' | 'width' | 'height' | 'estimated_tokens' | 'estimated_cost'>;

export function mediaColumns(job: Job, prepared: Prepared | undefined, via = ''): MediaColumns {
  const sent = prepared?.facts;
  return {
    preprocess: `${prepared?.note ?? ''}${via}`,
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
  const done = await onPrepared(job, ctx, content, async (prepared, held) => {
    const { row, via } = await ctx.runApi(() => {
      // A job that waited for an API slot through a hard stop must not start a request. (After a drain it may: its
      // preprocessing is done; only its waits for the gate, the pacer or a backoff are cut.)
      if (ctx.signal.aborted) throw new OmniError('interrupted', 'stopped before this file was sent');
      return prepared.parts ? askParts(job, prepared.parts, ctx) : ask(job, prepared, ctx, held);
    });
    return { row: { ...row, ...mediaColumns(job, prepared, via) } };
  });
  return done.row;
}

/** What preprocessing needs of its context: the CPU slots, the run's temp folder, the hard stop. */
export type PrepareContext = Pick<WorkerContext, 'runCpu' | 'tmpDir' | 'signal'>;

/** The original file's bytes as the messages may send them, and what preprocessing made of the job. */
export type OnPrepared<T> = (prepared: PreparedJob, held: HeldFile | undefined) => Promise<T>;

/** What preprocessing made of a job: its media, and a manifest row's further media (mixed media, one message). */
export type PreparedJob = Prepared & { readonly extra?: readonly JobMedia[] };

/**
 * Makes a job fit (the same checks, preprocessing and temp folder for every engine) and hands what it made to
 * `use`; the row of a job that is skipped or fails before any request instead. The temp folder is removed once
 * `use` has finished.
 */
export async function onPrepared<T>(job: Job, ctx: PrepareContext, content: Buffer | undefined, use: OnPrepared<T>): Promise<T | { row: Row }> {
  const skipped = misfitRow(job);
  if (skipped) return { row: skipped };
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
      return { row: { ...rowWithoutAnswer(job, 'failed', 'file_unreadable', unreadableMessage(job.path, err)), ...mediaColumns(job, undefined) } };
    }
  }
  try {
    let prepared: Prepared;
    try {
      prepared = await ctx.runCpu(() => preprocess(job, dir, ctx.signal, content));
    } catch (err) {
      // Unreadable or unfixable media is final: a row now, no retry, no API call.
      if (err instanceof OmniError && err.code !== 'interrupted') return { row: { ...rowWithoutAnswer(job, 'failed', err.code, err.message), ...mediaColumns(job, undefined) } };
      throw err;
    }
    // What preprocessing made must fit; if it does not, that is our bug, and it costs a row, not a 400.
    const limits = jobModel(job).limits;
    const misfit = (prepared.parts ?? [prepared]).map((p) => checkFits({ path: job.path, media: p.media, facts: p.facts }, limits, p.upload)).find(Boolean);
    if (misfit) return { row: { ...rowWithoutAnswer(job, 'skipped', misfit.code, `${misfit.message} (after preprocessing: ${prepared.note})`), ...mediaColumns(job, prepared) } };
    const extra = await prepareExtra(job, dir, ctx);
    if ('row' in extra) return { row: { ...extra.row, ...mediaColumns(job, prepared) } };
    // What the endpoint's dialect cannot express is refused now, before any call (preprocessing may have made frames).
    const refused = refusalRow(job, [...(prepared.parts ?? [prepared]).map((p) => p.media), ...extra.media], prepared);
    if (refused) return { row: refused };
    const original = m && 'source' in m && 'file' in m.source ? m.source.file : undefined;
    const held = content && original !== undefined ? { file: original, bytes: content } : undefined;
    return await use({ ...prepared, extra: extra.media, note: [prepared.note, ...extra.notes].filter(Boolean).join('; ') }, held);
  } finally {
    // A folder that could not be made needs no removing (its error has already reached the step that asked).
    const folder = await made?.catch(() => undefined);
    if (folder) await rm(folder, { recursive: true, force: true });
  }
}

/**
 * The further media of a media list, each fitted as if it were the job's only one and checked after: what is sent,
 * with what preprocessing did, or the row of the first that cannot be.
 */
async function prepareExtra(job: Job, dir: WorkDir, ctx: PrepareContext): Promise<{ media: JobMedia[]; notes: string[] } | { row: Row }> {
  const media: JobMedia[] = [];
  const notes: string[] = [];
  for (const [i, x] of (job.extra ?? []).entries()) {
    // Sent as data URLs in the same message: fitted under the data-URL cap, never uploaded.
    const part = { ...job, path: `${job.path}: media ${i + 2}`, media: x.media, facts: x.facts, extra: undefined, options: { ...job.options, upload: false } };
    let done: Prepared;
    try {
      done = await ctx.runCpu(() => preprocess(part, dir, ctx.signal));
    } catch (err) {
      if (err instanceof OmniError && err.code !== 'interrupted') return { row: rowWithoutAnswer(job, 'failed', err.code, err.message) };
      throw err;
    }
    const misfit = checkFits({ ...part, media: done.media, facts: done.facts }, jobModel(job).limits);
    if (misfit) return { row: rowWithoutAnswer(job, 'skipped', misfit.code, `${part.path}: ${misfit.message}`) };
    if (done.media) media.push(done.media);
    if (done.note) notes.push(`media ${i + 2}: ${done.note}`);
  }
  return { media, notes };
}

/** A row, and how its media travelled (for the preprocess column: `; uploaded oss://`, `; oss:// reused`). */
interface Asked1 {
  readonly row: Row;
  readonly via: string;
}

/** Asks the model about one prepared file (and a media list's further media), and makes the row of what came back. */
async function ask(job: Job, prepared: PreparedJob, ctx: WorkerContext, held: HeldFile | undefined): Promise<Asked1> {
  const asked = await converse(job, prepared, ctx, held);
  if ('row' in asked) return { row: asked.row, via: '' };
  const { talk, via, stopped } = asked;
  if (stopped) return { row: stopped, via };
  const checked = await talk.checkAnswer();
  if ('row' in checked) return { row: checked.row, via };
  const spoken = await talk.writeSpeech();
  if ('row' in spoken) return { row: spoken.row, via };
  if (checked.invalid !== undefined) return { row: talk.failed('invalid_answer', checked.invalid, spoken.audioPath), via };
  return { row: talk.okRow(checked.parsed, spoken.audioPath), via };
}

/**
 * Segments mode: every part asked in order (each its own conversation, all turns), one row with the answers of each
 * turn joined in order under their time ranges, and the usage, attempts and time summed. A part that fails fails the
 * row, naming the part; what the parts before it answered (and cost) is kept in it.
 */
async function askParts(job: Job, parts: readonly PreparedPart[], ctx: WorkerContext): Promise<Asked1> {
  const whole = new Conversation(job, ctx, []);
  const vias = new Set<string>();
  for (const [i, part] of parts.entries()) {
    const name = `part ${i + 1} of ${parts.length} ${part.label}`;
    const asked = await converse(job, part, ctx, undefined);
    if ('row' in asked) return { row: whole.failed(asked.row.error_code as ErrorCode, `${name}: ${asked.row.error_message}`), via: '' };
    if (asked.via) vias.add(asked.via);
    const { stopped } = asked;
    whole.absorb(asked.talk, part.label);
    if (stopped) return { row: whole.failed(stopped.error_code as ErrorCode, `${name}: ${stopped.error_message}`), via: [...vias].join('') };
  }
  return { row: whole.okRow(null, ''), via: [...vias].join('') };
}

const REUSED = '; oss:// upload reused';

/**
 * The conversation of one prepared file with every turn asked (`stopped`: the row of a turn that failed), or the
 * row of a file that failed before. A remembered upload the API refuses (a 400: gone before its time, or the
 * uploads file of another account or region) is uploaded again, once, and the turns asked again.
 */
async function converse(job: Job, prepared: PreparedJob, ctx: WorkerContext, held: HeldFile | undefined): Promise<{ talk: Conversation; via: string; stopped: Row | undefined } | { row: Row }> {
  const opened = await openConversation(job, prepared, ctx, held, false);
  if ('row' in opened) return opened;
  const stopped = await opened.talk.askEveryTurn();
  if (!stopped || opened.via !== REUSED || stopped.error_code !== 'bad_request') return { ...opened, stopped };
  const again = await openConversation(job, prepared, ctx, held, true);
  if ('row' in again) return again;
  return { talk: again.talk, via: '; the remembered oss:// upload was refused, uploaded again (oss://, 48 h)', stopped: await again.talk.askEveryTurn() };
}

/** The conversation of one prepared file (its upload made first when it needs one), or the row of a file that failed. */
async function openConversation(job: Job, prepared: PreparedJob, ctx: WorkerContext, held: HeldFile | undefined, fresh: boolean): Promise<{ talk: Conversation; via: string } | { row: Row }> {
  const sent = prepared.upload ? await uploaded(job, prepared, ctx, fresh) : { media: prepared.media, via: '' };
  if ('row' in sent) return sent;
  try {
    const messages = await firstTurnMessages(job, sent.media, held, prepared.extra);
    return { talk: new Conversation(job, ctx, messages, prepared.upload ? { [OSS_RESOLVE_HEADER]: 'enable' } : undefined, sent.media), via: sent.via };
  } catch (err) {
    if (err instanceof OmniError) return { row: rowWithoutAnswer(job, 'failed', err.code, err.message) };
    throw err;
  }
}

/** This process's uploads when the engine hands in no cache (a test, a one-off call). */
const memoryUploads = ((): UploadCache => {
  const m = new Map<string, UploadRecord>();
  const cache: UploadCache = {
    get: (k) => Promise.resolve(m.get(k)),
    put: (k, r) => {
      m.set(k, r);
      return Promise.resolve();
    },
  };
  return cache;
})();

/**
 * The prepared file's media as an `oss://` URL: uploaded now (with retries, like a request) or remembered from
 * an earlier file, run or worker. The row of a file whose upload failed, or a run-ending error (a refused key).
 */
async function uploaded(job: Job, prepared: Prepared, ctx: WorkerContext, fresh: boolean): Promise<{ media: Prepared['media']; via: string } | { row: Row }> {
  const m = prepared.media;
  if (!m || (m.type !== 'audio' && m.type !== 'video_file') || !('file' in m.source)) return { media: m, via: '' };
  const file = m.source.file;
  const party = { apiKey: ctx.client.apiKey ?? '', baseURL: ctx.client.baseURL, cache: ctx.uploads ?? memoryUploads, now: () => (ctx.clock ?? systemClock).now(), signal: ctx.signal };
  try {
    const { value } = await withRetries(() => uploadedUrl(party, file, job.model, job.path, fresh), { policy: ctx.retry, gate: ctx.gate, signal: ctx.signal, drain: ctx.drain, clock: ctx.clock });
    return { media: { ...m, source: { url: value.url } }, via: value.reused ? REUSED : '; uploaded (oss://, 48 h)' };
  } catch (err) {
    if (!(err instanceof GaveUp)) throw err;
    if (isFatalForRun(err.error.code)) throw new RunFatalError(err.error);
    if (err.error.code === 'interrupted') throw err.error;
    return { row: rowWithoutAnswer(job, 'failed', err.error.code, `${err.error.message} (${err.attempts} attempt${err.attempts === 1 ? '' : 's'})`) };
  }
}

/** A turn that came back, or the row of a file that failed. */
type Asked = { turn: TurnResult } | { row: Row };

/** One job's conversation with the model: its turns in order, and what they add up to (usage, attempts, time). */
class Conversation {
  private readonly answers: string[] = [];
  private readonly reasoning: string[] = [];
  private readonly usage = emptyUsage();
  private requests = 0;
  private retries = 0;
  private latency = 0;
  private ttft: number | null = null;
  /** The decoded speech of the answer (the last turn, or its re-ask). */
  private speech: Buffer | null = null;
  private readonly base: TurnOptions;
  /** Speech is asked for the answer only (the last turn, and its retry), not for turns that lead up to it. */
  private readonly answering: TurnOptions;
  private readonly lastTurn: number;
  private readonly reserve: number;

  constructor(
    private readonly job: Job,
    private readonly ctx: WorkerContext,
    private readonly messages: ChatCompletionMessageParam[],
    headers?: Readonly<Record<string, string>>,
    sent?: JobMedia,
  ) {
    const spoken = job.answer.audio;
    // The dialect's own fields follow what is sent (a video preprocessed into frames has no soundtrack to hear).
    const body = { ...turnBody(job), ...dialectBody(job.api, sent, job.facts.hasAudio) };
    this.base = { idleTimeoutMs: ctx.idleTimeoutMs, signal: ctx.signal, undetailedModality: job.api === undefined || job.api === 'dashscope' ? undetailed(job) : null, body, headers };
    this.answering = spoken ? { ...this.base, audio: { voice: spoken.voice, format: spoken.format } } : this.base;
    this.lastTurn = job.prompts.length - 1;
    this.reserve = reservationTokens(job);
  }

  /** Every prompt in turn, each after the answer to the one before; a failed file's row, or undefined when all came back. */
  async askEveryTurn(): Promise<Row | undefined> {
    const { prompts } = this.job;
    for (const [turn, prompt] of prompts.entries()) {
      if (turn > 0) nextTurn(this.messages, this.answers[turn - 1] ?? '', prompt);
      const r = await this.request(turn === this.lastTurn ? this.answering : this.base, prompts.length > 1 ? ` (turn ${turn + 1} of ${prompts.length})` : '');
      if ('row' in r) return r.row;
      this.answers.push(r.turn.text);
      if (turn === 0) this.ttft = r.turn.ttftMs;
      if (turn === this.lastTurn) this.speech = r.turn.audio;
    }
    return undefined;
  }

  /**
   * Checks a structured answer against its format, asking once more when it does not parse: the parsed answer,
   * why it is still invalid, or the row of a file whose re-ask failed.
   */
  async checkAnswer(): Promise<{ parsed: Record<string, unknown> | null; invalid?: string } | { row: Row }> {
    const format = this.job.answer.format;
    if (!format) return { parsed: null };
    const answer = this.answers[this.lastTurn] ?? '';
    const check = parseAnswer(answer, format);
    if (check.ok) return { parsed: check.value };
    // Once more, in the same conversation, with the error quoted: models fix what they are shown.
    nextTurn(this.messages, answer, retryPrompt(check.error));
    const r = await this.request(this.answering, ' (asked again after an invalid answer)');
    if ('row' in r) return r;
    this.answers[this.lastTurn] = r.turn.text;
    if (this.job.answer.audio) this.speech = r.turn.audio;
    const again = parseAnswer(r.turn.text, format);
    return again.ok ? { parsed: again.value } : { parsed: null, invalid: `${check.error}; asked again: ${again.error}` };
  }

  /** Writes the spoken answer as a WAV file: its path ('' when there is none), or the row of a file it failed for. */
  async writeSpeech(): Promise<{ audioPath: string } | { row: Row }> {
    const spoken = this.job.answer.audio;
    if (!spoken || !this.speech || this.speech.length === 0) return { audioPath: '' };
    const file = path.join(spoken.dir, wavNameFor(this.job.path, this.job.id));
    try {
      await writeWav(file, this.speech);
      return { audioPath: file };
    } catch (err) {
      // A full disk is not this file's problem: nothing more can be written, so nothing more should be sent.
      if (isDiskError(err)) throw new OutputError(`${file}: cannot write the spoken answer (${ioReason(err)}); free some space and rerun the same command`);
      return { row: this.failed('audio_unwritable', `${file}: ${ioReason(err)}`) };
    }
  }

  /** One request with retries: the turn, or the row of a file that failed (run-ending errors are thrown). */
  private async request(opts: TurnOptions, note: string): Promise<Asked> {
    const { ctx } = this;
    try {
      const { value, attempts } = await withRetries(() => this.paced(opts), { policy: ctx.retry, gate: ctx.gate, signal: ctx.signal, drain: ctx.drain, onAttempt: ctx.onRequest, clock: ctx.clock });
      this.count(attempts);
      addUsage(this.usage, value.usage);
      this.latency += value.latencyMs;
      if (value.reasoning) this.reasoning.push(value.reasoning);
      return { turn: value };
    } catch (err) {
      if (!(err instanceof GaveUp)) throw err;
      this.count(err.attempts);
      if (isFatalForRun(err.error.code)) throw new RunFatalError(err.error);
      if (err.error.code === 'interrupted') throw err.error;
      return { row: this.failed(err.error.code, `${err.error.message}${note} (${err.attempts} attempt${err.attempts === 1 ? '' : 's'})`) };
    }
  }

  /** One turn asked with `attempts` requests: the first is the turn's own, the others retried it. */
  private count(attempts: number): void {
    this.requests += attempts;
    this.retries += Math.max(0, attempts - 1);
  }

  /** One attempt within the pacer: tokens reserved before, settled with the real usage after. */
  private async paced(opts: TurnOptions): Promise<TurnResult> {
    const { ctx, reserve } = this;
    await ctx.pacer.acquire(reserve, eitherSignal(ctx.signal, ctx.drain)).catch(() => {
      throw new OmniError('interrupted', 'stopped before this file was sent');
    });
    const clock = ctx.clock ?? systemClock;
    const startedAt = clock.now();
    try {
      const result = await streamTurn(ctx.client, this.job.model, this.messages, opts);
      ctx.onTurn?.(startedAt, clock.now(), result.usage.total_tokens);
      ctx.reach?.reached();
      ctx.pacer.settle(reserve, result.usage.total_tokens);
      return result;
    } catch (err) {
      if (!(err instanceof OmniError)) throw err;
      if (err.code === 'network_error' && ctx.reach) throw ctx.reach.failed(err);
      if (err.status !== undefined) ctx.reach?.reached();
      // A refused request used no tokens; a cut one may have: keep the reservation then.
      if (err.status !== undefined && err.status >= 400 && err.status < 500) ctx.pacer.settle(reserve, 0);
      throw err;
    }
  }

  /** The row of a file that failed part-way: what did come back (answers, usage, cost) is kept. */
  failed(code: ErrorCode, message: string, audioPath = ''): Row {
    const job = this.job;
    return {
      ...rowWithoutAnswer(job, 'failed', code, message, this.requests),
      retries: this.retries,
      answers: this.answers,
      reasoning: this.reasoning.join('\n\n'),
      audio_path: audioPath,
      usage: this.usage,
      cost: this.usage.total_tokens > 0 ? costOf(this.usage, scaledPrices(jobPrices(job), this.ctx.priceFactor ?? 1), afterMedia(job)) : null,
      latency_ms: this.answers.length ? this.latency : null,
      ttft_ms: this.ttft,
    };
  }

  /** Segments mode: adds a part's conversation, its answers under `label` after those of the parts before it. */
  absorb(part: Conversation, label: string): void {
    part.answers.forEach((answer, turn) => {
      const before = this.answers[turn];
      this.answers[turn] = `${before === undefined ? '' : `${before}\n\n`}${label} ${answer}`;
    });
    this.reasoning.push(...part.reasoning);
    addUsage(this.usage, part.usage);
    this.requests += part.requests;
    this.retries += part.retries;
    this.latency += part.latency;
    this.ttft ??= part.ttft;
  }

  okRow(parsed: Record<string, unknown> | null, audioPath: string): Row {
    const job = this.job;
    return {
      id: job.id,
      path: job.path,
      source: job.source,
      kind: job.kind,
      model: job.model,
      status: 'ok',
      answers: this.answers,
      parsed,
      reasoning: this.reasoning.join('\n\n'),
      audio_path: audioPath,
      error_code: '',
      error_message: '',
      usage: this.usage,
      cost: costOf(this.usage, scaledPrices(jobPrices(job), this.ctx.priceFactor ?? 1), afterMedia(job)),
      requests: this.requests,
      retries: this.retries,
      latency_ms: this.latency,
      ttft_ms: this.ttft,
      ...mediaColumns(job, undefined),
      index: job.index ?? null,
      kept: job.kept ?? {},
    };
  }
}

/** The body fields of every turn: the model's thinking parameter and the job's generation settings. */
export function turnBody(job: Job): Record<string, unknown> {
  // Thinking is switched per request at DashScope only (config.ts refuses asking for it elsewhere).
  const thinking = job.api === undefined || job.api === 'dashscope' ? thinkingFields(jobModel(job).thinking, job.answer.thinking) : {};
  return { ...thinking, ...job.generation };
}

/** Whether the answer follows media: its text is then priced as output after media. */
export function afterMedia(job: Job): boolean {
  return job.media !== undefined && job.media.type !== 'text_file';
}

/**
 * The prices of the job's model in its price region (Beijing for a job queued before regions had prices): the job
 * file's own price, else the list price where the dialect has one, else none.
 */
function jobPrices(job: Job) {
  return runPrices(jobModel(job), job.priceRegion ?? 'cn', job.api, job.price);
}

