/**
 * The same jobs in each API dialect (dashscope, vllm-omni, openai-compatible): the built CLI's main, the real
 * `openai` SDK over HTTP, real ffmpeg on the example media, and the stand-in, which checks each dialect's requests
 * as its server does (test/stand-in/dialects.ts) at its own path.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { EXAMPLES, FIXTURES, ROOT, readOutputRows, runMain, tempDir } from './helpers.js';
import { ffmpeg } from './corpus.js';
import { apiKeyFor, apiOfUrl } from '../src/shared/dialect.js';
import { dialectRefusal } from '../src/worker/dialect-parts.js';
import { TurnAccumulator } from '../src/worker/qwen-omni.js';

// Three keys, one per face: each face of the stand-in accepts only its own (401 otherwise), so a run that sent the
// DashScope key to a server of your own, or one server's key to another, fails.
const DS_KEY = 'sk-test-dialects-dashscope';
const VLLM_KEY = 'vllm-test-dialects-own';
const OAI_KEY = 'fw-test-dialects-provider';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: DS_KEY, dialectKeys: { 'vllm-omni': VLLM_KEY, 'openai-compatible': OAI_KEY } });
});
after(() => api.close());

type Dialect = 'dashscope' | 'vllm-omni' | 'openai-compatible';
const DIALECTS: readonly Dialect[] = ['dashscope', 'vllm-omni', 'openai-compatible'];
const urlOf = (d: Dialect) => (d === 'dashscope' ? api.baseURL : d === 'vllm-omni' ? api.vllmBaseURL : api.openaiBaseURL);
// The DashScope key goes to DashScope only; any other server's key comes from OMNI_API_KEY (one server's at a time).
const env = (d: Dialect = 'vllm-omni') => ({ DASHSCOPE_API_KEY: DS_KEY, OMNI_API_KEY: d === 'openai-compatible' ? OAI_KEY : VLLM_KEY });
const keyOf = (d: Dialect) => (d === 'dashscope' ? DS_KEY : d === 'vllm-omni' ? VLLM_KEY : OAI_KEY);
/** A model both DashScope and a vLLM server started with `--served-model-name qwen2.5-omni-7b` serve: the ids match. */
const MODEL = 'qwen2.5-omni-7b';

/** Runs a job file in one dialect; its rows and the requests it sent. */
async function runIn(d: Dialect, job: string, out: string, extra: string[] = []) {
  const from = api.requests.length;
  const r = await runMain(['run', path.join(ROOT, 'jobs', job), '--model', MODEL, '--base-url', urlOf(d), '--api', d, '--out', out, ...extra], { env: env(d) });
  assert.equal(r.code, 0, `${d} ${job}: ${r.stderr}`);
  const sent = api.requests.slice(from);
  for (const q of sent) assert.equal(q.headers['authorization'], `Bearer ${keyOf(d)}`, `${d}: its own key only`);
  return { rows: await readOutputRows(out), sent, stdout: r.stdout };
}

const partsOf = (q: { body: any }) => (q.body.messages as any[]).flatMap((m) => (Array.isArray(m.content) ? m.content : []));

