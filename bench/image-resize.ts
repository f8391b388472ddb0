/**
 * sharp vs ffmpeg on the same job: a 12000x8000 JPEG downscaled to the model's 1204x812 and written as JPEG.
 * Run: npx tsx bench/image-resize.ts   (uses the test corpus cache; makes it if missing)
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { bigCorpus } from '../test/corpus.js';

const src = path.join(await bigCorpus(), 'photo-12000x8000.jpg');
const out = path.join(os.tmpdir(), 'bench-resize');
const runs = 3;

async function time(name: string, fn: () => Promise<void> | void): Promise<number> {
  await fn(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await fn();
  const ms = (performance.now() - t0) / runs;
  console.log(`${name.padEnd(8)} ${ms.toFixed(0)} ms per image`);
  return ms;
}

const s = await time('sharp', async () => {
  await sharp(src).rotate().resize(1204, 812, { fit: 'fill' }).jpeg({ quality: 88 }).toFile(`${out}-sharp.jpg`);
});
const f = await time('ffmpeg', () => {
  const r = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', src, '-vf', 'scale=1204:812:flags=lanczos', '-q:v', '3', `${out}-ffmpeg.jpg`]);
  if (r.status !== 0) throw new Error(String(r.stderr));
});
console.log(`sharp is ${(f / s).toFixed(1)}x faster than ffmpeg`);
