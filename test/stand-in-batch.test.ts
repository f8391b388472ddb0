/**
 * The stand-in's Batch API through the real `openai` SDK: what it refuses as DashScope does (purpose, endpoint,
 * completion window, duplicate custom_id, two models in one file, `stream` in a line), the statuses and counts a
 * batch goes through, and the answers it gives, equal to what the real-time path gets for the same request.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { RequestFiles } from '../src/engine/batch/requests.js';
import { BATCH_LIMITS } from '../src/shared/batch.js';
import { tempDir } from './helpers.js';
import { startStandIn, type StandIn } from './stand-in/server.js';

const KEY = 'sk-stand-in-batch-1f3e';
let api: StandIn;
let client: OpenAI;
before(async () => {
  api = await startStandIn({ apiKey: KEY, batch: { advance: 'manual' } });
  client = new OpenAI({ apiKey: KEY, baseURL: api.baseURL, maxRetries: 0 });
});
after(() => api.close());

const line = (id: string, body: Record<string, unknown>) => JSON.stringify({ custom_id: id, method: 'POST', url: '/v1/chat/completions', body });
const ask = (text: string, model = 'qwen3.5-omni-plus') => ({ model, messages: [{ role: 'user', content: text }], modalities: ['text'] });

async function upload(lines: string[]): Promise<string> {
  const file = await client.files.create({ file: await toFile(Buffer.from(`${lines.join('\n')}\n`), 'requests.jsonl'), purpose: 'batch' });
  return file.id;
}

async function runToEnd(fileId: string) {
  const created = await client.batches.create({ input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' });
  const seen = [created.status as string];
  let b = created;
  while (!['completed', 'failed', 'expired', 'cancelled'].includes(b.status)) {
    await api.batches.step();
    b = await client.batches.retrieve(created.id);
    seen.push(b.status);
  }
  return { batch: b, seen };
}

async function fileLines(id: string | null | undefined): Promise<any[]> {
  if (!id) return [];
  return (await (await client.files.content(id)).text()).split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

describe('stand-in Batch API', () => {
  test('a batch goes validating, in_progress, finalizing, completed; each line is answered as the real-time call would be', async () => {
    const id = await upload([line('a', ask('hello there')), line('b', { ...ask('streamed?'), stream: true }), line('c', { ...ask('speak'), modalities: ['text', 'audio'], audio: { voice: 'Tina', format: 'wav' } })]);
    const { batch, seen } = await runToEnd(id);
    assert.deepEqual(seen, ['validating', 'in_progress', 'finalizing', 'completed']);
    assert.deepEqual(batch.request_counts, { total: 3, completed: 1, failed: 2 });
    const [ok] = await fileLines(batch.output_file_id);
    assert.equal(ok.custom_id, 'a');
    assert.equal(ok.response.status_code, 200);
    assert.equal(ok.response.body.choices[0].message.content, 'Answer 1: hello there');
    const stream = await client.chat.completions.create({ model: 'qwen3.5-omni-plus', messages: [{ role: 'user', content: 'hello there' }], modalities: ['text'], stream: true, stream_options: { include_usage: true } });
    let usage: unknown;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    assert.deepEqual(ok.response.body.usage, usage, 'the same usage as the streaming path');
    const errs = await fileLines(batch.error_file_id);
    assert.deepEqual(errs.map((e) => [e.custom_id, e.response.status_code]), [['b', 400], ['c', 400]]);
    assert.match(errs[0].response.body.error.message, /stream is not supported in batch mode/);
    assert.match(errs[1].response.body.error.message, /audio output is not supported in batch mode/);
  });

  test('a file with a duplicate custom_id or two models fails validation, naming the line', async () => {
    const dup = await runToEnd(await upload([line('a', ask('1')), line('a', ask('2'))]));
    assert.equal(dup.batch.status, 'failed');
    assert.match(JSON.stringify(dup.batch.errors), /duplicate_custom_id.*Line 2: custom_id a is not unique/);
    const mixed = await runToEnd(await upload([line('a', ask('1')), line('b', ask('2', 'qwen-omni-turbo'))]));
    assert.equal(mixed.batch.status, 'failed');
    assert.match(JSON.stringify(mixed.batch.errors), /mixed_models/);
  });

  test('files need purpose batch; batches need the chat endpoint and a 24h-336h window; a settled batch cannot be cancelled', async () => {
    await assert.rejects(client.files.create({ file: await toFile(Buffer.from('{}\n'), 'x.jsonl'), purpose: 'fine-tune' }), /purpose: expected "batch"/);
    const id = await upload([line('a', ask('1'))]);
    await assert.rejects(client.batches.create({ input_file_id: id, endpoint: '/v1/embeddings', completion_window: '24h' }), /endpoint: expected \/v1\/chat\/completions/);
    await assert.rejects(client.batches.create({ input_file_id: id, endpoint: '/v1/chat/completions', completion_window: '2h' as '24h' }), /completion_window: expected 24h to 336h/);
    const { batch } = await runToEnd(id);
    await assert.rejects(client.batches.cancel(batch.id), /Cannot cancel a batch with status completed/);
  });
});

describe('request files', () => {
  test('a request line over 6 MB is refused with the reason before any upload', async () => {
    const dir = await tempDir();
    const files = new RequestFiles(`${dir}/out.csv`, 1);
    const big = 'x'.repeat(BATCH_LIMITS.bytesPerLine + 1);
    const columns = { preprocess: '', source_bytes: null, sent_bytes: null, duration_sec: null, width: null, height: null, estimated_tokens: null, estimated_cost: null };
    const meta = { id: 'i', path: 'p', source: '', kind: 'text' as const, model: 'm', afterMedia: false, undetailed: 'text_tokens' as const, columns };
    const reason = files.add({ line: { custom_id: 'i', method: 'POST', url: '/v1/chat/completions', body: { big } }, meta });
    assert.match(reason ?? '', /over Batch's 6\.0 MB per line .*give the media as a URL .* or run it with --engine in-process/);
    assert.ok(files.add({ line: { custom_id: 'j', method: 'POST', url: '/v1/chat/completions', body: {} }, meta: { ...meta, id: 'j' } }) === undefined);
    const sealed = await files.seal();
    assert.deepEqual(sealed.map((e) => e.lines), [1], 'only the line that fits is in the file');
  });

  test('a request file is closed at its line limit or its byte limit, and the next one begun', async () => {
    const dir = await tempDir();
    const columns = { preprocess: '', source_bytes: null, sent_bytes: null, duration_sec: null, width: null, height: null, estimated_tokens: null, estimated_cost: null };
    const request = (id: string, text = '') => ({ line: { custom_id: id, method: 'POST' as const, url: '/v1/chat/completions' as const, body: { text } }, meta: { id, path: id, source: '', kind: 'text' as const, model: 'm', afterMedia: false, undetailed: 'text_tokens' as const, columns } });
    const byLines = new RequestFiles(`${dir}/a.csv`, 1, { linesPerFile: 2, bytesPerFile: 1e9 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) byLines.add(request(id));
    assert.deepEqual((await byLines.seal()).map((e) => [e.n, e.lines]), [[1, 2], [2, 2], [3, 1]]);
    const byBytes = new RequestFiles(`${dir}/b.csv`, 7, { linesPerFile: 100, bytesPerFile: 250 });
    for (const id of ['a', 'b', 'c']) byBytes.add(request(id, 'x'.repeat(100)));
    const sealed = await byBytes.seal();
    assert.deepEqual(sealed.map((e) => [e.n, e.lines]), [[7, 1], [8, 1], [9, 1]], 'two 170-byte lines are over 250 bytes');
    assert.equal((await readFile(`${dir}/.b.csv.batch/requests-8.jsonl`, 'utf8')).trim().split('\n').length, 1);
  });
});
