// Reading media the way the service would: data URLs are decoded and measured (sharp for
// pictures, ffprobe for audio/video); http(s) URLs are accepted unfetched.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { MESSAGES, invalidParameter } from './errors.js';

/** DashScope's cap on one data URL, counted on the encoded string. */
export const DATA_URI_MAX_CHARS = 10_485_760;
const IMAGE_MAX_BYTES = 10 * 1024 * 1024;
const MAX_ASPECT = 200;
const MIN_SIDE = 10;

export type MediaSource =
  | { source: 'url'; url: string }
  | { source: 'data'; base64: string; subtype: string | null }
  /** A temporary upload (`oss://`), resolved to the stored bytes (uploads.ts). */
  | { source: 'oss'; url: string; bytes: Buffer; subtype: null };

/** Where media URLs lead: which http(s) URLs fail, and what an `oss://` URL holds (undefined: not resolvable). */
export interface UrlResolvers {
  urlFail?: ((url: string) => boolean) | undefined;
  oss?: ((url: string) => Buffer) | undefined;
}

/**
 * Image data URLs carry their type (data:image/png;base64,); audio and video data URLs must
 * use the bare `data:;base64,` form from the official examples.
 */
export type DataUrlStyle = 'image' | 'bare';

const IMAGE_DATA_URL = /^data:image\/([A-Za-z0-9.+-]+);base64,/;
const BARE_DATA_URL = 'data:;base64,';
const HTTP_URL = /^https?:\/\//i;

export function classifySource(value: unknown, style: DataUrlStyle, urls: UrlResolvers): MediaSource {
  const urlFail = urls.urlFail;
  if (typeof value !== 'string') throw invalidParameter(MESSAGES.badUrl);
  if (value.startsWith('oss://')) {
    if (!urls.oss) throw invalidParameter(MESSAGES.badUrl);
    return { source: 'oss', url: value, bytes: urls.oss(value), subtype: null };
  }
  if (value.startsWith('data:') && value.length > DATA_URI_MAX_CHARS) throw invalidParameter(MESSAGES.dataUriTooBig);
  if (HTTP_URL.test(value)) {
    if (!URL.canParse(value)) throw invalidParameter(MESSAGES.badUrl);
    if (urlFail?.(value)) throw invalidParameter(MESSAGES.downloadFailed);
    return { source: 'url', url: value };
  }
  if (style === 'image') {
    const m = IMAGE_DATA_URL.exec(value);
    if (m) return { source: 'data', base64: value.slice(m[0].length), subtype: (m[1] ?? '').toLowerCase() };
  } else if (value.startsWith(BARE_DATA_URL)) {
    return { source: 'data', base64: value.slice(BARE_DATA_URL.length), subtype: null };
  }
  throw invalidParameter(MESSAGES.badUrl);
}

export function decode(src: { base64: string } | { bytes: Buffer }): Buffer {
  return 'bytes' in src ? src.bytes : Buffer.from(src.base64, 'base64');
}

const IMAGE_ALGO_PREFIX =
  '<400> InternalError.Algo.InvalidParameter: The image length and width do not meet the model restrictions. ';

export async function inspectImage(bytes: Buffer): Promise<{ width: number; height: number }> {
  if (bytes.length > IMAGE_MAX_BYTES) throw invalidParameter(MESSAGES.fileTooBig);
  let width: number | undefined;
  let height: number | undefined;
  try {
    ({ width, height } = await sharp(bytes).metadata());
  } catch {
    // fall through: unreadable
  }
  if (!width || !height) throw invalidParameter('The image format is illegal and cannot be opened');
  if (width <= MIN_SIDE || height <= MIN_SIDE) {
    throw invalidParameter(`${IMAGE_ALGO_PREFIX}[height:${height} or width:${width} must be larger than ${MIN_SIDE}]`);
  }
  if (Math.max(width, height) / Math.min(width, height) > MAX_ASPECT) {
    throw invalidParameter(`${IMAGE_ALGO_PREFIX}[aspect ratio of height:${height} and width:${width} must not exceed ${MAX_ASPECT}:1]`);
  }
  return { width, height };
}

export interface AvProbe {
  durationSec: number | null;
  video: { width: number; height: number } | null;
  audio: { durationSec: number | null } | null;
}

// ffprobe is a process per call: cap how many run at once so a media-heavy benchmark cannot
// fork-bomb the machine.
const PROBE_SLOTS = Math.max(2, availableParallelism());
let probesRunning = 0;
const probeQueue: Array<() => void> = [];

async function withProbeSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (probesRunning >= PROBE_SLOTS) await new Promise<void>((resolve) => probeQueue.push(resolve));
  probesRunning++;
  try {
    return await fn();
  } finally {
    probesRunning--;
    probeQueue.shift()?.();
  }
}

/** Probes audio/video bytes with ffprobe; null when ffprobe cannot open them. */
export function probeAv(bytes: Buffer): Promise<AvProbe | null> {
  return withProbeSlot(async () => {
    // ffprobe needs a seekable file for most containers (mp4 moov at the end), hence a temp file.
    const file = join(tmpdir(), `omni-stand-in-${randomUUID()}`);
    try {
      await writeFile(file, bytes);
      const json = await runFfprobe(file);
      return json === null ? null : parseProbe(json);
    } finally {
      await rm(file, { force: true });
    }
  });
}

function runFfprobe(file: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile(
      'ffprobe',
      ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', file],
      { timeout: 30_000, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout) => resolve(err ? null : stdout),
    );
  });
}

interface FfprobeJson {
  format?: { duration?: string };
  streams?: Array<{ codec_type?: string; width?: number; height?: number; duration?: string }>;
}

function seconds(v: string | undefined): number | null {
  if (v === undefined) return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

function parseProbe(stdout: string): AvProbe | null {
  let json: FfprobeJson;
  try {
    json = JSON.parse(stdout) as FfprobeJson;
  } catch {
    return null;
  }
  const streams = json.streams ?? [];
  const v = streams.find((s) => s.codec_type === 'video' && s.width && s.height);
  const a = streams.find((s) => s.codec_type === 'audio');
  const durationSec = seconds(json.format?.duration) ?? seconds(a?.duration) ?? seconds(v?.duration);
  return {
    durationSec,
    video: v?.width && v.height ? { width: v.width, height: v.height } : null,
    audio: a ? { durationSec: seconds(a.duration) ?? durationSec } : null,
  };
}
