/**
 * Every way a streamed turn can end, on arrays of bytes: the real `openai` SDK decodes them through its `fetch`
 * option, as openai-node tests its SSE decoder, with no server. Frames are split at awkward places (inside a
 * JSON string, inside a UTF-8 character, between `data:` and its line end) as a network delivers them.
 * test/stream-end.test.ts and test/stand-in.test.ts keep the end-to-end cases over real HTTP.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ClientOptions } from 'openai';
import { OmniError, type ErrorCode } from '../src/shared/errors.js';
import { createClient, streamTurn, TurnAccumulator, type TurnOptions, type TurnResult } from '../src/worker/qwen-omni.js';

/** A sentinel key: no error message may ever contain it. */
const KEY = 'sk-stream-turn-sentinel-4242424242';
const MESSAGES = [{ role: 'user' as const, content: '这是什么?' }];
const OPTS: TurnOptions = { idleTimeoutMs: 30_000, undetailedModality: 'image_tokens' };

const frame = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;
const chunk = (choices: unknown[], usage: unknown = null) => frame({ id: 'chatcmpl-1', object: 'chat.completion.chunk', model: 'qwen-omni-turbo', choices, usage });
const delta = (d: Record<string, unknown>, finish: string | null = null) => chunk([{ index: 0, delta: d, finish_reason: finish }]);
const USAGE = { prompt_tokens: 1200, completion_tokens: 7, total_tokens: 1207, prompt_tokens_details: { text_tokens: 15 } };
const ROLE = delta({ role: 'assistant', content: '' });
const WORDS = [delta({ content: '一只猫' }), delta({ content: ' on a mat.' })];
const FINISH = delta({}, 'stop');
const USAGE_CHUNK = chunk([], USAGE);
const DONE = 'data: [DONE]\n\n';

