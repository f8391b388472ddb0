// Local stand-in for DashScope's OpenAI-compatible chat endpoint serving Qwen-Omni models.
// It validates requests the way API.md says the real service does, streams answers in the real
// chunk shape, and can be told to misbehave (faults, latency, rate limits) so the client code can
// be tested against every failure mode without the network.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { ApiError, errors, invalidParameter } from './errors.js';
import { DEFAULT_AFTER_CHUNKS, INBAND_DEFAULTS, type Fault, type FaultPlan } from './faults.js';
import { SlidingWindow } from './limits.js';
import { buildStream, framesBefore, inbandErrorFrame, type Frame } from './sse.js';
import type { ChatRequestSummary } from './types.js';
import { RESOLVE_HEADER, UploadService, writeUploadReply, type UploadOptions } from './uploads.js';
import { validateChatRequest, type ValidRequest } from './validate.js';
import { dialectOfPath, toDashScope, type StandInDialect } from './dialects.js';
import { BatchService, type BatchSwitches } from './batch.js';
import { isOpenModel, type ExtraModel } from './models.js';
import { textTokens } from './tokens.js';

export { randomFaults, FAULT_TYPES } from './faults.js';
export type { Fault, FaultPlan, FaultType } from './faults.js';
export type { ChatRequestSummary, MediaSummary, PromptTokenDetails } from './types.js';
export type { BatchSwitches } from './batch.js';

export interface StandInOptions {
  /** The only accepted Bearer key (of the DashScope paths); anything else gets 401 invalid_api_key. */
  apiKey: string;
  /**
   * The key each other face accepts, only its own (a vLLM server's `--api-key`, a provider's key): /v1 and
   * /openai/v1 answer any other key, the DashScope key included, with 401. Default: `apiKey` for both.
   */
  dialectKeys?: Partial<Record<'vllm-omni' | 'openai-compatible', string>> | undefined;
  /** The /v1 face's `--media-io-kwargs '{"video": {"num_frames": N}}'`: frames of a data:video/jpeg list it keeps. Default 32. */
  vllmNumFrames?: number | undefined;
  /** Default '127.0.0.1'. */
  host?: string | undefined;
  /** Default 0: a free port. */
  port?: number | undefined;
  /** Wait before sending response headers (every response of the chat route). Default 0. */
  latencyMs?: number | undefined;
  /**
   * Holds the answer to request `n` (1-based) until the promise it returns settles: a test sees a run stopped
   * part-way for as long as it needs, instead of racing a latency. Default none.
   */
  hold?: ((n: number) => Promise<void> | undefined) | undefined;
  /** Wait between stream chunks. Default 0. */
  chunkDelayMs?: number | undefined;
  /** Answer text; default `Answer ${turn}: ${lastUserText}`. */
  answer?: ((req: ChatRequestSummary) => string) | undefined;
  /** Failure to inject into valid requests; default none. */
  faults?: FaultPlan | undefined;
  /** Requests per minute (sliding 60 s window) -> 429 limit_requests with Retry-After. */
  rpm?: number | undefined;
  /** Tokens per minute (prompt + completion) -> 429 insufficient_quota with Retry-After. */
  tpm?: number | undefined;
  /**
   * The window `rpm` and `tpm` count over, in ms. Default 60,000 (a minute, as DashScope counts); a test scales it
   * down to prove pacing in seconds instead of minutes.
   */
  limitWindowMs?: number | undefined;
  /** Which http(s) media URLs fail with "Failed to download multimodal content". Default none. */
  urlFail?: ((url: string) => boolean) | undefined;
  /** How batches (`/files`, `/batches`) move on and misbehave (stand-in/batch.ts). Default: one status per retrieve. */
  batch?: BatchSwitches | undefined;
  /** Models served besides the stand-in's own, by name (a model DashScope may ship tomorrow). */
  extraModels?: Readonly<Record<string, ExtraModel>> | undefined;
  /** The temporary-file flow (uploads.ts): its clock and size cap. Fixed at start. */
  uploads?: UploadOptions | undefined;
}

