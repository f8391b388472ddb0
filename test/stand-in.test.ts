// Drives the DashScope stand-in with the real openai SDK, so what passes here is what the SDK
// sees from a server that behaves (and misbehaves) like DashScope's Qwen-Omni endpoint.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI, { APIError } from 'openai';
import sharp from 'sharp';
import { randomFaults, startStandIn, type Fault, type StandIn } from './stand-in/server.js';

const KEY = 'sk-test-stand-in';
const run = promisify(execFile);

let standIn: StandIn;
let client: OpenAI;
let dir: string;
const media = {
  png56: '',
  png5: '',
  jpegFrame: '',
  wav2s: '',
  mp4With3s: '',
  mp4Of1s: '',
};

before(async () => {
  standIn = await startStandIn({ apiKey: KEY });
  client = new OpenAI({ apiKey: KEY, baseURL: standIn.baseURL, maxRetries: 0 });
  dir = await mkdtemp(join(tmpdir(), 'stand-in-test-'));

  const png = (size: number) =>
    sharp({ create: { width: size, height: size, channels: 3, background: '#3a7' } }).png().toBuffer();
  media.png56 = `data:image/png;base64,${(await png(56)).toString('base64')}`;
  media.png5 = `data:image/png;base64,${(await png(5)).toString('base64')}`;
  const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#a37' } }).jpeg().toBuffer();
  media.jpegFrame = `data:image/jpeg;base64,${jpeg.toString('base64')}`;

  const ffmpeg = async (name: string, args: string[]): Promise<string> => {
    const file = join(dir, name);
    await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args, file]);
    return `data:;base64,${(await readFile(file)).toString('base64')}`;
  };
  media.wav2s = await ffmpeg('tone.wav', ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-ac', '1', '-ar', '16000']);
  const clip = (seconds: number) => [
    '-f', 'lavfi', '-i', `testsrc=size=112x112:rate=10:duration=${seconds}`,
    '-f', 'lavfi', '-i', `sine=frequency=300:duration=${seconds}`,
    '-c:v', 'mpeg4', '-c:a', 'aac', '-shortest',
  ];
  media.mp4With3s = await ffmpeg('clip3.mp4', clip(3));
  media.mp4Of1s = await ffmpeg('clip1.mp4', clip(1));
});

after(async () => {
  await standIn.close();
  await rm(dir, { recursive: true, force: true });
});

// ---- helpers -------------------------------------------------------------------------------

type Body = Record<string, unknown>;

function request(messages: unknown[], extra: Body = {}): Body {
  return {
    model: 'qwen-omni-turbo',
    messages,
    modalities: ['text'],
    stream: true,
    stream_options: { include_usage: true },
    ...extra,
  };
}

function user(...parts: unknown[]): Body {
  return { role: 'user', content: parts };
}

const text = (t: string) => ({ type: 'text', text: t });

// The SDK's types do not know DashScope's `video` part; the stand-in is what judges the body.
function create(body: Body, options: { signal?: AbortSignal } = {}, via: OpenAI = client) {
  return via.chat.completions.create(body as unknown as OpenAI.ChatCompletionCreateParamsStreaming, options);
}

interface Collected {
  chunks: any[];
  text: string;
  finishReason: string | null;
  usage: any;
}

async function collect(stream: AsyncIterable<unknown>): Promise<Collected> {
  const out: Collected = { chunks: [], text: '', finishReason: null, usage: null };
  for await (const chunk of stream as AsyncIterable<any>) {
    out.chunks.push(chunk);
    const choice = chunk.choices?.[0];
    if (choice?.delta?.content) out.text += choice.delta.content;
    if (choice?.finish_reason) out.finishReason = choice.finish_reason;
    if (chunk.usage) out.usage = chunk.usage;
  }
  return out;
}

async function ask(body: Body, via: OpenAI = client): Promise<Collected> {
  return collect(await create(body, {}, via));
}

