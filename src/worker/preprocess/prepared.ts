/** What preprocessing hands to the message builder, and what the row records about it. */
import { stat } from 'node:fs/promises';
import type { JobMedia, MediaFacts, PreprocessOptions } from '../../shared/job.js';
import type { Window } from '../../shared/media-plan.js';
import type { ModelInfo, ModelLimits } from '../../shared/models.js';

export interface Prepared {
  /** What is sent: the original file, or files in the job's temp folder. */
  readonly media: JobMedia | undefined;
  /** Facts of what is sent (bytes, size, duration), checked once more against the model's limits. */
  readonly facts: MediaFacts;
  /** One line for the row's `preprocess` column. */
  readonly note: string;
  /** The file is over the data-URL cap and within the model's limits: it goes by temporary upload (oss://). */
  readonly upload?: true | undefined;  /** Segments mode: the parts, each asked on its own (media/facts above are the first part's and the sums). */
  readonly parts?: readonly PreparedPart[] | undefined;
}

/** One part of a recording in segments mode: what is sent for it, and the stretch of the recording it covers. */
export interface PreparedPart extends Prepared {
  readonly window: Window;
  /** `[00:00-03:00]`, the label its answer gets. */
  readonly label: string;
}

/** What every preparation step starts from; `O` is the job's options for that kind of media. */
export interface PrepareInput<O> {
  /** The local file. */
  readonly file: string;
  /** What probing found in it. */
  readonly facts: MediaFacts;
  /** The model it is made to fit: limits and token rules. */
  readonly info: ModelInfo;
  readonly opts: O;
  /** Where made files go. */
  readonly dir: WorkDir;
  /** A hard stop: ffmpeg is killed and the step ends with `interrupted`. */
  readonly signal: AbortSignal;
  /** The file as error messages and notes name it (the job's path). */
  readonly label: string;
  /** Whether what is made may be over the data-URL cap (it then goes by temporary upload). */
  readonly upload: boolean;
}

/** Video, either way it is sent; `why`: why that way (for the note). */
export interface VideoInput extends PrepareInput<PreprocessOptions['video']> {
  readonly why: string;
}

/** The budget of one base64 data URL item in raw bytes: 3 bytes become 4 characters, minus the prefix. */
export function dataUrlBudget(maxChars: number, prefix = 'data:image/jpeg;base64,'): number {
  return Math.floor(((maxChars - prefix.length) * 3) / 4);
}

/**
 * The job's own temp folder, made on first use: most files (an image or audio sent as it is) need none, and a
 * folder made and removed per file was measurable CPU at hundreds of files a second.
 */
export type WorkDir = () => Promise<string>;

/**
 * The bytes an audio or video file may be sent with: the model's cap, and the data-URL cap, or, when it may be
 * uploaded, the model's cap for media by URL and the upload's own (1 GB).
 */
export function sendBudget(kind: 'audio' | 'video', limits: ModelLimits, upload: boolean): number {
  const max = kind === 'audio' ? limits.audioMaxBytes : limits.videoMaxBytes;
  if (!upload) return Math.min(max, dataUrlBudget(limits.dataUrlMaxChars, 'data:;base64,'));
  return Math.min(max, kind === 'audio' ? limits.urlAudioMaxBytes : limits.urlVideoMaxBytes, limits.uploadMaxBytes);
}

/** Marks an audio or video file over the data-URL cap as one to upload (preprocessing kept it within sendBudget). */
export function withTransport(p: Prepared, limits: ModelLimits, upload: boolean): Prepared {
  const m = p.media;
  if (!upload || !m || (m.type !== 'audio' && m.type !== 'video_file') || !('file' in m.source)) return p;
  return (p.facts.bytes ?? 0) > dataUrlBudget(limits.dataUrlMaxChars, 'data:;base64,') ? { ...p, upload: true } : p;
}

export async function sizeOf(file: string): Promise<number> {
  return (await stat(file)).size;
}

export const dims = (w: number | undefined, h: number | undefined) => `${w ?? '?'}x${h ?? '?'}`;

/** `12.3` -> `12.3`, `40` -> `40`: seconds for notes. */
export const s1 = (n: number) => String(Math.round(n * 10) / 10);
