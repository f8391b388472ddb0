/**
 * Answer formats end to end: labels and JSON Schemas (parsed, validated, asked again once), spoken answers as WAV
 * files, and thinking mode. The built CLI, the real `openai` SDK, the local DashScope stand-in, real ffprobe.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { schemaFromLabels } from '../src/shared/answer-schema.js';
import { parseAnswer } from '../src/worker/parse-answer.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { LABELER_COUNTS, labeler, RETRY } from './stand-in/scripted-answers.js';
import { EXAMPLES, ROOT, readOutputRows, runMain, tempDir } from './helpers.js';

const KEY = 'sk-test-answers';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());
const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

type Rec = Record<string, any>;

describe('structured answers', () => {
  test('a labeling job ends every row with a valid label or invalid_answer, asks again in the same conversation, and the counts add up', async () => {
    api.setOptions({ answer: labeler });
    const dir = await tempDir();
    const out = path.join(dir, 'labels.csv');
    const from = api.requests.length;
    const r = await runMain(['run', path.join(ROOT, 'jobs', 'label-dataset-schema.yaml'), '--out', out], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    const rows = await readOutputRows(out);
    assert.equal(rows.length, 8);
    const byId = new Map(rows.map((x) => [x.path.split('#')[1], x]));
    for (const row of rows) {
      if (row.status === 'ok') {
        assert.ok(['positive', 'negative', 'mixed'].includes(row.label), `${row.path}: ${row.label}`);
        assert.deepEqual(JSON.parse(row.parsed), { label: row.label });
      } else {
        assert.equal(row.status, 'failed');
        assert.equal(row.error_code, 'invalid_answer');
      }
    }
    assert.equal(byId.get('1')?.label, 'positive');
    assert.match(byId.get('1')?.answer ?? '', /```json/, 'the raw answer is kept as it came');
    assert.equal(byId.get('2')?.label, 'mixed');
    assert.equal(byId.get('4')?.label, 'positive');
    // r003: invalid first, fixed when asked again; two requests, the answer is the second one.
    assert.equal(byId.get('3')?.label, 'negative');
    assert.equal(byId.get('3')?.attempts, '2');
    assert.equal(byId.get('3')?.answer, 'Sorry! {"label": "negative"}');
    // r006: still invalid after asking again: failed, raw answer kept, both errors named.
    const bad = byId.get('6');
    assert.equal(bad?.status, 'failed');
    assert.equal(bad?.label, '');
    assert.equal(bad?.answer, '{"label": "still livid"}');
    assert.match(bad?.error_message ?? '', /"label" must be equal to one of the allowed values.*received "livid".*asked again.*received "still livid"/);

    // The retry is the same conversation: the first answer as an assistant turn, then the error quoted.
    const reqs = api.requests.slice(from);
    assert.equal(reqs.length, 8 + 2);
    const retries = reqs.filter((q) => JSON.stringify(q.body.messages.at(-1)).includes(RETRY));
    assert.equal(retries.length, 2);
    for (const q of retries) {
      const msgs = q.body.messages as Rec[];
      assert.deepEqual(
        msgs.map((m) => m.role),
        ['system', 'user', 'assistant', 'user'],
      );
      assert.match(JSON.stringify(msgs[1]), /Review r00[36]/);
      assert.match(JSON.stringify(msgs[1]), /Answer with a JSON object only/);
      assert.match(JSON.stringify(msgs[2]), /furious|livid/);
    }

    const totals = JSON.parse(await readFile(path.join(dir, 'labels.csv.totals.json'), 'utf8')) as Rec;
    assert.deepEqual(totals.labels, { label: LABELER_COUNTS });
    const counted = Object.values(totals.labels.label as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.equal(counted, totals.byStatus.ok);
    assert.equal(counted + (totals.errors.invalid_answer as number), totals.rows);
    assert.match(r.stdout, /label: positive 4, negative 1, mixed 2/);
    assert.match(r.stdout, /invalid_answer +1 /);

    // The same job again is done; another label set is another job, so every row is asked again.
    const again = await runMain(['run', path.join(ROOT, 'jobs', 'label-dataset-schema.yaml'), '--out', out], { env: env() });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /7 already done/);
    api.setOptions({ answer: undefined });
  });

  test('a JSON Schema answer gets one column per field in CSV and keeps the parsed object in JSONL', async () => {
    api.setOptions({ answer: () => 'Here you go:\n```\n{"sentiment": "negative", "topics": ["shipping", "quality"], "language": "en", "stars": 2}\n```' });
    const dir = await tempDir();
    const job = path.join(ROOT, 'jobs', 'tag-reviews-schema.yaml');
    const csv = path.join(dir, 'tags.csv');
    const jsonl = path.join(dir, 'tags.jsonl');
    const a = await runMain(['run', job, '--out', csv, '--max-files', '2'], { env: env() });
    const b = await runMain(['run', job, '--out', jsonl, '--max-files', '2'], { env: env() });
    api.setOptions({ answer: undefined });
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);
    const header = (await readFile(csv, 'utf8')).split('\n')[0] ?? '';
    assert.match(header, /^id,path,source,kind,status,answer,sentiment,topics,language,stars,parsed,error_code,/);
    const [row] = await readOutputRows(csv);
    assert.equal(row?.sentiment, 'negative');
    assert.equal(row?.topics, 'shipping;quality');
    assert.equal(row?.stars, '2');
    const [line] = await readOutputRows(jsonl);
    assert.deepEqual(line?.parsed, { sentiment: 'negative', topics: ['shipping', 'quality'], language: 'en', stars: 2 });
    const totals = JSON.parse(await readFile(path.join(dir, 'tags.jsonl.totals.json'), 'utf8')) as Rec;
    assert.equal(totals.labels.sentiment.negative, 2);
    assert.equal(totals.labels.topics.shipping, 2);
  });

  test('answers are found inside fences and prose, labels in another case count, and errors say what arrived', () => {
    const labels = schemaFromLabels(['cat', 'dog', 'other'], false);
    assert.deepEqual(parseAnswer('```json\n{"label":"dog"}\n```', labels), { ok: true, value: { label: 'dog' } });
    assert.deepEqual(parseAnswer('I think {"label": "Cat"} — the ears {say so}.', labels), { ok: true, value: { label: 'cat' } });
    assert.deepEqual(parseAnswer('"Other".', labels), { ok: true, value: { label: 'other' } });
    const bad = parseAnswer('{"label": "bird"}', labels);
    assert.equal(bad.ok, false);
    assert.match(bad.ok ? '' : bad.error, /"label" must be equal to one of the allowed values: "cat", "dog", "other", received "bird"/);
    const multi = schemaFromLabels(['cat', 'dog', 'other'], true);
    assert.deepEqual(parseAnswer('cat, dog', multi), { ok: true, value: { labels: ['cat', 'dog'] } });
    assert.equal(parseAnswer('no idea', multi).ok, false);
  });

  test('a schema that is not an object of fields, or a typo in a keyword, stops the run before any call', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'job.yaml');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(file, `inputs: [${JSON.stringify(path.join(EXAMPLES, 'texts'))}]\nprompt: Tag it.\nschema:\n  type: object\n  properties:\n    tag: { type: string }\n  requird: [tag]\n`);
    const r = await runMain(['run', file, '--out', path.join(dir, 'o.csv')], { env: env() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /field "schema": not a valid JSON Schema: strict mode: unknown keyword: "requird"/);
  });
});

const ffprobe = promisify(execFile);

describe('spoken answers and thinking mode', () => {
  test('--audio-out writes a WAV per input that ffprobe reads as 24 kHz 16-bit mono, with a duration that matches its bytes', async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'spoken.csv');
    const speech = path.join(dir, 'speech');
    const from = api.requests.length;
    const r = await runMain(['run', '--input', path.join(EXAMPLES, 'texts'), '--prompt', 'Read {{file.name}} aloud in one sentence.', '--out', out, '--audio-out', speech, '--voice', 'Ethan', '--model', 'qwen-omni-turbo'], {
      env: env(),
    });
    assert.equal(r.code, 0, r.stderr);
    const rows = await readOutputRows(out);
    assert.equal(rows.length, 2);
    for (const q of api.requests.slice(from)) {
      assert.deepEqual(q.body.modalities, ['text', 'audio']);
      assert.deepEqual(q.body.audio, { voice: 'Ethan', format: 'wav' });
    }
    for (const row of rows) {
      assert.equal(row.status, 'ok');
      assert.ok(Number(row.completion_audio_tokens) > 0);
      assert.equal(path.dirname(row.audio_path), speech);
      const bytes = (await stat(row.audio_path)).size;
      const { stdout } = await ffprobe('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name,sample_rate,channels:format=duration', '-of', 'json', row.audio_path]);
      const probe = JSON.parse(stdout) as { streams: Rec[]; format: Rec };
      assert.equal(probe.streams[0]?.codec_name, 'pcm_s16le');
      assert.equal(probe.streams[0]?.sample_rate, '24000');
      assert.equal(probe.streams[0]?.channels, 1);
      const expected = (bytes - 44) / (24_000 * 2);
      assert.ok(Math.abs(Number(probe.format.duration) - expected) < 0.001, `${probe.format.duration} s vs ${expected} s from ${bytes} bytes`);
      assert.ok(expected > 0.1);
    }
  });

  test('voices are checked per model before any call', async () => {
    const dir = await tempDir();
    const args = ['run', '--input', path.join(EXAMPLES, 'texts'), '--prompt', 'Hi', '--out', path.join(dir, 'o.csv'), '--audio-out', dir, '--voice', 'Nofish', '--dry-run'];
    const turbo = await runMain([...args, '--model', 'qwen-omni-turbo'], { env: env() });
    assert.equal(turbo.code, 2);
    assert.match(turbo.stderr, /--voice: qwen-omni-turbo has no voice "Nofish"; expected one of Cherry, Serena, Ethan, Chelsie/);
    const qwen3 = await runMain([...args, '--model', 'qwen3-omni-flash'], { env: env() });
    assert.equal(qwen3.code, 0, qwen3.stderr);
  });

  test('thinking mode keeps the reasoning in its own column and out of the answer; audio with thinking is refused', async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'think.jsonl');
    const from = api.requests.length;
    const r = await runMain(['run', '--input', path.join(EXAMPLES, 'texts'), '--prompt', 'Title for {{file.name}}?', '--model', 'qwen3-omni-flash', '--thinking', '--out', out], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    for (const q of api.requests.slice(from)) assert.equal(q.body.enable_thinking, true);
    for (const row of await readOutputRows(out)) {
      assert.equal(row.reasoning, 'Thinking about turn 1.');
      assert.doesNotMatch(row.answer as string, /Thinking/);
      assert.match(row.answer as string, /^Answer 1: Title for/);
    }
    const both = await runMain(['run', '--input', path.join(EXAMPLES, 'texts'), '--prompt', 'Hi', '--model', 'qwen3-omni-flash', '--thinking', '--audio-out', dir, '--out', out], { env: env() });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--thinking and spoken answers: the API refuses audio output while qwen3-omni-flash thinks \(enable_thinking\)/);
    const turbo = await runMain(['run', '--input', path.join(EXAMPLES, 'texts'), '--prompt', 'Hi', '--thinking', '--model', 'qwen-omni-turbo', '--out', out], { env: env() });
    assert.equal(turbo.code, 2);
    assert.match(turbo.stderr, /--thinking: qwen-omni-turbo has no thinking mode \(models with one: qwen3\.8-omni-flash, qwen3-omni-flash\)/);
    const effort = await runMain(['run', '--input', path.join(EXAMPLES, 'texts'), '--prompt', 'Hi', '--thinking', 'low', '--model', 'qwen3-omni-flash', '--out', out], { env: env() });
    assert.equal(effort.code, 2);
    assert.match(effort.stderr, /--thinking: qwen3-omni-flash switches thinking on or off only \(enable_thinking\): use on, received "low"/);
  });

  test('the stand-in refuses audio output with thinking, as the API does', async () => {
    const res = await fetch(`${api.baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        model: 'qwen3-omni-flash',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        modalities: ['text', 'audio'],
        audio: { voice: 'Cherry', format: 'wav' },
        enable_thinking: true,
      }),
    });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /enable_thinking/);
  });
});
