/**
 * Frame extraction: one decode pass (fps filter) vs one ffmpeg process with an input seek per frame, on the
 * 2-minute 1080p corpus video and on the real 11 s clip, for a few and for many frames.
 * Run: npx tsx bench/frames.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { extractFrames, type FrameMethod } from '../src/worker/preprocess/frames.js';
import { frameTimes } from '../src/shared/media-plan.js';
import { bigCorpus } from '../test/corpus.js';

const video = path.join(await bigCorpus(), 'video-2min-1080p.mp4');
const signal = new AbortController().signal;
for (const n of [4, 8, 16, 80]) {
  const w = { startSec: 0, durationSec: 120 };
  const line: string[] = [];
  for (const method of ['pass', 'seek'] as FrameMethod[]) {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'bench-frames-'));
    const t0 = performance.now();
    const files = await extractFrames(video, frameTimes(w, n), w, { width: 392, height: 224 }, method, dir, signal);
    line.push(`${method} ${((performance.now() - t0) / 1000).toFixed(2)} s (${files.length})`);
    await rm(dir, { recursive: true, force: true });
  }
  console.log(`${String(n).padStart(3)} frames of 120 s 1080p: ${line.join(', ')}`);
}
