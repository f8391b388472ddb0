import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { planItem, type PlanContext } from '../src/producer/plan.js';
import { scan } from '../src/producer/scan.js';
import { compileTemplate } from '../src/producer/template.js';
import { misfitRow } from '../src/worker/process.js';
import { FIXTURES, tempDir } from './helpers.js';

const ctx = (prompt = 'Describe {{file.name}} ({{media.kind}}, {{media.durationSec}} s)'): PlanContext => ({
  model: 'qwen-omni-turbo',
  prompts: [compileTemplate(prompt, { where: 'prompt', rowColumns: null })],
  system: undefined,
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
  test('each fixture gets the outcome its name promises, before any API call', async () => {
    const got = await outcomes(FIXTURES);
    const expected: Record<string, string> = {
      'ok-photo.jpg': 'send image',
      'ok-graphic.png': 'send image',
      'ok-photo.webp': 'send image',
      'tiny-8x8.png': 'skipped too_small',
      'wide-2100x10.png': 'skipped too_small',
      'wide-1000x4.png': 'skipped too_small',
      'image.bmp': 'skipped unsupported_format',
      'image.tiff': 'skipped unsupported_format',
      'animated.gif': 'skipped unsupported_format',
      'ok-speech.mp3': 'send audio',
      'ok-speech.wav': 'send audio',
      'speech.ogg': 'skipped unsupported_format',
      'speech.flac': 'skipped unsupported_format',
      'speech.m4a': 'skipped unsupported_format',
      'audio-200s.mp3': 'skipped too_long',
      'ok-clip-5s.mp4': 'send video_file',
      'clip-noaudio.mp4': 'send video_file',
      'short-1s.mp4': 'skipped too_short',
      'long-45s.mp4': 'skipped too_long',
      'clip.webm': 'skipped unsupported_format',
      'empty.jpg': 'failed media_unreadable',
      'random-bytes.mp4': 'failed media_unreadable',
      'text-named.mp4': 'failed media_unreadable',
      'no-extension-video': 'skipped unsupported_type',
      'note.txt': 'send text_file',
    };
    for (const [file, outcome] of Object.entries(expected)) assert.equal(got[file], outcome, file);
  });

  test('an image over 200:1 is refused for its aspect ratio, and one over the data-URL cap for its size', async () => {
    const dir = await tempDir();
    await sharp({ create: { width: 2400, height: 11, channels: 3, background: '#888' } }).png().toFile(path.join(dir, 'strip.png'));
    // Random pixels do not compress: about 3 bytes per pixel, so 2000x1800 is over 10 MB as PNG.
    const noise = Buffer.alloc(2000 * 1800 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 2654435761) >>> 24;
    await sharp(noise, { raw: { width: 2000, height: 1800, channels: 3 } }).png({ compressionLevel: 0 }).toFile(path.join(dir, 'huge.png'));
    const got = await outcomes(dir);
    assert.equal(got['strip.png'], 'skipped bad_aspect');
    assert.equal(got['huge.png'], 'skipped too_large');
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
