/**
 * Images: honour EXIF orientation, take the first frame of an animation, convert what the API may not take
 * (TIFF, GIF, AVIF/HEIF, BMP via ffmpeg, CMYK, 16-bit) to JPEG (PNG when there is alpha), pad sides that are too
 * small or too thin, and downscale to exactly the size the model would resize to, so no pixel is paid for that
 * the model throws away. sharp does the work: measured about 4-5x faster than ffmpeg here (bench/image-resize.ts).
 */
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Sharp } from 'sharp';
import { sharp } from '../../shared/lazy.js';
import { OmniError } from '../../shared/errors.js';
import type { MediaFacts, PreprocessOptions } from '../../shared/job.js';
import { orientedSize, planImage, type ImagePlan } from '../../shared/media-plan.js';
import { FfmpegError, runFfmpeg } from './ffmpeg.js';
import { dataUrlBudget, dims, sizeOf, type PrepareInput, type Prepared } from './prepared.js';

/** Formats sent as they are when nothing else needs doing. */
const AS_IS: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

/** Padding colour: white reads as "nothing here" on documents and photos alike. */
const PAD = { r: 255, g: 255, b: 255, alpha: 1 };

export interface ImageInput extends PrepareInput<PreprocessOptions['image']> {
  /** The file's bytes when planning kept them (in-process, small files): no second read. */
  readonly content?: Buffer | undefined;
}

/** What an image is read from, and what to call its format, once any decoding sharp cannot do is done. */
interface Decodable {
  readonly input: string | Buffer;
  readonly format: string;
}

export async function prepareImage(img: ImageInput): Promise<Prepared> {
  const { facts, info, label } = img;
  const notes: string[] = [];
  const decodable = await decodeForSharp(img, notes);
  const { width, height } = orientedSize(facts);
  const plan = planImage(width, height, info.limits, info.tokens, img.opts.fix);
  if (!plan.ok) throw new OmniError(plan.code, `${label}: ${plan.reason}`);
  const budget = Math.min(info.limits.imageMaxBytes, dataUrlBudget(info.limits.dataUrlMaxChars));
  const asIs = await sentAsIs(img, decodable.format, plan, budget);
  if (asIs) return asIs;
  const pipeline = await fitPipeline(img, decodable.input, plan, notes);
  return encodeToFit({ img, pipeline, plan, budget, format: decodable.format, notes });
}

/** sharp's libvips has no BMP (and a few other) loaders: ffmpeg decodes such a still to a lossless PNG first. */
async function decodeForSharp(img: ImageInput, notes: string[]): Promise<Decodable> {
  const format = img.facts.format ?? 'unknown';
  if (img.facts.decoder !== 'ffmpeg') return { input: img.content ?? img.file, format };
  const input = path.join(await img.dir(), 'decoded.png');
  try {
    await runFfmpeg(['-i', img.file, '-frames:v', '1', input], img.signal);
  } catch (err) {
    if (err instanceof FfmpegError) throw new OmniError('media_unreadable', `${img.label}: not a readable image (${err.message})`);
    throw err;
  }
  notes.push(`decoded ${format.replace(/_pipe$/, '')} with ffmpeg`);
  return { input, format: 'png-decoded' };
}

const load = (src: string | Buffer) => sharp(src, { failOn: 'truncated', limitInputPixels: false });

/** What about an image's pixels needs converting before it is sent. */
function conversions(facts: MediaFacts) {
  return {
    rotated: (facts.orientation ?? 1) !== 1,
    animated: (facts.pages ?? 1) > 1,
    wideColour: facts.space !== undefined && facts.space !== 'srgb' && facts.space !== 'b-w',
    deep: facts.depth !== undefined && facts.depth !== 'uchar',
  };
}

/** The image as it is, when the API takes it and nothing needs doing; undefined otherwise. */
async function sentAsIs(img: ImageInput, format: string, plan: Fitted, budget: number): Promise<Prepared | undefined> {
  const { facts, content, file } = img;
  const c = conversions(facts);
  const asIsMime = AS_IS[format];
  if (!asIsMime || c.rotated || plan.padded || plan.resized || c.wideColour || c.deep || (facts.bytes ?? Infinity) > budget) return undefined;
  // Sent as it is, but never truncated: a cut file can have a perfect header. A file whose format's end marker
  // is in place is taken as whole (a full decode costs more CPU than the rest of the job); any other is decoded
  // in full, and fails here if its pixels do not decode.
  if (!(await endsWhole(content ?? file, format))) await decodeOrFail(load(content ?? file).raw().toBuffer(), img.label);
  const { width, height } = orientedSize(facts);
  return {
    media: { type: 'image', source: { file }, mime: asIsMime },
    facts: { bytes: facts.bytes ?? 0, width, height },
    note: `as is ${dims(width, height)} ${format}`,
  };
}

/** A plan that fits: the size to send at. */
type Fitted = Extract<ImagePlan, { ok: true }>;