export interface RecordedRequest {
  /** 1-based arrival order. */
  n: number;
  /** Arrival time, ms since epoch. */
  at: number;
  headers: Record<string, string | string[] | undefined>;
  /** The request path without its query: which face (dialect) it was sent to. */
  path: string;
  /** Parsed body with data URLs over 200 chars shortened; the raw text (cut) when not JSON. */
  body: any;
  /** HTTP status sent; 0 while pending or when the client left before headers. */
  status: number;
  /** 'pending' | 'ok' | a fault type | an error code | 'aborted' (client left mid-response). */
  outcome: string;
}

export interface StandIn {
  /** e.g. http://127.0.0.1:PORT/compatible-mode/v1 (the SDK appends /chat/completions). */
  baseURL: string;
  /** The same server as a vLLM-Omni server speaks (`vllm serve ... --omni`): http://127.0.0.1:PORT/v1. */
  vllmBaseURL: string;
  /** The same server as a hosted OpenAI-compatible provider: http://127.0.0.1:PORT/openai/v1. */
  openaiBaseURL: string;
  requests: RecordedRequest[];
  /** The temporary-file flow: policies issued, files stored, oss:// resolution. */
  uploads: UploadService;
  /** Requests still being handled (including stalled streams); 0 once every client is gone. */
  readonly inFlight: number;
  /** The Batch API (files and batches): its uploads, files and batches, and `step()` to move batches on. */
  batches: BatchService;
  /** Changes options for requests that arrive from now on. */
  setOptions(patch: Partial<StandInOptions>): void;
  /** Closes the server and destroys open sockets (stalled streams included). */
  close(): Promise<void>;
}

/** Bodies above this are refused unread; far beyond anything DashScope would take. */
const MAX_BODY_BYTES = 400 * 1024 * 1024;
const RECORDED_DATA_URL_MAX = 200;
/** readBody's answer for a body past MAX_BODY_BYTES (drained, not kept). */
const TOO_LARGE = Symbol('too-large');

interface State {
  /** System prompts seen, for the implicit cache of models that have one. */
  cache: Set<string>;
  opts: StandInOptions;
  requests: RecordedRequest[];
  count: number;
  inFlight: number;
  window: SlidingWindow;
  uploads: UploadService;
  batches: BatchService;
}

/** What to send back, decided before any latency is applied. */
type Reply =
  | { kind: 'error'; error: ApiError }
  | { kind: 'stream'; frames: Frame[]; fault: Fault | null };

export async function startStandIn(opts: StandInOptions): Promise<StandIn> {
  const uploads = new UploadService(opts.uploads);
  const state: State = { cache: new Set(), opts: { ...opts }, requests: [], count: 0, inFlight: 0, window: new SlidingWindow(opts.limitWindowMs), uploads, batches: new BatchService(() => state.opts) };
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => void handle(req, res, state));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });

  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | null = null;
  return {
    baseURL: `http://${urlHost(host)}:${port}/compatible-mode/v1`,
    vllmBaseURL: `http://${urlHost(host)}:${port}/v1`,
    openaiBaseURL: `http://${urlHost(host)}:${port}/openai/v1`,
    requests: state.requests,
    uploads,
    batches: state.batches,
    get inFlight() {
      return state.inFlight;
    },
    setOptions(patch) {
      state.opts = { ...state.opts, ...patch };
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}

/** The implicit cache: the text tokens of a system prompt this stand-in has served before, else 0. */
function cachedTokens(state: State, body: unknown): number {
  const first = (body as { messages?: { role?: unknown; content?: unknown }[] }).messages?.[0];
  if (first?.role !== 'system') return 0;
  // A string, or text parts (as the guide shows it).
  const parts: unknown[] = Array.isArray(first.content) ? first.content : [{ text: first.content }];
  const text = parts.map((p) => (typeof (p as { text?: unknown }).text === 'string' ? (p as { text: string }).text : '')).join('');
  if (text === '') return 0;
  const seen = state.cache.has(text);
  state.cache.add(text);
  return seen ? textTokens(text.length) : 0;
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

async function handle(req: IncomingMessage, res: ServerResponse, state: State): Promise<void> {
  const record: RecordedRequest = {
    n: ++state.count,
    at: Date.now(),
    headers: req.headers,
    path: (req.url ?? '/').split('?')[0] ?? '/',
    body: undefined,
    status: 0,
    outcome: 'pending',
  };
  state.requests.push(record);
  // Options are read once per request so setOptions between test phases never splits a request.
  const opts = state.opts;
  state.inFlight++;

  // Fires when the client goes away before we finished: cancels latency/chunk timers and stalls.
  const gone = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) gone.abort();
  });
  // Writes after a disconnect must not crash the process.
  res.on('error', () => {});
  req.on('error', () => {});

  try {
    if (await uploadRoute(req, res, record, state)) return;
    const route = (req.url ?? '/').split('?')[0] ?? '/';
    if (BatchService.handles(route)) return await serveBatch(req, res, record, state);
    const reply = await decide(req, record, opts, state);
    await opts.hold?.(record.n);
    if (!(await sleep(opts.latencyMs ?? 0, gone.signal))) {
      record.outcome = 'aborted';
      return;
    }
    await send(req, res, reply, record, opts, gone.signal);
  } catch (err) {
    // A bug in the stand-in or in a test's answer()/faults(): surface it, answer 500, keep serving.
    console.error('[stand-in] request', record.n, 'failed:', err);
    if (!res.headersSent && !res.destroyed) {
      const e = errors.internal();
      writeError(res, e, record);
    } else {
      res.destroy();
    }
  } finally {
    state.inFlight--;
  }
}

