/**
 * Does a job fit the model's limits as it is? A job that does not gets a `skipped` row with the reason,
 * never a wasted API call. (Preprocessing will make most such files fit instead.)
 */
import type { ErrorCode } from '../shared/errors.js';
import type { Job } from '../shared/job.js';
import type { ModelLimits } from '../shared/models.js';

export interface Misfit {
  readonly code: ErrorCode;
  readonly message: string;
}

/** Length of `data:<mime>;base64,<payload>` for a payload of `bytes` bytes. */
export function dataUrlLength(bytes: number, mime = ''): number {
  return `data:${mime};base64,`.length + 4 * Math.ceil(bytes / 3);
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
const sec = (n: number) => `${Math.round(n * 10) / 10} s`;

function checkImage(label: string, bytes: number | undefined, width: number | undefined, height: number | undefined, mime: string | undefined, l: ModelLimits, local: boolean): Misfit | undefined {
  if (bytes !== undefined) {
    if (bytes > l.imageMaxBytes) return { code: 'too_large', message: `${label}: ${mb(bytes)} is over the ${mb(l.imageMaxBytes)} image limit` };
    if (local && dataUrlLength(bytes, mime) > l.dataUrlMaxChars) {
      return { code: 'too_large', message: `${label}: ${mb(bytes)} becomes a ${dataUrlLength(bytes, mime)}-character data URL, over the ${l.dataUrlMaxChars} cap` };
    }
  }
  if (width !== undefined && height !== undefined) {
    if (Math.min(width, height) <= l.imageMinSidePx) {
      return { code: 'too_small', message: `${label}: ${width}x${height}: both sides must be larger than ${l.imageMinSidePx} px` };
    }
    const aspect = Math.max(width, height) / Math.min(width, height);
    if (aspect > l.imageMaxAspect) return { code: 'bad_aspect', message: `${label}: ${width}x${height}: aspect ratio ${Math.round(aspect)}:1 is over ${l.imageMaxAspect}:1` };
  }
  return undefined;
}

/** `viaUpload`: the file goes by temporary upload (oss://), so the data-URL cap does not apply to it. */
export function checkFits(job: Pick<Job, 'media' | 'facts' | 'path'>, l: ModelLimits, viaUpload = false): Misfit | undefined {
  const m = job.media;
  const f = job.facts;
  const label = job.path;
  if (!m) return undefined;
  switch (m.type) {
    case 'image':
      return checkImage(label, f.bytes, f.width, f.height, m.mime, l, 'file' in m.source);
    case 'audio': {
      if (f.bytes !== undefined) {
        if (f.bytes > l.audioMaxBytes) return { code: 'too_large', message: `${label}: ${mb(f.bytes)} is over the ${mb(l.audioMaxBytes)} audio limit` };
        if (!viaUpload && dataUrlLength(f.bytes) > l.dataUrlMaxChars) return { code: 'too_large', message: `${label}: ${mb(f.bytes)} is too large to send as a data URL (cap ${l.dataUrlMaxChars} characters)` };
      }
      if (f.durationSec !== undefined && f.durationSec > l.audioMaxSec) {
        return { code: 'too_long', message: `${label}: ${sec(f.durationSec)} of audio is over the model's ${sec(l.audioMaxSec)}` };
      }
      return undefined;
    }
    case 'video_file': {
      if (f.bytes !== undefined) {
        if (f.bytes > l.videoMaxBytes) return { code: 'too_large', message: `${label}: ${mb(f.bytes)} is over the ${mb(l.videoMaxBytes)} video limit` };
        if (!viaUpload && dataUrlLength(f.bytes) > l.dataUrlMaxChars) {
          return { code: 'too_large', message: `${label}: ${mb(f.bytes)} is too large to send as a data URL (cap ${l.dataUrlMaxChars} characters, about ${mb((l.dataUrlMaxChars * 3) / 4)})` };
        }
      }
      if (f.durationSec !== undefined) {
        if (f.durationSec > l.videoMaxSec) return { code: 'too_long', message: `${label}: ${sec(f.durationSec)} of video is over the model's ${sec(l.videoMaxSec)}` };
        if (f.durationSec < l.videoMinSec) return { code: 'too_short', message: `${label}: ${sec(f.durationSec)} of video is under the model's ${sec(l.videoMinSec)}` };
      }
      return undefined;
    }
    case 'frames': {
      const n = m.frames.length;
      if (n < l.framesMin || n > l.framesMax) {
        return { code: 'too_many_frames', message: `${label}: ${n} frames; the model takes ${l.framesMin} to ${l.framesMax}` };
      }
      let localIndex = 0;
      for (const [i, frame] of m.frames.entries()) {
        if (!('file' in frame.source)) continue;
        const facts = f.frames?.[localIndex++];
        const misfit = checkImage(`${label}: frame ${i + 1}`, facts?.bytes, facts?.width, facts?.height, frame.mime, l, true);
        if (misfit) return misfit;
      }
      return undefined;
    }
    case 'text_file': {
      // About 4 bytes of UTF-8 per token for English and for Chinese alike; leave room for the prompt.
      const estimate = Math.ceil((f.bytes ?? 0) / 4);
      if (estimate > l.inputTokens - 1024) {
        return { code: 'too_large', message: `${label}: about ${estimate} tokens of text is over the model's ${l.inputTokens}-token input window` };
      }
      return undefined;
    }
  }
}
