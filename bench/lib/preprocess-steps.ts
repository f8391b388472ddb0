/** The two sides of the preprocess part, file by file: the plain ffmpeg command and omni-batch's probe + preprocess. */
import { mkdtemp, rm } from 'node:fs/promises';
import path from 'node:path';
import { discover } from '../../src/producer/discover.js';
import { planItem } from '../../src/producer/plan.js';
import { planContext } from '../../src/producer/templates.js';
import { resolveConfig } from '../../src/shared/config.js';
import { preprocess } from '../../src/worker/preprocess/index.js';

/**
 * The model whose limits the plain commands were written for (corpus-by-hand.sh: audio cut to 179.75 s, the 45 s
 * video to 39.4 s, 80 frames of the 2-minute one). Named, not the default: since the default became
 * qwen3.5-omni-flash (20 min of audio, 150 s of video) omni-batch sent those files as they were while the plain side
 * still cut them, and the ratios compared different work.
 */
export const BENCH_MODEL = 'qwen-omni-turbo';

export type Kind = 'image' | 'audio' | 'video';

/** bench/corpus-by-hand.sh, one entry per file: the same commands, with the kind each belongs to. */
export function byHand(F: string, C: string, O: string): { file: string; kind: Kind; args: string[] }[] {
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

/** omni-batch on one file: plan (probe, id, estimate) and preprocess, each timed, as the in-process engine does them. */
export async function omni(file: string, work: string): Promise<{ probeMs: number; prepMs: number; note: string }> {
  const cfg = await resolveConfig(undefined, { input: [file], prompt: 'Describe', out: path.join(work, 'out.jsonl'), dryRun: true, model: BENCH_MODEL }, {}, work);
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

