/**
 * The preprocessing corpus: the committed fixtures (small edge cases and real media made by others) plus big
 * edge cases generated once into a cache under os.tmpdir(), so tens of MB never enter the repository and a
 * second test run does not pay to make them again.
 */
import { spawn } from 'node:child_process';
import { mkdir, rename, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { EXAMPLES } from './helpers.js';

/** Bump when a generated file changes. */
export const CORPUS_DIR = path.join(os.tmpdir(), 'omni-batch-corpus-v1');

export function ffmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg ${args.join(' ')}: ${err}`))));
  });
}

/** Makes `name` once: written to a temporary name, then renamed, so a killed run never leaves half a file. */
async function once(name: string, make: (tmp: string) => Promise<void>): Promise<string> {
  const file = path.join(CORPUS_DIR, name);
  if ((await stat(file).catch(() => undefined))?.isFile()) return file;
  const tmp = path.join(CORPUS_DIR, `.tmp-${process.pid}-${name}`);
  await make(tmp);
  await rename(tmp, file);
  return file;
}

/** The big generated edge cases, named after what they test. */
export async function bigCorpus(): Promise<string> {
  await mkdir(CORPUS_DIR, { recursive: true });
  await once('photo-12000x8000.jpg', async (tmp) => {
    // A real photo enlarged: real-looking content, 96 megapixels.
    await sharp(path.join(EXAMPLES, 'images', 'coffee cup.jpg')).resize(12000, 8000).jpeg({ quality: 80 }).toFile(tmp);
  });
  await once('noise-20mb.png', async (tmp) => {
    // Noise does not compress: 2600x2600x3 bytes is about 20 MB as PNG.
    const w = 2600;
    const px = Buffer.alloc(w * w * 3);
    let x = 2463534242;
    for (let i = 0; i < px.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      px[i] = x & 0xff;
    }
    await sharp(px, { raw: { width: w, height: w, channels: 3 } }).png({ compressionLevel: 1 }).toFile(tmp);
  });
  await once('video-2min-1080p.mp4', (tmp) =>
    // Low frame rate and bitrate keep making and decoding it cheap; it is still 1920x1080 and 120 s with audio.
    ffmpeg(['-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=4:duration=120', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=16000:duration=120',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-crf', '40', '-g', '40', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '24k', '-ac', '1', '-shortest', '-f', 'mp4', tmp]),
  );
  await once('audio-10min.mp3', (tmp) =>
    ffmpeg(['-f', 'lavfi', '-i', 'sine=frequency=300:sample_rate=22050:duration=600', '-c:a', 'libmp3lame', '-b:a', '32k', '-ac', '1', '-f', 'mp3', tmp]),
  );
  return CORPUS_DIR;
}