/** Cuts text into byte pieces of `size`: frames, JSON strings and UTF-8 characters all end up split. */
function pieces(text: string, size = 7): Uint8Array[] {
  const bytes = new TextEncoder().encode(text);
  const out: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

/** How the body ends once its bytes are out: closed, never (a stall), or with an error (a socket torn down). */
type Ending = 'close' | 'hang' | Error;

interface Body {
  readonly bytes: Uint8Array[];
  readonly ending?: Ending;
  /** Called when every byte has been read and the body starts to hang. */
  readonly onHang?: () => void;
}

/** A response body that hands out `bytes` one read at a time, and errors when the request is aborted, as fetch does. */
function streamOf(body: Body, signal: AbortSignal | null | undefined): ReadableStream<Uint8Array> {
  const queue = [...body.bytes];
  return new ReadableStream<Uint8Array>({
    start(controller) {
      signal?.addEventListener('abort', () => controller.error(signal.reason), { once: true });
    },
    pull(controller) {
      const next = queue.shift();
      if (next) return controller.enqueue(next);
      const ending = body.ending ?? 'close';
      if (ending === 'close') return controller.close();
      if (ending instanceof Error) return controller.error(ending);
      body.onHang?.();
      return new Promise<void>(() => undefined);
    },
  });
}

/** A real SDK client whose fetch answers every request with `respond`; the request bodies are kept. */
function clientFor(respond: (signal: AbortSignal | null | undefined) => Response | Promise<Response>) {
  const requests: Record<string, unknown>[] = [];
  const fetch: NonNullable<ClientOptions['fetch']> = async (_url, init) => {
    requests.push(JSON.parse(init?.body as string) as Record<string, unknown>);
    return respond(init?.signal);
  };
  return { client: createClient(KEY, 'http://dashscope.invalid/compatible-mode/v1', fetch), requests };
}

function sse(body: Body) {
  return clientFor((signal) => new Response(streamOf(body, signal), { status: 200, headers: { 'content-type': 'text/event-stream' } }));
}

async function turn(body: Body, opts: TurnOptions = OPTS): Promise<TurnResult> {
  return streamTurn(sse(body).client, 'qwen-omni-turbo', MESSAGES, opts);
}

/** Asserts the turn fails with `code` (and a message matching `message`), and that the key is nowhere in it. */
async function fails(p: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<OmniError> {
  let caught: unknown;
  await p.catch((err: unknown) => (caught = err));
  assert.ok(caught instanceof OmniError, `expected an OmniError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  assert.ok(!caught.message.includes(KEY), 'the API key leaked into an error message');
  return caught;
}

describe('a streamed turn that completes', () => {
  test('finish_reason, usage and [DONE], split anywhere, give the answer and its usage', async () => {
    for (const size of [1, 3, 7, 64, 100_000]) {
      const r = await turn({ bytes: pieces([ROLE, ...WORDS, FINISH, USAGE_CHUNK, DONE].join(''), size) });
      assert.equal(r.text, '一只猫 on a mat.', `pieces of ${size} bytes`);
      assert.equal(r.finishReason, 'stop');
      assert.equal(r.usage.total_tokens, 1207);
      assert.equal(r.usage.text_tokens, 15);
      // Prompt tokens the API did not break down go to the job's own modality.
      assert.equal(r.usage.image_tokens, 1185);
      assert.equal(r.reasoning, '');
      assert.equal(r.audio, null);
      assert.ok(r.ttftMs !== null && r.ttftMs <= r.latencyMs);
    }
  });

  test('the usage chunk may come before the finish chunk, or in it', async () => {
    const before = await turn({ bytes: pieces([ROLE, ...WORDS, USAGE_CHUNK, FINISH, DONE].join('')) });
    assert.equal(before.text, '一只猫 on a mat.');
    assert.equal(before.usage.completion_tokens, 7);
    const together = await turn({ bytes: pieces([...WORDS, chunk([{ index: 0, delta: {}, finish_reason: 'length' }], USAGE), DONE].join('')) });
    assert.equal(together.finishReason, 'length');
    assert.equal(together.usage.prompt_tokens, 1200);
  });

  test('a complete stream that ends without [DONE] keeps its answer', async () => {
    const r = await turn({ bytes: pieces([...WORDS, FINISH, USAGE_CHUNK].join('')) });
    assert.equal(r.text, '一只猫 on a mat.');
  });

  test('a body torn down after the turn was complete keeps the answer', async () => {
    const r = await turn({ bytes: pieces([...WORDS, FINISH, USAGE_CHUNK].join('')), ending: new TypeError('terminated') });
    assert.equal(r.usage.total_tokens, 1207);
  });

  test('a stream that never closes after completion is cut after the linger, and the answer is kept', async () => {
    const r = await turn({ bytes: pieces([...WORDS, FINISH, USAGE_CHUNK, DONE].join('')), ending: 'hang' }, { ...OPTS, idleTimeoutMs: 50 });
    assert.equal(r.text, '一只猫 on a mat.');
    assert.equal(r.finishReason, 'stop');
  });

  test('thinking arrives as reasoning_content, kept apart from the answer, which alone starts the ttft', async () => {
    const thinking = [delta({ reasoning_content: 'A cat, ' }), delta({ reasoning_content: 'lying down.' })];
    const r = await turn({ bytes: pieces([ROLE, ...thinking, ...WORDS, FINISH, USAGE_CHUNK, DONE].join(''), 5) });
    assert.equal(r.reasoning, 'A cat, lying down.');
    assert.equal(r.text, '一只猫 on a mat.');
  });

  test('speech is decoded from base64 split anywhere, across deltas and across reads', async () => {
    const pcm = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37) % 256));
    const b64 = pcm.toString('base64');
    const cuts = [0, 5, 6, 13, 401, 402, 777, b64.length];
    const audio = cuts.slice(1).map((end, i) => delta({ audio: { data: b64.slice(cuts[i], end) } }));
    const r = await turn({ bytes: pieces([...WORDS, ...audio, FINISH, USAGE_CHUNK, DONE].join(''), 11) }, { ...OPTS, audio: { voice: 'Cherry', format: 'wav' } });
    assert.deepEqual(r.audio, pcm);
  });

  test('words that come only as the speech transcript are the answer', async () => {
    const said = [delta({ audio: { transcript: 'Hello, ' } }), delta({ audio: { transcript: 'world.' } })];
    const r = await turn({ bytes: pieces([...said, FINISH, USAGE_CHUNK, DONE].join('')) }, { ...OPTS, audio: { voice: 'Cherry', format: 'wav' } });
    assert.equal(r.text, 'Hello, world.');
  });

  test('the request asks for usage in the stream, and for speech and thinking only when wanted', async () => {
    const plain = sse({ bytes: pieces([...WORDS, FINISH, USAGE_CHUNK, DONE].join('')) });
    await streamTurn(plain.client, 'qwen-omni-turbo', MESSAGES, OPTS);
    assert.deepEqual(plain.requests[0], { model: 'qwen-omni-turbo', messages: MESSAGES, modalities: ['text'], stream: true, stream_options: { include_usage: true } });
    const both = sse({ bytes: pieces([...WORDS, FINISH, USAGE_CHUNK, DONE].join('')) });
    await streamTurn(both.client, 'qwen3-omni-flash', MESSAGES, { ...OPTS, audio: { voice: 'Ethan', format: 'wav' }, body: { enable_thinking: true } });
    assert.deepEqual(both.requests[0], {
      model: 'qwen3-omni-flash',
      messages: MESSAGES,
      modalities: ['text', 'audio'],
      audio: { voice: 'Ethan', format: 'wav' },
      enable_thinking: true,
      stream: true,
      stream_options: { include_usage: true },
    });
  });
});

describe('a streamed turn that does not complete', () => {
  test('a clean end without finish_reason is stream_incomplete', async () => {
    await fails(turn({ bytes: pieces([ROLE, ...WORDS, USAGE_CHUNK, DONE].join('')) }), 'stream_incomplete', /without finish_reason after 13 characters/);
  });

  test('a clean end without the usage chunk is stream_incomplete', async () => {
    await fails(turn({ bytes: pieces([ROLE, ...WORDS, FINISH, DONE].join('')) }), 'stream_incomplete', /without the usage chunk/);
  });

  test('a clean end with neither names both', async () => {
    await fails(turn({ bytes: pieces(WORDS.join('')) }), 'stream_incomplete', /without finish_reason and the usage chunk/);
  });

  test('a body cut in the middle of a frame is stream_incomplete', async () => {
    const whole = [...WORDS, FINISH, USAGE_CHUNK].join('');
    const cut = whole.slice(0, whole.length - 30);
    await fails(turn({ bytes: pieces(cut) }), 'stream_incomplete', /without the usage chunk/);
  });

  test('a body torn down mid-stream (fetch: TypeError: terminated) is stream_incomplete', async () => {
    await fails(turn({ bytes: pieces(WORDS.join('')), ending: new TypeError('terminated') }), 'stream_incomplete', /the stream broke: TypeError: terminated/);
  });

  test("DashScope's in-band event:error frame is an error with its code", async () => {
    const bytes = pieces(`${WORDS.join('')}event:error\ndata: ${JSON.stringify({ code: 'DataInspectionFailed', message: 'Input data may contain inappropriate content.' })}\n\n`);
    await fails(turn({ bytes }), 'moderation_blocked', /in-stream error DataInspectionFailed: Input data may contain/);
  });

  test('a chunk without choices is an error, mapped from its code', async () => {
    await fails(turn({ bytes: pieces(frame({ code: 'Throttling.RateQuota', message: 'Requests rate limit exceeded' })) }), 'rate_limited', /Throttling.RateQuota/);
    await fails(turn({ bytes: pieces(frame({ message: 'odd' })) }), 'server_error', /in-stream error unknown: odd/);
  });

  test('an error object inside the stream is mapped from its code', async () => {
    await fails(turn({ bytes: pieces(frame({ error: { code: 'invalid_parameter_error', message: 'bad frame list' } })) }), 'bad_request');
  });

  test('a stream that stalls is a timeout once the idle time passes', async () => {
    await fails(turn({ bytes: pieces(WORDS.join('')), ending: 'hang' }, { ...OPTS, idleTimeoutMs: 50 }), 'timeout', /no data for 0.05 s/);
  });

  test('a server that never sends its headers is a timeout too', async () => {
    const { client } = clientFor(
      (signal) => new Promise<Response>((_, reject) => signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true })),
    );
    await fails(streamTurn(client, 'qwen-omni-turbo', MESSAGES, { ...OPTS, idleTimeoutMs: 50 }), 'timeout');
  });

  test('a hard stop mid-stream is interrupted', async () => {
    const stop = new AbortController();
    const p = turn({ bytes: pieces(WORDS.join('')), ending: 'hang', onHang: () => stop.abort() }, { ...OPTS, signal: stop.signal });
    await fails(p, 'interrupted');
  });

  test('the accumulator alone tells complete from incomplete', () => {
    const acc = new TurnAccumulator({ undetailedModality: 'text_tokens' });
    acc.add(JSON.parse(WORDS[0]?.slice(6) ?? '') as Parameters<TurnAccumulator['add']>[0]);
    assert.equal(acc.complete, false);
    assert.match(acc.incomplete().message, /without finish_reason and the usage chunk after 3 characters/);
  });
});

describe('HTTP errors', () => {
  /** A JSON error answer as DashScope's compatible mode sends it. */
  const answer = (status: number, code: string, headers: Record<string, string> = {}) =>
    clientFor(() => new Response(JSON.stringify({ error: { message: `refused: ${code}`, type: code, param: null, code } }), { status, headers: { 'content-type': 'application/json', 'x-request-id': 'req-77', ...headers } })).client;
  const ask = (client: ReturnType<typeof answer>) => streamTurn(client, 'qwen-omni-turbo', MESSAGES, OPTS);

  test('429 is rate_limited and carries Retry-After, in seconds or milliseconds', async () => {
    const s = await fails(ask(answer(429, 'limit_requests', { 'retry-after': '3' })), 'rate_limited', /HTTP 429 limit_requests refused: limit_requests \(request req-77\)/);
    assert.equal(s.retryAfterMs, 3000);
    assert.equal(s.status, 429);
    const ms = await fails(ask(answer(429, 'limit_requests', { 'retry-after-ms': '250' })), 'rate_limited');
    assert.equal(ms.retryAfterMs, 250);
    const none = await fails(ask(answer(429, 'insufficient_quota')), 'rate_limited');
    assert.equal(none.retryAfterMs, undefined);
  });

  test('each status has its code', async () => {
    const cases: [number, string, ErrorCode][] = [
      [401, 'invalid_api_key', 'auth_failed'],
      [403, 'AccessDenied', 'access_denied'],
      [404, 'model_not_found', 'model_not_found'],
      [408, 'RequestTimeOut', 'timeout'],
      [400, 'data_inspection_failed', 'moderation_blocked'],
      [400, 'invalid_parameter_error', 'bad_request'],
      [409, 'Conflict', 'server_error'],
      [500, 'internal_error', 'server_error'],
      [503, 'ServiceUnavailable', 'server_error'],
    ];
    for (const [status, code, expected] of cases) {
      const err = await fails(ask(answer(status, code)), expected, new RegExp(`HTTP ${status} ${code}`));
      assert.equal(err.status, status);
    }
  });

  test('a connection that fails before any answer is network_error', async () => {
    const { client } = clientFor(() => Promise.reject(new TypeError('fetch failed')));
    await fails(streamTurn(client, 'qwen-omni-turbo', MESSAGES, OPTS), 'network_error', /connection failed/);
  });
});
