/**
 * Segments mode (`audio.mode` / `video.mode: segments`): a recording longer than the model takes is cut into
 * model-sized parts, each made to fit as a clip of its own (audio.ts, video.ts: stream copy where the codecs allow
 * it), so that every part can be asked and the answers joined into one row in order, instead of the model hearing
 * only the first minutes.
 */
import type { Window } from '../../shared/media-plan.js';
import { rangeLabel } from '../../shared/media-plan.js';
import { prepareAudio } from './audio.js';
import type { PrepareInput, Prepared, PreparedPart, VideoInput } from './prepared.js';
import { prepareVideoFile } from './video.js';
import type { PreprocessOptions } from '../../shared/job.js';

/** Every part, one after the other (each is an ffmpeg run of its own: the CPU slot is the job's). */
export async function prepareSegments(
  kind: 'audio' | 'video',
  input: PrepareInput<PreprocessOptions['audio']> | VideoInput,
  windows: readonly Window[],
): Promise<Prepared> {
  const parts: PreparedPart[] = [];
  for (const window of windows) {
    const made = kind === 'audio' ? await prepareAudio({ ...(input as PrepareInput<PreprocessOptions['audio']>), window }) : await prepareVideoFile({ ...(input as VideoInput), window });
    parts.push({ ...made, window, label: rangeLabel(window) });
  }
  const first = parts[0];
  const bytes = parts.reduce((n, p) => n + (p.facts.bytes ?? 0), 0);
  const durationSec = parts.reduce((n, p) => n + (p.facts.durationSec ?? 0), 0);
  const len = Math.round((windows[0]?.durationSec ?? 0) * 10) / 10;
  return {
    media: first?.media,
    facts: { ...first?.facts, bytes, durationSec },
    note: `segments ${parts.length} x ${len}s (${first?.note ?? ''})`,
    parts,
  };
}