describe('one job, three dialects', () => {
  for (const job of ['caption-images.yaml', 'summarize-audio.yaml', 'describe-videos.yaml', 'mixed-manifest.yaml']) {
    test(`${job} gives the same rows (ids, answers) in every dialect, with each dialect's own usage columns`, async () => {
      const dir = await tempDir();
      const runs = new Map<Dialect, Awaited<ReturnType<typeof runIn>>>();
      for (const d of DIALECTS) runs.set(d, await runIn(d, job, path.join(dir, `${d}.jsonl`)));
      const key = (rows: Record<string, any>[]) => rows.map((r) => ({ id: r.id, path: r.path, status: r.status, answers: r.answers })).sort((a, b) => a.path.localeCompare(b.path));
      const ds = runs.get('dashscope')!;
      assert.ok(ds.rows.length >= 2);
      for (const r of ds.rows) assert.equal(r.status, 'ok', `${r.path}: ${r.error_message}`);
      for (const d of DIALECTS) assert.deepEqual(key(runs.get(d)!.rows), key(ds.rows), `${d}: the same ids and answers as DashScope`);
      // DashScope breaks the prompt down by modality and has a list price; the others report totals only, no cost.
      const media = (r: Record<string, any>) => Number(r.image_tokens) + Number(r.audio_tokens) + Number(r.video_tokens);
      assert.ok(ds.rows.every((r) => media(r) > 0 && Number(r.cost) > 0));
      for (const d of ['vllm-omni', 'openai-compatible'] as const) {
        for (const r of runs.get(d)!.rows) {
          assert.ok(Number(r.prompt_tokens) > 0, `${d} ${r.path}: prompt tokens`);
          assert.equal(media(r), 0, `${d} ${r.path}: no per-modality breakdown`);
          assert.equal(r.cost ?? null, null, `${d} ${r.path}: no list price on a server of your own`);
        }
        assert.match(runs.get(d)!.stdout, /cost unknown: no price for this model \(a server of your own: set price in the job file\)/);
      }
    });
  }

  test('each dialect sends its own shapes: audio_url / input_audio bare base64, video_url with a MIME type, the soundtrack switch, frames', async () => {
    const dir = await tempDir();
    const vllm = (await runIn('vllm-omni', 'mixed-manifest.yaml', path.join(dir, 'v.jsonl'))).sent;
    const oai = (await runIn('openai-compatible', 'mixed-manifest.yaml', path.join(dir, 'o.jsonl'))).sent;
    const ds = (await runIn('dashscope', 'mixed-manifest.yaml', path.join(dir, 'd.jsonl'))).sent;
    const types = (sent: typeof vllm) => new Set(sent.flatMap(partsOf).map((p: any) => p.type));
    assert.deepEqual([...types(vllm)].sort(), ['audio_url', 'image_url', 'text', 'video_url']);
    assert.deepEqual([...types(oai)].sort(), ['image_url', 'input_audio', 'text', 'video_url']);
    assert.deepEqual([...types(ds)].sort(), ['image_url', 'input_audio', 'text', 'video', 'video_url']);
    const audio = vllm.flatMap(partsOf).find((p: any) => p.type === 'audio_url');
    assert.match(audio.audio_url.url, /^data:audio\/mpeg;base64,/);
    const oaiAudio = oai.flatMap(partsOf).find((p: any) => p.type === 'input_audio');
    assert.equal(oaiAudio.input_audio.format, 'mp3');
    assert.doesNotMatch(oaiAudio.input_audio.data, /^data:/);
    // The narrated video: its soundtrack is heard in vllm-omni only when asked; the frame list is one JPEG video.
    const videos = vllm.filter((q) => partsOf(q).some((p: any) => p.type === 'video_url'));
    const file = videos.find((q) => partsOf(q).some((p: any) => /^data:video\/mp4;base64,/.test(p.video_url?.url ?? '')));
    assert.deepEqual(file?.body.mm_processor_kwargs, { use_audio_in_video: true });
    const frames = videos.find((q) => partsOf(q).some((p: any) => /^data:video\/jpeg;base64,/.test(p.video_url?.url ?? '')));
    assert.ok(frames, 'the 6-frame list went as data:video/jpeg');
    assert.equal(frames.body.mm_processor_kwargs, undefined, 'frames have no soundtrack to hear');
    // openai-compatible: the frame list is six images in one message, and no vLLM-only field.
    assert.ok(oai.some((q) => partsOf(q).filter((p: any) => p.type === 'image_url').length === 6));
    assert.ok(oai.every((q) => q.body.mm_processor_kwargs === undefined));
    for (const q of [...vllm, ...oai]) assert.equal(q.headers['x-dashscope-ossresourceresolve'], undefined);
  });

  test('vllm-omni gets an AAC file as MP3 (libsndfile decodes neither AAC nor AMR from memory); AAC by URL is refused', async () => {
    const dir = await tempDir();
    // This machine's ffmpeg has no AMR encoder: the stand-in's refusal of audio/amr is checked below, by request.
    await mkdir(path.join(dir, 'media'));
    await ffmpeg(['-i', path.join(FIXTURES, 'ok-speech.mp3'), '-c:a', 'aac', '-f', 'adts', path.join(dir, 'media', 'speech.aac')]);
    const manifest = path.join(dir, 'audio.jsonl');
    await writeFile(manifest, JSON.stringify({ url: 'https://example.com/talk.aac' }) + '\n');
    const out = path.join(dir, 'files.jsonl');
    const from = api.requests.length;
    const r = await runMain(['run', '--input', path.join(dir, 'media'), '--prompt', 'What is said?', '--model', MODEL, '--base-url', api.vllmBaseURL, '--api', 'vllm-omni', '--out', out], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    const rows = await readOutputRows(out);
    assert.deepEqual(rows.map((x) => [x.status, x.error_message ?? '']), [['ok', '']]);
    const sent = api.requests.slice(from).flatMap(partsOf).filter((p: any) => p.type === 'audio_url');
    assert.equal(sent.length, 1);
    for (const p of sent) assert.match(p.audio_url.url, /^data:audio\/mpeg;base64,/);
    const urlOut = path.join(dir, 'url.jsonl');
    const u = await runMain(['run', '--manifest', manifest, '--prompt', 'What is said?', '--model', MODEL, '--base-url', api.vllmBaseURL, '--api', 'vllm-omni', '--out', urlOut], { env: env() });
    const [row] = await readOutputRows(urlOut);
    assert.equal(row?.status, 'skipped', u.stderr);
    assert.equal(row?.error_code, 'unsupported_by_api');
    assert.match(row?.error_message, /libsndfile, which reads wav and mp3, not aac/);
  });

  test("a vllm-omni frame list over the server's num_frames is a skipped row, whatever the model's framesMax; modelLimits raises the cap with the server", async () => {
    const dir = await tempDir();
    const clip = path.join(EXAMPLES, 'frames', 'clip1');
    const frames = Array.from({ length: 40 }, (_, i) => path.join(clip, `00${(i % 6) + 1}.jpg`));
    const manifest = path.join(dir, 'frames.jsonl');
    await writeFile(manifest, JSON.stringify({ frames }) + '\n');
    // qwen2.5-omni-7b takes 80 frames on DashScope; a vLLM server keeps 32 of a data:video/jpeg list.
    const args = (url: string, out: string) => ['run', '--manifest', manifest, '--manifest-root', EXAMPLES, '--prompt', 'What happens?', '--model', MODEL, '--api', 'vllm-omni', '--base-url', url, '--out', out];
    const from = api.requests.length;
    const r = await runMain(args(api.vllmBaseURL, path.join(dir, 'capped.jsonl')), { env: env() });
    const [row] = await readOutputRows(path.join(dir, 'capped.jsonl'));
    assert.equal(row?.status, 'skipped', r.stderr);
    assert.equal(row?.error_code, 'unsupported_by_api');
    assert.match(row?.error_message, /vllm-omni keeps the first 32 frames of a frame list \(vLLM's num_frames\), this one has 40/);
    assert.equal(api.requests.length - from, 0, 'nothing sent');
    // A server started with num_frames 48, and the job file saying so: the 40 frames go, all kept.
    const big = await startStandIn({ apiKey: DS_KEY, dialectKeys: { 'vllm-omni': VLLM_KEY }, vllmNumFrames: 48 });
    try {
      const job = path.join(dir, 'job.yaml');
      await writeFile(job, 'modelLimits:\n  limits: { framesMax: 48 }\n');
      const out = path.join(dir, 'raised.jsonl');
      const ok = await runMain([...args(big.vllmBaseURL, out).slice(0, 1), job, ...args(big.vllmBaseURL, out).slice(1)], { env: env() });
      assert.equal(ok.code, 0, ok.stderr);
      const [raised] = await readOutputRows(out);
      assert.equal(raised?.status, 'ok', raised?.error_message);
      assert.equal(big.requests.filter((q) => q.status === 200).length, 1);
    } finally {
      await big.close();
    }
  });

  test('what a dialect cannot express is a skipped row with the reason, and nothing is sent for it', async () => {
    const dir = await tempDir();
    const manifest = path.join(dir, 'refused.jsonl');
    const frames = path.join(EXAMPLES, 'frames', 'clip1');
    const png = path.join(EXAMPLES, 'images', 'chat_café.png');
    await writeFile(
      manifest,
      [
        JSON.stringify({ url: 'https://example.com/talk.mp3' }),
        JSON.stringify({ frames: [path.join(frames, '001.jpg'), png, path.join(frames, '003.jpg'), path.join(frames, '004.jpg')] }),
      ].join('\n') + '\n',
    );
    const base = ['run', '--manifest', manifest, '--manifest-root', EXAMPLES, '--prompt', 'What is it?', '--model', MODEL];
    const runRefused = async (d: Dialect) => {
      const out = path.join(dir, `${d}.jsonl`);
      const from = api.requests.length;
      const r = await runMain([...base, '--base-url', urlOf(d), '--out', out, '--api', d], { env: env(d) });
      return { r, rows: await readOutputRows(out), sent: api.requests.slice(from) };
    };
    const oai = await runRefused('openai-compatible');
    const audio = oai.rows.find((x) => x.source.endsWith('talk.mp3'));
    assert.ok(audio, `${oai.r.stderr} ${JSON.stringify(oai.rows)}`);
    assert.equal(audio.status, 'skipped');
    assert.equal(audio.error_code, 'unsupported_by_api');
    assert.match(audio.error_message, /input_audio bytes, not by URL/);
    const vllm = await runRefused('vllm-omni');
    const mixed = vllm.rows.find((x) => JSON.stringify(x.source).includes('001.jpg'));
    assert.ok(mixed, `${vllm.r.stderr} ${JSON.stringify(vllm.rows)}`);
    assert.equal(mixed.status, 'skipped');
    assert.equal(mixed.error_code, 'unsupported_by_api');
    assert.match(mixed.error_message, /frame 2 is image\/png/);
    assert.ok(!vllm.sent.some((q) => JSON.stringify(q.body).includes('image/png')), 'the refused frame list was never sent');
    assert.ok(!oai.sent.some((q) => JSON.stringify(q.body).includes('talk.mp3')), 'the refused URL was never sent');
  });
});

describe('the stand-in holds each dialect to its server', () => {
  const tiny = Buffer.from('tiny').toString('base64');
  const ask = (baseURL: string, content: unknown[], extra: Record<string, unknown> = {}) =>
    new OpenAI({ apiKey: baseURL === api.openaiBaseURL ? OAI_KEY : VLLM_KEY, baseURL, maxRetries: 0 }).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: content as any }], stream: true, modalities: ['text'], ...extra } as any);
  const refusedWith = async (baseURL: string, content: unknown[], pattern: RegExp, extra?: Record<string, unknown>) => {
    await assert.rejects(ask(baseURL, content, extra), (err: any) => err.status === 400 && pattern.test(String(err.message)));
  };

  test("vLLM-Omni refuses DashScope's shapes: a frame-list part, input_audio as a data URL, a data URL without a type", async () => {
    const text = { type: 'text', text: 'What is it?' };
    await refusedWith(api.vllmBaseURL, [{ type: 'video', video: [`data:image/jpeg;base64,${tiny}`] }, text], /Unsupported chat content part type: "video"/);
    await refusedWith(api.vllmBaseURL, [{ type: 'input_audio', input_audio: { data: `data:;base64,${tiny}`, format: 'mp3' } }, text], /must be bare base64/);
    await refusedWith(api.vllmBaseURL, [{ type: 'video_url', video_url: { url: `data:;base64,${tiny}` } }, text], /without a media type/);
    await refusedWith(api.vllmBaseURL, [text], /DashScope's parameter/, { enable_thinking: true });
    for (const mime of ['audio/aac', 'audio/amr']) await refusedWith(api.vllmBaseURL, [{ type: 'audio_url', audio_url: { url: `data:${mime};base64,${tiny}` } }, text], /Format not recognised/);
    await refusedWith(api.vllmBaseURL, [{ type: 'input_audio', input_audio: { data: tiny, format: 'aac' } }, text], /Format not recognised/);
  });

  test('openai-compatible refuses audio_url and input_audio formats other than wav and mp3; DashScope refuses the open names', async () => {
    const text = { type: 'text', text: 'What is it?' };
    await refusedWith(api.openaiBaseURL, [{ type: 'audio_url', audio_url: { url: `data:audio/mpeg;base64,${tiny}` } }, text], /Invalid value: 'audio_url'/);
    await refusedWith(api.openaiBaseURL, [{ type: 'input_audio', input_audio: { data: tiny, format: 'aac' } }, text], /must be 'wav' or 'mp3'/);
    await assert.rejects(
      new OpenAI({ apiKey: DS_KEY, baseURL: api.baseURL, maxRetries: 0 }).chat.completions.create({ model: 'Qwen/Qwen2.5-Omni-7B', messages: [{ role: 'user', content: 'hi' }], stream: true, modalities: ['text'] } as any),
      (err: any) => err.status === 404,
    );
  });

  test("each face takes only its own key: /v1 and /openai/v1 answer the DashScope key (and each other's) with 401, /compatible-mode/v1 any but DashScope's", async () => {
    const hi = (baseURL: string, apiKey: string) =>
      new OpenAI({ apiKey, baseURL, maxRetries: 0 }).chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }], stream: true, modalities: ['text'] } as any);
    for (const d of DIALECTS) {
      for (const key of [DS_KEY, VLLM_KEY, OAI_KEY]) {
        if (key === keyOf(d)) {
          for await (const _ of (await hi(urlOf(d), key)) as any);
        } else {
          await assert.rejects(hi(urlOf(d), key), (err: any) => err.status === 401, `${d} refuses ${key}`);
        }
      }
    }
  });

  test('vLLM-Omni reports usage as totals only, and serves the open weights by their Hugging Face names', async () => {
    const stream = await new OpenAI({ apiKey: VLLM_KEY, baseURL: api.vllmBaseURL, maxRetries: 0 }).chat.completions.create({
      model: 'Qwen/Qwen3-Omni-30B-A3B-Instruct',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
      modalities: ['text'],
    } as any);
    let usage: any;
    for await (const chunk of stream as any) if (chunk.usage) usage = chunk.usage;
    assert.deepEqual(Object.keys(usage).sort(), ['completion_tokens', 'prompt_tokens', 'total_tokens']);
  });
});

