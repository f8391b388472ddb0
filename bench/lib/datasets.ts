/**
 * Generated inputs, cached under os.tmpdir() between runs (a marker file says a tree is complete), and removed
 * by `npm run bench:clean`. Trees spread files over folders of 1,000 so no folder is huge.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';

export const DATA_DIR = path.join(os.tmpdir(), 'omni-batch-bench-data-v1');
const DONE = '.complete';

async function cached(name: string, make: (dir: string) => Promise<void>): Promise<string> {
  const dir = path.join(DATA_DIR, name);
  if (existsSync(path.join(dir, DONE))) return dir;
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const t0 = performance.now();
  await make(dir);
  await writeFile(path.join(dir, DONE), '');
  console.error(`[bench] generated ${name} in ${((performance.now() - t0) / 1000).toFixed(1)} s (cached in ${dir})`);
  return dir;
}

/** Runs fn(i) for i in [0, n) with `width` at once. */
async function each(n: number, width: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < n) await fn(next++);
    }),
  );
}

const sub = (i: number) => `d${String(Math.floor(i / 1000)).padStart(3, '0')}`;

/** n small text files (about 150 bytes each): the cheapest job there is, so the runner's overhead shows. */
export function textTree(n: number): Promise<string> {
  return cached(`text-${n}`, async (dir) => {
    for (let d = 0; d * 1000 < n; d++) await mkdir(path.join(dir, sub(d * 1000)));
    await each(n, 64, (i) => writeFile(path.join(dir, sub(i), `t${String(i).padStart(6, '0')}.txt`), `Row ${i}: the quick brown fox jumps over the lazy dog, note number ${i}, nothing else to see here.\n`));
  });
}

/**
 * n JPEGs already the size the model works at (448x336, multiples of 28, few patches), so omni-batch sends them
 * as they are ("pre-fitted") and the benchmark measures the runner, not resizing. Each differs in colour.
 */
export function imageTree(n: number): Promise<string> {
  return cached(`images-${n}`, async (dir) => {
    for (let d = 0; d * 1000 < n; d++) await mkdir(path.join(dir, sub(d * 1000)));
    const w = 448;
    const h = 336;
    await each(n, 4, async (i) => {
      const px = Buffer.alloc(w * h * 3);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const o = (y * w + x) * 3;
          px[o] = (x + i) & 0xff;
          px[o + 1] = (y * 2 + i * 7) & 0xff;
          px[o + 2] = ((x ^ y) + i * 13) & 0xff;
        }
      await sharp(px, { raw: { width: w, height: h, channels: 3 } }).jpeg({ quality: 80 }).toFile(path.join(dir, sub(i), `img${String(i).padStart(6, '0')}.jpg`));
    });
  });
}

/** A CSV manifest of n text-only rows (no file per row): `id,question`. */
export function textManifest(n: number): Promise<string> {
  return cached(`manifest-${n}`, async (dir) => {
    const lines = ['id,question'];
    for (let i = 0; i < n; i++) lines.push(`${i},What is ${i} plus ${i}? Answer in one word.`);
    await writeFile(path.join(dir, 'rows.csv'), lines.join('\n') + '\n');
  });
}

export async function cleanData(): Promise<void> {
  await rm(DATA_DIR, { recursive: true, force: true });
  console.error(`[bench] removed ${DATA_DIR}`);
}
