import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, readFile, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { planItem, type PlanContext, type Planned } from '../src/producer/plan.js';
import { fileVars } from '../src/producer/item.js';
import { scan } from '../src/producer/scan.js';
import { PLAIN_ANSWER } from '../src/shared/job.js';
import { compileTemplate } from '../src/producer/template.js';
import OpenAI from 'openai';
import type { Job } from '../src/shared/job.js';
import { MODELS } from '../src/shared/models.js';
import { LocalPacer, PauseGate } from '../src/shared/rate-limit.js';
import { misfitRow, processJob, type WorkerContext } from '../src/worker/process.js';
import { FIXTURES, tempDir } from './helpers.js';

const ctx = (prompt = 'Describe {{file.name}} ({{media.kind}}, {{media.durationSec}} s)'): PlanContext => ({
  model: 'qwen-omni-turbo',
  info: MODELS['qwen-omni-turbo'],
  modelLimits: undefined,
  priceRegion: 'cn',
  generation: {},
  prompts: [compileTemplate(prompt, { where: 'prompt', rowColumns: null })],
  system: undefined,
  options: { image: { fix: 'pad' }, video: { mode: 'auto', startSec: 0, windowSec: null, frames: null, autoMaxTrimSec: 10 }, audio: { mode: 'trim', startSec: 0 }, upload: true },
  answer: PLAIN_ANSWER,
  answerTokens: 150,
});

/** Plans every file of a folder and says, per file, what would happen: `send`, or status + code. */
async function outcomes(dir: string, c = ctx()): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  for await (const item of scan({ inputs: [dir], include: [], exclude: [], never: [], cwd: dir })) {
    const planned = await planItem(item, c);
    if ('row' in planned) result[item.path] = `${planned.row.status} ${planned.row.error_code}`;
    else {
      const misfit = misfitRow(planned.job);
      result[item.path] = misfit ? `${misfit.status} ${misfit.error_code}` : `send ${planned.job.media?.type ?? 'text'}`;
    }
  }
  return result;
}

