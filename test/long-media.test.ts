/**
 * Long media: a 2-hour audio file and a 20-minute video (generated once with ffmpeg, small and low-bitrate, cached
 * under os.tmpdir()) go whole to qwen3.5-omni-flash by DashScope's temporary upload (oss://), and are cut for
 * qwen-omni-turbo, with the estimate within 5% of the stand-in's count each time. The whole flow runs on real parts:
 * the `openai` SDK and Node's fetch/FormData over HTTP against the stand-in, which issues signed policies, checks the
 * multipart form, resolves oss:// only with the resolve header and lets an upload expire after 48 h of its clock.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { renderSummary } from '../src/commands/summary.js';
import { startRun } from '../src/engine/in-process/index.js';
import type { Totals } from '../src/shared/output/totals.js';
import { resolveConfig, type Flags } from '../src/shared/config.js';
import type { Row } from '../src/shared/row.js';
import { uploadCachePathFor } from '../src/shared/output/upload-cache.js';
import { uploadsUrl } from '../src/worker/upload.js';
import { createClient } from '../src/worker/qwen-omni.js';
import { ffmpeg } from './corpus.js';
import { runMain, tempDir } from './helpers.js';
import { ManualClock } from './manual-clock.js';
import { startStandIn, type StandIn } from './stand-in/server.js';

const KEY = 'sk-SENTINEL-uploads-7c41d9e2b86a';
const HOUR = 3600 * 1000;
/** Bump when a generated file changes. */
const MEDIA_DIR = path.join(os.tmpdir(), 'omni-batch-long-media-v2');

/** Makes `name` once (a temporary name, then renamed: a killed run never leaves half a file). */
async function once(name: string, make: (tmp: string) => Promise<void>): Promise<string> {
  const file = path.join(MEDIA_DIR, name);
  if ((await stat(file).catch(() => undefined))?.isFile()) return file;
  const tmp = path.join(MEDIA_DIR, `.tmp-${process.pid}-${name}`);
  await make(tmp);
  await rename(tmp, file);
  return file;
}

/**
 * One minute is encoded, then repeated by stream copy: 2 hours of 8 kHz mono 16 kbps MP3 (14 MB, over the 10 MB
 * data-URL cap) and 20 minutes of 64x64 1-fps video with a 64 kbps soundtrack (12 MB) cost well under a second.
 */
