/**
 * Pure decisions about how a file is made to fit a model, from probe facts alone: the image size to send, the
 * audio and video windows, file or frames, how many frames and how large. The producer's estimate and the
 * worker's preprocessing both ask these functions, so what is estimated is what is sent.
 */
import type { MediaFacts, PreprocessOptions } from './job.js';
import type { ModelLimits, TokenRules } from './models.js';

/**
 * Qwen-VL's resize rule (API.md "Token accounting"): snap both sides to multiples of f, then scale (keeping the
 * aspect ratio) so that the pixel count lies in [minPixels, maxPixels]. Returns [height, width].
 */
export function smartResize(height: number, width: number, f: number, minPixels: number, maxPixels: number): [number, number] {
  let h = Math.max(f, Math.round(height / f) * f);
  let w = Math.max(f, Math.round(width / f) * f);
  if (h * w > maxPixels) {
    const beta = Math.sqrt((height * width) / maxPixels);
    h = Math.max(f, Math.floor(height / beta / f) * f);
    w = Math.max(f, Math.floor(width / beta / f) * f);
  } else if (h * w < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    h = Math.ceil((height * beta) / f) * f;
    w = Math.ceil((width * beta) / f) * f;
  }
  return [h, w];
}

/** Width and height as displayed: EXIF orientations 5 to 8 swap the sides. */
export function orientedSize(facts: MediaFacts): { width: number; height: number } {
  const w = facts.width ?? 0;
  const h = facts.height ?? 0;
  return (facts.orientation ?? 1) >= 5 ? { width: h, height: w } : { width: w, height: h };
}

export type ImagePlan =
  | {
      readonly ok: true;
      /** Size after padding (equal to the input when no padding is needed). */
      readonly padded: { width: number; height: number } | undefined;
      /** What is sent. */
      readonly width: number;
      readonly height: number;
      readonly resized: boolean;
    }
  | { readonly ok: false; readonly code: 'too_small' | 'bad_aspect'; readonly reason: string };

/**
 * The size to send an image at. Sides <= the minimum or an aspect over the maximum are padded (or refused);
 * then an image over the model's patch ceiling is downscaled to exactly the size the model would resize it to,
 * so no pixel is encoded, sent or paid for that the model throws away.
 */
export function planImage(width: number, height: number, limits: ModelLimits, rules: TokenRules, fix: PreprocessOptions['image']['fix']): ImagePlan {
  const minSide = limits.imageMinSidePx + 1;
  const aspect = Math.max(width, height) / Math.min(width, height);
  const tooSmall = Math.min(width, height) < minSide;
  const badAspect = aspect > limits.imageMaxAspect;
  let w = width;
  let h = height;
  if (tooSmall || badAspect) {
    if (fix === 'refuse') {
      return tooSmall
        ? { ok: false, code: 'too_small', reason: `${width}x${height}: both sides must be larger than ${limits.imageMinSidePx} px (image.fix: refuse)` }
        : { ok: false, code: 'bad_aspect', reason: `${width}x${height}: aspect ratio ${Math.round(aspect)}:1 is over ${limits.imageMaxAspect}:1 (image.fix: refuse)` };
    }
    w = Math.max(w, minSide, Math.ceil(h / limits.imageMaxAspect));
    h = Math.max(h, minSide, Math.ceil(w / limits.imageMaxAspect));
  }
  const f = rules.patchPx;
  const maxPixels = rules.imageMaxPatches * f * f;
  const padded = w !== width || h !== height ? { width: w, height: h } : undefined;
  if (w * h <= maxPixels) return { ok: true, padded, width: w, height: h, resized: false };
  const [rh, rw] = smartResize(h, w, f, rules.imageMinPatches * f * f, maxPixels);
  return { ok: true, padded, width: rw, height: rh, resized: true };
}

/** A window of a clip, in seconds. */
export interface Window {
  readonly startSec: number;
  readonly durationSec: number;
}

/**
 * The part of a clip to send: from `startSec` (0 when it lies past the end), for `lengthSec` or to the end,
 * and at most `maxSec`.
 */
export function clipWindow(totalSec: number, startSec: number, lengthSec: number | null, maxSec: number | undefined): Window {
  const start = startSec < totalSec ? startSec : 0;
  let len = totalSec - start;
  if (lengthSec !== null) len = Math.min(len, lengthSec);
  if (maxSec !== undefined) len = Math.min(len, maxSec);
  return { startSec: start, durationSec: len };
}

/**
 * Cuts end this far under the model's maximum: encoders pad (an MP3 frame is 26 ms, a copied GOP ends where
 * it ends), and a clip that comes out 40.02 s long is refused as too long.
 */
export const EDGE_SEC = 0.25;

export function audioWindow(facts: MediaFacts, opts: Pick<PreprocessOptions['audio'], 'startSec'>, limits: ModelLimits): Window {
  return clipWindow(facts.durationSec ?? 0, opts.startSec, null, limits.audioMaxSec - EDGE_SEC);
}

export type VideoMode = 'file' | 'frames';

