/**
 * The header facts of the common plain images, read from their bytes in JavaScript: baseline and progressive
 * 8-bit JPEG (greyscale or colour, with its EXIF orientation), 8-bit PNG, and simple WebP (VP8 / VP8L). sharp's
 * metadata() does the same through libvips at about 140-210 us of CPU an image here (bench/README.md: a
 * 448x336 JPEG), which was the largest single cost an image job paid that the bare SDK loop does not.
 *
 * Anything else, or anything unexpected in these (12-bit or CMYK JPEG, 16-bit or animated PNG, an eXIf chunk,
 * extended WebP, a malformed segment), is `undefined`: the caller asks sharp, as before. Where this reader answers,
 * it answers what sharp would (test/image-header.test.ts holds it to sharp on every image fixture).
 */
import type { MediaFacts } from './job.js';

export type ImageHeaderFacts = Pick<MediaFacts, 'width' | 'height' | 'format' | 'hasAlpha' | 'space' | 'depth' | 'orientation'> & { width: number; height: number };

export function readImageHeader(b: Buffer): ImageHeaderFacts | undefined {
  try {
    if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return jpeg(b);
    if (b.length >= 33 && b.readUInt32BE(0) === 0x89504e47 && b.readUInt32BE(4) === 0x0d0a1a0a) return png(b);
    if (b.length >= 30 && b.toString('latin1', 0, 4) === 'RIFF' && b.toString('latin1', 8, 12) === 'WEBP') return webp(b);
  } catch {
    // A read past the end (a RangeError) or a value out of range: sharp decides.
  }
  return undefined;
}

/** SOF0-2 (baseline, extended, progressive Huffman): what libjpeg reads as every ordinary JPEG. */
const SOF_OK = new Set([0xc0, 0xc1, 0xc2]);

function jpeg(b: Buffer): ImageHeaderFacts | undefined {
  let orientation: number | undefined;
  for (let at = 2; at + 4 <= b.length; ) {
    if (b[at] !== 0xff) return undefined;
    const marker = b[at + 1] ?? 0;
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    const len = b.readUInt16BE(at + 2);
    if (len < 2) return undefined;
    if (marker === 0xe1 && b.toString('latin1', at + 4, at + 10) === 'Exif\0\0') {
      const o = exifOrientation(b.subarray(at + 10, at + 2 + len));
      if (o === null) return undefined;
      orientation ??= o;
    } else if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (!SOF_OK.has(marker) || b[at + 4] !== 8) return undefined;
      const height = b.readUInt16BE(at + 5);
      const width = b.readUInt16BE(at + 7);
      const components = b[at + 9];
      if (!width || !height || (components !== 1 && components !== 3)) return undefined;
      const facts: ImageHeaderFacts = { width, height, format: 'jpeg', hasAlpha: false, space: components === 1 ? 'b-w' : 'srgb', depth: 'uchar' };
      if (orientation !== undefined) facts.orientation = orientation;
      return facts;
    } else if (marker === 0xda || marker === 0xd9) return undefined; // scan data before any frame header
    at += 2 + len;
  }
  return undefined;
}

/** IFD0's Orientation (1-8) from a TIFF block; undefined without one; null for a block this reader does not trust. */
function exifOrientation(t: Buffer): number | undefined | null {
  const order = t.toString('latin1', 0, 2);
  if (order !== 'II' && order !== 'MM') return null;
  const le = order === 'II';
  const u16 = (o: number) => (le ? t.readUInt16LE(o) : t.readUInt16BE(o));
  const u32 = (o: number) => (le ? t.readUInt32LE(o) : t.readUInt32BE(o));
  if (u16(2) !== 42) return null;
  const ifd = u32(4);
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const e = ifd + 2 + i * 12;
    if (u16(e) !== 0x0112) continue;
    const value = u16(e + 2) === 3 ? u16(e + 8) : null; // SHORT, the only type the tag has
    return value !== null && value >= 1 && value <= 8 ? value : null;
  }
  return undefined;
}

function png(b: Buffer): ImageHeaderFacts | undefined {
  if (b.toString('latin1', 12, 16) !== 'IHDR') return undefined;
  const width = b.readUInt32BE(16);
  const height = b.readUInt32BE(20);
  const depth = b[24];
  const colour = b[25] ?? -1;
  if (!width || !height || depth !== 8 || ![0, 2, 3, 4, 6].includes(colour)) return undefined;
  let hasAlpha = colour === 4 || colour === 6;
  // The chunks before the image data: transparency makes an alpha channel; animation or EXIF is sharp's to read.
  for (let at = 33; at + 8 <= b.length; ) {
    const len = b.readUInt32BE(at);
    const type = b.toString('latin1', at + 4, at + 8);
    if (type === 'IDAT') return { width, height, format: 'png', hasAlpha, space: colour === 0 || colour === 4 ? 'b-w' : 'srgb', depth: 'uchar' };
    if (type === 'acTL' || type === 'eXIf' || type === 'IEND') return undefined;
    if (type === 'tRNS') hasAlpha = true;
    at += 12 + len;
  }
  return undefined;
}

function webp(b: Buffer): ImageHeaderFacts | undefined {
  const chunk = b.toString('latin1', 12, 16);
  if (chunk === 'VP8 ') {
    // Lossy: a key frame's start code, then 14-bit width and height (the top 2 bits are scaling, kept at 0 here).
    if (b[23] !== 0x9d || b[24] !== 0x01 || b[25] !== 0x2a) return undefined;
    const w = b.readUInt16LE(26);
    const h = b.readUInt16LE(28);
    if (w >> 14 || h >> 14) return undefined;
    return sized(w & 0x3fff, h & 0x3fff, false);
  }
  if (chunk === 'VP8L') {
    if (b[20] !== 0x2f) return undefined;
    const bits = b.readUInt32LE(21);
    if (bits >>> 29 !== 0) return undefined; // version 0 only
    return sized((bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1, ((bits >>> 28) & 1) === 1);
  }
  return undefined; // VP8X: animation, alpha chunk, EXIF or ICC: sharp reads those
}

function sized(width: number, height: number, hasAlpha: boolean): ImageHeaderFacts | undefined {
  return width && height ? { width, height, format: 'webp', hasAlpha, space: 'srgb', depth: 'uchar' } : undefined;
}