/** Asserts the call is rejected with the given status, code and (exact or matching) message. */
async function rejected(body: Body, status: number, code: string | null, message?: string | RegExp, via: OpenAI = client) {
  let caught: unknown;
  try {
    await ask(body, via);
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof APIError, `expected an APIError, got ${String(caught)}`);
  assert.equal(caught.status, status);
  assert.equal(caught.code ?? null, code);
  const err = caught.error as { message?: string; param?: unknown } | undefined;
  assert.equal(err?.param, null);
  if (typeof message === 'string') assert.equal(err?.message, message);
  else if (message) assert.match(err?.message ?? '', message);
  return caught;
}

async function withFault<T>(fault: Fault, fn: () => Promise<T>): Promise<T> {
  standIn.setOptions({ faults: () => fault });
  try {
    return await fn();
  } finally {
    standIn.setOptions({ faults: undefined });
  }
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const last = () => standIn.requests[standIn.requests.length - 1];

// ---- happy path ----------------------------------------------------------------------------

describe('a valid text request', () => {
  test('streams a role chunk, word chunks, a stop chunk, a usage chunk and nothing else', async () => {
    const res = await ask(request([{ role: 'user', content: 'hello there' }]));
    const first = res.chunks[0];
    assert.deepEqual(first.choices[0].delta, { content: '', role: 'assistant' });
    assert.equal(first.object, 'chat.completion.chunk');
    assert.match(first.id, /^chatcmpl-/);

    const contentChunks = res.chunks.filter((c) => c.choices.length > 0 && c.choices[0].delta.content);
    assert.ok(contentChunks.length >= 2, 'answer is split into several chunks');
    assert.equal(res.text, 'Answer 1: hello there');
    assert.equal(contentChunks.at(-1).choices[0].finish_reason, 'stop');

    const usageChunk = res.chunks.at(-1);
    assert.deepEqual(usageChunk.choices, []);
    assert.deepEqual(res.usage, {
      prompt_tokens: 3, // ceil(11 chars / 4)
      completion_tokens: 6, // ceil(21 chars / 4)
      total_tokens: 9,
      completion_tokens_details: { text_tokens: 6 },
      prompt_tokens_details: { text_tokens: 3 },
    });
    assert.equal(last()?.status, 200);
    assert.equal(last()?.outcome, 'ok');
    assert.equal(last()?.headers['authorization'], `Bearer ${KEY}`);
  });

  test('sends no usage chunk when include_usage is not asked for', async () => {
    const res = await ask(request([{ role: 'user', content: 'hi' }], { stream_options: undefined }));
    assert.equal(res.finishReason, 'stop');
    assert.equal(res.usage, null);
  });

  test('answers the last turn of a well-formed conversation with its turn number', async () => {
    const res = await ask(
      request([
        { role: 'system', content: [text('You are terse.')] },
        user(text('first question')),
        { role: 'assistant', content: [text('first answer')] },
        user(text('second'), text('question')),
      ]),
    );
    assert.equal(res.text, 'Answer 2: second question');
  });

  test('rejects a conversation whose turns do not alternate user/assistant', async () => {
    await rejected(
      request([user(text('a')), user(text('b'))]),
      400,
      'invalid_parameter_error',
      /alternate/,
    );
    await rejected(request([user(text('a')), { role: 'assistant', content: 'b' }]), 400, 'invalid_parameter_error');
  });

  test('rejects media inside an assistant turn', async () => {
    await rejected(
      request([
        user(text('a')),
        { role: 'assistant', content: [{ type: 'image_url', image_url: { url: media.png56 } }] },
        user(text('b')),
      ]),
      400,
      'invalid_parameter_error',
      /text only/,
    );
  });

  test('cuts an answer longer than max_tokens and finishes with "length"', async () => {
    const res = await ask(request([{ role: 'user', content: 'a fairly long question here' }], { max_tokens: 2 }));
    assert.equal(res.text, 'Answer 1');
    assert.equal(res.finishReason, 'length');
    assert.equal(res.usage.completion_tokens, 2);
  });

  test('streams 24 kHz PCM audio chunks and bills audio tokens when audio output is asked for', async () => {
    const res = await ask(
      request([{ role: 'user', content: 'speak' }], { modalities: ['text', 'audio'], audio: { voice: 'Cherry', format: 'wav' } }),
    );
    const audio = res.chunks.filter((c) => c.choices[0]?.delta?.audio).map((c) => c.choices[0].delta.audio);
    assert.ok(audio.length >= 2);
    assert.match(audio[0].id, /^audio_/);
    const pcm = Buffer.concat(audio.map((a: { data: string }) => Buffer.from(a.data, 'base64')));
    assert.equal(pcm.length % 2, 0);
    assert.ok(pcm.length > 0);
    assert.equal(res.finishReason, 'stop');
    const seconds = pcm.length / 2 / 24_000;
    assert.equal(res.usage.completion_tokens_details.audio_tokens, Math.ceil(seconds * 25));
    assert.equal(
      res.usage.completion_tokens,
      res.usage.completion_tokens_details.audio_tokens + res.usage.completion_tokens_details.text_tokens,
    );
  });

  test('qwen3-omni-flash with enable_thinking streams reasoning_content before the answer', async () => {
    const res = await ask(request([{ role: 'user', content: 'why' }], { model: 'qwen3-omni-flash', enable_thinking: true }));
    const reasoning = res.chunks.map((c) => c.choices[0]?.delta?.reasoning_content ?? '').join('');
    assert.equal(reasoning, 'Thinking about turn 1.');
    assert.equal(res.text, 'Answer 1: why');
    assert.equal(res.usage.completion_tokens_details.reasoning_tokens, 6);
    assert.equal(res.usage.completion_tokens, 6 + res.usage.completion_tokens_details.text_tokens);
  });

  test('rejects a voice the model does not have, listing the voices', async () => {
    await rejected(
      request([{ role: 'user', content: 'x' }], { modalities: ['text', 'audio'], audio: { voice: 'Nofish', format: 'wav' } }),
      400,
      'invalid_parameter_error',
      "Input should be 'Cherry', 'Serena', 'Ethan' or 'Chelsie': parameters.audio.voice",
    );
    // ...but qwen3-omni-flash has that voice.
    const res = await ask(
      request([{ role: 'user', content: 'x' }], {
        model: 'qwen3-omni-flash',
        modalities: ['text', 'audio'],
        audio: { voice: 'Nofish', format: 'wav' },
      }),
    );
    assert.equal(res.finishReason, 'stop');
  });
});

// ---- request errors ------------------------------------------------------------------------

describe('requests DashScope would refuse', () => {
  test('an unknown API key gets 401 invalid_api_key', async () => {
    const bad = new OpenAI({ apiKey: 'sk-wrong', baseURL: standIn.baseURL, maxRetries: 0 });
    const err = await rejected(request([{ role: 'user', content: 'x' }]), 401, 'invalid_api_key', /^Incorrect API key provided\./, bad);
    assert.equal(err.type, 'invalid_request_error');
    assert.equal(last()?.outcome, 'invalid_api_key');
    assert.equal(last()?.body.model, 'qwen-omni-turbo', 'the body is recorded even when refused');
  });

  test('an unknown model gets 404 model_not_found "Model not exist."', async () => {
    await rejected(request([{ role: 'user', content: 'x' }], { model: 'qwen-max-omni' }), 404, 'model_not_found', 'Model not exist.');
  });

  test('dated snapshots of known models are accepted', async () => {
    for (const model of ['qwen-omni-turbo-2025-03-26', 'qwen-omni-turbo-latest', 'qwen2.5-omni-7b', 'qwen3-omni-flash-2025-09-15']) {
      const res = await ask(request([{ role: 'user', content: 'x' }], { model }));
      assert.equal(res.finishReason, 'stop', model);
      assert.equal(res.chunks[0].model, model);
    }
  });

  test('stream:false gets the model-specific 400', async () => {
    const call = (model: string) =>
      client.chat.completions.create({ model, messages: [{ role: 'user', content: 'x' }], modalities: ['text'], stream: false });
    await assert.rejects(call('qwen-omni-turbo'), (e: unknown) => {
      assert.ok(e instanceof APIError);
      assert.equal(e.status, 400);
      assert.equal(e.code, null);
      assert.equal((e.error as { message: string }).message, 'qwen-omni-turbo-2025-01-19 only support with stream=true');
      return true;
    });
    await assert.rejects(call('qwen3-omni-flash'), (e: unknown) => {
      assert.ok(e instanceof APIError);
      assert.equal(e.status, 400);
      assert.equal(e.code, 'invalid_parameter_error');
      assert.equal(
        (e.error as { message: string }).message,
        'This model only support stream mode, please enable the stream parameter to access the model. ',
      );
      return true;
    });
  });

  test('modalities other than ["text"] or ["text","audio"] are refused', async () => {
    await rejected(request([{ role: 'user', content: 'x' }], { modalities: ['audio'] }), 400, 'invalid_parameter_error');
    await rejected(request([{ role: 'user', content: 'x' }], { modalities: undefined }), 400, 'invalid_parameter_error');
  });

  test('invalid JSON gets 400 and other routes get a JSON 404', async () => {
    const bad = await fetch(`${standIn.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: '{"model": ',
    });
    assert.equal(bad.status, 400);
    const badBody = (await bad.json()) as { error: { code: string }; request_id: string };
    assert.equal(badBody.error.code, 'invalid_parameter_error');
    assert.match(badBody.request_id, /^[0-9a-f-]{36}$/);

    const other = await fetch(`${standIn.baseURL}/models`, { headers: { authorization: `Bearer ${KEY}` } });
    assert.equal(other.status, 404);
    assert.equal(((await other.json()) as { error: { param: null } }).error.param, null);
  });
});

// ---- media ---------------------------------------------------------------------------------

describe('media inputs', () => {
  test('a data URL over 10,485,760 characters is refused before decoding', async () => {
    const huge = 'data:image/png;base64,' + 'A'.repeat(10_485_760 - 21);
    assert.equal(huge.length, 10_485_761);
    await rejected(
      request([user({ type: 'image_url', image_url: { url: huge } }, text('what is this'))]),
      400,
      'invalid_parameter_error',
      'Exceeded limit on max bytes per data-uri item : 10485760',
    );
    assert.match(last()?.body.messages[0].content[0].image_url.url, /^data:image\/png;base64,…\(10485761 chars, sha256 [0-9a-f]{64}\)$/);
  });

  test('a 5x5 image is refused with the InternalError.Algo.InvalidParameter message', async () => {
    await rejected(
      request([user({ type: 'image_url', image_url: { url: media.png5 } }, text('what is this'))]),
      400,
      'invalid_parameter_error',
      '<400> InternalError.Algo.InvalidParameter: The image length and width do not meet the model restrictions. [height:5 or width:5 must be larger than 10]',
    );
  });

  test('a 56x56 image is billed as 4 patches plus 2 image tokens', async () => {
    const res = await ask(request([user({ type: 'image_url', image_url: { url: media.png56 } }, text('what is this'))]));
    assert.equal(res.usage.prompt_tokens_details.image_tokens, 6);
    assert.equal(res.usage.prompt_tokens_details.text_tokens, 3);
    assert.equal(res.usage.prompt_tokens, 9);
  });

  test('several images in one message are fine, but an image and audio together are not', async () => {
    const img = { type: 'image_url', image_url: { url: media.png56 } };
    const res = await ask(request([user(img, img, text('compare'))]));
    assert.equal(res.usage.prompt_tokens_details.image_tokens, 12);
    await rejected(
      request([user(img, { type: 'input_audio', input_audio: { data: media.wav2s, format: 'wav' } }, text('x'))]),
      400,
      'invalid_parameter_error',
      /at most one other modality/,
    );
  });

  test('a 3-frame image list is too short for turbo but fine for qwen3-omni-flash', async () => {
    const frames = { type: 'video', video: [media.jpegFrame, media.jpegFrame, media.jpegFrame] };
    await rejected(
      request([user(frames, text('describe'))]),
      400,
      'invalid_parameter_error',
      'The video modality input does not meet the requirements because: the range of sequence images shoule be (4,80).',
    );
    const res = await ask(request([user(frames, text('describe'))], { model: 'qwen3-omni-flash' }));
    // 64x48 frames scale up past the 128-patch floor: 448x320 at f=32 -> 14*10 patches, ceil(3/2)=2 pairs.
    assert.equal(res.usage.prompt_tokens_details.video_tokens, 2 * 14 * 10 + 2);
  });

  test('audio as a data:;base64 URL is probed and billed at 25 tokens per second', async () => {
    const res = await ask(
      request([user({ type: 'input_audio', input_audio: { data: media.wav2s, format: 'wav' } }, text('transcribe'))]),
    );
    assert.equal(res.usage.prompt_tokens_details.audio_tokens, 50);
  });

  test('audio as bare base64 is refused as an invalid URL, and unknown formats are refused', async () => {
    const bare = media.wav2s.slice('data:;base64,'.length);
    await rejected(
      request([user({ type: 'input_audio', input_audio: { data: bare, format: 'wav' } }, text('x'))]),
      400,
      'invalid_parameter_error',
      'The provided URL does not appear to be valid',
    );
    await rejected(
      request([user({ type: 'input_audio', input_audio: { data: media.wav2s, format: 'flac' } }, text('x'))]),
      400,
      'invalid_parameter_error',
    );
  });

  test('bytes that are not audio are refused as illegal audio', async () => {
    await rejected(
      request([user({ type: 'input_audio', input_audio: { data: 'data:;base64,' + Buffer.from('not audio at all').toString('base64'), format: 'mp3' } }, text('x'))]),
      400,
      'invalid_parameter_error',
      'The audio format is illegal and cannot be opened',
    );
  });

  test('a 3 s video file is billed for 6 frames and its soundtrack; a 1 s one is too short', async () => {
    const res = await ask(request([user({ type: 'video_url', video_url: { url: media.mp4With3s } }, text('describe'))]));
    // 112x112 frames scale up to the 128-patch floor: 336x336 at f=28 -> 144 patches, 3 pairs.
    assert.equal(res.usage.prompt_tokens_details.video_tokens, 3 * 144 + 2);
    assert.ok(res.usage.prompt_tokens_details.audio_tokens >= 75);
    await rejected(
      request([user({ type: 'video_url', video_url: { url: media.mp4Of1s } }, text('describe'))]),
      400,
      'invalid_parameter_error',
      'The video modality input does not meet the requirements because: The video file is too short.',
    );
  });

  test('http(s) media URLs are accepted unfetched unless urlFail says they cannot be downloaded', async () => {
    const part = { type: 'image_url', image_url: { url: 'https://example.com/dog.jpeg' } };
    const res = await ask(request([user(part, text('what is this'))]));
    assert.ok(res.usage.prompt_tokens_details.image_tokens > 0);
    standIn.setOptions({ urlFail: (url) => url.includes('dog') });
    try {
      await rejected(request([user(part, text('x'))]), 400, 'invalid_parameter_error', 'Failed to download multimodal content');
    } finally {
      standIn.setOptions({ urlFail: undefined });
    }
  });
});

// ---- faults --------------------------------------------------------------------------------

describe('injected faults', () => {
  const body = () => request([{ role: 'user', content: 'one two three four' }]);

  test('cut: the stream ends without error, finish_reason, usage or [DONE]', async () => {
    const res = await withFault({ type: 'cut', afterChunks: 2 }, () => ask(body()));
    assert.equal(res.text, 'Answer 1: ');
    assert.equal(res.finishReason, null);
    assert.equal(res.usage, null);
    assert.equal(last()?.outcome, 'cut');
  });

  test('destroy: the socket dies mid-stream and iteration throws', async () => {
    await withFault({ type: 'destroy', afterChunks: 1 }, async () => {
      const stream = await create(body());
      const seen: string[] = [];
      await assert.rejects(async () => {
        for await (const c of stream) seen.push(c.choices[0]?.delta?.content ?? '');
      });
      assert.ok(seen.length >= 1, 'chunks before the break arrive');
    });
  });

  test('stall: the stream goes silent until the client aborts, and the server lets go', async () => {
    await withFault({ type: 'stall', afterChunks: 1 }, async () => {
      const ac = new AbortController();
      const stream = await create(body(), { signal: ac.signal });
      const seen: unknown[] = [];
      const timer = setTimeout(() => ac.abort(), 200);
      try {
        for await (const c of stream) seen.push(c);
      } catch (e) {
        // Depending on timing the SDK either ends quietly or raises its abort error.
        assert.ok(ac.signal.aborted, `unexpected error ${String(e)}`);
      } finally {
        clearTimeout(timer);
      }
      assert.equal(seen.length, 2, 'role chunk and one content chunk, then silence');
      await until(() => standIn.inFlight === 0);
      assert.equal(last()?.outcome, 'stall');
    });
  });

  test('inband-error: a 200 stream yields one chunk with code and message and no choices', async () => {
    const res = await withFault({ type: 'inband-error' }, () => ask(body()));
    assert.equal(res.chunks.length, 1);
    assert.equal(res.chunks[0].code, 'Throttling.AllocationQuota');
    assert.equal(typeof res.chunks[0].message, 'string');
    assert.equal(res.chunks[0].choices, undefined);
    assert.equal(res.finishReason, null);
  });

  test('no-usage: finish_reason and [DONE] arrive but the usage chunk does not', async () => {
    const res = await withFault({ type: 'no-usage' }, () => ask(body()));
    assert.equal(res.finishReason, 'stop');
    assert.equal(res.usage, null);
    assert.equal(res.text, 'Answer 1: one two three four');
  });

  test('http429 carries Retry-After and the given code', async () => {
    const err = await withFault({ type: 'http429', retryAfterSec: 7, code: 'Throttling.RateQuota' }, () =>
      rejected(body(), 429, 'Throttling.RateQuota'),
    );
    assert.equal(err.headers?.get('retry-after'), '7');
  });

  test('http500, http503 and moderation answer with their documented codes', async () => {
    await withFault({ type: 'http500' }, () => rejected(body(), 500, 'internal_error'));
    await withFault({ type: 'http503' }, () => rejected(body(), 503, 'ModelUnavailable'));
    const err = await withFault({ type: 'moderation' }, () =>
      rejected(body(), 400, 'data_inspection_failed', /^Input data may contain inappropriate content/),
    );
    assert.equal(err.type, 'data_inspection_failed');
  });

  test('validation errors win over faults: a bad request is refused, not faulted', async () => {
    await withFault({ type: 'http500' }, () => rejected(request([]), 400, 'invalid_parameter_error'));
  });

  test('randomFaults gives the same fault to the same request number for a seed', () => {
    const summary = {} as never;
    const a = randomFaults(42, { http429: 0.3, cut: 0.3 }, { retryAfterSec: 2 });
    const b = randomFaults(42, { cut: 0.3, http429: 0.3 }, { retryAfterSec: 2 });
    const seqA = Array.from({ length: 200 }, (_, i) => a({ n: i + 1, body: null, summary })?.type ?? 'none');
    const seqB = Array.from({ length: 200 }, (_, i) => b({ n: i + 1, body: null, summary })?.type ?? 'none');
    assert.deepEqual(seqA, seqB);
    const share = (t: string) => seqA.filter((x) => x === t).length / seqA.length;
    assert.ok(share('http429') > 0.15 && share('http429') < 0.45, `429 share ${share('http429')}`);
    assert.ok(share('none') > 0.25);
    assert.throws(() => randomFaults(1, { http500: 0.7, cut: 0.5 }), RangeError);
  });
});

// ---- limits and timing ---------------------------------------------------------------------

describe('rate limits and timing', () => {
  test('the rpm limit answers 429 limit_requests with Retry-After once the window is full', async () => {
    const limited = await startStandIn({ apiKey: KEY, rpm: 2 });
    try {
      const c = new OpenAI({ apiKey: KEY, baseURL: limited.baseURL, maxRetries: 0 });
      const b = request([{ role: 'user', content: 'x' }]);
      await ask(b, c);
      await ask(b, c);
      const err = await rejected(b, 429, 'limit_requests', undefined, c);
      const retryAfter = Number(err.headers?.get('retry-after'));
      assert.ok(retryAfter >= 59 && retryAfter <= 60, `retry-after ${retryAfter}`);
      assert.deepEqual(limited.requests.map((r) => r.status), [200, 200, 429]);
    } finally {
      await limited.close();
    }
  });

  test('the tpm limit answers 429 insufficient_quota when prompt plus answer would not fit', async () => {
    const limited = await startStandIn({ apiKey: KEY, tpm: 20 });
    try {
      const c = new OpenAI({ apiKey: KEY, baseURL: limited.baseURL, maxRetries: 0 });
      const b = request([{ role: 'user', content: 'twelve chars' }]); // 3 prompt + 6 completion tokens
      await ask(b, c);
      await ask(b, c);
      const err = await rejected(b, 429, 'insufficient_quota', undefined, c);
      assert.ok(Number(err.headers?.get('retry-after')) >= 1);
    } finally {
      await limited.close();
    }
  });

  test('a client that gives up during latency leaves no request or timer behind', async () => {
    standIn.setOptions({ latencyMs: 30_000 });
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 100);
      await assert.rejects(create(request([{ role: 'user', content: 'x' }]), { signal: ac.signal }));
      await until(() => standIn.inFlight === 0);
      assert.equal(last()?.outcome, 'aborted');
    } finally {
      standIn.setOptions({ latencyMs: 0 });
    }
  });

  test('a client that leaves mid-stream stops the chunk timers and is recorded as aborted', async () => {
    standIn.setOptions({ chunkDelayMs: 50 });
    try {
      const ac = new AbortController();
      const stream = await create(request([{ role: 'user', content: 'many words in this long question' }]), { signal: ac.signal });
      let chunks = 0;
      try {
        for await (const _ of stream) if (++chunks === 2) ac.abort();
      } catch {
        // the SDK may surface the abort as an error; either way the loop is over
      }
      await until(() => standIn.inFlight === 0);
      assert.equal(last()?.outcome, 'aborted');
      assert.equal(last()?.status, 200);
    } finally {
      standIn.setOptions({ chunkDelayMs: 0 });
    }
  });

  test('chunkDelayMs spaces out the chunks', async () => {
    standIn.setOptions({ chunkDelayMs: 30 });
    try {
      const started = Date.now();
      const res = await ask(request([{ role: 'user', content: 'a b' }]));
      assert.equal(res.text, 'Answer 1: a b');
      assert.ok(Date.now() - started >= 30 * (res.chunks.length - 1), 'took at least one delay per gap');
    } finally {
      standIn.setOptions({ chunkDelayMs: 0 });
    }
  });

  test('close() ends a stalled stream that its client never abandons', async () => {
    const s = await startStandIn({ apiKey: KEY, faults: () => ({ type: 'stall', afterChunks: 0 }) });
    const c = new OpenAI({ apiKey: KEY, baseURL: s.baseURL, maxRetries: 0 });
    const stream = await create(request([{ role: 'user', content: 'x' }]), {}, c);
    const reading = collect(stream).then(
      () => 'ended',
      () => 'threw',
    );
    await until(() => s.inFlight === 1);
    await s.close();
    assert.ok(['ended', 'threw'].includes(await reading));
    assert.equal(s.inFlight, 0);
  });
});