describe('choosing the dialect and the key', () => {
  test('the base URL picks the dialect: DashScope hosts and /compatible-mode/ paths, known providers; another host by the model', () => {
    assert.equal(apiOfUrl('https://dashscope-intl.aliyuncs.com/compatible-mode/v1'), 'dashscope');
    assert.equal(apiOfUrl('http://127.0.0.1:8080/compatible-mode/v1'), 'dashscope');
    assert.equal(apiOfUrl('https://api.fireworks.ai/inference/v1'), 'openai-compatible');
    // Another host: a server of your own when the model is one of the open weights, else a gateway to DashScope.
    assert.equal(apiOfUrl('http://gpu-box:8091/v1', 'Qwen/Qwen3-Omni-30B-A3B-Instruct'), 'vllm-omni');
    assert.equal(apiOfUrl('http://gpu-box:8091/v1', 'Qwen/Qwen2.5-Omni-3B'), 'vllm-omni');
    assert.equal(apiOfUrl('https://llm-gateway.corp.example/v1', 'qwen3-omni-flash'), 'dashscope');
    assert.equal(apiOfUrl('https://llm-gateway.corp.example/v1', 'qwen2.5-omni-7b'), 'dashscope');
    assert.equal(apiOfUrl('https://llm-gateway.corp.example/v1'), 'dashscope');
  });

  test('a DashScope model behind a gateway stays DashScope (its key, pacing, prices, no note); an open-weights name is vllm-omni, said once', async () => {
    const { resolveConfig } = await import('../src/shared/config.js');
    const flags = { input: [path.join(EXAMPLES, 'texts')], prompt: 'x', baseUrl: 'https://llm-gateway.corp.example/v1' };
    const gw = await resolveConfig(undefined, { ...flags, model: 'qwen3-omni-flash' }, {}, ROOT);
    assert.equal(gw.api, 'dashscope');
    assert.ok(gw.rpm > 0, 'paced to the account limit');
    assert.equal(apiKeyFor(gw.api, { DASHSCOPE_API_KEY: 'sk-ds' }), 'sk-ds');
    assert.ok(gw.prices, 'list prices apply');
    assert.ok(!gw.warnings.some((w) => /dialect/.test(w)), gw.warnings.join('\n'));
    const own = await resolveConfig(undefined, { ...flags, model: 'Qwen/Qwen3-Omni-30B-A3B-Instruct' }, {}, ROOT);
    assert.equal(own.api, 'vllm-omni');
    const notes = own.warnings.filter((w) => /dialect/.test(w));
    assert.equal(notes.length, 1, own.warnings.join('\n'));
    assert.match(notes[0]!, /speak the vllm-omni dialect \(OMNI_API_KEY is its key\); --api \(job file: api\) names another/);
    const named = await resolveConfig(undefined, { ...flags, model: 'Qwen/Qwen3-Omni-30B-A3B-Instruct', api: 'vllm-omni' as const }, {}, ROOT);
    assert.ok(!named.warnings.some((w) => /dialect/.test(w)), 'no note when --api names it');
    const served = await resolveConfig(undefined, { ...flags, model: 'my-omni', api: 'vllm-omni' as const }, {}, ROOT);
    assert.equal(served.api, 'vllm-omni');
  });

  test('the DashScope key never goes to another server: OMNI_API_KEY there, "EMPTY" without one', () => {
    assert.equal(apiKeyFor('dashscope', { DASHSCOPE_API_KEY: 'sk-ds' }), 'sk-ds');
    assert.equal(apiKeyFor('vllm-omni', { DASHSCOPE_API_KEY: 'sk-ds' }), 'EMPTY');
    assert.equal(apiKeyFor('openai-compatible', { DASHSCOPE_API_KEY: 'sk-ds', OMNI_API_KEY: 'fw-1' }), 'fw-1');
  });

  test("the Thinking weights' reasoning arrives as vLLM's delta.reasoning, kept apart from the answer", () => {
    const turn = new TurnAccumulator({ audio: undefined, undetailedModality: null });
    const chunk = (delta: object, finish: string | null = null, usage: object | null = null) => ({ id: 'c', object: 'chat.completion.chunk', created: 0, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }], usage }) as any;
    turn.add(chunk({ reasoning: 'First, the picture.' }));
    turn.add(chunk({ content: 'A cat.' }, 'stop'));
    turn.add({ ...chunk({}), choices: [], usage: { prompt_tokens: 40, completion_tokens: 9, total_tokens: 49 } });
    const r = turn.result();
    assert.deepEqual([r.text, r.reasoning, r.usage.prompt_tokens, r.usage.image_tokens], ['A cat.', 'First, the picture.', 40, 0]);
  });

  test('a part the dialect can express passes; DashScope refuses nothing here', () => {
    const frames = { type: 'frames', frames: [{ source: { file: '/a.jpg' }, mime: 'image/jpeg' }] } as const;
    assert.equal(dialectRefusal('vllm-omni', frames), undefined);
    assert.equal(dialectRefusal('dashscope', { type: 'audio', source: { url: 'https://x/a.mp3' }, format: 'mp3' }), undefined);
    assert.match(dialectRefusal('openai-compatible', { type: 'audio', source: { file: '/a.aac' }, format: 'aac' }) ?? '', /wav or mp3 only/);
    assert.equal(dialectRefusal('vllm-omni', { type: 'audio', source: { url: 'https://x/a.mp3' }, format: 'mp3' }), undefined);
  });

  test('spoken answers and DashScope Batch are refused for another dialect, before anything is read', async () => {
    const dir = await tempDir();
    const base = ['run', '--input', path.join(EXAMPLES, 'texts'), '--prompt', 'Title?', '--model', MODEL, '--base-url', api.vllmBaseURL, '--api', 'vllm-omni', '--out', path.join(dir, 'x.csv')];
    const spoken = await runMain([...base, '--audio-out', path.join(dir, 'speech')], { env: env() });
    assert.equal(spoken.code, 2, spoken.stderr);
    assert.match(spoken.stderr, /--audio-out \(spoken answers\): the vllm-omni dialect \(--api\) has no such thing/);
    const batch = await runMain([...base, '--engine', 'batch'], { env: env() });
    assert.equal(batch.code, 2, batch.stderr);
    assert.match(batch.stderr, /--engine batch: the vllm-omni dialect/);
    const thinking = await runMain([...base, '--model', 'qwen3-omni-flash', '--thinking', 'on'], { env: env() });
    assert.equal(thinking.code, 2, thinking.stderr);
    assert.match(thinking.stderr, /--thinking: the vllm-omni dialect has no thinking switch/);
    const dry = await runMain([...base, '--dry-run'], { env: env() });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /batch {7}none: DashScope Batch does not exist for the vllm-omni dialect/);
  });
});

