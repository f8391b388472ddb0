/**
 * Audio: formats the API lists (MP3, WAV, AAC, AMR) are sent as they are when they fit; anything else (Ogg,
 * FLAC, M4A, Opus, a video's soundtrack) is converted to MP3, trimmed to the model's maximum from
 * `audio.startSec`, and downmixed/resampled step by step until it is under the byte cap. ffmpeg reads the file
 * itself (streamed), so a long recording is never held in memory.
 */
import path from 'node:path';
import { OmniError } from '../../shared/errors.js';
import type { PreprocessOptions } from '../../shared/job.js';
import { audioWindow, type Window } from '../../shared/media-plan.js';
import { FfmpegError, runFfmpeg, secArg } from './ffmpeg.js';
import { s1, sendBudget, sizeOf, type PrepareInput, type Prepared } from './prepared.js';

/** ffprobe container name -> `input_audio.format`, for the formats API.md lists. */
const AS_IS: Record<string, string> = { mp3: 'mp3', wav: 'wav', aac: 'aac', amr: 'amr' };

/** From best to smallest; the first whose predicted size fits is tried. 16 kHz mono is what speech models hear. */
const LADDER = [
  { kbps: 128, rate: 44_100, channels: 2 },
  { kbps: 64, rate: 24_000, channels: 1 },
  { kbps: 32, rate: 16_000, channels: 1 },
  { kbps: 16, rate: 16_000, channels: 1 },
  { kbps: 8, rate: 8_000, channels: 1 },
] as const;

/**
 * `formats`: the formats the endpoint's dialect takes as they are (default: DashScope's, all of AS_IS); a file in
 * another is converted to MP3.
 */
export async function prepareAudio({ file, facts, info, opts, dir, signal, label, upload, window, formats }: PrepareInput<PreprocessOptions['audio']> & { window?: Window; formats?: readonly string[] }): Promise<Prepared> {
  const total = facts.durationSec ?? 0;
  const w = window ?? audioWindow(facts, opts, info.limits);
  const trimmed = w.startSec > 0 || w.durationSec < total - 0.05;
  const budget = sendBudget('audio', info.limits, upload);
  const known = AS_IS[facts.format ?? ''];
  const asIs = known !== undefined && (formats ?? Object.values(AS_IS)).includes(known) ? known : undefined;
  if (asIs && !trimmed && (facts.bytes ?? Infinity) <= budget) {
    return { media: { type: 'audio', source: { file }, format: asIs }, facts: { bytes: facts.bytes ?? 0, durationSec: total }, note: `as is ${asIs} ${s1(total)}s` };
  }
  // A part of segments mode, in a format sent as it is: cut by stream copy (no decoding), when that fits.
  const copied = window && asIs ? await copyCut({ file, dir, signal, label }, asIs, w, budget) : undefined;
  if (copied) return copied;
  const out = path.join(await dir(), `audio-${Math.round(w.startSec * 1000)}.mp3`);
  const range = `${s1(w.startSec)}-${s1(w.startSec + w.durationSec)}s`;
  const from = facts.audioCodec ?? facts.format ?? 'audio';
  // Never up: a 16 kHz mono recording stays 16 kHz mono.
  const ladder = LADDER.map((step) => {
    const rate = Math.min(step.rate, mp3Rate(facts.sampleRate ?? step.rate));
    const channels = Math.min(step.channels, facts.channels ?? step.channels);
    // More bits than the rate and channels can use buy nothing.
    const kbps = Math.min(step.kbps, channels === 1 ? 64 : 128, rate <= 16_000 ? 32 : rate <= 24_000 ? 64 : 128);
    return { kbps, rate, channels };
  });
  for (const [i, step] of ladder.entries()) {
    // About 1% of container overhead on top of the bitrate, plus the encoder's padding.
    const predicted = (step.kbps * 1000 * w.durationSec * 1.01) / 8 + 8192;
    if (predicted > budget && i < ladder.length - 1) continue;
    try {
      await runFfmpeg(
        ['-ss', secArg(w.startSec), '-t', secArg(w.durationSec), '-i', file, '-map', '0:a:0', '-vn', '-ac', String(step.channels), '-ar', String(step.rate), '-c:a', 'libmp3lame', '-b:a', `${step.kbps}k`, '-map_metadata', '-1', out],
        signal,
      );
    } catch (err) {
      if (err instanceof FfmpegError) throw new OmniError('media_unreadable', `${label}: the audio does not decode (${err.message})`);
      throw err;
    }
    const bytes = await sizeOf(out);
    if (bytes <= budget) {
      const layout = `${Math.round(step.rate / 100) / 10}kHz ${step.channels === 1 ? 'mono' : 'stereo'} ${step.kbps}k`;
      return {
        media: { type: 'audio', source: { file: out }, format: 'mp3' },
        facts: { bytes, durationSec: w.durationSec },
        note: `audio ${from}->mp3 ${layout} ${range}${trimmed ? ` (trimmed from ${s1(total)}s)` : ''}`,
      };
    }
  }
  throw new OmniError('too_large', `${label}: ${s1(w.durationSec)} s of audio is over ${budget} bytes even as 8 kbps MP3`);
}

/** The window cut by stream copy into the same format; undefined when it comes out over the byte budget. */
async function copyCut(src: Pick<PrepareInput<unknown>, 'file' | 'dir' | 'signal' | 'label'>, format: string, w: Window, budget: number): Promise<Prepared | undefined> {
  const out = path.join(await src.dir(), `part-${Math.round(w.startSec * 1000)}.${format}`);
  try {
    await runFfmpeg(['-ss', secArg(w.startSec), '-t', secArg(w.durationSec), '-i', src.file, '-map', '0:a:0', '-c', 'copy', '-map_metadata', '-1', '-f', format === 'aac' ? 'adts' : format, out], src.signal);
  } catch (err) {
    if (err instanceof FfmpegError) return undefined;
    throw err;
  }
  const bytes = await sizeOf(out);
  if (bytes > budget) return undefined;
  const range = `${s1(w.startSec)}-${s1(w.startSec + w.durationSec)}s`;
  return { media: { type: 'audio', source: { file: out }, format }, facts: { bytes, durationSec: w.durationSec }, note: `audio ${format} copy ${range}` };
}

/** MP3 takes 8 to 48 kHz in steps; the nearest rate at or below the source's. */
function mp3Rate(source: number): number {
  const rates = [48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000];
  return rates.find((r) => r <= source) ?? 8_000;
}
