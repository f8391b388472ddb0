/**
 * What a local media file is, by content and not by name: sharp reads an image's header (dimensions, EXIF
 * orientation, pages, colour space) without decoding pixels; ffprobe (its JSON output) reads audio and
 * video containers, and the images sharp cannot open (BMP, ...). Cheap enough for the producer side.
 */
import { open } from 'node:fs/promises';
import { sharp } from './lazy.js';
import { ConfigError, OmniError } from './errors.js';
import { readImageHeader } from './image-header.js';
import type { MediaFacts } from './job.js';
import { readAvHeader, type AvFacts } from './headers/index.js';
import { FFPROBE, spawnTool } from './tools.js';

export type { AvFacts } from './headers/index.js';

export interface ImageFacts {
  width: number;
  height: number;
  format: string | undefined;
}

export async function probeImage(file: string, label: string): Promise<ImageFacts> {
  try {
    const meta = await sharp(file, { failOn: 'none' }).metadata();
    if (!meta.width || !meta.height) throw new Error('no dimensions in the header');
    return { width: meta.width, height: meta.height, format: meta.format };
  } catch (err) {
    throw new OmniError('media_unreadable', `${label}: not a readable image (${firstLine(err)})`);
  }
}

/** Raised once per run when ffprobe itself is missing: every audio or video file would fail the same way. */
export class ToolMissingError extends ConfigError {}

export const FFMPEG_ADVICE = 'omni-batch needs ffmpeg and ffprobe (Debian/Ubuntu: apt-get install ffmpeg; or set FFMPEG_PATH and FFPROBE_PATH)';

/** The part of `ffprobe -print_format json -show_format -show_streams` that is read. */
interface FfprobeData {
  streams: {
    codec_type?: string;
    codec_name?: string;
    width?: number;
    height?: number;
    sample_rate?: string;
    channels?: number;
    disposition?: { attached_pic?: number };
  }[];
  format: { duration?: string; format_name?: string };
}

/**
 * ffprobe run directly (fluent-ffmpeg, which did this before, is archived upstream and cannot start it in a
 * process group of its own, so a Ctrl-C meant for omni-batch killed it: see spawnTool).
 */
function ffprobe(file: string): Promise<FfprobeData> {
  return new Promise((resolve, reject) => {
    const child = spawnTool(FFPROBE, ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', '-i', file], 'pipe');
    let out = '';
    let err = '';
    child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(err.trim() || `ffprobe exited with ${code}`));
      try {
        const data = JSON.parse(out) as Partial<FfprobeData>;
        resolve({ streams: data.streams ?? [], format: data.format ?? {} });
      } catch {
        reject(new Error(`ffprobe printed no JSON: ${err.trim() || out.slice(0, 200)}`));
      }
    });
  });
}

/**
 * The facts of an audio or video file: read in-process from its header for the common containers (headers/, about
 * 1 ms), from ffprobe (a process, about 100 ms to start) for the rest and whenever a header reader is not sure.
 * `content`: the file's bytes, when they are in hand.
 */
export async function probeAv(file: string, label: string, content?: Buffer): Promise<AvFacts> {
  return (await readAvHeader(file, content)) ?? ffprobeAv(file, label);
}

/** The facts as ffprobe gives them (the reference the header readers are tested against). */
export async function ffprobeAv(file: string, label: string): Promise<AvFacts> {
  const data = await ffprobe(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new ToolMissingError(`ffprobe not found: ${FFMPEG_ADVICE}`);
    throw new OmniError('media_unreadable', `${label}: not readable as audio/video (${lastMeaningfulLine(err.message)})`);
  });
  const video = data.streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  const audio = data.streams.find((s) => s.codec_type === 'audio');
  const d = Number(data.format.duration);
  const format = data.format.format_name;
  return {
    durationSec: Number.isFinite(d) && d > 0 ? d : undefined,
    hasVideo: video !== undefined,
    hasAudio: audio !== undefined,
    width: video?.width,
    height: video?.height,
    format,
    videoCodec: video?.codec_name,
    audioCodec: audio?.codec_name,
    sampleRate: Number(audio?.sample_rate) || undefined,
    channels: audio?.channels,
    still: format !== undefined && (format === 'image2' || format.endsWith('_pipe')) && !audio,
  };
}