describe('cost on a server of your own', () => {
  test('a job price per 1M tokens costs every row; a GPU-hour price is the wall time in the totals', async () => {
    const dir = await tempDir();
    const job = path.join(dir, 'priced.yaml');
    await writeFile(job, `inputs: [${JSON.stringify(path.join(EXAMPLES, 'texts'))}]\nprompt: Title?\nmodel: ${MODEL}\napi: vllm-omni\nprice: { inputPerMillion: 0.2, outputPerMillion: 0.8 }\n`);
    const out = path.join(dir, 'priced.jsonl');
    const r = await runMain(['run', job, '--base-url', api.vllmBaseURL, '--out', out], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    for (const row of await readOutputRows(out)) {
      const usd = (Number(row.prompt_tokens) * 0.2 + Number(row.completion_tokens) * 0.8) / 1e6;
      assert.ok(Math.abs(Number(row.cost) - usd) < 1e-9, `${row.path}: ${row.cost} vs ${usd}`);
    }
    assert.match(r.stdout, /cost \(USD\)/);
    const gpuJob = path.join(dir, 'gpu.yaml');
    await writeFile(gpuJob, `inputs: [${JSON.stringify(path.join(EXAMPLES, 'texts'))}]\nprompt: Title?\nmodel: ${MODEL}\napi: vllm-omni\nprice: { gpuHour: 2.5, gpus: 2 }\n`);
    const gpuOut = path.join(dir, 'gpu.jsonl');
    const g = await runMain(['run', gpuJob, '--base-url', api.vllmBaseURL, '--out', gpuOut], { env: env() });
    assert.equal(g.code, 0, g.stderr);
    const totals = JSON.parse(await readFile(`${gpuOut}.totals.json`, 'utf8'));
    assert.equal(totals.gpu.gpus, 2);
    assert.equal(totals.gpu.perGpuHour, 2.5);
    assert.ok(Math.abs(totals.gpu.wallHours - totals.run.wallMs / 3_600_000) < 1e-6);
    assert.ok(Math.abs(totals.gpu.cost - 2.5 * 2 * totals.gpu.wallHours) < 1e-6);
    assert.match(g.stdout, /GPU time \(this run\): [\d.]+ h x 2 GPUs x 2\.5 USD\/h = [\d.]+ USD \(this run's wall time .*earlier runs into the same output are not in it\)/);
    assert.equal(totals.gpu.scope, 'this run');
    for (const row of await readOutputRows(gpuOut)) assert.equal(row.cost ?? null, null);
  });

  test('the price hint is for a server of your own only; a refused key names OMNI_API_KEY there, not DashScope\'s', async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'unpriced.jsonl');
    const r = await runMain(['run', '--input', path.join(EXAMPLES, 'texts'), '--prompt', 'Title?', '--model', MODEL, '--api', 'vllm-omni', '--base-url', api.vllmBaseURL, '--out', out], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    const { renderSummary, summarizeOutput } = await import('../src/commands/summary.js');
    const totals = JSON.parse(await readFile(`${out}.totals.json`, 'utf8'));
    assert.equal(totals.currency, null);
    const summary = async (d: Dialect) => renderSummary({ out, totalsPath: `${out}.totals.json`, cwd: dir, api: d }, totals, await summarizeOutput(out, 'jsonl'));
    assert.match(await summary('vllm-omni'), /cost unknown: no price for this model \(a server of your own: set price in the job file\)/);
    const ds = await summary('dashscope');
    assert.match(ds, /cost unknown: no price for this model\n/);
    assert.doesNotMatch(ds, /a server of your own/);
    const bad = await runMain(['run', '--input', path.join(EXAMPLES, 'texts'), '--prompt', 'Title?', '--model', MODEL, '--api', 'vllm-omni', '--base-url', api.vllmBaseURL, '--out', path.join(dir, 'bad.jsonl')], { env: { DASHSCOPE_API_KEY: DS_KEY, OMNI_API_KEY: 'vllm-wrong-key' } });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /check OMNI_API_KEY: it must be the key .* was started with/);
    assert.doesNotMatch(bad.stderr, /DASHSCOPE_API_KEY|--region/);
  });

  test('a vllm-omni run is not paced by default; --rpm still paces it', async () => {
    const { resolveConfig } = await import('../src/shared/config.js');
    const flags = { input: [path.join(EXAMPLES, 'texts')], prompt: 'x', model: 'Qwen/Qwen2.5-Omni-7B', baseUrl: api.vllmBaseURL };
    const own = await resolveConfig(undefined, flags, {}, ROOT);
    assert.equal(own.api, 'vllm-omni');
    assert.deepEqual([own.rpm, own.tpm], [0, 0]);
    assert.equal(own.preprocess.upload, false);
    const paced = await resolveConfig(undefined, { ...flags, rpm: 30 }, {}, ROOT);
    assert.equal(paced.rpm, 30);
    const ds = await resolveConfig(undefined, { ...flags, model: MODEL, baseUrl: api.baseURL }, {}, ROOT);
    assert.equal(ds.api, 'dashscope');
    assert.ok(ds.rpm > 0);
  });
});

describe('README "Run it on your own GPUs"', () => {
  test("its omni-batch lines run verbatim against the stand-in's vLLM-Omni face, the job file's price in the totals", async () => {
    const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Run it on your own GPUs'), readme.indexOf('\n## Distributed runs'));
    const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
    const lines = block.split('\n').map((l) => l.replace(/\s+#.*$/, '').trim()).filter((l) => l.startsWith('omni-batch '));
    assert.equal(lines.length, 2, block);
    assert.match(block, /^vllm serve Qwen\/Qwen3-Omni-30B-A3B-Instruct --omni --port 8091/m);
    // A folder like the user's: jobs/ and examples/ side by side; the server's URL is the stand-in's /v1.
    const user = await tempDir();
    const { cp } = await import('node:fs/promises');
    await cp(path.join(ROOT, 'jobs'), path.join(user, 'jobs'), { recursive: true });
    await cp(EXAMPLES, path.join(user, 'examples'), { recursive: true });
    const own = path.join(user, 'jobs', 'own-gpus-videos.yaml');
    await writeFile(own, (await readFile(own, 'utf8')).replace('http://localhost:8091/v1', api.vllmBaseURL));
    for (const line of lines) {
      const args = line.replace('http://localhost:8091/v1', api.vllmBaseURL).split(/\s+/).slice(1);
      const from = api.requests.length;
      const r = await runMain(args, { cwd: user, env: { OMNI_API_KEY: VLLM_KEY } });
      assert.equal(r.code, 0, `${line}\n${r.stderr}`);
      const sent = api.requests.slice(from);
      assert.ok(sent.length >= 2 && sent.every((q) => q.status === 200 && q.body.model === 'Qwen/Qwen3-Omni-30B-A3B-Instruct'), line);
    }
    const totals = JSON.parse(await readFile(path.join(user, 'out', 'own-gpus-videos.csv.totals.json'), 'utf8'));
    assert.equal(totals.byStatus.ok, 2);
    assert.deepEqual([totals.gpu.gpus, totals.gpu.perGpuHour, totals.gpu.currency], [2, 2.5, 'USD']);
  });
});
