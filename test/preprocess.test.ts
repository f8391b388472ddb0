/**
 * Preprocessing end to end: the built CLI on the corpus (committed edge cases, real media made by others, big
 * generated files), real ffmpeg and sharp, and the stand-in, which enforces the limits, decodes what it
 * receives and counts tokens with the documented rules.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { bigCorpus } from './corpus.js';
import { FIXTURES, runCli, runMain, tempDir } from './helpers.js';
import { startStandIn, type StandIn } from './stand-in/server.js';

const KEY = 'sk-preprocess-test';
let api: StandIn;
let corpus: string;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
  corpus = await bigCorpus();
});
after(() => api.close());
const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

type Rec = Record<string, string>;
async function rows(file: string): Promise<Record<string, Rec>> {
  const list = parse<Rec>(await readFile(file, 'utf8'), { columns: true });
  return Object.fromEntries(list.map((r) => [path.basename(r.path ?? ''), r]));
}

/** What each corpus file must become: `ok` with a preprocess note matching, or `failed` with a reason. */
const EXPECTED: Record<string, RegExp | 'failed'> = {
  'ok-photo.jpg': /^as is 640x480 jpeg$/,
  'ok-photo.webp': /^as is 480x480 webp$/,
  'ok-graphic.png': /^as is 400x300 png$/,
  'tiny-8x8.png': /^padded 8x8->11x11/,
  'narrow-5x400.png': /^padded 5x400->11x400/,
  'strip-3000x10.png': /^padded 3000x10->3000x15/,
  'wide-2100x10.png': /^padded 2100x10->2100x11/,
  'wide-1000x4.png': /^padded 1000x4->1000x11/,
  'rotated-exif6.jpg': /^rotated \(exif 6\)/,
  'cmyk.jpg': /^cmyk->srgb/,
  'deep-16bit.png': /ushort->8bit/,
  'animated.gif': /^first frame of 3, gif->png/,
  'image.tiff': /^tiff->jpeg/,
  'image.bmp': /^decoded bmp with ffmpeg/,
  'photo-12000x8000.jpg': /^resized 12000x8000->1204x812, jpeg->jpeg q88$/,
  'noise-20mb.png': /^resized 2600x2600->980x980/,
  'ok-speech.mp3': /^as is mp3 4\.1s$/,
  'ok-speech.wav': /^as is wav 4s$/,
  'real-front-center.wav': /^as is wav/,
  'real-alarm.oga': /^audio vorbis->mp3 /,
  'speech.ogg': /^audio opus->mp3 /,
  'speech.flac': /^audio flac->mp3 16kHz mono/,
  'speech.m4a': /^audio aac->mp3 16kHz mono/,
  'audio-200s.mp3': /^audio mp3->mp3 .* 0-179\.8s \(trimmed from 200\.2s\)$/,
  'audio-10min.mp3': /^audio mp3->mp3 .* 0-179\.8s \(trimmed from 600\.1s\)$/,
  'ok-clip-5s.mp4': /^as is 5s 320x240/,
  'clip-3s.mp4': /^as is 3s 320x240/,
  'clip-noaudio.mp4': /^as is 3s/,
  'no-extension-video': /^as is 5s/,
  'real-megamind.avi': /^as is 2\.5s 720x528/,
  'clip.webm': /^reencoded vp9->h264/,
  'long-45s.mp4': /^trimmed 0-(39|40)(\.\d)?s copy \(auto: 5 s cut off\)$/,
  'short-1s.mp4': /^frames 4 @ 0\.0,0\.3,0\.5,0\.8 /,
  'video-2min-1080p.mp4': /^frames 80 @ 0\.0,1\.5,3\.0,.*,118\.5 /,
  'empty.jpg': 'failed',
  'truncated.jpg': 'failed',
  'truncated.mp4': 'failed',
  'random-bytes.mp4': 'failed',
  'text-named.mp4': 'failed',
  'text-named.jpg': 'failed',
};

