/**
 * Classifies a file by its extension. Content probing replaces this with the preprocessing work; until then the
 * extension decides the kind, and whether the API takes the format as it is.
 */
import type { MediaKind } from '../shared/job.js';

export interface Classification {
  kind: MediaKind;
  /** Lower-case extension without the dot ('' when none). */
  ext: string;
  /** Whether the API takes this format as it is (no conversion). */
  sendable: boolean;
  /** For images: the MIME type of the data URL. For audio: the `input_audio.format` value. */
  format: string | undefined;
}

/** Image formats sent as they are, with their data-URL MIME type. */
const IMAGE_SENDABLE: Record<string, string> = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };
/** Image formats the model may not take as they are: converted by preprocessing. */
const IMAGE_OTHER = new Set(['gif', 'bmp', 'tif', 'tiff', 'heic', 'heif', 'avif']);
/** Every image extension omni-batch takes (sent as it is or converted): what an image folder's include should cover. */
export const IMAGE_EXTENSIONS: readonly string[] = [...Object.keys(IMAGE_SENDABLE), ...IMAGE_OTHER];

/** API.md: AMR, WAV, 3GP, 3GPP, AAC, MP3. */
const AUDIO_SENDABLE = new Set(['amr', 'wav', '3gp', '3gpp', 'aac', 'mp3']);
const AUDIO_OTHER = new Set(['ogg', 'oga', 'opus', 'flac', 'm4a', 'wma', 'aiff', 'aif', 'weba']);
/** API.md: MP4, AVI, MKV, MOV, FLV, WMV. */
const VIDEO_SENDABLE = new Set(['mp4', 'avi', 'mkv', 'mov', 'flv', 'wmv']);
const VIDEO_OTHER = new Set(['webm', 'm4v', 'mpg', 'mpeg', 'ts', 'mts', 'm2ts', 'ogv', '3g2']);
/** Plain-text files: their content is sent as text. */
const TEXT = new Set(['txt', 'md', 'markdown', 'rst', 'json', 'jsonl', 'csv', 'tsv', 'xml', 'html', 'htm', 'yaml', 'yml', 'srt', 'vtt', 'log']);

export function extOf(name: string): string {
  const base = name.slice(name.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
}

export function classify(name: string): Classification {
  const ext = extOf(name);
  const imageMime = IMAGE_SENDABLE[ext];
  if (imageMime) return { kind: 'image', ext, sendable: true, format: imageMime };
  if (IMAGE_OTHER.has(ext)) return { kind: 'image', ext, sendable: false, format: undefined };
  if (AUDIO_SENDABLE.has(ext)) return { kind: 'audio', ext, sendable: true, format: ext };
  if (AUDIO_OTHER.has(ext)) return { kind: 'audio', ext, sendable: false, format: undefined };
  if (VIDEO_SENDABLE.has(ext)) return { kind: 'video', ext, sendable: true, format: undefined };
  if (VIDEO_OTHER.has(ext)) return { kind: 'video', ext, sendable: false, format: undefined };
  if (TEXT.has(ext)) return { kind: 'text', ext, sendable: true, format: undefined };
  return { kind: 'unknown', ext, sendable: false, format: undefined };
}
