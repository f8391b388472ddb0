/**
 * A Job is everything the worker needs to turn one item into one row. It is plain data (no functions, no
 * secrets), so the same object can travel through an in-process queue or a Redis queue.
 */
import type { MediaKind } from './row.js';

export type JobSource = { readonly file: string } | { readonly url: string };

export type JobMedia =
  | { readonly type: 'image'; readonly source: JobSource; readonly mime: string | undefined }
  | { readonly type: 'audio'; readonly source: JobSource; readonly format: string }
  | { readonly type: 'video_file'; readonly source: JobSource }
  | { readonly type: 'frames'; readonly frames: readonly { readonly source: JobSource; readonly mime: string | undefined }[] }
  /** A local text file whose content is sent after the prompt. */
  | { readonly type: 'text_file'; readonly file: string };

/** What probing measured; the worker checks these against the model's limits. */
export interface MediaFacts {
  bytes?: number;
  width?: number;
  height?: number;
  durationSec?: number;
  /** Per frame of a frame list: bytes and dimensions. */
  frames?: { bytes: number; width: number; height: number }[];
}

export interface Job {
  readonly id: string;
  readonly path: string;
  readonly kind: MediaKind;
  readonly model: string;
  readonly system: string | undefined;
  /** Turn 1, then each follow-up, already rendered. */
  readonly prompts: readonly string[];
  readonly media: JobMedia | undefined;
  readonly facts: MediaFacts;
}
