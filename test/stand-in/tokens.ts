// Token accounting from API.md's "Token accounting" section. Pure functions: the numbers here
// are what tests compare usage against, so keep them free of I/O.
import type { ModelSpec } from './models.js';
import type { MediaSummary, PromptTokenDetails } from './types.js';

/**
 * Sizes assumed for media given as http(s) URLs: the stand-in never fetches them, yet usage must
 * still be plausible for cost estimates in benchmarks.
 */
export const NOMINAL = { width: 1280, height: 720, durationSec: 10 } as const;

const IMAGE_MIN_PATCHES = 4;
const IMAGE_MAX_PATCHES = 1280;
const FRAME_MIN_PATCHES = 128;
const FRAME_MAX_PATCHES = 768;
const VIDEO_TOTAL_PATCHES = 16384;
const FPS = 2;

/**
 * Qwen-VL's resize rule: snap both sides to multiples of f, then scale (keeping the aspect
 * ratio) so that the pixel count lies in [minPixels, maxPixels]. Returns [height, width].
 */
export function smartResize(
  height: number,
  width: number,
  f: number,
  minPixels: number,
  maxPixels: number,
): [number, number] {
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

/** One token per f x f patch after resizing, plus 2 for the image's start/end markers. */
export function imageTokens(width: number, height: number, f: number): number {
  const [h, w] = smartResize(height, width, f, IMAGE_MIN_PATCHES * f * f, IMAGE_MAX_PATCHES * f * f);
  return (h * w) / (f * f) + 2;
}

/** Audio is billed per second; anything under a second counts as one second. */
export function audioTokens(durationSec: number, tokensPerSec: number): number {
  return Math.ceil(Math.max(1, durationSec) * tokensPerSec);
}

/** Frames pass through pairwise: ceil(n/2) temporal patches of (h/f)*(w/f) each, plus 2. */
export function videoTokens(frames: number, width: number, height: number, f: number): number {
  const patch = f * f;
  // Each frame gets at most its share of the whole-video budget, but never less than the floor.
  const perFrameMax = Math.max(
    FRAME_MIN_PATCHES * patch,
    Math.min(FRAME_MAX_PATCHES * patch, Math.floor((VIDEO_TOTAL_PATCHES * patch) / frames)),
  );
  const [h, w] = smartResize(height, width, f, FRAME_MIN_PATCHES * patch, perFrameMax);
  return Math.ceil(frames / 2) * (h / f) * (w / f) + 2;
}

/** Frames sampled from a video file: 2 fps, even, within the model's frame range. */
export function sampledFrames(durationSec: number, min: number, max: number): number {
  const even = Math.round((durationSec * FPS) / 2) * 2;
  return Math.min(max, Math.max(min, even));
}

/** The stand-in's stand-in tokenizer: four characters per token, at least one. */
export function textTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

/** Output text: four characters per token (zero for an empty answer). */
export function outputTextTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Prompt token details for the text length and inspected media of one request. */
export function promptTokens(textChars: number, media: readonly MediaSummary[], spec: ModelSpec): PromptTokenDetails {
  const f = spec.patch;
  const details: PromptTokenDetails = {
    text_tokens: textTokens(textChars),
    image_tokens: 0,
    audio_tokens: 0,
    video_tokens: 0,
  };
  for (const m of media) {
    const width = m.width ?? NOMINAL.width;
    const height = m.height ?? NOMINAL.height;
    const duration = m.durationSec ?? NOMINAL.durationSec;
    switch (m.kind) {
      case 'image':
        details.image_tokens += imageTokens(width, height, f);
        break;
      case 'audio':
        details.audio_tokens += audioTokens(duration, spec.audioTokensPerSec);
        break;
      case 'frames':
        details.video_tokens += videoTokens(m.frames ?? spec.framesMin, width, height, f);
        break;
      case 'video':
        details.video_tokens += videoTokens(sampledFrames(duration, spec.framesMin, spec.framesMax), width, height, f);
        // The soundtrack is billed separately, as audio (API.md); URLs are assumed to have one.
        if (m.hasAudio !== false) details.audio_tokens += audioTokens(duration, spec.audioTokensPerSec);
        break;
    }
  }
  return details;
}

export interface CompletionTokenDetails {
  text: number;
  audio: number;
  reasoning: number;
}

/**
 * The usage object in wire order. Modality keys appear only when non-zero; text_tokens always.
 */
/**
 * The usage object. `breakdown` false: as vLLM(-Omni) reports it (serving_chat.py UsageInfo), the three totals and
 * no per-modality details.
 */
export function usageObject(prompt: PromptTokenDetails, completion: CompletionTokenDetails, breakdown = true): Record<string, unknown> {
  const promptTotal = prompt.text_tokens + prompt.image_tokens + prompt.audio_tokens + prompt.video_tokens;
  const completionTotal = completion.text + completion.audio + completion.reasoning;
  if (!breakdown) return { prompt_tokens: promptTotal, completion_tokens: completionTotal, total_tokens: promptTotal + completionTotal };
  const completionDetails: Record<string, number> = {};
  if (completion.audio > 0) completionDetails['audio_tokens'] = completion.audio;
  if (completion.reasoning > 0) completionDetails['reasoning_tokens'] = completion.reasoning;
  completionDetails['text_tokens'] = completion.text;
  const promptDetails: Record<string, number> = {};
  if (prompt.audio_tokens > 0) promptDetails['audio_tokens'] = prompt.audio_tokens;
  if (prompt.image_tokens > 0) promptDetails['image_tokens'] = prompt.image_tokens;
  promptDetails['text_tokens'] = prompt.text_tokens;
  if (prompt.video_tokens > 0) promptDetails['video_tokens'] = prompt.video_tokens;
  if (prompt.cached_tokens !== undefined) promptDetails['cached_tokens'] = prompt.cached_tokens;
  return {
    prompt_tokens: promptTotal,
    completion_tokens: completionTotal,
    total_tokens: promptTotal + completionTotal,
    completion_tokens_details: completionDetails,
    prompt_tokens_details: promptDetails,
  };
}
