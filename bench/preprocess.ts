/**
 * Part 5, preprocessing: omni-batch's probe + preprocessing of each corpus file (the library the worker runs,
 * one file at a time) vs the same operations typed as plain ffmpeg commands (bench/corpus-by-hand.sh, one
 * process per file, in the same order); and frame sampling of the 2-minute 1080p video at 8 and 80 frames vs a
 * naive one-decode-per-frame loop (one ffmpeg per frame, decoding from the start up to its timestamp).
 * Target: omni-batch / plain commands <= 1.15.
 * Run: npm run bench:preprocess -- [--rounds 1] [--naive-80 yes|no]
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { discover } from '../src/producer/discover.js';
import { planItem } from '../src/producer/plan.js';
import { planContext } from '../src/producer/templates.js';
import { resolveConfig } from '../src/shared/config.js';
import { frameTimes } from '../src/shared/media-plan.js';
import { extractFrames, pickFrameMethod } from '../src/worker/preprocess/frames.js';
import { preprocess } from '../src/worker/preprocess/index.js';
import { bigCorpus } from '../test/corpus.js';
import { FIXTURES } from '../test/helpers.js';
import { markdown, publish, ratio, verdict, type Table } from './lib/report.js';

type Kind = 'image' | 'audio' | 'video';

/** bench/corpus-by-hand.sh, one entry per file: the same commands, with the kind each belongs to. */
function byHand(F: string, C: string, O: string): { file: string; kind: Kind; args: string[] }[] {
  const pad = 'pad=max(iw\\,11):max(ih\\,max(11\\,iw/200)):(ow-iw)/2:(oh-ih)/2:white';
  const list: { file: string; kind: Kind; args: string[] }[] = [];
  for (const f of ['tiny-8x8.png', 'narrow-5x400.png', 'strip-3000x10.png', 'wide-2100x10.png', 'wide-1000x4.png']) list.push({ file: `${F}/${f}`, kind: 'image', args: ['-i', `${F}/${f}`, '-vf', pad, `${O}/${f}.jpg`] });
  list.push({ file: `${F}/rotated-exif6.jpg`, kind: 'image', args: ['-i', `${F}/rotated-exif6.jpg`, `${O}/rot.jpg`] });
  for (const f of ['cmyk.jpg', 'deep-16bit.png', 'image.tiff', 'image.bmp']) list.push({ file: `${F}/${f}`, kind: 'image', args: ['-i', `${F}/${f}`, '-pix_fmt', 'yuvj420p', `${O}/${f}.jpg`] });
  list.push({ file: `${F}/animated.gif`, kind: 'image', args: ['-i', `${F}/animated.gif`, '-frames:v', '1', `${O}/gif.png`] });
  list.push({ file: `${C}/photo-12000x8000.jpg`, kind: 'image', args: ['-i', `${C}/photo-12000x8000.jpg`, '-vf', 'scale=1204:812', '-q:v', '3', `${O}/big.jpg`] });
  list.push({ file: `${C}/noise-20mb.png`, kind: 'image', args: ['-i', `${C}/noise-20mb.png`, '-vf', 'scale=980:980', '-q:v', '3', `${O}/noise.jpg`] });
  for (const f of ['real-alarm.oga', 'speech.ogg', 'speech.flac', 'speech.m4a']) list.push({ file: `${F}/${f}`, kind: 'audio', args: ['-i', `${F}/${f}`, '-c:a', 'libmp3lame', '-b:a', '64k', `${O}/${f}.mp3`] });
  list.push({ file: `${F}/audio-200s.mp3`, kind: 'audio', args: ['-t', '179.75', '-i', `${F}/audio-200s.mp3`, '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '32k', `${O}/a200.mp3`] });
  list.push({ file: `${C}/audio-10min.mp3`, kind: 'audio', args: ['-t', '179.75', '-i', `${C}/audio-10min.mp3`, '-ac', '1', '-c:a', 'libmp3lame', '-b:a', '64k', `${O}/a600.mp3`] });
  list.push({ file: `${F}/clip.webm`, kind: 'video', args: ['-i', `${F}/clip.webm`, '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '26', '-c:a', 'aac', `${O}/webm.mp4`] });
  list.push({ file: `${F}/long-45s.mp4`, kind: 'video', args: ['-i', `${F}/long-45s.mp4`, '-t', '39.4', '-c', 'copy', '-movflags', '+faststart', `${O}/long.mp4`] });
  list.push({ file: `${F}/short-1s.mp4`, kind: 'video', args: ['-i', `${F}/short-1s.mp4`, '-vf', 'fps=4,scale=392:280', '-frames:v', '4', `${O}/short-%02d.jpg`] });
  list.push({ file: `${C}/video-2min-1080p.mp4`, kind: 'video', args: ['-t', '120', '-i', `${C}/video-2min-1080p.mp4`, '-vf', 'fps=80/120,scale=392:224', '-frames:v', '80', `${O}/v2-%02d.jpg`] });
  return list;
}

function ffmpeg(args: string[]): void {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr}`);
}

/** omni-batch on one file: plan (probe, id, estimate) and preprocess, each timed, as the in-process engine does them. */
async function omni(file: string, work: string): Promise<{ probeMs: number; prepMs: number; note: string }> {
  const cfg = await resolveConfig(undefined, { input: [file], prompt: 'Describe', out: path.join(work, 'out.jsonl'), dryRun: true }, {}, work);
  const ctx = await planContext(cfg);
  for await (const item of discover(cfg)) {
    const t0 = performance.now();
    const planned = await planItem(item, ctx);
    const t1 = performance.now();
    if (!('job' in planned)) throw new Error(`${file}: planned as a row: ${planned.row.error_message}`);
    const dir = await mkdtemp(path.join(work, 'job-'));
    const prepared = await preprocess(planned.job, () => Promise.resolve(dir), new AbortController().signal, planned.content);
    const t2 = performance.now();
    await rm(dir, { recursive: true, force: true });
    return { probeMs: t1 - t0, prepMs: t2 - t1, note: prepared.note };
  }
  throw new Error(`${file}: not discovered`);
}

export async function preprocessing(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { rounds: { type: 'string' }, 'naive-80': { type: 'string' } } });
  const rounds = Number(values.rounds ?? 1);
  const naive80 = (values['naive-80'] ?? 'yes') !== 'no';
  const C = await bigCorpus();
  const work = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-bench-prep-'));
  const table: Table = { head: ['kind', 'files', 'plain ffmpeg s', 'omni-batch preprocess s', 'ratio', 'omni-batch probe + preprocess s', 'ratio', 'target', 'result'], rows: [] };
  const frames: Table = { head: ['frames of 120 s 1080p', 'omni-batch (method)', 'naive: one decode per frame', 'omni-batch / naive'], rows: [] };
  try {
    const list = byHand(FIXTURES, C, work);
    const sums: Record<Kind, { n: number; hand: number; prep: number; probe: number }> = { image: { n: 0, hand: 0, prep: 0, probe: 0 }, audio: { n: 0, hand: 0, prep: 0, probe: 0 }, video: { n: 0, hand: 0, prep: 0, probe: 0 } };
    // Warm the page cache and the binaries once, so neither side pays for the first read.
    for (const e of list) ffmpeg(e.args);
    for (let r = 0; r < rounds; r++) {
      for (const e of list) {
        const s = sums[e.kind];
        const t0 = performance.now();
        ffmpeg(e.args);
        s.hand += performance.now() - t0;
        const o = await omni(e.file, work);
        s.prep += o.prepMs;
        s.probe += o.probeMs;
        if (r === 0) s.n++;
      }
    }
    const all = { n: 0, hand: 0, prep: 0, probe: 0 };
    const row = (label: string, s: typeof all) => {
      const r1 = s.prep / s.hand;
      const r2 = (s.prep + s.probe) / s.hand;
      table.rows.push([label, s.n, (s.hand / 1000 / rounds).toFixed(2), (s.prep / 1000 / rounds).toFixed(2), ratio(r1), ((s.prep + s.probe) / 1000 / rounds).toFixed(2), ratio(r2), '<= 1.15', verdict(r2, 1.15, false)]);
    };
    for (const k of ['image', 'audio', 'video'] as const) {
      row(k, sums[k]);
      for (const f of ['n', 'hand', 'prep', 'probe'] as const) all[f] += sums[k][f];
    }
    row('**all**', all);

    const video = path.join(C, 'video-2min-1080p.mp4');
    const window = { startSec: 0, durationSec: 120 };
    const size = { width: 392, height: 224 };
    for (const n of [8, 80]) {
      const times = frameTimes(window, n);
      const dir = await mkdtemp(path.join(work, 'frames-'));
      const t0 = performance.now();
      await extractFrames(video, times, window, size, pickFrameMethod(n), dir, new AbortController().signal);
      const omniMs = performance.now() - t0;
      let naiveMs = NaN;
      if (n <= 8 || naive80) {
        const t1 = performance.now();
        // Output seeking: ffmpeg decodes every frame from the start up to t, once per frame.
        times.forEach((t, i) => ffmpeg(['-i', video, '-ss', String(t), '-frames:v', '1', '-vf', `scale=${size.width}:${size.height}`, '-q:v', '3', path.join(dir, `naive${i}.jpg`)]));
        naiveMs = performance.now() - t1;
      }
      await rm(dir, { recursive: true, force: true });
      frames.rows.push([n, `${(omniMs / 1000).toFixed(2)} s (${pickFrameMethod(n)})`, Number.isNaN(naiveMs) ? 'not run (--naive-80 no)' : `${(naiveMs / 1000).toFixed(2)} s`, ratio(omniMs / naiveMs)]);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  await publish(
    'preprocess',
    '5. Preprocessing vs plain ffmpeg commands, and frame sampling',
    `The files bench/corpus-by-hand.sh covers (committed fixtures + the generated big corpus), one at a time on both sides, after one warm-up pass; ${rounds} round(s). Plain side: the ffmpeg command per file from corpus-by-hand.sh (ffmpeg for images too). omni-batch side: planItem (probe by content, id, estimate) and preprocess() as the worker runs them, in this process. The target is on probe + preprocess.\n\n${markdown(table)}\n\n${markdown(frames)}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await preprocessing(process.argv.slice(2));