/**
 * A chat request checked in its path's dialect: DashScope's as it is; vLLM-Omni's and OpenAI's by their own rules,
 * then as the same request in DashScope's shape (dialects.ts), with no oss:// uploads (DashScope's only).
 */
async function validateIn(dialect: StandInDialect, body: unknown, req: IncomingMessage, opts: StandInOptions, state: State): Promise<ValidRequest> {
  const base = { urlFail: opts.urlFail, extraModels: opts.extraModels };
  // DashScope does not know the Hugging Face names; a vLLM server serves them, or any name given by
  // --served-model-name (the stand-in serves DashScope's names there too, as if so started).
  const model = (body as { model?: unknown } | null)?.model;
  if (dialect === 'dashscope' && isOpenModel(model)) throw errors.modelNotFound();
  if (dialect === 'dashscope') {
    const resolve = req.headers[RESOLVE_HEADER] === 'enable';
    return validateChatRequest(body, { ...base, oss: (url, model) => state.uploads.resolve(url, model, resolve) });
  }
  const translated = toDashScope(dialect, body, opts.vllmNumFrames);
  const valid = await validateChatRequest(translated.body, base);
  if (translated.notes.useAudioInVideo && !valid.summary.media.some((m) => m.kind === 'video' && m.hasAudio !== false)) {
    throw invalidParameter('mm_processor_kwargs.use_audio_in_video: the video has no audio stream to load');
  }
  return { ...valid, summary: { ...valid.summary, dialect, useAudioInVideo: translated.notes.useAudioInVideo } };
}

async function decide(req: IncomingMessage, record: RecordedRequest, opts: StandInOptions, state: State): Promise<Reply> {
  const raw = await readBody(req);
  // Parse before deciding so even rejected requests are recorded with their body.
  let body: unknown;
  let badJson: string | null = null;
  if (typeof raw === 'string') {
    try {
      body = JSON.parse(raw);
      record.body = redactDataUrls(body);
    } catch (e) {
      badJson = (e as Error).message;
      record.body = raw.slice(0, 1000);
    }
  }

  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (req.method !== 'POST' || !path.endsWith('/chat/completions')) {
    return { kind: 'error', error: errors.notFound(req.method ?? 'GET', path) };
  }
  const dialect = dialectOfPath(path);
  if (!authorized(req, dialect === 'dashscope' ? opts.apiKey : (opts.dialectKeys?.[dialect] ?? opts.apiKey))) return { kind: 'error', error: errors.badKey() };
  if (raw === TOO_LARGE) return { kind: 'error', error: invalidParameter(`Request body exceeds ${MAX_BODY_BYTES} bytes`) };
  if (raw === null) return { kind: 'error', error: invalidParameter('Request body was not received completely') };
  if (badJson !== null) return { kind: 'error', error: errors.badJson(badJson) };

  let valid;
  try {
    valid = await validateIn(dialect, body, req, opts, state);
  } catch (e) {
    if (e instanceof ApiError) return { kind: 'error', error: e };
    throw e;
  }
  const { spec, summary } = valid;
  if (spec.cache) summary.promptTokens.cached_tokens = cachedTokens(state, body);

  const answer = (opts.answer ?? defaultAnswer)(summary);
  const built = buildStream({
    model: summary.model,
    answer,
    maxTokens: summary.maxTokens ?? spec.maxOutputTokens,
    reasoning: summary.enableThinking ? `Thinking about turn ${summary.turn}.` : null,
    audioTokensPerSec: summary.modalities.includes('audio') ? spec.audioTokensPerSec : null,
    includeUsage: summary.includeUsage,
    prompt: summary.promptTokens,
    breakdown: dialect === 'dashscope',
  });

  const p = summary.promptTokens;
  const c = built.completion;
  const tokens = p.text_tokens + p.image_tokens + p.audio_tokens + p.video_tokens + c.text + c.audio + c.reasoning;
  const verdict = state.window.admit(Date.now(), tokens, opts.rpm, opts.tpm);
  if (!verdict.ok) {
    const e = verdict.kind === 'rpm' ? errors.rpm(verdict.retryAfterSec) : errors.tpm(verdict.retryAfterSec);
    return { kind: 'error', error: e };
  }

  const fault = opts.faults?.({ n: record.n, body, summary }) ?? null;
  return { kind: 'stream', frames: built.frames, fault };
}

