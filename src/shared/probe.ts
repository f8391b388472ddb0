/**
 * What a local media file measures: image dimensions (sharp reads only the header) and audio/video duration
 * (ffprobe through fluent-ffmpeg). Used for {{media.durationSec}} and for the model-limit checks.
 */
import ffmpeg from 'fluent-ffmpeg';
import sharp from 'sharp';
import { ConfigError, EXIT, OmniError } from './errors.js';

export interface ImageFacts {
  width: number;
  height: number;
  format: string | undefined;
}

export interface AvFacts {
  durationSec: number | undefined;
  hasVideo: boolean;
  hasAudio: boolean;
  width: number | undefined;
  height: number | undefined;
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

export async function probeAv(file: string, label: string): Promise<AvFacts> {
  const data = await new Promise<ffmpeg.FfprobeData>((resolve, reject) => {
    ffmpeg.ffprobe(file, (err: Error | null, d: ffmpeg.FfprobeData) => (err ? reject(err) : resolve(d)));
  }).catch((err: Error) => {
    if (/Cannot find ffprobe|ENOENT.*ffprobe|spawn .*ffprobe/i.test(err.message)) {
      throw new ToolMissingError('ffprobe not found: audio and video files need ffmpeg (Debian/Ubuntu: apt-get install ffmpeg; or set FFPROBE_PATH)', EXIT.config);
    }
    throw new OmniError('media_unreadable', `${label}: not readable as audio/video (${lastMeaningfulLine(err.message)})`);
  });
  const video = data.streams.find((s) => s.codec_type === 'video' && s.disposition?.attached_pic !== 1);
  const audio = data.streams.find((s) => s.codec_type === 'audio');
  const d = Number(data.format.duration);
  return {
    durationSec: Number.isFinite(d) && d > 0 ? d : undefined,
    hasVideo: video !== undefined,
    hasAudio: audio !== undefined,
    width: video?.width,
    height: video?.height,
  };
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
