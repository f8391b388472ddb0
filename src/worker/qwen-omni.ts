/**
 * One streamed Qwen-Omni turn over the official `openai` SDK, and the mapping of everything that can go wrong
 * to a stable error code.
 *
 * Completeness: a turn is `ok` only when a finish_reason AND the usage chunk arrived; the SDK itself ends the
 * loop without an error when a stream is cut cleanly. An idle timer aborts a stream that sends nothing for
 * `idleTimeoutMs` (the SDK's own timeout stops counting once headers arrive). DashScope's in-band
 * `event:error` frame reaches us as a chunk without `choices`: it is an error too.
 */
import OpenAI, { type ClientOptions, APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import type { ChatCompletionChunk, ChatCompletionCreateParamsStreaming, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { OmniError, type ErrorCode } from '../shared/errors.js';
import { emptyUsage, type Usage } from '../shared/row.js';

export interface TurnResult {
  text: string;
  /** Thinking mode: `delta.reasoning_content`, kept apart from the answer text. */
  reasoning: string;
  /** Spoken answers: the decoded `delta.audio.data` (raw 16-bit mono 24 kHz PCM); null when none was asked for. */
  audio: Buffer | null;
  finishReason: string;
  usage: Usage;
  /** From sending the request to the first non-empty content. */
  ttftMs: number | null;
  /** From sending the request to the end of the stream. */
  latencyMs: number;
}

export interface TurnOptions {
  readonly idleTimeoutMs: number;
  /** Aborts the turn from outside (a hard stop); the turn then fails with `interrupted`. */
  readonly signal?: AbortSignal | undefined;
  /**
   * Which prompt bucket gets tokens the API did not break down by modality; null: none (a server that never breaks
   * them down, as vLLM: the row then has prompt_tokens and no per-modality counts).
   */
  readonly undetailedModality: 'text_tokens' | 'image_tokens' | 'audio_tokens' | 'video_tokens' | null;
  /** Asks for `modalities: ["text","audio"]` with this voice and format. */
  readonly audio?: { readonly voice: string; readonly format: 'wav' } | undefined;
  /**
   * Body fields sent as they are: the model's thinking parameter (`enable_thinking`, `reasoning_effort`) and the
   * generation settings (temperature, top_p, max_tokens, seed, presence_penalty). The SDK passes fields it does
   * not know through unchanged.
   */
  readonly body?: Readonly<Record<string, unknown>> | undefined;
  /** Extra request headers (`X-DashScope-OssResourceResolve: enable` when a part is an oss:// upload). */
  readonly headers?: Readonly<Record<string, string>> | undefined;
}

/** Base64 pieces -> bytes. Pieces are decoded whenever what has arrived is whole base64 (a multiple of 4), so
 * both readings work: every chunk its own base64 string, or one string split anywhere. */
class Base64Collector {
  private pending = '';
  private readonly parts: Buffer[] = [];

  push(piece: string): void {
    this.pending += piece;
    if (this.pending.length % 4 === 0) this.flush();
  }

  private flush(): void {
    if (this.pending) this.parts.push(Buffer.from(this.pending, 'base64'));
    this.pending = '';
  }

  bytes(): Buffer {
    this.flush();
    return Buffer.concat(this.parts);
  }
}

/**
 * The SDK's delta type knows neither DashScope's reasoning_content nor its audio shape, nor vLLM's `reasoning` (the
 * name vLLM's reasoning parsers use now; `reasoning_content` is its deprecated one, chat_utils.py).
 */
interface OmniDelta {
  content?: string | null;
  reasoning_content?: string | null;
  reasoning?: string | null;
  audio?: { data?: string; transcript?: string } | null;
}

/**
 * Builds the SDK client. Retries are ours (with a run-wide backoff), so the SDK's are off. `fetch`: the SDK's
 * own option, for a test that hands it responses without a server (default: the global fetch).
 */
export function createClient(apiKey: string, baseURL: string, fetch?: ClientOptions['fetch']): OpenAI {
  return new OpenAI({ apiKey, baseURL, maxRetries: 0, timeout: 10 * 60 * 1000, ...(fetch ? { fetch } : {}) });
}

interface UsageChunk {
  prompt_tokens?: number;
  completion_tokens?: number;
  total_tokens?: number;
  prompt_tokens_details?: Partial<Record<'text_tokens' | 'image_tokens' | 'audio_tokens' | 'video_tokens' | 'cached_tokens', number>> | null;
  completion_tokens_details?: { audio_tokens?: number; reasoning_tokens?: number } | null;
}

export function toUsage(u: UsageChunk, undetailed: TurnOptions['undetailedModality']): Usage {
  const usage = emptyUsage();
  usage.prompt_tokens = u.prompt_tokens ?? 0;
  usage.completion_tokens = u.completion_tokens ?? 0;
  usage.total_tokens = u.total_tokens ?? usage.prompt_tokens + usage.completion_tokens;
  const d = u.prompt_tokens_details ?? {};
  usage.text_tokens = d.text_tokens ?? 0;
  usage.image_tokens = d.image_tokens ?? 0;
  usage.audio_tokens = d.audio_tokens ?? 0;
  usage.video_tokens = d.video_tokens ?? 0;
  const rest = usage.prompt_tokens - (usage.text_tokens + usage.image_tokens + usage.audio_tokens + usage.video_tokens);
  if (rest > 0 && undetailed !== null) usage[undetailed] += rest;
  usage.completion_audio_tokens = u.completion_tokens_details?.audio_tokens ?? 0;
  usage.reasoning_tokens = u.completion_tokens_details?.reasoning_tokens ?? 0;
  usage.cached_tokens = d.cached_tokens ?? 0;
  return usage;
}

/**
 * The chunks of one turn, added as they arrive: the answer text, the reasoning, the speech, the finish_reason and
 * the usage. Knows when the turn is complete and what is missing when it is not.
 */
export class TurnAccumulator {
  private text = '';
  private reasoning = '';
  private transcript = '';
  private readonly audio: Base64Collector | null;
  private finishReason: string | null = null;
  private usage: Usage | null = null;
  private ttftMs: number | null = null;

  /** `started`: performance.now() when the request was sent, the zero of ttft and latency. */
  constructor(
    private readonly opts: Pick<TurnOptions, 'audio' | 'undetailedModality'>,
    private readonly started = performance.now(),
  ) {
    this.audio = opts.audio ? new Base64Collector() : null;
  }

  /** Adds one chunk. A chunk without `choices` is DashScope's in-band error, thrown as an OmniError. */
  add(chunk: ChatCompletionChunk): void {
    const c = chunk as ChatCompletionChunk & { code?: unknown; message?: unknown };
    if (!Array.isArray(c.choices)) throw inBandError(c);
    for (const choice of c.choices) {
      const delta = choice.delta as OmniDelta | undefined;
      const piece = delta?.content;
      if (piece) {
        if (this.ttftMs === null) this.ttftMs = Math.round(performance.now() - this.started);
        this.text += piece;
      }
      const thought = delta?.reasoning_content ?? delta?.reasoning;
      if (thought) this.reasoning += thought;
      if (delta?.audio?.data) this.audio?.push(delta.audio.data);
      if (delta?.audio?.transcript) this.transcript += delta.audio.transcript;
      if (choice.finish_reason) this.finishReason = choice.finish_reason;
    }
    if (c.usage) this.usage = toUsage(c.usage, this.opts.undetailedModality);
  }

  /** Both a finish_reason and the usage chunk arrived: the answer is whole and paid for. */
  get complete(): boolean {
    return this.finishReason !== null && this.usage !== null;
  }

  /** The error of a stream that ended before it was complete, naming what is missing. */
  incomplete(): OmniError {
    const missing = [this.finishReason === null ? 'finish_reason' : '', this.usage === null ? 'the usage chunk' : ''].filter(Boolean).join(' and ');
    return new OmniError('stream_incomplete', `the stream ended without ${missing} after ${this.text.length} characters`);
  }

  result(): TurnResult {
    return {
      // Older turbo streams may carry the words only as `delta.audio.transcript` (API.md, inferred).
      text: this.text || this.transcript,
      reasoning: this.reasoning,
      audio: this.audio ? this.audio.bytes() : null,
      finishReason: this.finishReason ?? '',
      usage: this.usage ?? emptyUsage(),
      ttftMs: this.ttftMs,
      latencyMs: Math.round(performance.now() - this.started),
    };
  }
}

/**
 * Once a turn is complete (finish_reason and usage arrived), how long the rest of the stream (`[DONE]`, the end
 * of the body) may take before it is cut. Reading a stream to its end, rather than leaving the loop at once,
 * spares an abort per request (the SDK aborts a stream left early: a DOMException and the request torn down,
 * 0.07 ms of CPU per request in a 2,000-request profile) and leaves the connection clean for the next request;
 * a server that keeps the connection open after `[DONE]` costs this much, never the answer.
 */
export const LINGER_MS = 1_000;

/** The ways one turn's request is aborted: the caller's hard stop, the idle timer, and the linger once complete. */
class TurnAborts {
  private readonly ac = new AbortController();
  /** Whether the idle timer fired (the abort was a stall, not a stop). */
  idle = false;
  private readonly idleTimer: NodeJS.Timeout;
  private lingerTimer: NodeJS.Timeout | undefined;
  private readonly onOuterAbort = () => this.ac.abort();

  constructor(private readonly opts: TurnOptions) {
    opts.signal?.addEventListener('abort', this.onOuterAbort);
    // One timer for the whole turn, pushed back by every chunk.
    this.idleTimer = setTimeout(() => {
      this.idle = true;
      this.ac.abort();
    }, opts.idleTimeoutMs);
  }

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  /** Data arrived: the idle timer starts over (refresh() reuses it: no new timer per chunk). */
  arm(): void {
    this.idleTimer.refresh();
  }

  /** The turn is complete: no more idle timeout, the rest of the stream gets at most LINGER_MS. */
  linger(): void {
    clearTimeout(this.idleTimer);
    this.lingerTimer = setTimeout(() => this.ac.abort(), Math.min(LINGER_MS, this.opts.idleTimeoutMs));
  }

  close(): void {
    clearTimeout(this.idleTimer);
    clearTimeout(this.lingerTimer);
    this.opts.signal?.removeEventListener('abort', this.onOuterAbort);
  }
}

/** The request body: streaming with usage, speech when asked for, thinking when asked for. */
function turnParams(model: string, messages: ChatCompletionMessageParam[], opts: TurnOptions): ChatCompletionCreateParamsStreaming {
  return { ...requestBody(model, messages, opts), stream: true, stream_options: { include_usage: true } };
}

/**
 * The body of one turn without the streaming fields: what a Batch request line carries (batch does not stream, and
 * refuses `stream`), and what the real-time call adds `stream` to.
 */
export function requestBody(model: string, messages: ChatCompletionMessageParam[], opts: Pick<TurnOptions, 'audio' | 'body'>) {
  return {
    model,
    messages,
    modalities: opts.audio ? ['text', 'audio'] : ['text'],
    ...(opts.audio ? { audio: { voice: opts.audio.voice, format: opts.audio.format } } : {}),
    ...opts.body,
  } as Omit<ChatCompletionCreateParamsStreaming, 'stream'>;
}

export async function streamTurn(client: OpenAI, model: string, messages: ChatCompletionMessageParam[], opts: TurnOptions): Promise<TurnResult> {
  const aborts = new TurnAborts(opts);
  const turn = new TurnAccumulator(opts);
  try {
    const stream = await client.chat.completions.create(turnParams(model, messages, opts), { signal: aborts.signal, ...(opts.headers ? { headers: opts.headers } : {}) });
    for await (const chunk of stream) {
      if (turn.complete) continue;
      aborts.arm();
      turn.add(chunk);
      // Complete: the answer is kept whatever happens to the rest of the stream. The rest is read, for at most
      // LINGER_MS (a server that keeps the connection open after [DONE] must not turn a paid answer into a timeout).
      if (turn.complete) aborts.linger();
    }
    if (turn.complete) return turn.result();
    // An abort ends the SDK's loop silently: find out which abort it was.
    if (aborts.idle) throw new OmniError('timeout', `no data for ${opts.idleTimeoutMs / 1000} s: the stream was aborted`);
    if (opts.signal?.aborted) throw new OmniError('interrupted', 'stopped by the user');
    throw turn.incomplete();
  } catch (err) {
    // The rest of a complete stream broke or was cut (by the linger timer, or a hard stop): the answer stands.
    if (turn.complete) return turn.result();
    throw toOmniError(err, aborts.idle, opts, client.baseURL);
  } finally {
    aborts.close();
  }
}

export function codeForApiCode(apiCode: string): ErrorCode {
  if (/throttl|limit_requests|limit_burst|ratequota|insufficient_quota|rate/i.test(apiCode)) return 'rate_limited';
  if (/data_inspection|datainspection/i.test(apiCode)) return 'moderation_blocked';
  if (/invalid_api_key|invalidapikey|unauthori/i.test(apiCode)) return 'auth_failed';
  if (/model_not_found|modelnotfound/i.test(apiCode)) return 'model_not_found';
  if (/invalid|bad_?request|parameter/i.test(apiCode)) return 'bad_request';
  return 'server_error';
}

/** The error code of an API answer by its HTTP status (and DashScope's code when the status does not say). */
export function codeForStatus(status: number | undefined, apiCode: string): ErrorCode {
  if (status === undefined) return codeForApiCode(apiCode);
  if (status === 401) return 'auth_failed';
  if (status === 403) return 'access_denied';
  if (status === 404) return 'model_not_found';
  if (status === 408) return 'timeout';
  if (status === 429) return 'rate_limited';
  if (status >= 500 || status === 409) return 'server_error';
  if (/data_inspection/i.test(apiCode)) return 'moderation_blocked';
  return 'bad_request';
}

function inBandError(c: { code?: unknown; message?: unknown }): OmniError {
  const apiCode = typeof c.code === 'string' ? c.code : 'unknown';
  const message = typeof c.message === 'string' ? c.message : JSON.stringify(c).slice(0, 300);
  return new OmniError(codeForApiCode(apiCode), `in-stream error ${apiCode}: ${message}`);
}

/** Retry-After as milliseconds: `retry-after-ms`, then `retry-after` in seconds or as an HTTP date. */
export function retryAfterMs(headers: Headers | undefined): number | undefined {
  if (!headers) return undefined;
  const ms = Number(headers.get('retry-after-ms'));
  if (headers.get('retry-after-ms') !== null && Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers.get('retry-after');
  if (raw === null) return undefined;
  const seconds = Number(raw);
  if (raw.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(raw);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

function describeApiError(err: APIError<number | undefined, Headers | undefined, object | undefined>): string {
  const body = err.error as { message?: unknown; code?: unknown; type?: unknown } | undefined;
  const apiMessage = typeof body?.message === 'string' ? body.message : err.message;
  const apiCode = typeof body?.code === 'string' ? body.code : typeof body?.type === 'string' ? body.type : undefined;
  const parts = [err.status ? `HTTP ${err.status}` : 'API error', apiCode, apiMessage].filter(Boolean);
  return `${parts.join(' ')}${err.requestID ? ` (request ${err.requestID})` : ''}`;
}

/** The system's reason for a failed connection (ECONNREFUSED, ENOTFOUND, ...), from the error or its causes. */
export function connectionReason(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 6; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && code) return code;
    // Several addresses tried (IPv4 and IPv6): each has its reason; the first says it.
    const first: unknown = e instanceof AggregateError ? e.errors[0] : undefined;
    if (first !== undefined) return connectionReason(first);
  }
  return undefined;
}

/** `host:port` of a base URL, for messages. */
function hostOf(baseURL: string): string {
  try {
    return new URL(baseURL).host;
  } catch {
    return baseURL;
  }
}

function toOmniError(err: unknown, idle: boolean, opts: TurnOptions, baseURL: string): OmniError {
  if (err instanceof OmniError) return err;
  if (idle) return new OmniError('timeout', `no data for ${opts.idleTimeoutMs / 1000} s: the request was aborted`, { cause: err });
  if (opts.signal?.aborted || err instanceof APIUserAbortError) return new OmniError('interrupted', 'stopped by the user', { cause: err });
  if (err instanceof APIConnectionTimeoutError) return new OmniError('timeout', 'the request timed out', { cause: err });
  if (err instanceof APIConnectionError) {
    const reason = connectionReason(err);
    return new OmniError('network_error', `connection failed to the API at ${hostOf(baseURL)}${reason ? ` (${reason})` : ''}: ${err.message}`, { cause: err });
  }
  if (err instanceof APIError) {
    const apiErr = err as APIError<number | undefined, Headers | undefined, object | undefined>;
    const message = describeApiError(apiErr);
    const body = apiErr.error as { code?: unknown; type?: unknown } | undefined;
    const apiCode = [body?.code, body?.type].filter((v): v is string => typeof v === 'string').join(' ');
    const status = apiErr.status;
    const opt = { status, cause: err, retryAfterMs: retryAfterMs(apiErr.headers) };
    return new OmniError(codeForStatus(status, apiCode), message, opt);
  }
  // A socket destroyed mid-stream surfaces as `TypeError: terminated` from fetch, not as an APIError.
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return new OmniError('stream_incomplete', `the stream broke: ${text}`, { cause: err });
}