/** The upload API and the upload host (uploads.ts): true when the request was one of theirs and is answered. */
async function uploadRoute(req: IncomingMessage, res: ServerResponse, record: RecordedRequest, state: State): Promise<boolean> {
  const url = new URL(req.url ?? '/', `http://${req.headers.host ?? 'stand-in'}`);
  if (!UploadService.handles(url.pathname)) return false;
  // The signed form fields are never recorded: only the route.
  record.body = `${req.method ?? ''} ${url.pathname}`;
  const reply =
    req.method === 'GET' && url.pathname.startsWith('/api/')
      ? state.uploads.policy(url, url.origin, authorized(req, state.opts.apiKey))
      : req.method === 'POST' && !url.pathname.startsWith('/api/')
        ? await state.uploads.receive(req)
        : { status: 404, body: errors.notFound(req.method ?? 'GET', url.pathname).body() };
  record.status = reply.status;
  record.outcome = reply.status === 200 ? 'ok' : 'upload-error';
  writeUploadReply(res, reply);
  return true;
}

/** The Batch API's routes: the key checked as for chat, the body read whole, the answer JSON (or a file's content). */
async function serveBatch(req: IncomingMessage, res: ServerResponse, record: RecordedRequest, state: State): Promise<void> {
  const raw = await readBody(req);
  const route = (req.url ?? '/').split('?')[0] ?? '/';
  if (!authorized(req, state.opts.apiKey)) return writeError(res, errors.badKey(), record);
  if (typeof raw !== 'string') return writeError(res, invalidParameter('Request body was not received completely'), record);
  record.body = raw.length > 1000 ? `${raw.slice(0, 1000)}…` : raw;
  const reply = await state.batches.serve(req.method ?? 'GET', route, req, raw);
  record.status = reply.status;
  record.outcome = reply.status === 200 ? 'ok' : 'error';
  res.writeHead(reply.status, { 'content-type': reply.contentType ?? 'application/json' });
  res.end(reply.body);
}

/** Default answer: tells a test which turn was answered and what the user said. */
function defaultAnswer(s: ChatRequestSummary): string {
  return `Answer ${s.turn}: ${s.lastUserText}`;
}

async function send(
  req: IncomingMessage,
  res: ServerResponse,
  reply: Reply,
  record: RecordedRequest,
  opts: StandInOptions,
  gone: AbortSignal,
): Promise<void> {
  if (reply.kind === 'error') {
    writeError(res, reply.error, record);
    return;
  }
  const { frames, fault } = reply;
  const delay = opts.chunkDelayMs ?? 0;
  switch (fault?.type) {
    case undefined:
    case 'no-usage': {
      const wire = fault ? frames.filter((f) => f.kind !== 'usage') : frames;
      startStream(res, record, fault?.type ?? 'ok');
      const complete = await writeFrames(res, wire.map((f) => f.wire), delay, gone);
      if (complete) res.end();
      else record.outcome = 'aborted';
      return;
    }
    case 'cut':
    case 'destroy':
    case 'stall': {
      startStream(res, record, fault.type);
      const prefix = framesBefore(frames, fault.afterChunks ?? DEFAULT_AFTER_CHUNKS).map((f) => f.wire);
      if (!(await writeFrames(res, prefix, delay, gone))) return;
      if (fault.type === 'cut') res.end();
      else if (fault.type === 'destroy') req.socket.destroy();
      else await untilAborted(gone); // stall: hold the socket until the client (or close()) ends it
      return;
    }
    case 'inband-error':
      startStream(res, record, fault.type);
      res.end(
        inbandErrorFrame(
          fault.status ?? INBAND_DEFAULTS.status,
          fault.code ?? INBAND_DEFAULTS.code,
          fault.message ?? INBAND_DEFAULTS.message,
        ),
      );
      return;
    case 'http429':
      writeError(res, errors.http429(fault.code ?? 'limit_requests', fault.retryAfterSec), record, fault.type);
      return;
    case 'http500':
      writeError(res, errors.internal(), record, fault.type);
      return;
    case 'http503':
      writeError(res, errors.unavailable(), record, fault.type);
      return;
    case 'moderation':
      writeError(res, errors.moderation(), record, fault.type);
      return;
  }
}

