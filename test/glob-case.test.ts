// A camera's folder: IMG_0001.JPG, UPPER.JPEG, a GIF, a TIFF, a BMP. The caption recipe's include finds them all,
// because globs ignore case by default and the include names every image type omni-batch takes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { parse as parseYaml } from 'yaml';
import { IMAGE_EXTENSIONS } from '../src/producer/classify.js';
import { ROOT, readOutputRows, runMain, tempDir } from './helpers.js';

const jobInclude = (parseYaml(readFileSync(path.join(ROOT, 'jobs', 'caption-images.yaml'), 'utf8')) as { include: string[] }).include;

async function cameraFolder(): Promise<string> {
  const dir = await tempDir();
  const pixel = () => sharp({ create: { width: 32, height: 24, channels: 3, background: '#c33' } });
  await pixel().jpeg().toFile(path.join(dir, 'IMG_0001.JPG'));
  await pixel().jpeg().toFile(path.join(dir, 'UPPER.JPEG'));
  await pixel().png().toFile(path.join(dir, 'scan.Png'));
  await pixel().gif().toFile(path.join(dir, 'anim.gif'));
  await pixel().tiff().toFile(path.join(dir, 'film.TIFF'));
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'color=red:s=32x24', '-frames:v', '1', path.join(dir, 'old.bmp')]);
  await writeFile(path.join(dir, 'notes.txt'), 'not an image');
  return dir;
}

test('the caption recipe include names every image type omni-batch takes, in the job file and in the README', () => {
  assert.deepEqual(jobInclude, [`**/*.{${IMAGE_EXTENSIONS.join(',')}}`]);
  assert.ok(readFileSync(path.join(ROOT, 'README.md'), 'utf8').includes(`--include "${jobInclude[0]}"`), 'the README recipe uses the same include');
});

test('IMG_0001.JPG, UPPER.JPEG, gif, tiff and bmp are all found by the recipe include; --case-sensitive finds only exact case', async () => {
  const dir = await cameraFolder();
  const names = async (extra: string[]) => {
    const out = path.join(dir, 'out', `c${extra.length}.csv`);
    const r = await runMain(['run', '--input', dir, '--include', jobInclude[0] ?? '', '--prompt', 'Caption {{file.name}}', '--out', out, '--dry-run', ...extra], { cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    return (await readOutputRows(path.join(dir, 'out', `c${extra.length}.estimate.csv`))).map((row) => `${path.basename(String(row.path))} ${row.status}`).sort();
  };
  assert.deepEqual(await names([]), ['IMG_0001.JPG planned', 'UPPER.JPEG planned', 'anim.gif planned', 'film.TIFF planned', 'old.bmp planned', 'scan.Png planned']);
  assert.deepEqual(await names(['--case-sensitive']), ['anim.gif planned', 'old.bmp planned']);
});