describe('planning files against the model limits (qwen-omni-turbo)', () => {
  test('each fixture is classified by its content and gets the outcome its name promises, before any API call', async () => {
    const got = await outcomes(FIXTURES);
    // Local media that does not fit is no longer skipped here: the worker fits it (see preprocess.test.ts).
    const expected: Record<string, string> = {
      'ok-photo.jpg': 'send image',
      'ok-graphic.png': 'send image',
      'ok-photo.webp': 'send image',
      'tiny-8x8.png': 'send image',
      'wide-2100x10.png': 'send image',
      'wide-1000x4.png': 'send image',
      'image.bmp': 'send image',
      'image.tiff': 'send image',
      'animated.gif': 'send image',
      'ok-speech.mp3': 'send audio',
      'ok-speech.wav': 'send audio',
      'speech.ogg': 'send audio',
      'speech.flac': 'send audio',
      'speech.m4a': 'send audio',
      'audio-200s.mp3': 'send audio',
      'ok-clip-5s.mp4': 'send video_file',
      'clip-noaudio.mp4': 'send video_file',
      'short-1s.mp4': 'send video_file',
      'long-45s.mp4': 'send video_file',
      'clip.webm': 'send video_file',
      'empty.jpg': 'failed media_unreadable',
      'random-bytes.mp4': 'failed media_unreadable',
      'text-named.mp4': 'failed media_unreadable',
      'no-extension-video': 'send video_file',
      'note.txt': 'send text_file',
    };
    for (const [file, outcome] of Object.entries(expected)) assert.equal(got[file], outcome, file);
  });

  test('with image.fix refuse, a strip over 200:1 and a side of 10 px are refused with the reason; a huge image is planned for resizing', async () => {
    const dir = await tempDir();
    await sharp({ create: { width: 2400, height: 11, channels: 3, background: '#888' } }).png().toFile(path.join(dir, 'strip.png'));
    await sharp({ create: { width: 300, height: 10, channels: 3, background: '#888' } }).png().toFile(path.join(dir, 'thin.png'));
    // Random pixels do not compress: about 3 bytes per pixel, so 2000x1800 is over 10 MB as PNG.
    const noise = Buffer.alloc(2000 * 1800 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    await sharp(noise, { raw: { width: 2000, height: 1800, channels: 3 } }).png({ compressionLevel: 0 }).toFile(path.join(dir, 'huge.png'));
    const refuse = ctx();
    const got = await outcomes(dir, { ...refuse, options: { ...refuse.options, image: { fix: 'refuse' } } });
    assert.equal(got['strip.png'], 'skipped bad_aspect');
    assert.equal(got['thin.png'], 'skipped too_small');
    assert.equal(got['huge.png'], 'send image');
  });

  test('the id is stable for the same content, prompt and model, and changes when any of them does', async () => {
    const one = async (c: PlanContext, file = 'ok-photo.jpg') => {
      for await (const item of scan({ inputs: [path.join(FIXTURES, file)], include: [], exclude: [], never: [], cwd: FIXTURES })) {
        const p = await planItem(item, c);
        if ('job' in p) return p.job;
      }
      throw new Error('no job');
    };
    const a = await one(ctx('Caption'));
    assert.equal((await one(ctx('Caption'))).id, a.id);
    assert.notEqual((await one(ctx('Caption!'))).id, a.id);
    assert.notEqual((await one({ ...ctx('Caption'), model: 'qwen2.5-omni-7b' })).id, a.id);
    assert.notEqual((await one(ctx('Caption'), 'ok-graphic.png')).id, a.id);
  });

  test('media variables are filled from the probe: kind and duration', async () => {
    for await (const item of scan({ inputs: [path.join(FIXTURES, 'ok-clip-5s.mp4')], include: [], exclude: [], never: [], cwd: FIXTURES })) {
      const p = await planItem(item, ctx());
      assert.ok('job' in p);
      assert.equal(p.job.prompts[0], 'Describe ok-clip-5s.mp4 (video, 5 s)');
    }
  });
});

describe('images sent as they are', () => {
  test('a whole JPEG, PNG or WebP is recognised by its end marker, a cut one is not (it is then decoded in full)', async () => {
    const { endsWhole } = await import('../src/worker/preprocess/image.js');
    assert.equal(await endsWhole(path.join(FIXTURES, 'ok-photo.jpg'), 'jpeg'), true);
    assert.equal(await endsWhole(path.join(FIXTURES, 'ok-graphic.png'), 'png'), true);
    assert.equal(await endsWhole(path.join(FIXTURES, 'ok-photo.webp'), 'webp'), true);
    assert.equal(await endsWhole(path.join(FIXTURES, 'truncated.jpg'), 'jpeg'), false);
    assert.equal(await endsWhole(path.join(FIXTURES, 'empty.jpg'), 'jpeg'), false);
    // The same answers from the bytes planning kept (in-process), for every fixture and format.
    for (const name of ['ok-photo.jpg', 'ok-graphic.png', 'ok-photo.webp', 'truncated.jpg', 'empty.jpg']) {
      const file = path.join(FIXTURES, name);
      for (const format of ['jpeg', 'png', 'webp']) {
        assert.equal(await endsWhole(await readFile(file), format), await endsWhole(file, format), `${name} as ${format}`);
      }
    }
  });

  test('planning keeps the bytes of a small media file it read for the probe and the id', async () => {
    const file = path.join(FIXTURES, 'ok-photo.jpg');
    let checked = 0;
    for await (const item of scan({ inputs: [file], include: [], exclude: [], never: [], cwd: FIXTURES })) {
      const planned = await planItem(item, ctx());
      assert.ok('job' in planned);
      assert.deepEqual(planned.content, await readFile(file));
      assert.equal(planned.job.facts.bytes, (await readFile(file)).length);
      checked++;
    }
    assert.equal(checked, 1);
  });

  test('a named pipe a manifest names is a failed row, not a wait for a writer; a text file is kept whole from its one read', async () => {
    const dir = await tempDir();
    const fifo = path.join(dir, 'pipe.txt');
    execFileSync('mkfifo', [fifo]);
    const text = path.join(dir, 'note.txt');
    await writeFile(text, 'héllo\n'.repeat(1000));
    const got: Record<string, Planned> = {};
    // As a manifest's row makes it: the path as named, not found by the walk (which leaves pipes out itself).
    for (const file of [fifo, text]) {
      const name = path.basename(file);
      got[name] = await planItem({ path: name, file: fileVars(name), media: { type: 'single', source: { file } }, row: undefined }, ctx('Summarize'));
    }
    const pipe = got['pipe.txt'];
    assert.ok(pipe && 'row' in pipe, 'the pipe has a row');
    assert.equal(pipe.row.status, 'failed');
    assert.equal(pipe.row.error_code, 'file_unreadable');
    assert.equal(pipe.row.error_message, 'pipe.txt: not a regular file');
    const note = got['note.txt'];
    assert.ok(note && 'job' in note);
    assert.deepEqual(note.job.media, { type: 'text_file', file: text, text: 'héllo\n'.repeat(1000) });
    assert.equal(note.job.facts.bytes, Buffer.byteLength('héllo\n'.repeat(1000)));
  });

  test('an image gone by the time a queue worker takes its job gets a file_unreadable row naming it, before any request', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'gone.jpg');
    await copyFile(path.join(FIXTURES, 'ok-photo.jpg'), file);
    let job: Job | undefined;
    for await (const item of scan({ inputs: [file], include: [], exclude: [], never: [], cwd: dir })) {
      const planned = await planItem(item, ctx());
      assert.ok('job' in planned);
      job = planned.job;
    }
    assert.ok(job);
    await unlink(file);
    let requests = 0;
    const worker: WorkerContext = {
      // Never reached: the row is made before any request (a request here would fail to connect).
      client: new OpenAI({ apiKey: 'sk-unused', baseURL: 'http://127.0.0.1:9/v1', maxRetries: 0 }),
      idleTimeoutMs: 1000,
      retry: { retries: 0, baseMs: 1, maxMs: 1 },
      gate: new PauseGate(),
      pacer: new LocalPacer({ rpm: undefined, tpm: undefined }),
      signal: new AbortController().signal,
      onRequest: () => void requests++,
      runCpu: (fn) => fn(),
      runApi: (fn) => fn(),
      tmpDir: dir,
    };
    // As a queue worker calls it: no bytes from planning.
    const row = await processJob(job, worker);
    assert.equal(row.status, 'failed');
    assert.equal(row.error_code, 'file_unreadable');
    assert.equal(row.error_message, `${job.path}: no such file`);
    assert.equal(requests, 0);
  });
});