function writeError(res: ServerResponse, err: ApiError, record: RecordedRequest, outcome = err.outcome): void {
  record.status = err.status;
  record.outcome = outcome;
  res.writeHead(err.status, { 'content-type': 'application/json', ...err.headers });
  res.end(err.body());
}

function startStream(res: ServerResponse, record: RecordedRequest, outcome: string): void {
  record.status = 200;
  record.outcome = outcome;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  // Headers go out now even if no chunk follows (stall/destroy after 0 chunks).
  res.flushHeaders();
}

/**
 * Writes SSE frames, pausing `delayMs` between them. Resolves true once every frame has been
 * handed to the socket, false if the client went away first.
 */
async function writeFrames(res: ServerResponse, frames: string[], delayMs: number, gone: AbortSignal): Promise<boolean> {
  if (delayMs <= 0) {
    // One write keeps per-request overhead low for high-concurrency benchmarks.
    if (frames.length > 0) await write(res, frames.join(''), gone);
    return !gone.aborted;
  }
  for (let i = 0; i < frames.length; i++) {
    if (i > 0 && !(await sleep(delayMs, gone))) return false;
    await write(res, frames[i] ?? '', gone);
    if (gone.aborted) return false;
  }
  return true;
}

/** Resolves when the data is flushed to the socket, or when the client goes away. */
function write(res: ServerResponse, data: string, gone: AbortSignal): Promise<void> {
  if (gone.aborted || res.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      gone.removeEventListener('abort', done);
      resolve();
    };
    gone.addEventListener('abort', done, { once: true });
    res.write(data, done);
  });
}

/** Timer that is cleared as soon as the client disconnects; resolves false in that case. */
function sleep(ms: number, gone: AbortSignal): Promise<boolean> {
  if (gone.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      gone.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    gone.addEventListener('abort', onAbort, { once: true });
  });
}

function untilAborted(gone: AbortSignal): Promise<void> {
  if (gone.aborted) return Promise.resolve();
  return new Promise((resolve) => gone.addEventListener('abort', () => resolve(), { once: true }));
}

/** The whole body as text; TOO_LARGE past the cap (drained, not kept); null if the client left. */
async function readBody(req: IncomingMessage): Promise<string | null | typeof TOO_LARGE> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    }
  } catch {
    return null;
  }
  if (size > MAX_BODY_BYTES) return TOO_LARGE;
  return Buffer.concat(chunks).toString('utf8');
}

function authorized(req: IncomingMessage, apiKey: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1]?.trim() === apiKey;
}

/**
 * Copy of a body with long data URLs replaced by their length and the SHA-256 of their base64 payload, so recorded
 * bodies stay small and tests can still tell exactly what was sent.
 */
function redactDataUrls(value: unknown): unknown {
  if (typeof value === 'string') {
    if (!value.startsWith('data:') || value.length <= RECORDED_DATA_URL_MAX) return value;
    // Keep the header (`data:image/png;base64,`) so tests can check it; drop the payload.
    const comma = value.indexOf(',');
    const payload = createHash('sha256').update(comma > 0 ? value.slice(comma + 1) : value).digest('hex');
    return `${comma > 0 && comma < 100 ? value.slice(0, comma + 1) : 'data:'}…(${value.length} chars, sha256 ${payload})`;
  }
  if (Array.isArray(value)) return value.map(redactDataUrls);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactDataUrls(v);
    return out;
  }
  return value;
}

