/**
 * End to end: the built CLI, the real `openai` SDK, real HTTP to the local DashScope stand-in, real files.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cp, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { randomFaults, startStandIn, type StandIn } from './stand-in/server.js';
import { EXAMPLES, FIXTURES, ROOT, readOutputRows, runMain, tempDir } from './helpers.js';

const KEY = 'sk-SENTINEL-7f3a9c2e51d84b6fa0c1e2d3';

let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());

const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

type Rec = Record<string, any>;

/** Requests the stand-in received since `from` (an index into api.requests). */
const since = (from: number) => api.requests.slice(from);

/** A job file whose retries are fast enough for tests. */
async function jobFile(dir: string, fields: string): Promise<string> {
  const file = path.join(dir, 'job.yaml');
  await writeFile(file, `retryBaseMs: 5\nretryMaxMs: 50\n${fields}\n`);
  return file;
}

/** Copies the example media into a fresh folder, so that runs cannot touch the repository. */
async function exampleTree(): Promise<string> {
  const dir = await tempDir();
  await cp(EXAMPLES, path.join(dir, 'examples'), { recursive: true });
  return dir;
}

describe('omni-batch run against the DashScope stand-in', () => {
  test('sends every input kind of the guide in its exact message shape and writes one ok row each', async () => {
    const dir = await exampleTree();
    const out = path.join(dir, 'out', 'all.jsonl');
    const from = api.requests.length;
    const r = await runMain(
      [
        'run',
        '--input', path.join(dir, 'examples', 'images'),
        '--input', path.join(dir, 'examples', 'audio'),
        '--input', path.join(dir, 'examples', 'videos'),
        '--input', path.join(dir, 'examples', 'texts'),
        '--manifest', path.join(dir, 'examples', 'manifests', 'mixed.jsonl'),
        // Its paths reach into the sibling folders of examples/.
        '--manifest-root', path.join(dir, 'examples'),
        '--system', 'You are terse.',
        '--prompt', 'What is in {{file.name}}?',
        '--out', out,
        // The message shapes and limits of the guide this test follows are turbo's.
        '--model', 'qwen-omni-turbo',
      ],
      { env: env(), cwd: dir },
    );
    assert.equal(r.code, 0, r.stderr);
    const rows = await readOutputRows(out);
    // 4 images + 2 audio + 2 videos + 2 texts, and 7 manifest rows: a manifest row is its own row (it may ask
    // about a file the folders hold too, with its own columns), its file or URL in `source`.
    assert.equal(rows.length, 17);
    assert.deepEqual(rows.filter((x) => x.status !== 'ok'), []);
    const reqs = since(from);
    assert.equal(reqs.length, 17);
    const urlRow = rows.find((x) => x.source.startsWith('https://'));
    assert.match(urlRow?.path ?? '', /mixed\.jsonl#7$/);
    assert.equal(rows.find((x) => x.path.endsWith('mixed.jsonl#6'))?.source.split(';').length, 6);
    for (const q of reqs) {
      assert.equal(q.status, 200);
      assert.equal(q.body.stream, true);
      assert.deepEqual(q.body.stream_options, { include_usage: true });
      assert.deepEqual(q.body.modalities, ['text']);
      assert.equal(q.body.model, 'qwen-omni-turbo');
      assert.deepEqual(q.body.messages[0], { role: 'system', content: [{ type: 'text', text: 'You are terse.' }] });
    }
    const userContents = reqs.map((q) => q.body.messages[1].content);
    const partTypes = userContents.map((c) => (typeof c === 'string' ? 'string' : c.map((p: Rec) => p.type).join('+'))).sort();
    assert.deepEqual(partTypes, [
      'image_url+text', 'image_url+text', 'image_url+text', 'image_url+text', 'image_url+text', 'image_url+text', 'image_url+text', 'image_url+text',
      'input_audio+text', 'input_audio+text', 'input_audio+text',
      'string', 'string',
      'video+text',
      'video_url+text', 'video_url+text', 'video_url+text',
    ]);
    const parts = userContents.filter((c) => typeof c !== 'string').map((c) => c[0]);
    const url = parts.find((p: Rec) => p.type === 'image_url' && p.image_url.url.startsWith('https://'));
    assert.equal(url.image_url.url, 'https://help-static-aliyun-doc.aliyuncs.com/file-manage-files/zh-CN/20241022/emyrja/dog_and_girl.jpeg');
    for (const p of parts) {
      if (p.type === 'image_url' && !p.image_url.url.startsWith('https://')) assert.match(p.image_url.url, /^data:image\/(jpeg|png|webp);base64,/);
      if (p.type === 'input_audio') {
        assert.match(p.input_audio.data, /^data:;base64,/);
        assert.equal(p.input_audio.format, 'mp3');
      }
      if (p.type === 'video_url') assert.match(p.video_url.url, /^data:;base64,/);
      if (p.type === 'video') {
        assert.equal(p.video.length, 6);
        for (const f of p.video) assert.match(f, /^data:image\/jpeg;base64,/);
      }
    }
    // An image sent as it is arrives byte for byte (planning read it once and handed the bytes on).
    let asIs = 0;
    for (const c of userContents.filter((c) => typeof c !== 'string')) {
      const [media, text] = c as Rec[];
      if (media?.type !== 'image_url' || !String(media.image_url.url).startsWith('data:')) continue;
      const name = /^What is in (.+)\?/.exec(String(text?.text))?.[1];
      const row = rows.find((x) => path.basename(String(x.path)) === name && String(x.preprocess).startsWith('as is'));
      if (!row) continue;
      const original = (await readFile(path.isAbsolute(String(row.path)) ? String(row.path) : path.join(dir, String(row.path)))).toString('base64');
      // The stand-in records a long data URL as its length and the SHA-256 of its base64 payload.
      const url = String(media.image_url.url);
      if (url.includes(',…(')) assert.match(url, new RegExp(`,…\\(\\d+ chars, sha256 ${createHash('sha256').update(original).digest('hex')}\\)$`), `${name} as sent`);
      else assert.equal(url.slice(url.indexOf(',') + 1), original, `${name} as sent`);
      asIs++;
    }
    assert.ok(asIs >= 2, `images sent as they are and checked: ${asIs}`);
    // A text file's content follows the prompt as plain text input.
    const texts = userContents.filter((c) => typeof c === 'string');
    assert.ok(texts.some((t: string) => t.startsWith('What is in review.txt?\n\n') && t.length > 100));
    // Usage and cost are recorded per row and summed in the totals file.
    const totals = JSON.parse(await readFile(path.join(dir, 'out', 'all.jsonl.totals.json'), 'utf8'));
    assert.equal(totals.rows, 17);
    assert.equal(totals.byStatus.ok, 17);
    assert.equal(totals.tokens.total_tokens, rows.reduce((s, x) => s + x.total_tokens, 0));
    assert.ok(totals.tokens.image_tokens > 0 && totals.tokens.audio_tokens > 0 && totals.tokens.video_tokens > 0);
    assert.ok(totals.cost > 0);
    assert.equal(totals.currency, 'CNY');
    const video = rows.find((x) => x.path.endsWith('cat-zoom-narrated.mp4') && x.kind === 'video');
    assert.ok(video, 'the video row');
    assert.ok(video.video_tokens > 0 && video.cost > 0 && video.attempts === 1 && video.latency_ms >= video.ttft_ms);
    assert.match(r.stdout, /17 rows in .*all\.jsonl: 17 ok, 0 failed, 0 skipped/);
  });

  test('follow-up prompts continue the same conversation and every answer is kept', async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'labels.csv');
    const from = api.requests.length;
    const r = await runMain(
      ['run', '--manifest', path.join(EXAMPLES, 'manifests', 'reviews.csv'), '--prompt', 'Label {{row.id}}: {{row.review}}', '--follow-up', 'One word.', '--follow-up', 'Why?', '--out', out, '--max-files', '2'],
      { env: env(), cwd: dir },
    );
    assert.equal(r.code, 0, r.stderr);
    const rows = await readOutputRows(out);
    assert.equal(rows.length, 2);
    for (const row of rows) {
      assert.match(row.answer, /^Answer 1: Label r00\d: /);
      assert.equal(row.answer_2, 'Answer 2: One word.');
      assert.equal(row.answer_3, 'Answer 3: Why?');
      assert.equal(row.attempts, '3');
    }
    const third = since(from).find((q) => q.body.messages.length === 5);
    assert.ok(third, 'a turn-3 request with the whole history');
    const [u1, a1, u2, a2, u3] = third.body.messages;
    assert.equal(u1.role, 'user');
    assert.deepEqual(a1, { role: 'assistant', content: [{ type: 'text', text: `Answer 1: ${u1.content}` }] });
    assert.deepEqual(u2, { role: 'user', content: [{ type: 'text', text: 'One word.' }] });
    assert.deepEqual(a2, { role: 'assistant', content: [{ type: 'text', text: 'Answer 2: One word.' }] });
    assert.deepEqual(u3, { role: 'user', content: [{ type: 'text', text: 'Why?' }] });
  });

  test('every file gets exactly one row under 20% injected 429s and 10% cut streams, and a rerun makes no call', async () => {
    const dir = await tempDir();
    const media = path.join(dir, 'media');
    await mkdir(media);
    const n = 60;
    for (let i = 0; i < n; i++) await writeFile(path.join(media, `doc ${i}, "q".txt`), `text number ${i}`);
    const out = path.join(dir, 'out.csv');
    const job = await jobFile(dir, `inputs: [media]\nprompt: Title for {{file.name}}\nretries: 12\nconcurrency: 8\noutput: out.csv`);
    api.setOptions({ faults: randomFaults(42, { http429: 0.2, cut: 0.1 }, { retryAfterSec: 0 }) });
    const from = api.requests.length;
    try {
      const r = await runMain(['run', job], { env: env(), cwd: dir });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      api.setOptions({ faults: undefined });
    }
    const reqs = since(from);
    assert.ok(reqs.some((q) => q.outcome === 'http429') && reqs.some((q) => q.outcome === 'cut'), 'faults were injected');
    const rows = await readOutputRows(out);
    assert.equal(rows.length, n);
    assert.equal(new Set(rows.map((x) => x.path)).size, n);
    assert.deepEqual(rows.filter((x) => x.status !== 'ok').map((x) => x.error_message), []);
    assert.ok(rows.some((x) => Number(x.attempts) > 1), 'some rows needed retries');
    assert.equal(rows.reduce((s, x) => s + Number(x.attempts), 0), reqs.length);

    const again = api.requests.length;
    const r2 = await runMain(['run', job], { env: env(), cwd: dir });
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(api.requests.length - again, 0, 'the second run made no API call');
    assert.equal((await readOutputRows(out)).length, n);
    assert.match(r2.stdout, new RegExp(`${n} already done, 0 API requests`));
    const dry = await runMain(['run', job, '--dry-run'], { cwd: dir });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`${n} already done in`));
    assert.doesNotMatch(dry.stdout, /would send/);
  });

  test('429 with Retry-After, 5xx, a stalled stream, a destroyed socket, an in-band error and a missing usage chunk are all retried', async () => {
    const dir = await tempDir();
    const media = path.join(dir, 'media');
    await mkdir(media);
    const faults = ['http429', 'http500', 'http503', 'stall', 'destroy', 'inband-error', 'no-usage'] as const;
    for (const f of faults) await writeFile(path.join(media, `${f}.txt`), f);
    const firstSeen = new Set<string>();
    api.setOptions({
      // The first request for each file fails with the fault its name says; the retry succeeds.
      faults: ({ summary }) => {
        const f = faults.find((x) => summary.lastUserText.includes(`${x}\n`) || summary.lastUserText.endsWith(x));
        if (!f || firstSeen.has(f)) return null;
        firstSeen.add(f);
        return f === 'http429' ? { type: f, retryAfterSec: 1 } : { type: f };
      },
    });
    const job = await jobFile(dir, 'inputs: [media]\nprompt: Read this\nidleTimeoutSec: 0.5\noutput: out.jsonl');
    const from = api.requests.length;
    const started = Date.now();
    try {
      const r = await runMain(['run', job], { env: env(), cwd: dir });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      api.setOptions({ faults: undefined });
    }
    assert.deepEqual([...firstSeen].sort(), [...faults].sort());
    const rows = await readOutputRows(path.join(dir, 'out.jsonl'));
    assert.equal(rows.length, faults.length);
    for (const row of rows) {
      assert.equal(row.status, 'ok', `${row.path}: ${row.error_message}`);
      assert.equal(row.attempts, 2, row.path);
    }
    assert.equal(since(from).length, faults.length * 2);
    // Retry-After: 1 s was honoured by the run as a whole.
    assert.ok(Date.now() - started >= 1000);
  });

  test('400 errors are final: a moderation block fails its row after one attempt, other files go on', async () => {
    const dir = await tempDir();
    const media = path.join(dir, 'media');
    await mkdir(media);
    await writeFile(path.join(media, 'bad.txt'), 'forbidden words');
    await writeFile(path.join(media, 'good.txt'), 'fine words');
    api.setOptions({ faults: ({ summary }) => (summary.lastUserText.includes('forbidden') ? { type: 'moderation' } : null) });
    try {
      const r = await runMain(['run', await jobFile(dir, 'inputs: [media]\nprompt: Read\noutput: out.csv')], { env: env(), cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /failed media\/bad\.txt: moderation_blocked/);
    } finally {
      api.setOptions({ faults: undefined });
    }
    const rows = await readOutputRows(path.join(dir, 'out.csv'));
    const bad = rows.find((x) => x.path === 'media/bad.txt');
    assert.equal(bad?.status, 'failed');
    assert.equal(bad?.error_code, 'moderation_blocked');
    assert.equal(bad?.attempts, '1');
    assert.equal(rows.find((x) => x.path === 'media/good.txt')?.status, 'ok');
  });

  test('a 401 stops the whole run at once with one clear line, and the rerun with the right key completes it', async () => {
    const dir = await tempDir();
    const media = path.join(dir, 'media');
    await mkdir(media);
    for (let i = 0; i < 20; i++) await writeFile(path.join(media, `${i}.txt`), `t${i}`);
    const job = await jobFile(dir, 'inputs: [media]\nprompt: Read\nconcurrency: 2\noutput: out.csv');
    const from = api.requests.length;
    const wrongKey = 'sk-WRONG-REGION-KEY-0000000000';
    const r = await runMain(['run', job], { env: { ...env(), DASHSCOPE_API_KEY: wrongKey }, cwd: dir });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /auth_failed.*DASHSCOPE_API_KEY.*region/);
    assert.ok(!r.stderr.includes(wrongKey) && !r.stdout.includes(wrongKey));
    assert.ok(since(from).length <= 4, `stopped after ${since(from).length} requests`);
    const partial = await readOutputRows(path.join(dir, 'out.csv'));
    assert.ok(partial.every((x) => x.status === 'ok'), 'no row is written for files the 401 stopped');
    const r2 = await runMain(['run', job], { env: env(), cwd: dir });
    assert.equal(r2.code, 0, r2.stderr);
    const rows = await readOutputRows(path.join(dir, 'out.csv'));
    assert.equal(rows.length, 20);
    assert.ok(rows.every((x) => x.status === 'ok'));
  });

  test('failed rows are retried by the next run and replaced, leaving one row per file', async () => {
    const dir = await tempDir();
    const media = path.join(dir, 'media');
    await mkdir(media);
    for (let i = 0; i < 5; i++) await writeFile(path.join(media, `${i}.txt`), `t${i}`);
    const job = await jobFile(dir, 'inputs: [media]\nprompt: Read\nretries: 0\noutput: out.csv');
    api.setOptions({ faults: () => ({ type: 'http500' }) });
    try {
      const r = await runMain(['run', job], { env: env(), cwd: dir });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      api.setOptions({ faults: undefined });
    }
    const failed = await readOutputRows(path.join(dir, 'out.csv'));
    assert.deepEqual(failed.map((x) => x.error_code), Array(5).fill('server_error'));
    const from = api.requests.length;
    const r2 = await runMain(['run', job], { env: env(), cwd: dir });
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(since(from).length, 5);
    const rows = await readOutputRows(path.join(dir, 'out.csv'));
    assert.equal(rows.length, 5);
    assert.ok(rows.every((x) => x.status === 'ok'));
  });

  test('a manifest row that moved (a row inserted above it) keeps its answer and is not paid for again', async () => {
    const dir = await tempDir();
    const manifest = path.join(dir, 'rows.csv');
    await writeFile(manifest, 'q\nalpha\nbeta\ngamma\n');
    const job = await jobFile(dir, 'manifest: rows.csv\nprompt: "Q: {{row.q}}"\noutput: out.csv');
    const r1 = await runMain(['run', job], { env: env(), cwd: dir });
    assert.equal(r1.code, 0, r1.stderr);
    await writeFile(manifest, 'q\nnew first\nalpha\nbeta\ngamma\n');
    const from = api.requests.length;
    const r2 = await runMain(['run', job], { env: env(), cwd: dir });
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(since(from).length, 1, 'only the new row was sent');
    const rows = await readOutputRows(path.join(dir, 'out.csv'));
    const by = Object.fromEntries(rows.map((x) => [x.path, x.answer]));
    assert.deepEqual(by, {
      'rows.csv#1': 'Answer 1: Q: new first',
      'rows.csv#2': 'Answer 1: Q: alpha',
      'rows.csv#3': 'Answer 1: Q: beta',
      'rows.csv#4': 'Answer 1: Q: gamma',
    });
    const totals = JSON.parse(await readFile(path.join(dir, 'out.csv.totals.json'), 'utf8'));
    assert.equal(totals.rows, 4);
    assert.equal(totals.byStatus.ok, 4);
  });

  test('the API key appears in no output, totals file or log, even when requests fail', async () => {
    const dir = await tempDir();
    const media = path.join(dir, 'media');
    await mkdir(media);
    for (let i = 0; i < 12; i++) await writeFile(path.join(media, `${i}.txt`), `t${i}`);
    await cp(path.join(FIXTURES, 'tiny-8x8.png'), path.join(media, 'tiny.png'));
    api.setOptions({ faults: randomFaults(7, { http429: 0.3, http500: 0.2, 'inband-error': 0.2, moderation: 0.1 }, { retryAfterSec: 0 }) });
    let r;
    try {
      r = await runMain(['run', await jobFile(dir, 'inputs: [media]\nprompt: Read {{file.name}}\nretries: 1\noutput: out.csv')], { env: env(), cwd: dir });
    } finally {
      api.setOptions({ faults: undefined });
    }
    assert.equal(r.code, 0, r.stderr);
    const rows = await readOutputRows(path.join(dir, 'out.csv'));
    assert.ok(rows.some((x) => x.status === 'failed'), 'some rows failed, so error messages were written');
    for (const file of await readdir(dir)) {
      if (file.endsWith('.csv') || file.endsWith('.json')) assert.ok(!(await readFile(path.join(dir, file), 'utf8')).includes(KEY), file);
    }
    assert.ok(!r.stdout.includes(KEY) && !r.stderr.includes(KEY));
    assert.ok(!r.stdout.includes(KEY.slice(3, 20)) && !r.stderr.includes(KEY.slice(3, 20)));
  });

  test('files that do not fit are fixed before sending, unreadable ones fail without a call, and the stand-in rejects none', async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'fixtures.csv');
    const from = api.requests.length;
    const r = await runMain(['run', '--input', FIXTURES, '--include', '*.{png,mp4,mp3,webm}', '--prompt', 'Describe', '--model', 'qwen-omni-turbo', '--out', out], { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const rows = await readOutputRows(out);
    const by: Record<string, Rec> = Object.fromEntries(rows.map((x) => [path.basename(x.path), x]));
    const st = (name: string) => `${by[name]?.status} ${by[name]?.error_code}`;
    assert.equal(st('tiny-8x8.png'), 'ok ');
    assert.match(by['tiny-8x8.png']?.preprocess, /^padded 8x8->11x11/);
    assert.equal(st('long-45s.mp4'), 'ok ');
    assert.match(by['long-45s.mp4']?.preprocess, /^trimmed 0-(39|40)(\.\d)?s copy/);
    assert.ok(Number(by['long-45s.mp4']?.duration_sec) <= 40);
    assert.equal(st('short-1s.mp4'), 'ok ');
    assert.match(by['short-1s.mp4']?.preprocess, /^frames 4 @ 0\.0,/);
    assert.equal(st('audio-200s.mp3'), 'ok ');
    assert.match(by['audio-200s.mp3']?.preprocess, /mp3 .* 0-179\.8s/);
    assert.equal(st('clip.webm'), 'ok ');
    assert.match(by['clip.webm']?.preprocess, /reencoded vp9->h264/);
    assert.equal(st('random-bytes.mp4'), 'failed media_unreadable');
    assert.equal(st('text-named.mp4'), 'failed media_unreadable');
    const sent = rows.filter((x) => x.status === 'ok');
    assert.equal(since(from).length, sent.length, 'one request per ok row, none for the unreadable files');
    assert.deepEqual(since(from).filter((q) => q.status !== 200), [], 'the stand-in refused nothing');
  });

  test('an unwritable output exits 4 with one line naming the file, before any call', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.txt'), 'x');
    await writeFile(path.join(dir, 'blocker'), 'x');
    const from = api.requests.length;
    const r = await runMain(['run', '--input', dir, '--prompt', 'p', '--out', path.join(dir, 'blocker', 'o.csv')], { env: env(), cwd: ROOT });
    assert.equal(r.code, 4);
    assert.match(r.stderr, /blocker\/o\.csv: cannot write the output file/);
    assert.equal(since(from).length, 0);
  });

  test('unknown template variables are refused before any call', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.txt'), 'x');
    const from = api.requests.length;
    const r = await runMain(['run', '--input', dir, '--prompt', 'Hi {{env.HOME}}', '--out', path.join(dir, 'o.csv')], { env: env() });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown template variable \{\{env\.HOME\}\}/);
    assert.equal(since(from).length, 0);
  });
});
