import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { readImageHeader } from '../src/shared/image-header.js';
import { FIXTURES } from './helpers.js';

/** What sharp's metadata() says of the facts the header reader gives, in the same shape. */
async function sharpFacts(bytes: Buffer): Promise<Record<string, unknown>> {
  const m = await sharp(bytes, { failOn: 'none' }).metadata();
  const facts: Record<string, unknown> = { width: m.width, height: m.height, format: m.format, hasAlpha: m.hasAlpha, space: m.space, depth: m.depth };
  if (m.orientation !== undefined) facts.orientation = m.orientation;
  if (m.pages !== undefined) facts.pages = m.pages;
  return facts;
}

/** Images made here with the properties the reader must get right, or must leave to sharp. */
async function made(): Promise<Record<string, Buffer>> {
  const rgb = { create: { width: 37, height: 21, channels: 3 as const, background: { r: 200, g: 40, b: 90 } } };
  const rgba = { create: { width: 19, height: 45, channels: 4 as const, background: { r: 10, g: 200, b: 90, alpha: 0.5 } } };
  return {
    'grey.jpg': await sharp(rgb).greyscale().jpeg().toBuffer(),
    'progressive.jpg': await sharp(rgb).jpeg({ progressive: true }).toBuffer(),
    'exif-orientation-8.jpg': await sharp(rgb).jpeg().withMetadata({ orientation: 8 }).toBuffer(),
    'exif-no-orientation.jpg': await sharp(rgb).jpeg().withExif({ IFD0: { Copyright: 'someone' } }).toBuffer(),
    'cmyk.jpg': await sharp(rgb).toColourspace('cmyk').jpeg().toBuffer(),
    'palette.png': await sharp(rgb).png({ palette: true }).toBuffer(),
    'palette-alpha.png': await sharp(rgba).png({ palette: true }).toBuffer(),
    'rgba.png': await sharp(rgba).png().toBuffer(),
    'grey.png': await sharp(rgb).greyscale().png().toBuffer(),
    'rgb16.png': await sharp(rgb).toColourspace('rgb16').png().toBuffer(),
    'lossy.webp': await sharp(rgb).webp().toBuffer(),
    'lossy-alpha.webp': await sharp(rgba).webp().toBuffer(),
    'lossless.webp': await sharp(rgb).webp({ lossless: true }).toBuffer(),
    'lossless-alpha.webp': await sharp(rgba).webp({ lossless: true }).toBuffer(),
  };
}

test('the in-process image header reader gives what sharp gives, or leaves the image to sharp', async () => {
  const images: Record<string, Buffer> = await made();
  for (const name of await readdir(FIXTURES)) {
    if (/\.(jpe?g|png|webp|gif|tiff|bmp)$/i.test(name)) images[`fixtures/${name}`] = await readFile(path.join(FIXTURES, name));
  }
  const answered: string[] = [];
  for (const [name, bytes] of Object.entries(images)) {
    const header = readImageHeader(bytes);
    if (!header) continue;
    answered.push(name);
    assert.deepEqual(header, await sharpFacts(bytes), name);
  }
  // It does answer for the plain images a dataset is made of (a reader that always said "ask sharp" would pass the loop).
  for (const name of ['fixtures/ok-photo.jpg', 'fixtures/ok-graphic.png', 'fixtures/ok-photo.webp', 'fixtures/rotated-exif6.jpg', 'grey.jpg', 'progressive.jpg', 'exif-orientation-8.jpg', 'exif-no-orientation.jpg', 'palette.png', 'palette-alpha.png', 'rgba.png', 'grey.png', 'lossy.webp', 'lossless.webp', 'lossless-alpha.webp']) {
    assert.ok(answered.includes(name), `the reader read ${name}`);
  }
  // And leaves to sharp what it does not read whole: CMYK, 16-bit, and WebP with an alpha chunk (VP8X).
  for (const name of ['cmyk.jpg', 'fixtures/cmyk.jpg', 'rgb16.png', 'fixtures/deep-16bit.png', 'lossy-alpha.webp', 'fixtures/animated.gif', 'fixtures/image.tiff']) {
    assert.ok(!answered.includes(name), `${name} is left to sharp`);
  }
});

test('a cut or damaged header is left to sharp, never guessed', async () => {
  const photo = await readFile(path.join(FIXTURES, 'ok-photo.jpg'));
  const png = await readFile(path.join(FIXTURES, 'ok-graphic.png'));
  for (const [name, bytes] of Object.entries({
    'jpeg cut in its first segment': photo.subarray(0, 12),
    'jpeg without a frame header': Buffer.concat([photo.subarray(0, 2), Buffer.from([0xff, 0xd9])]),
    'png cut after its signature': png.subarray(0, 20),
    'png with a zero width': Buffer.concat([png.subarray(0, 16), Buffer.alloc(4), png.subarray(20)]),
  })) {
    assert.equal(readImageHeader(bytes), undefined, name);
  }
});
