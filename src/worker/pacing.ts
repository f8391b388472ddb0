/**
 * How many tokens to reserve with the pacer before a request: a quick upper-leaning guess from what planning
 * measured, using the model's documented token rules. It is settled with the real usage afterwards, so it only
 * needs to be in the right range.
 */
import type { Job } from '../shared/job.js';
import { modelInfo } from '../shared/models.js';

/** Typical answer length reserved before the real completion size is known. */
const COMPLETION_RESERVE = 256;

function imageTokens(width: number | undefined, height: number | undefined, f: number): number {
  if (!width || !height) return 1280 + 2;
  const patches = Math.round(width / f) * Math.round(height / f);
  return Math.min(1280, Math.max(4, patches)) + 2;
}

export function reservationTokens(job: Job): number {
  const info = modelInfo(job.model);
  const f = info?.tokens.patchPx ?? 28;
  const audioRate = info?.tokens.audioTokensPerSec ?? 25;
  const limits = info?.limits;
  const text = [job.system ?? '', ...job.prompts].reduce((n, s) => n + s.length, 0);
  let media = 0;
  const facts = job.facts;
  switch (job.media?.type) {
    case 'image':
      media = imageTokens(facts.width, facts.height, f);
      break;
    case 'audio':
      media = Math.ceil(Math.max(1, facts.durationSec ?? limits?.audioMaxSec ?? 180) * audioRate);
      break;
    case 'video_file': {
      const dur = facts.durationSec ?? limits?.videoMaxSec ?? 40;
      const frames = Math.min(limits?.framesMax ?? 80, Math.max(limits?.framesMin ?? 4, Math.round(dur * 2)));
      const perFrame = Math.min(768, Math.max(128, facts.width && facts.height ? (facts.width * facts.height) / (f * f) : 768));
      media = Math.ceil(frames / 2) * perFrame + 2 + Math.ceil(dur * audioRate);
      break;
    }
    case 'frames': {
      const n = job.media.frames.length;
      const first = facts.frames?.[0];
      const perFrame = Math.min(768, Math.max(128, first ? (first.width * first.height) / (f * f) : 768));
      media = Math.ceil(n / 2) * perFrame + 2;
      break;
    }
    case 'text_file':
      media = Math.ceil((facts.bytes ?? 0) / 4);
      break;
    default:
      break;
  }
  return Math.ceil(text / 4) + media + COMPLETION_RESERVE;
}