/** The sharp pipeline that rotates, pads, resizes and converts to sRGB as the plan says; notes what it does. */
async function fitPipeline(img: ImageInput, input: string | Buffer, plan: Fitted, notes: string[]): Promise<Sharp> {
  const { facts } = img;
  const { width, height } = orientedSize(facts);
  const c = conversions(facts);
  if (c.rotated) notes.push(`rotated (exif ${facts.orientation})`);
  if (c.animated) notes.push(`first frame of ${facts.pages}`);
  if (c.wideColour) notes.push(`${facts.space}->srgb`);
  if (c.deep) notes.push(`${facts.depth}->8bit`);
  // sharp applies rotate, resize and extend in a fixed order within one pipeline; padding must come before the
  // model's resize, so a padded image that is also too large takes two passes.
  let pipeline = load(input).rotate();
  if (plan.padded) {
    const padW = plan.padded.width - width;
    const padH = plan.padded.height - height;
    pipeline = pipeline.extend({ left: Math.floor(padW / 2), right: Math.ceil(padW / 2), top: Math.floor(padH / 2), bottom: Math.ceil(padH / 2), background: PAD });
    notes.push(`padded ${dims(width, height)}->${dims(plan.padded.width, plan.padded.height)}`);
    if (plan.resized) pipeline = load(await decodeOrFail(pipeline.png({ compressionLevel: 1 }).toBuffer(), img.label));
  }
  if (plan.resized) {
    const from = plan.padded ?? { width, height };
    pipeline = pipeline.resize(plan.width, plan.height, { fit: 'fill', kernel: 'lanczos3' });
    notes.push(`resized ${dims(from.width, from.height)}->${dims(plan.width, plan.height)}`);
  }
  return pipeline.toColourspace('srgb');
}

/** Alpha stays (PNG); everything else becomes a JPEG, stepping quality down until the data URL fits. */
async function encodeToFit(a: { img: ImageInput; pipeline: Sharp; plan: Fitted; budget: number; format: string; notes: string[] }): Promise<Prepared> {
  const { img, pipeline, plan, budget, notes } = a;
  const attempts: { name: string; mime: string; out: Sharp }[] = img.facts.hasAlpha === true ? [{ name: 'png', mime: 'image/png', out: pipeline.clone().png({ compressionLevel: 6 }) }] : [];
  for (const quality of [88, 75, 60, 45]) {
    attempts.push({ name: `jpeg q${quality}`, mime: 'image/jpeg', out: pipeline.clone().flatten({ background: PAD }).jpeg({ quality }) });
  }
  for (const [i, attempt] of attempts.entries()) {
    const out = path.join(await img.dir(), `image-${i}.${attempt.mime === 'image/png' ? 'png' : 'jpg'}`);
    await decodeOrFail(attempt.out.toFile(out), img.label);
    const bytes = await sizeOf(out);
    if (bytes <= budget) {
      notes.push(`${a.format.replace('-decoded', '')}->${attempt.name}`);
      return { media: { type: 'image', source: { file: out }, mime: attempt.mime }, facts: { bytes, width: plan.width, height: plan.height }, note: notes.join(', ') };
    }
  }
  throw new OmniError('too_large', `${img.label}: still over ${budget} bytes as a JPEG of quality 45 at ${dims(plan.width, plan.height)}`);
}

async function decodeOrFail<T>(p: Promise<T>, label: string): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new OmniError('media_unreadable', `${label}: the image does not decode (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})`);
  }
}

/**
 * Whether the file ends the way a complete file of its format ends: JPEG's EOI marker (FF D9) last, PNG's IEND
 * chunk last, WebP's RIFF size equal to the file's. A file cut short fails this and is decoded in full. Takes
 * the file's path, or its bytes when they are in hand.
 */
export async function endsWhole(source: string | Buffer, format: string): Promise<boolean> {
  if (typeof source !== 'string') return endsWholeBytes(source.subarray(0, 12), source.subarray(-12), source.length, format);
  const fh = await open(source, 'r');
  try {
    const { size } = await fh.stat();
    if (size < 16) return false;
    const head = Buffer.alloc(12);
    const tail = Buffer.alloc(12);
    if (format === 'webp') await fh.read(head, 0, 12, 0);
    await fh.read(tail, 0, 12, size - 12);
    return endsWholeBytes(head, tail, size, format);
  } finally {
    await fh.close();
  }
}

/** The check on a file's first and last 12 bytes and its size. */
function endsWholeBytes(head: Buffer, tail: Buffer, size: number, format: string): boolean {
  if (size < 16) return false;
  if (format === 'jpeg') return tail[10] === 0xff && tail[11] === 0xd9;
  if (format === 'png') return tail.subarray(4, 8).toString('latin1') === 'IEND';
  if (format === 'webp') return head.toString('latin1', 0, 4) === 'RIFF' && head.readUInt32LE(4) + 8 === size;
  return false;
}
