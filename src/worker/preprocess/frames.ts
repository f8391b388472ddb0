/**
 * Video as a frame list: N frames evenly over the window, each scaled to the per-frame size the model would use
 * for N frames, JPEG. Never one full decode per frame: either ONE decode pass with the `fps` filter, or ONE
 * ffmpeg process with an input seek per frame (each decodes only from the keyframe before its timestamp).
 * Measured here (bench/frames.ts): seeks win for few frames far apart, one pass for many frames.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { OmniError } from '../../shared/errors.js';
import { frameCount, frameSize, framesWindow, frameTimes } from '../../shared/media-plan.js';
import { FfmpegError, runFfmpeg, secArg } from './ffmpeg.js';
import { dims, s1, sizeOf, type Prepared, type VideoInput } from './prepared.js';

export type FrameMethod = 'seek' | 'pass';

/**
 * bench/frames.ts, 120 s 1080p, 2 cores: 4 frames seek 0.32 s / pass 1.14 s; 8 frames 0.78 / 1.29;
 * 16 frames 1.51 / 1.33; 80 frames 10.7 / 1.58. Seeks win up to 8 frames, one pass beyond.
 */
const SEEK_MAX_FRAMES = 8;

export function pickFrameMethod(n: number): FrameMethod {
  return n <= SEEK_MAX_FRAMES ? 'seek' : 'pass';
}

/** Extracts frames at `times` (seconds) into `dir` as f000.jpg...; returns the files in order. */
export async function extractFrames(
  file: string,
  times: readonly number[],
  window: { startSec: number; durationSec: number },
  size: { width: number; height: number },
  method: FrameMethod,
  dir: string,
  signal: AbortSignal,
): Promise<string[]> {
  const scale = `scale=${size.width}:${size.height}:flags=bicubic`;
  const name = (i: number) => path.join(dir, `f${String(i).padStart(3, '0')}.jpg`);
  if (method === 'seek') {
    const args: string[] = [];
    for (const t of times) args.push('-ss', secArg(t), '-i', file);
    times.forEach((_, i) => args.push('-map', `${i}:v:0`, '-frames:v', '1', '-vf', scale, '-q:v', '3', name(i)));
    await runFfmpeg(args, signal);
    return times.map((_, i) => name(i));
  }
  const n = times.length;
  await runFfmpeg(
    ['-ss', secArg(window.startSec), '-t', secArg(window.durationSec), '-i', file, '-map', '0:v:0', '-vf', `fps=${n}/${secArg(window.durationSec)},${scale}`, '-frames:v', String(n), '-q:v', '3', '-start_number', '0', path.join(dir, 'f%03d.jpg')],
    signal,
  );
  const files = (await readdir(dir)).filter((f) => /^f\d{3}\.jpg$/.test(f)).sort().map((f) => path.join(dir, f));
  return files;
}

export async function prepareFrames({ file, facts, info, opts, dir, signal, label, why }: VideoInput): Promise<Prepared> {
  const { limits, tokens: rules } = info;
  const w = framesWindow(facts, opts);
  const n = frameCount(w, opts, limits, rules);
  const [fh, fw] = frameSize(facts.width ?? 0, facts.height ?? 0, n, rules);
  const times = frameTimes(w, n);
  const method = pickFrameMethod(n);
  let files: string[];
  try {
    files = await extractFrames(file, times, w, { width: fw, height: fh }, method, await dir(), signal);
  } catch (err) {
    if (err instanceof FfmpegError) throw new OmniError('media_unreadable', `${label}: frames could not be decoded (${err.message})`);
    throw err;
  }
  // A stream that ends early (or a rounding at the end) can leave the last slots empty: repeat the last frame.
  if (files.length === 0) throw new OmniError('media_unreadable', `${label}: no frame could be decoded`);
  while (files.length < n) files.push(files[files.length - 1] ?? '');
  let bytes = 0;
  for (const f of files) bytes += await sizeOf(f);
  return {
    media: { type: 'frames', frames: files.map((f) => ({ source: { file: f }, mime: 'image/jpeg' })) },
    facts: { bytes, width: fw, height: fh, durationSec: w.durationSec, frames: await Promise.all(files.map(async (f) => ({ bytes: await sizeOf(f), width: fw, height: fh }))) },
    note: `frames ${n} @ ${times.map((t) => t.toFixed(1)).join(',')} ${dims(fw, fh)} ${method} (${why}${w.startSec > 0 || w.durationSec < (facts.durationSec ?? 0) - 0.05 ? `, window ${s1(w.startSec)}-${s1(w.startSec + w.durationSec)}s` : ''})`,
  };
}