async function longMedia(): Promise<{ audio2h: string; video20m: string; audio7m: string; video100s: string; audio20m: string }> {
  await mkdir(MEDIA_DIR, { recursive: true });
  const minuteAudio = await once('minute-8k.mp3', (tmp) => ffmpeg(['-f', 'lavfi', '-i', 'anoisesrc=r=8000:d=60:a=0.1', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '16k', '-f', 'mp3', tmp]));
  const minuteVideo = await once('minute-64px.mp4', (tmp) =>
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=64x64:rate=1:duration=60', '-f', 'lavfi', '-i', 'anoisesrc=r=16000:d=60:a=0.1', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '1', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k', '-ac', '1', '-shortest', '-f', 'mp4', tmp]),
  );
  const minuteRich = await once('minute-8k-64k.mp3', (tmp) => ffmpeg(['-f', 'lavfi', '-i', 'anoisesrc=r=8000:d=60:a=0.1', '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '64k', '-f', 'mp3', tmp]));
  const loop = (src: string, sec: number, format: string) => (tmp: string) => ffmpeg(['-stream_loop', '-1', '-i', src, '-t', String(sec), '-c', 'copy', '-f', format, tmp]);
  return {
    audio2h: await once('call-2h.mp3', loop(minuteAudio, 7200, 'mp3')),
    video20m: await once('lecture-20min.mp4', loop(minuteVideo, 1200, 'mp4')),
    audio7m: await once('call-7min.mp3', loop(minuteAudio, 420, 'mp3')),
    video100s: await once('clip-100s.mp4', loop(minuteVideo, 100, 'mp4')),
    audio20m: await once('interview-20min-64k.mp3', loop(minuteRich, 1200, 'mp3')),
  };
}

let api: StandIn;
let media: Awaited<ReturnType<typeof longMedia>>;
const clock = new ManualClock();
before(async () => {
  media = await longMedia();
  api = await startStandIn({ apiKey: KEY, uploads: { now: () => clock.now() } });
});
after(() => api.close());

/** Runs one file through the in-process engine with the stand-in's client and the manual clock; its row. */
async function runOne(dir: string, file: string, flags: Flags, server: StandIn = api): Promise<Row> {
  const cfg = await resolveConfig(undefined, { input: [file], out: path.join(dir, 'out.jsonl'), retries: 0, rpm: 0, tpm: 0, ...flags }, {}, dir);
  const rows: Row[] = [];
  const { done } = startRun(cfg, { apiKey: KEY, client: createClient(KEY, server.baseURL), clock, log: () => undefined, onRow: (r) => void rows.push(r) });
  const result = await done;
  assert.equal(result.exitCode, 0, result.fatal);
  assert.equal(rows.length, 1);
  return rows[0] as Row;
}

/** The chat requests sent since `from`, as the stand-in recorded them. */
const chatsSince = (from: number) => api.requests.slice(from).filter((r) => JSON.stringify(r.body).includes('"messages"'));

function assertWithin5(row: Row, what: string): void {
  const got = row.usage.prompt_tokens;
  const est = row.estimated_tokens ?? 0;
  assert.ok(got > 0 && Math.abs(est - got) / got <= 0.05, `${what}: estimated ${est} vs the stand-in's ${got}`);
}

describe('long media by temporary upload (oss://)', () => {
  test('the upload API is found on the host of the compatible-mode base URL', () => {
    assert.equal(uploadsUrl('https://dashscope.aliyuncs.com/compatible-mode/v1'), 'https://dashscope.aliyuncs.com/api/v1/uploads');
    assert.equal(uploadsUrl('https://ws-1.ap-southeast-1.maas.aliyuncs.com/compatible-mode/v1/'), 'https://ws-1.ap-southeast-1.maas.aliyuncs.com/api/v1/uploads');
    assert.equal(uploadsUrl(api.baseURL), `${new URL(api.baseURL).origin}/api/v1/uploads`);
  });

  test('a 2-hour audio file goes whole to qwen3.5-omni-flash by upload, resolved only with the resolve header and for its model, estimated within 5%', async () => {
    const dir = await tempDir();
    const from = api.requests.length;
    const uploads = api.uploads.uploads;
    const row = await runOne(dir, media.audio2h, { model: 'qwen3.5-omni-flash', prompt: 'Summarize the call {{file.name}}' });
    assert.equal(row.status, 'ok', row.error_message);
    assert.match(row.preprocess, /^as is mp3 720\d(\.\d)?s; uploaded \(oss:\/\/, 48 h\)$/);
    assert.equal(api.uploads.uploads - uploads, 1, 'one upload');
    const [chat] = chatsSince(from);
    assert.equal(chat?.headers['x-dashscope-ossresourceresolve'], 'enable');
    assert.match(JSON.stringify(chat?.body), /"data":"oss:\/\/dashscope-instant\/[^"]+\.mp3"/);
    // The stand-in resolves it only with the resolve header, and only for the model the policy was for.
    const url = /oss:\/\/[^"]+/.exec(JSON.stringify(chat?.body))?.[0] ?? '';
    assert.throws(() => api.uploads.resolve(url, 'qwen3.5-omni-flash', false), /does not appear to be valid/);
    assert.throws(() => api.uploads.resolve(url, 'qwen3-omni-flash', true), /another model/);
    assert.ok(api.uploads.resolve(url, 'qwen3.5-omni-flash', true).length > 10 * 1024 * 1024);
    assert.ok((row.duration_sec ?? 0) >= 7199, 'the whole recording was sent');
    assertWithin5(row, '2-hour audio, qwen3.5-omni-flash');
    // Nothing of the signed policy, nor the key, is kept beside the output.
    const cache = await readFile(uploadCachePathFor(path.join(dir, 'out.jsonl')), 'utf8');
    assert.match(cache, /oss:\/\/dashscope-instant\//);
    for (const file of ['out.jsonl', 'out.jsonl.uploads.json', 'out.jsonl.run.json', 'out.jsonl.totals.json']) {
      const text = await readFile(path.join(dir, file), 'utf8');
      assert.doesNotMatch(text, /Signature|signature|OSSAccessKeyId|LTAI|policy"/, file);
      assert.ok(!text.includes(KEY), `${file} holds the key`);
    }
  });

  test('a rerun within 48 h reuses the upload; after 48 h (the clock moved) it uploads again, and the stand-in refuses the old URL', async () => {
    const dir = await tempDir();
    await runOne(dir, media.video20m, { model: 'qwen3.5-omni-flash', prompt: 'Describe the lecture' });
    const uploads = api.uploads.uploads;
    const from = api.requests.length;
    await clock.advance(40 * HOUR);
    const again = await runOne(dir, media.video20m, { model: 'qwen3.5-omni-flash', prompt: 'List the topics of the lecture' });
    assert.equal(again.status, 'ok', again.error_message);
    assert.match(again.preprocess, /oss:\/\/ upload reused/);
    assert.equal(api.uploads.uploads, uploads, 'no second upload within 48 h');
    assertWithin5(again, '20-minute video, qwen3.5-omni-flash');
    const oldUrl = /oss:\/\/[^"]+/.exec(JSON.stringify(chatsSince(from)[0]?.body))?.[0] ?? '';

    await clock.advance(9 * HOUR);
    assert.throws(() => api.uploads.resolve(oldUrl, 'qwen3.5-omni-flash', true), /does not exist or has expired/);
    const late = await runOne(dir, media.video20m, { model: 'qwen3.5-omni-flash', prompt: 'Who speaks in the lecture?' });
    assert.equal(late.status, 'ok', late.error_message);
    assert.match(late.preprocess, /uploaded \(oss:\/\/, 48 h\)/);
    assert.equal(api.uploads.uploads, uploads + 1, 'uploaded again after the 48 h');
  });

  test('a remembered upload the API no longer knows (another account or region) is uploaded again, once', async () => {
    const dir = await tempDir();
    await runOne(dir, media.audio2h, { model: 'qwen3.5-omni-flash', prompt: 'Who is calling?' });
    // Another server, with an empty store: the uploads file beside the output names files it never had.
    const other = await startStandIn({ apiKey: KEY, uploads: { now: () => clock.now() } });
    try {
      const row = await runOne(dir, media.audio2h, { model: 'qwen3.5-omni-flash', prompt: 'Who is called?' }, other);
      assert.equal(row.status, 'ok', row.error_message);
      assert.match(row.preprocess, /; the remembered oss:\/\/ upload was refused, uploaded again/);
      assert.deepEqual(other.requests.filter((r) => JSON.stringify(r.body).includes('"messages"')).map((r) => r.status), [400, 200]);
      assert.equal(other.uploads.uploads, 1);
    } finally {
      await other.close();
    }
  });

  test('a policy request and an upload that fail with 5xx are retried with the run\'s backoff; a refused one is upload_failed', async () => {
    const flaky = await startStandIn({ apiKey: KEY, uploads: { fail: (step, n) => (n === 1 ? 503 : step === 'policy' && n === 4 ? 400 : undefined) } });
    try {
      const dir = await tempDir();
      const run = async (prompt: string) => {
        const cfg = await resolveConfig(undefined, { input: [media.audio2h], out: path.join(dir, 'out.jsonl'), model: 'qwen3.5-omni-flash', prompt, rpm: 0, tpm: 0 }, {}, dir);
        const rows: Row[] = [];
        // Real time, tiny backoff: the retries wait a few ms.
        const { done } = startRun({ ...cfg, retries: 2, retryBaseMs: 1, retryMaxMs: 5 }, { apiKey: KEY, client: createClient(KEY, flaky.baseURL), log: () => undefined, onRow: (r) => void rows.push(r) });
        assert.equal((await done).exitCode, 0);
        return rows[0] as Row;
      };
      const row = await run('Summarize');
      assert.equal(row.status, 'ok', row.error_message);
      assert.equal(flaky.uploads.uploads, 1);
      // Policy 1 (503), 2, upload 1 (503), policy 3, upload 2: one file in the store, after two retries.
      assert.equal(row.requests, 1, 'the chat request went once');
      await writeFile(uploadCachePathFor(path.join(dir, 'out.jsonl')), '{}');
      // Policy 4 is a 400: a refusal is final, and names the step, not the signed fields.
      const refused = await run('And once more');
      assert.equal(refused.status, 'failed');
      assert.equal(refused.error_code, 'upload_failed');
      assert.match(refused.error_message, /the upload policy was refused: HTTP 400 invalid_parameter_error .*\(1 attempt\)$/);
    } finally {
      await flaky.close();
    }
  });

  test('the job file\'s upload: false holds unless a flag says otherwise (--upload, --no-upload)', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.txt'), 'alpha');
    await writeFile(path.join(dir, 'job.yaml'), 'inputs: [a.txt]\nprompt: Read it\nupload: false\noutput: out.jsonl\n');
    const env = { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL };
    const uploadOf = async (args: string[]) => {
      const r = await runMain(['run', path.join(dir, 'job.yaml'), '--quiet', ...args], { env, cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      return (JSON.parse(await readFile(path.join(dir, 'out.jsonl.run.json'), 'utf8')) as { config: { preprocess: { upload: boolean } } }).config.preprocess.upload;
    };
    assert.equal(await uploadOf([]), false);
    assert.equal(await uploadOf(['--upload']), true);
    assert.equal(await uploadOf(['--no-upload']), false);
  });

  test('--no-upload keeps the data-URL path: a 20-minute 64 kbps recording is re-encoded under the cap, nothing is uploaded', async () => {
    const dir = await tempDir();
    const uploads = api.uploads.policies;
    const row = await runOne(dir, media.audio20m, { model: 'qwen3.5-omni-flash', prompt: 'Describe it', upload: false });
    assert.equal(row.status, 'ok', row.error_message);
    assert.match(row.preprocess, /^audio mp3->mp3 8kHz mono 32k 0-120\d(\.\d)?s$/);
    assert.doesNotMatch(row.preprocess, /oss/);
    assert.ok((row.sent_bytes ?? Infinity) < 7.5 * 1024 * 1024);
    assert.equal(api.uploads.policies, uploads, 'no upload policy asked for');
  });
});

describe('long media for qwen-omni-turbo: cut, or asked part by part', () => {
  test('the 2-hour audio is trimmed to 3 minutes and the 20-minute video sent as frames, each estimated within 5%', async () => {
    const dir = await tempDir();
    const audio = await runOne(dir, media.audio2h, { model: 'qwen-omni-turbo', prompt: 'Summarize the call' });
    assert.equal(audio.status, 'ok', audio.error_message);
    assert.match(audio.preprocess, /0-179\.8s \(trimmed from 720\d(\.\d)?s\)/);
    assertWithin5(audio, '2-hour audio, turbo');
    const video = await runOne(dir, media.video20m, { model: 'qwen-omni-turbo', prompt: 'Describe the lecture' });
    assert.equal(video.status, 'ok', video.error_message);
    assert.match(video.preprocess, /^frames 80/);
    assertWithin5(video, '20-minute video, turbo');
    // The totals and the summary count the file the model heard only part of (frames cover the whole video).
    const totals = JSON.parse(await readFile(path.join(dir, 'out.jsonl.totals.json'), 'utf8')) as Totals;
    assert.deepEqual(totals.longMedia, { trimmed: 1, segmented: 0, uploaded: 0 });
    const text = renderSummary({ out: path.join(dir, 'out.jsonl'), totalsPath: path.join(dir, 'out.jsonl.totals.json'), cwd: dir }, totals, { byKind: new Map(), reasons: new Map() });
    assert.match(text, /^ {2}1 file trimmed to the model's maximum: the model saw only part \(audio\.mode \/ video\.mode segments asks every part\)$/m);
  });

  test('audio.mode segments: a 7-minute call is asked in 3 parts, one row with the answers in order under their time ranges', async () => {
    const dir = await tempDir();
    const from = api.requests.length;
    const row = await runOne(dir, media.audio7m, { model: 'qwen-omni-turbo', prompt: 'Summarize the call', audioMode: 'segments' });
    assert.equal(row.status, 'ok', row.error_message);
    const chats = chatsSince(from);
    assert.equal(chats.length, 3, 'one request per part');
    assert.match(row.preprocess, /^segments 3 x 140(\.\d)?s \(audio mp3 copy 0-140(\.\d)?s\)$/);
    const answer = row.answers[0] ?? '';
    assert.match(answer, /^\[00:00-02:20\] Answer 1: Summarize the call\n\n\[02:20-04:40\] Answer 1: [^\n]+\n\n\[04:40-07:00\] Answer 1: /);
    assert.equal(row.requests, 3);
    assert.equal(row.retries, 0);
    assert.ok((row.duration_sec ?? 0) > 419, 'every second was sent');
    assertWithin5(row, '7-minute audio in segments, turbo');
    const totals = JSON.parse(await readFile(path.join(dir, 'out.jsonl.totals.json'), 'utf8')) as Totals;
    assert.deepEqual(totals.longMedia, { trimmed: 0, segmented: 1, uploaded: 0 });
  });

  test('video.mode segments: a 100-second video is asked in 3 files of at most 40 s, estimated within 5%', async () => {
    const dir = await tempDir();
    const row = await runOne(dir, media.video100s, { model: 'qwen-omni-turbo', prompt: 'Describe it', videoMode: 'segments' });
    assert.equal(row.status, 'ok', row.error_message);
    assert.match(row.preprocess, /^segments 3 x 33.3s/);
    assert.match(row.answers[0] ?? '', /\[01:07-01:40\] Answer 1: Describe it$/);
    assertWithin5(row, '100-second video in segments, turbo');
  });

  test('a part that fails fails the row, naming the part; what came back before it is kept', async () => {
    const dir = await tempDir();
    let chats = 0;
    api.setOptions({ faults: () => (++chats === 2 ? { type: 'http500' } : null) });
    try {
      const row = await runOne(dir, media.audio7m, { model: 'qwen-omni-turbo', prompt: 'Transcribe the call', audioMode: 'segments' });
      assert.equal(row.status, 'failed');
      assert.equal(row.error_code, 'server_error');
      assert.match(row.error_message, /^part 2 of 3 \[02:20-04:40\]: HTTP 500/);
      assert.match(row.answers[0] ?? '', /^\[00:00-02:20\] Answer 1/);
      assert.ok(row.usage.audio_tokens > 0, 'the first part is paid for and counted');
    } finally {
      api.setOptions({ faults: undefined });
    }
  });
});
