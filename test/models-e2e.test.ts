/**
 * The current models end to end: qwen3.8-omni-flash (thinks by default, text only), qwen3.5-omni-plus (spoken
 * answers, mixed media allowed, generation settings on the wire) and a model no catalogue lists (qwen9-omni-nano,
 * run on a job file's modelLimits). The built CLI, the real `openai` SDK, the stand-in with its own model table.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { EXAMPLES, readOutputRows, runMain, tempDir } from './helpers.js';

const KEY = 'sk-test-models';
let api: StandIn;
before(async () => {
  // A model DashScope has not shipped yet: the stand-in serves it with turbo's limits and a bigger output window.
  api = await startStandIn({ apiKey: KEY, extraModels: { 'qwen9-omni-nano': { maxOutputTokens: 8_192 } } });
});
after(() => api.close());
const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });
const TEXTS = path.join(EXAMPLES, 'texts');

describe('the current models against the stand-in', () => {
  test('qwen3.8-omni-flash thinks by default, bills the reasoning as answer tokens, and --thinking off sends reasoning_effort none', async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'think.jsonl');
    const from = api.requests.length;
    const system = 'You give every file a short title, in the language of the file.';
    const args = ['run', '--input', TEXTS, '--prompt', 'Title for {{file.name}}?', '--system', system, '--model', 'qwen3.8-omni-flash', '--out', out];
    // Singapore prices, in USD: the stand-in's URL with the region named for the prices.
    const r = await runMain([...args, '--base-url', api.baseURL, '--region', 'intl'], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cost \(USD\)/);
    assert.match(r.stdout, /answer tokens were reasoning \(billed as answer text\), \d+ prompt tokens came from the cache/);
    const sent = api.requests.slice(from);
    assert.ok(sent.length > 0);
    for (const q of sent) {
      assert.equal(q.body.reasoning_effort, undefined, 'the default strength is the model\'s own');
      assert.equal(q.body.enable_thinking, undefined);
    }
    const rows = await readOutputRows(out);
    for (const row of rows) {
      assert.equal(row.status, 'ok', row.error_message);
      assert.equal(row.reasoning, 'Thinking about turn 1.');
      assert.ok(Number(row.reasoning_tokens) > 0);
      assert.ok(Number(row.cost) > 0);
    }
    // The stand-in's implicit cache serves the system prompt from the second request on.
    assert.deepEqual(rows.map((x) => Number(x.cached_tokens) > 0).sort(), [false, true]);
    const totals = JSON.parse(await readFile(`${out}.totals.json`, 'utf8')) as { currency: string; tokens: Record<string, number> };
    assert.equal(totals.currency, 'USD');
    assert.equal(totals.tokens.reasoning_tokens, rows.reduce((n, x) => n + Number(x.reasoning_tokens), 0));
    assert.ok((totals.tokens.cached_tokens ?? 0) > 0);
    const cached = rows.find((x) => Number(x.cached_tokens) > 0)!;
    const usd = (Number(cached.text_tokens) - Number(cached.cached_tokens)) * 0.15 + Number(cached.cached_tokens) * 0.016 + Number(cached.completion_tokens) * 0.47;
    assert.ok(Math.abs(Number(cached.cost) - usd / 1e6) <= 1e-8, `cost ${cached.cost} vs ${usd / 1e6}: cached input at its own price, reasoning as answer`);
    const dry = await runMain([...args, '--dry-run'], { env: env() });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /warning: qwen3\.8-omni-flash thinks \(on\): its reasoning is billed as answer tokens and can multiply the answer cost/);
    const offOut = path.join(dir, 'plain.jsonl');
    const mark = api.requests.length;
    const off = await runMain(['run', '--input', TEXTS, '--prompt', 'Title?', '--model', 'qwen3.8-omni-flash', '--thinking', 'off', '--out', offOut], { env: env() });
    assert.equal(off.code, 0, off.stderr);
    for (const q of api.requests.slice(mark)) assert.equal(q.body.reasoning_effort, 'none');
    for (const row of await readOutputRows(offOut)) assert.equal(row.reasoning ?? '', '');
  });

  test('qwen3.5-omni-plus speaks with its own voice and sends the generation settings; a new setting is a new row id', async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'plus.csv');
    const from = api.requests.length;
    const args = ['run', '--input', path.join(EXAMPLES, 'audio'), '--prompt', 'Summarise.', '--model', 'qwen3.5-omni-plus', '--out', out, '--temperature', '0.3', '--seed', '7', '--max-tokens', '300'];
    const r = await runMain([...args, '--audio-out', path.join(dir, 'speech')], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    const sent = api.requests.slice(from);
    assert.equal(sent.length, 2);
    for (const q of sent) {
      assert.deepEqual(q.body.audio, { voice: 'Tina', format: 'wav' });
      assert.equal(q.body.temperature, 0.3);
      assert.equal(q.body.seed, 7);
      assert.equal(q.body.max_tokens, 300);
    }
    const rows = await readOutputRows(out);
    assert.deepEqual(rows.map((x) => x.status), ['ok', 'ok']);
    for (const row of rows) {
      assert.match(String(row.preprocess), /^$|mp3|audio/);
      // The estimate is made by our table, the count by the stand-in's: they agree within 5%.
      const est = Number(row.estimated_tokens);
      assert.ok(Math.abs(est - Number(row.prompt_tokens)) <= 0.05 * Number(row.prompt_tokens), `estimate ${est} vs ${row.prompt_tokens}`);
    }
    const again = await runMain([...args.slice(0, -2), '--max-tokens', '200', '--dry-run'], { env: env() });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /200-token answers assumed/);
    assert.match(again.stdout, /would send/, 'another max_tokens is another id: the files are sent again');
  });

  test('an unknown model runs with one warning on the job file\'s modelLimits, and the stand-in refuses what it does not take', async () => {
    const dir = await tempDir();
    const job = path.join(dir, 'nano.yaml');
    await writeFile(
      job,
      [
        `inputs: [${JSON.stringify(TEXTS)}]`,
        'prompt: "Title for {{file.name}}?"',
        'model: qwen9-omni-nano',
        'generation: { max_tokens: 5000 }',
        'modelLimits:',
        '  limits: { outputTokens: 8192 }',
        '  prices: { cn: { currency: CNY, inputText: 1, inputAudio: 1, inputImageVideo: 1, outputText: 2, outputTextAfterMedia: 2 } }',
        `output: ${JSON.stringify(path.join(dir, 'nano.csv'))}`,
      ].join('\n'),
    );
    const r = await runMain(['run', job], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.split('\n').filter((l) => /warning: model "qwen9-omni-nano" is not in the catalogue/.test(l)).length, 1);
    const rows = await readOutputRows(path.join(dir, 'nano.csv'));
    assert.ok(rows.length > 0);
    for (const row of rows) {
      assert.equal(row.status, 'ok', row.error_message);
      assert.equal(row.model, 'qwen9-omni-nano');
      assert.ok(Number(row.cost) > 0);
    }
    const totals = JSON.parse(await readFile(path.join(dir, 'nano.csv.totals.json'), 'utf8')) as { currency: string };
    assert.equal(totals.currency, 'CNY');
    // Without modelLimits the facts are the most restrictive entry's: turbo's 2,048-token output window.
    await writeFile(job, `inputs: [${JSON.stringify(TEXTS)}]\nprompt: p\nmodel: qwen9-omni-nano\ngeneration: { max_tokens: 5000 }\n`);
    const refused = await runMain(['run', job, '--dry-run'], { env: env() });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /generation\.max_tokens": expected at most 2048 \(the output window of qwen-omni-turbo\), received 5000/);
  });

  test('the stand-in refuses enable_thinking for qwen3.8-omni-flash and speech from it, as the docs say', async () => {
    const ask = async (extra: Record<string, unknown>) =>
      fetch(`${api.baseURL}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'qwen3.8-omni-flash', messages: [{ role: 'user', content: 'hi' }], stream: true, modalities: ['text'], ...extra }),
      });
    const enable = await ask({ enable_thinking: true });
    assert.equal(enable.status, 400);
    assert.match(await enable.text(), /use reasoning_effort/);
    const speech = await ask({ modalities: ['text', 'audio'], audio: { voice: 'Tina', format: 'wav' } });
    assert.equal(speech.status, 400);
    assert.match(await speech.text(), /does not support audio output/);
    const hot = await ask({ temperature: 2 });
    assert.equal(hot.status, 400);
    assert.match(await hot.text(), /Range of temperature should be \[0, 2\)/);
  });
});

describe('mixed media in one message', () => {
  test('a manifest row\'s media list goes in one message to qwen3.5-omni-flash, and is a skipped row for qwen-omni-turbo', async () => {
    const dir = await tempDir();
    const { copyFile } = await import('node:fs/promises');
    const image = (await import('node:fs')).readdirSync(path.join(EXAMPLES, 'images')).find((n) => /\.(jpe?g|png)$/i.test(n))!;
    await copyFile(path.join(EXAMPLES, 'images', image), path.join(dir, image));
    await copyFile(path.join(EXAMPLES, 'audio', 'speech-en.mp3'), path.join(dir, 'speech.mp3'));
    const manifest = path.join(dir, 'rows.csv');
    await writeFile(manifest, `id,media\n1,${image};speech.mp3\n`);
    const from = api.requests.length;
    const r = await runMain(['run', '--manifest', manifest, '--prompt', 'Does the speech describe the picture?', '--out', path.join(dir, 'mixed.csv')], { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const sent = api.requests.slice(from);
    assert.equal(sent.length, 1);
    const content = (sent[0]?.body.messages as { role: string; content: { type: string }[] }[]).at(-1)?.content ?? [];
    assert.deepEqual(content.map((p) => p.type), ['image_url', 'input_audio', 'text']);
    const [row] = await readOutputRows(path.join(dir, 'mixed.csv'));
    assert.equal(row?.status, 'ok', row?.error_message);
    assert.ok(Number(row?.image_tokens) > 0 && Number(row?.audio_tokens) > 0);
    const est = Number(row?.estimated_tokens);
    assert.ok(Math.abs(est - Number(row?.prompt_tokens)) <= 0.05 * Number(row?.prompt_tokens), `estimate ${est} vs ${row?.prompt_tokens}`);
    const mark = api.requests.length;
    const turbo = await runMain(['run', '--manifest', manifest, '--prompt', 'Same?', '--model', 'qwen-omni-turbo', '--out', path.join(dir, 'turbo.csv')], { env: env(), cwd: dir });
    assert.equal(turbo.code, 0, turbo.stderr);
    assert.equal(api.requests.length, mark, 'nothing sent');
    const [skipped] = await readOutputRows(path.join(dir, 'turbo.csv'));
    assert.equal(skipped?.status, 'skipped');
    assert.equal(skipped?.error_code, 'unsupported_type');
    assert.match(String(skipped?.error_message), /rows\.csv#1: qwen-omni-turbo takes one kind of media per message; this row's media list needs a model that mixes them \(qwen3\.5-omni-plus, qwen3\.5-omni-flash\)/);
  });
});
