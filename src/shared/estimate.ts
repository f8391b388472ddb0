/**
 * Prompt tokens and cost of a job, from probe metadata alone, with the documented token rules (API.md "Token
 * accounting"): image patches, audio tokens per second, video frames. Nothing is decoded here.
 */
import type { Job, TokenEstimate } from './job.js';
import {
  audioWindow,
  chooseVideoMode,
  frameCount,
  frameSize,
  framesWindow,
  orientedSize,
  planImage,
  sampledFrameCount,
  smartResize,
  videoFileWindow,
} from './media-plan.js';
import type { ModelInfo, Prices, TokenRules } from './models.js';

/** One token per f x f patch after the model's resize, plus 2 for the image's start and end markers. */
export function imageTokens(width: number, height: number, rules: TokenRules): number {
  const f = rules.patchPx;
  const [h, w] = smartResize(height, width, f, rules.imageMinPatches * f * f, rules.imageMaxPatches * f * f);
  return (h * w) / (f * f) + 2;
}

/** Audio is billed per second; anything under a second counts as one second. */
export function audioTokens(sec: number, rules: TokenRules): number {
  return Math.ceil(Math.max(1, sec) * rules.audioTokensPerSec);
}

/** Frames pass through in pairs: ceil(n/2) temporal patches of (h/f)*(w/f) each, plus 2. */
export function videoTokens(frames: number, width: number, height: number, rules: TokenRules): number {
  const [h, w] = frameSize(width, height, frames, rules);
  const f = rules.patchPx;
  return Math.ceil(frames / 2) * (h / f) * (w / f) + 2;
}

/** The stand-in's and our rough tokenizer: four characters per token. */
export function textTokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

type Estimable = Pick<Job, 'media' | 'facts' | 'options' | 'prompts' | 'system'>;

/** Media tokens of one request carrying this job's media, as it will be sent after preprocessing. */
export function mediaTokens(job: Estimable, info: ModelInfo): Omit<TokenEstimate, 'text'> {
  const est = { image: 0, audio: 0, video: 0 };
  const m = job.media;
  const f = job.facts;
  const { limits, tokens: rules } = info;
  if (!m) return est;
  switch (m.type) {
    case 'image': {
      if (!('file' in m.source) || !f.width || !f.height) return est;
      const { width, height } = orientedSize(f);
      const plan = planImage(width, height, limits, rules, job.options.image.fix);
      if (plan.ok) est.image = imageTokens(plan.width, plan.height, rules);
      return est;
    }
    case 'audio':
      if ('file' in m.source && f.durationSec !== undefined) est.audio = audioTokens(audioWindow(f, job.options.audio, limits).durationSec, rules);
      return est;
    case 'video_file': {
      if (!('file' in m.source) || f.durationSec === undefined || !f.width || !f.height) return est;
      const { mode } = chooseVideoMode(f, job.options.video, limits);
      if (mode === 'file') {
        const w = videoFileWindow(f, job.options.video, limits);
        est.video = videoTokens(sampledFrameCount(w.durationSec, limits, rules), f.width, f.height, rules);
        if (f.hasAudio) est.audio = audioTokens(w.durationSec, rules);
      } else {
        const w = framesWindow(f, job.options.video);
        const n = frameCount(w, job.options.video, limits, rules);
        const [h, wd] = frameSize(f.width, f.height, n, rules);
        est.video = videoTokens(n, wd, h, rules);
      }
      return est;
    }
    case 'frames': {
      const first = f.frames?.[0];
      if (first) est.video = videoTokens(m.frames.length, first.width, first.height, rules);
      return est;
    }
    case 'text_file':
      return est;
  }
}

/**
 * Prompt tokens over every turn of the conversation: the media and the history are sent again with each
 * follow-up, and each earlier answer is assumed to be `answerTokens` long.
 */
export function estimateJob(job: Estimable, info: ModelInfo, answerTokens: number): TokenEstimate {
  const media = mediaTokens(job, info);
  const extra = job.media?.type === 'text_file' ? (job.facts.bytes ?? 0) : 0;
  let chars = (job.system?.length ?? 0) + extra;
  const total: TokenEstimate = { text: 0, image: 0, audio: 0, video: 0 };
  job.prompts.forEach((prompt, turn) => {
    chars += prompt.length + (turn > 0 ? 2 : 0);
    total.text += textTokens(chars) + turn * answerTokens;
    total.image += media.image;
    total.audio += media.audio;
    total.video += media.video;
  });
  return total;
}

export function promptTotal(e: TokenEstimate): number {
  return e.text + e.image + e.audio + e.video;
}

/** Cost of the estimated prompt plus `answerTokens` of output per turn; null when the model has no price. */
export function estimateCost(e: TokenEstimate, turns: number, afterMedia: boolean, p: Prices | undefined, answerTokens: number): number | null {
  if (!p) return null;
  const input = e.text * p.inputText + e.audio * p.inputAudio + (e.image + e.video) * p.inputImageVideo;
  const output = turns * answerTokens * (afterMedia ? p.outputTextAfterMedia : p.outputText);
  return Math.round(((input + output) / 1_000_000) * 1e8) / 1e8;
}