export type Probed = { kind: 'image' | 'audio' | 'video'; facts: MediaFacts } | { kind: 'none'; reason: string };

/** Image formats sharp reads whose first frame we send. */
const SHARP_IMAGES = new Set(['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif', 'avif', 'jp2', 'jxl', 'svg']);

/**
 * Classifies a non-empty local file by content. sharp first (in-process, header only; from `content`, the
 * file's bytes, when they are in hand), then ffprobe. `none` when neither can read it, with both reasons.
 */
export async function probeContent(file: string, label: string, content?: Buffer): Promise<Probed> {
  // The common plain images, from their header in hand (src/shared/image-header.ts); sharp for the rest.
  const header = content && readImageHeader(content);
  if (header) return { kind: 'image', facts: { ...header, decoder: 'sharp' } };
  let sharpReason: string;
  try {
    const meta = await sharp(content ?? file, { failOn: 'none' }).metadata();
    if (meta.width && meta.height && SHARP_IMAGES.has(meta.format)) {
      const facts: MediaFacts = { width: meta.width, height: meta.height, format: meta.format, decoder: 'sharp', hasAlpha: meta.hasAlpha, space: meta.space, depth: meta.depth };
      if (meta.orientation !== undefined) facts.orientation = meta.orientation;
      if (meta.pages !== undefined) facts.pages = meta.pages;
      return { kind: 'image', facts };
    }
    sharpReason = `sharp: ${meta.format} without dimensions`;
  } catch (err) {
    sharpReason = firstLine(err);
  }
  let av: AvFacts;
  try {
    av = await probeAv(file, label, content);
  } catch (err) {
    if (err instanceof OmniError) return { kind: 'none', reason: `${sharpReason}; ${err.message.slice(label.length + 2)}` };
    throw err;
  }
  if (av.still && av.width && av.height) return { kind: 'image', facts: { width: av.width, height: av.height, format: av.format ?? 'image2', decoder: 'ffmpeg' } };
  const facts: MediaFacts = { hasAudio: av.hasAudio };
  if (av.format !== undefined) facts.format = av.format;
  if (av.durationSec !== undefined) facts.durationSec = av.durationSec;
  if (av.videoCodec !== undefined) facts.videoCodec = av.videoCodec;
  if (av.audioCodec !== undefined) facts.audioCodec = av.audioCodec;
  if (av.sampleRate !== undefined) facts.sampleRate = av.sampleRate;
  if (av.channels !== undefined) facts.channels = av.channels;
  if (av.hasVideo && av.width && av.height) {
    facts.width = av.width;
    facts.height = av.height;
    if (av.durationSec === undefined) return { kind: 'none', reason: 'a video stream without a duration' };
    return { kind: 'video', facts };
  }
  if (av.hasAudio) {
    if (av.durationSec === undefined) return { kind: 'none', reason: 'an audio stream without a duration' };
    return { kind: 'audio', facts };
  }
  return { kind: 'none', reason: `no audio or video stream in ${av.format ?? 'the container'}` };
}

/** Whether the first 4 KB (of the file, or of its bytes when in hand) read as text: UTF-8 without NUL bytes or invalid sequences. */
export async function looksLikeText(source: string | Buffer): Promise<boolean> {
  if (typeof source !== 'string') return isTextHead(source.subarray(0, 4096));
  const fh = await open(source, 'r');
  try {
    const buf = Buffer.alloc(4096);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return isTextHead(buf.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

function isTextHead(head: Buffer): boolean {
  if (head.includes(0)) return false;
  // A multi-byte character may be cut at the 4 KB edge: drop up to 3 trailing bytes before checking.
  for (let cut = 0; cut <= 3 && cut < head.length; cut++) {
    try {
      new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(0, head.length - cut));
      return true;
    } catch {
      // try a shorter prefix
    }
  }
  return false;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

function lastMeaningfulLine(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines[lines.length - 1] ?? text).slice(0, 200);
}