/**
 * `file` when asked for (or, in `auto`, when at most `autoMaxTrimSec` must be cut off to fit the model), else
 * `frames`. A window shorter than the model's minimum file length always becomes frames.
 */
export function chooseVideoMode(facts: MediaFacts, opts: PreprocessOptions['video'], limits: ModelLimits): { mode: VideoMode; why: string } {
  const whole = clipWindow(facts.durationSec ?? 0, opts.startSec, opts.windowSec, undefined);
  if (opts.mode === 'frames') return { mode: 'frames', why: 'video.mode frames' };
  if (whole.durationSec < limits.videoMinSec) return { mode: 'frames', why: `${round1(whole.durationSec)} s is under the ${limits.videoMinSec} s a video file needs` };
  // segments: a video that needs no cutting is sent as the file (a longer one never gets here: preprocess cuts it).
  if (opts.mode === 'file' || opts.mode === 'segments') return { mode: 'file', why: `video.mode ${opts.mode}` };
  const cut = whole.durationSec - limits.videoMaxSec;
  return cut <= opts.autoMaxTrimSec
    ? { mode: 'file', why: cut > 0 ? `auto: ${round1(cut)} s cut off` : 'auto: fits' }
    : { mode: 'frames', why: `auto: ${round1(whole.durationSec)} s is ${round1(cut)} s over the ${limits.videoMaxSec} s a file may last` };
}

export function videoFileWindow(facts: MediaFacts, opts: PreprocessOptions['video'], limits: ModelLimits): Window {
  return clipWindow(facts.durationSec ?? 0, opts.startSec, opts.windowSec, limits.videoMaxSec - EDGE_SEC);
}

export function framesWindow(facts: MediaFacts, opts: PreprocessOptions['video']): Window {
  return clipWindow(facts.durationSec ?? 0, opts.startSec, opts.windowSec, undefined);
}

/** Frames the model samples from `sec` seconds: 2 per second, an even count, within the model's range. */
export function sampledFrameCount(sec: number, limits: ModelLimits, rules: TokenRules): number {
  const even = Math.round((sec * rules.videoFps) / 2) * 2;
  return Math.min(limits.framesMax, Math.max(limits.framesMin, even));
}

/** Frames to extract: as asked (clamped to the model's range), or as the model would sample them. */
export function frameCount(window: Window, opts: PreprocessOptions['video'], limits: ModelLimits, rules: TokenRules): number {
  if (opts.frames !== null) return Math.min(limits.framesMax, Math.max(limits.framesMin, opts.frames));
  return sampledFrameCount(window.durationSec, limits, rules);
}

/** The per-frame size the model resizes `n` frames of width x height to. Returns [height, width]. */
export function frameSize(width: number, height: number, n: number, rules: TokenRules): [number, number] {
  const f = rules.patchPx;
  const patch = f * f;
  const perFrame = Math.max(rules.frameMinPatches, Math.min(rules.frameMaxPatches, Math.floor(rules.videoTotalPatches / n)));
  return smartResize(height, width, f, rules.frameMinPatches * patch, perFrame * patch);
}

/** Evenly spaced timestamps over a window, starting at its start. */
export function frameTimes(window: Window, n: number): number[] {
  return Array.from({ length: n }, (_, k) => window.startSec + (k * window.durationSec) / n);
}

/**
 * Segments mode: the parts a clip is cut into when it is longer than the model takes, from `startSec` to the end,
 * in equal parts each at most `maxSec - EDGE_SEC` long (equal, so the last part is never a sliver under a minimum).
 * One part, the whole window, when it fits.
 */
export function segmentWindows(totalSec: number, startSec: number, maxSec: number): Window[] {
  const whole = clipWindow(totalSec, startSec, null, undefined);
  const part = maxSec - EDGE_SEC;
  if (whole.durationSec <= part) return [whole];
  const n = Math.ceil(whole.durationSec / part);
  const len = whole.durationSec / n;
  return Array.from({ length: n }, (_, k) => ({ startSec: whole.startSec + k * len, durationSec: len }));
}

/** The parts of a job's audio or video in segments mode; undefined when the mode is not segments or one part would do. */
export function segmentsOf(kind: 'audio' | 'video', facts: MediaFacts, opts: PreprocessOptions, limits: ModelLimits): Window[] | undefined {
  const total = facts.durationSec ?? 0;
  const parts =
    kind === 'audio'
      ? opts.audio.mode === 'segments' ? segmentWindows(total, opts.audio.startSec, limits.audioMaxSec) : undefined
      : opts.video.mode === 'segments' ? segmentWindows(total, opts.video.startSec, limits.videoMaxSec) : undefined;
  return parts && parts.length > 1 ? parts : undefined;
}

/** `[mm:ss-mm:ss]` (or `[h:mm:ss-h:mm:ss]` past an hour): the label of a part's answer in the joined answer. */
export function rangeLabel(w: Window): string {
  const t = (sec: number) => {
    const s = Math.round(sec);
    const hh = Math.floor(s / 3600);
    const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
    const ss = String(s % 60).padStart(2, '0');
    return hh > 0 ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`;
  };
  return `[${t(w.startSec)}-${t(w.startSec + w.durationSec)}]`;
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
