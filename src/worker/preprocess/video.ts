/**
 * Video sent as a file (the only way the model hears the soundtrack): trimmed to the model's maximum from
 * `video.startSec`, by stream copy when the codecs allow it (0.2 s instead of ~15 s for a 1080p minute), and
 * re-encoded only when they do not or the copy is still over the byte cap. A re-encode scales the picture down
 * to the frame size the model samples anyway, and sets the bitrate from the byte budget.
 */
import path from 'node:path';
import { OmniError } from '../../shared/errors.js';
import { EDGE_SEC, frameSize, sampledFrameCount, videoFileWindow, type Window } from '../../shared/media-plan.js';
import { probeAv } from '../../shared/probe.js';
import { FfmpegError, runFfmpeg, secArg } from './ffmpeg.js';
import { dims, s1, sendBudget, sizeOf, type Prepared, type VideoInput } from './prepared.js';

/** Containers API.md lists (ffprobe names); WebM shares `matroska,webm` with MKV, so codecs decide too. */
const CONTAINERS = ['mov,mp4,m4a,3gp,3g2,mj2', 'avi', 'matroska,webm', 'flv', 'asf'];
/** Codecs that go into an MP4 by stream copy and that every decoder takes. */
const COPY_VIDEO = new Set(['h264', 'hevc', 'mpeg4']);
const COPY_AUDIO = new Set(['aac', 'mp3', 'ac3']);

/** The part of the video to send and the bytes it may take. */
interface VideoPlan {
  readonly w: Window;
  /** Whether the window leaves part of the video out. */
  readonly trimmed: boolean;
  readonly budget: number;
  /** The source's picture size. */
  readonly base: { readonly width: number; readonly height: number };
}

export async function prepareVideoFile(v: VideoInput & { window?: Window }): Promise<Prepared> {
  const { file, facts, why } = v;
  const { limits } = v.info;
  const total = facts.durationSec ?? 0;
  const w = v.window ?? videoFileWindow(facts, v.opts, limits);
  const plan: VideoPlan = {
    w,
    trimmed: w.startSec > 0 || w.durationSec < total - 0.05,
    budget: sendBudget('video', limits, v.upload),
    base: { width: facts.width ?? 0, height: facts.height ?? 0 },
  };
  const copyable = COPY_VIDEO.has(facts.videoCodec ?? '') && (!facts.hasAudio || COPY_AUDIO.has(facts.audioCodec ?? ''));
  const listed = CONTAINERS.includes(facts.format ?? '') && copyable;
  if (listed && !plan.trimmed && (facts.bytes ?? Infinity) <= plan.budget) {
    const { base } = plan;
    return { media: { type: 'video_file', source: { file } }, facts: { bytes: facts.bytes ?? 0, durationSec: total, ...base }, note: `as is ${s1(total)}s ${dims(base.width, base.height)} (${why})` };
  }
  return (copyable ? await copyCut(v, plan) : undefined) ?? reencode(v, plan);
}

/** The window cut by stream copy, or undefined when the cut is over the byte cap or comes out too short. */
async function copyCut(v: VideoInput, { w, trimmed, budget, base }: VideoPlan): Promise<Prepared | undefined> {
  const { limits } = v.info;
  // A copied cut ends on packet boundaries and its container may report a little more than asked: one more,
  // shorter try before paying for a re-encode.
  let length = w.durationSec;
  for (let attempt = 0; attempt < 2; attempt++) {
    const out = path.join(await v.dir(), `cut-${Math.round(w.startSec * 1000)}-${attempt}.mp4`);
    await ff(['-ss', secArg(w.startSec), '-i', v.file, '-t', secArg(length), '-map', '0:v:0', '-map', '0:a:0?', '-c', 'copy', '-avoid_negative_ts', 'make_zero', '-movflags', '+faststart', out], v.signal, v.label);
    const got = await probeAv(out, v.label);
    const bytes = await sizeOf(out);
    const d = got.durationSec ?? Infinity;
    if (bytes > budget || d < limits.videoMinSec) break;
    if (d <= limits.videoMaxSec) {
      const what = trimmed ? `trimmed ${s1(w.startSec)}-${s1(w.startSec + d)}s copy` : 'remuxed to mp4 (copy)';
      return { media: { type: 'video_file', source: { file: out } }, facts: { bytes, durationSec: d, ...base }, note: `${what} (${v.why})` };
    }
    length -= d - limits.videoMaxSec + EDGE_SEC;
  }
  return undefined;
}

/** Re-encodes the window at the size the model samples frames at, with a bitrate that fits the budget. */
async function reencode(v: VideoInput, { w, trimmed, budget, base }: VideoPlan): Promise<Prepared> {
  const { facts, info } = v;
  const [fh, fw] = frameSize(base.width, base.height, sampledFrameCount(w.durationSec, info.limits, info.tokens), info.tokens);
  // Down to the model's frame size, never up: the model upscales small frames itself.
  const even = (n: number) => Math.max(2, Math.round(n / 2) * 2);
  const shrink = Math.min(1, fw / Math.max(1, base.width), fh / Math.max(1, base.height));
  const vw = even(shrink < 1 ? fw : base.width);
  const vh = even(shrink < 1 ? fh : base.height);
  const audioKbps = facts.hasAudio ? 48 : 0;
  const range = `${s1(w.startSec)}-${s1(w.startSec + w.durationSec)}s`;
  let totalKbps = Math.floor((budget * 8 * 0.85) / 1000 / Math.max(w.durationSec, 1));
  for (let attempt = 0; attempt < 3; attempt++) {
    const videoKbps = Math.max(50, Math.min(2000, totalKbps - audioKbps));
    const out = path.join(await v.dir(), `encoded-${Math.round(w.startSec * 1000)}-${attempt}.mp4`);
    const audioArgs = facts.hasAudio ? ['-map', '0:a:0', '-c:a', 'aac', '-b:a', `${audioKbps}k`, '-ac', '1'] : [];
    await ff(
      ['-ss', secArg(w.startSec), '-t', secArg(w.durationSec), '-i', v.file, '-map', '0:v:0', ...audioArgs,
        '-vf', `scale=${vw}:${vh},format=yuv420p`, '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '26',
        '-maxrate', `${videoKbps}k`, '-bufsize', `${videoKbps * 2}k`, '-movflags', '+faststart', '-map_metadata', '-1', out],
      v.signal,
      v.label,
    );
    const bytes = await sizeOf(out);
    if (bytes <= budget) {
      return {
        media: { type: 'video_file', source: { file: out } },
        facts: { bytes, durationSec: w.durationSec, width: vw, height: vh },
        note: `${trimmed ? `trimmed ${range} ` : ''}reencoded ${facts.videoCodec ?? '?'}->h264 ${dims(base.width, base.height)}${shrink < 1 ? `->${dims(vw, vh)}` : ''} (${v.why})`,
      };
    }
    totalKbps = Math.floor(totalKbps / 2);
  }
  throw new OmniError('too_large', `${v.label}: ${s1(w.durationSec)} s of video stays over ${budget} bytes after re-encoding`);
}

async function ff(args: string[], signal: AbortSignal, label: string): Promise<void> {
  try {
    await runFfmpeg(args, signal);
  } catch (err) {
    if (err instanceof FfmpegError) throw new OmniError('media_unreadable', `${label}: the video does not decode (${err.message})`);
    throw err;
  }
}