describe('preprocessing the corpus', () => {
  test('every readable file is fitted and answered, every unreadable one fails with a reason, and the stand-in refuses nothing', async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'corpus.csv');
    const from = api.requests.length;
    const r = await runMain(['run', '--input', FIXTURES, '--input', corpus, '--exclude', '*.{md,sh,txt}', '--prompt', 'Describe', '--model', 'qwen-omni-turbo', '--out', out], { env: env(), cwd: dir, timeoutMs: 180_000 });
    assert.equal(r.code, 0, r.stderr);
    const got = await rows(out);
    for (const [name, want] of Object.entries(EXPECTED)) {
      const row = got[name];
      assert.ok(row, `a row for ${name}`);
      if (want === 'failed') {
        assert.equal(`${row.status} ${row.error_code}`, 'failed media_unreadable', name);
        assert.ok((row.error_message ?? '').length > 20, `${name} says why`);
        assert.equal(row.attempts, '0', `${name}: no API call, no retry`);
      } else {
        assert.equal(row.status, 'ok', `${name}: ${row.error_code} ${row.error_message}`);
        assert.match(row.preprocess ?? '', want, name);
        assert.ok(Number(row.sent_bytes) > 0 && Number(row.source_bytes) > 0, `${name}: byte columns`);
      }
    }
    const reqs = api.requests.slice(from);
    assert.deepEqual(reqs.filter((q) => q.status !== 200).map((q) => q.status), [], 'no request was refused for a limit');
    assert.equal(reqs.length, Object.values(got).filter((x) => x.status === 'ok').length);
    // What is sent honours the limits the stand-in checked, and the columns say so.
    const big = got['photo-12000x8000.jpg'];
    assert.equal(`${big?.width}x${big?.height}`, '1204x812');
    assert.ok(Number(got['noise-20mb.png']?.source_bytes) > 20_000_000 && Number(got['noise-20mb.png']?.sent_bytes) < 7_000_000);
    assert.ok(Number(got['audio-10min.mp3']?.duration_sec) <= 180);
    assert.equal(got['rotated-exif6.jpg']?.width, '320', 'EXIF 6 turns 480x320 pixels into a 320x480 portrait');
    // The estimate from probe metadata is within 10% of what the stand-in counted, for images and audio.
    for (const row of Object.values(got)) {
      if (row.status !== 'ok' || (row.kind !== 'image' && row.kind !== 'audio')) continue;
      const est = Number(row.estimated_tokens);
      const actual = Number(row.prompt_tokens);
      assert.ok(Math.abs(est - actual) <= actual * 0.1, `${row.path}: estimated ${est}, stand-in ${actual}`);
    }
    const totals = JSON.parse(await readFile(path.join(dir, 'corpus.csv.totals.json'), 'utf8'));
    for (const kind of ['image', 'audio', 'video']) {
      assert.ok(totals.byKind[kind].estimated_tokens > 0 && totals.byKind[kind].prompt_tokens > 0, `totals: estimated vs actual for ${kind}`);
    }
  });

  test('video.mode file trims a 2-minute 1080p video to 40 s by stream copy, and the temp run folder is gone afterwards', async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'file.csv');
    // A private temp folder for this run, so that other tests' runs do not blur the check.
    const tmp = path.join(dir, 'tmp');
    await mkdir(tmp);
    const r = await runCli(['run', '--input', path.join(corpus, 'video-2min-1080p.mp4'), '--video-mode', 'file', '--prompt', 'Describe', '--model', 'qwen-omni-turbo', '--out', out], { env: { ...env(), TMPDIR: tmp }, cwd: dir, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const row = (await rows(out))['video-2min-1080p.mp4'];
    assert.equal(row?.status, 'ok', row?.error_message);
    assert.match(row?.preprocess ?? '', /^trimmed 0-\d+(\.\d)?s copy \(video\.mode file\)$/);
    assert.ok(Number(row?.duration_sec) <= 40 && Number(row?.duration_sec) >= 38);
    assert.deepEqual(await readdir(tmp), [], 'no temp run folder is left behind');
  });

  test('--dry-run prints a per-kind estimate and writes planned rows; --max-cost refuses a run over it before any call', async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'plan.csv');
    const inputs = ['--input', path.join(FIXTURES, 'ok-photo.jpg'), '--input', path.join(FIXTURES, 'ok-speech.mp3'), '--input', path.join(FIXTURES, 'empty.jpg')];
    const dry = await runMain(['run', ...inputs, '--prompt', 'Describe', '--out', out, '--dry-run'], { cwd: dir });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /kind\s+files\s+send\s+text\s+image\s+audio\s+video\s+tokens\s+cost \(CNY\)/);
    assert.match(dry.stdout, /\ntotal\s+3\s+2\s/);
    const planned = await rows(path.join(dir, 'plan.estimate.csv'));
    assert.equal(planned['ok-photo.jpg']?.status, 'planned');
    assert.ok(Number(planned['ok-photo.jpg']?.estimated_tokens) > 300, 'image patches of a 640x480 photo');
    assert.equal(planned['empty.jpg']?.status, 'failed');
    const from = api.requests.length;
    const refused = await runMain(['run', ...inputs, '--prompt', 'Describe', '--out', out, '--max-cost', '0.0001'], { env: env(), cwd: dir });
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--max-cost: the run is estimated at 0\.\d+ CNY .* over the limit of 0\.0001 CNY; nothing was sent/);
    assert.equal(api.requests.length, from);
    const allowed = await runMain(['run', ...inputs, '--prompt', 'Describe', '--out', out, '--max-cost', '1'], { env: env(), cwd: dir });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.equal(api.requests.length - from, 2);
    assert.deepEqual(Object.values(await rows(out)).map((r) => r.status).sort(), ['failed', 'ok', 'ok']);
    // Past the number of plans kept in memory (here 1), the run plans again as it goes: the same rows, once each.
    const big = path.join(dir, 'big.csv');
    const from2 = api.requests.length;
    const flat = await runCli(['run', ...inputs, '--prompt', 'Describe', '--out', big, '--max-cost', '1'], { env: { ...env(), OMNI_BATCH_KEEP_PLANNED: '1' }, cwd: dir });
    assert.equal(flat.code, 0, flat.stderr);
    assert.equal(api.requests.length - from2, 2);
    assert.deepEqual(Object.values(await rows(big)).map((r) => r.status).sort(), ['failed', 'ok', 'ok']);
    const refusedBig = await runMain(['run', ...inputs, '--prompt', 'Describe', '--out', path.join(dir, 'big2.csv'), '--max-cost', '0.0001'], {
      env: { ...env(), OMNI_BATCH_KEEP_PLANNED: '1' },
      cwd: dir,
    });
    assert.equal(refusedBig.code, 2, 'the estimate still counts every file');
  });
});
