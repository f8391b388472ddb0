/**
 * A Job is everything the worker needs to turn one item into one row. It is plain data (no functions, no
 * secrets), so the same object can travel through an in-process queue or a Redis queue.
 */
import type { AnswerSchema } from './answer-schema.js';
import type { ModelLimitsBlock } from './model-overrides.js';
import type { RegionId, ThinkingSetting } from './models.js';
import type { ApiDialect } from './dialect.js';
import type { RunPrice } from './run-price.js';

export type { ThinkingSetting } from './models.js';

/** What a file is, as classification decides and the rows and totals count it. */
export type MediaKind = 'image' | 'audio' | 'video' | 'text' | 'unknown';

export type JobSource = { readonly file: string } | { readonly url: string };

export type JobMedia =
  | { readonly type: 'image'; readonly source: JobSource; readonly mime: string | undefined }
  | { readonly type: 'audio'; readonly source: JobSource; readonly format: string }
  | { readonly type: 'video_file'; readonly source: JobSource }
  | { readonly type: 'frames'; readonly frames: readonly { readonly source: JobSource; readonly mime: string | undefined }[] }
  /**
   * A local text file whose content is sent after the prompt. `text`: the content as planning read it (small
   * files, in-process runs), so the worker sends the very bytes the id was made from without reading them again.
   */
  | { readonly type: 'text_file'; readonly file: string; readonly text?: string };

/** What probing measured (by content, not by name); preprocessing and the estimate work from these. */
export interface MediaFacts {
  bytes?: number;
  width?: number;
  height?: number;
  durationSec?: number;
  /** Container or image format as the probe named it (`jpeg`, `png`, `mov,mp4,m4a,3gp,3g2,mj2`, `ogg`, ...). */
  format?: string;
  /** Images: EXIF orientation (1..8), frame count of an animation, colour space, bits per sample, alpha. */
  orientation?: number;
  pages?: number;
  space?: string;
  depth?: string;
  hasAlpha?: boolean;
  /** Images sharp cannot open (BMP, ...) are decoded with ffmpeg first. */
  decoder?: 'sharp' | 'ffmpeg';
  /** Audio/video streams. */
  hasAudio?: boolean;
  videoCodec?: string;
  audioCodec?: string;
  sampleRate?: number;
  channels?: number;
  /** Per frame of a frame list: bytes and dimensions. */
  frames?: { bytes: number; width: number; height: number }[];
}

/** How media is made to fit; part of the job id, so changing it sends the file again. */
export interface PreprocessOptions {
  readonly image: {
    /** Sides <= 10 px or aspect over 200:1: `pad` the image until it fits, or `refuse` it with a skipped row. */
    readonly fix: 'pad' | 'refuse';
  };
  readonly video: {
    /**
     * `file` sends the video (the model hears it), `frames` a list of stills, `auto` picks per file, `segments` cuts a
     * video longer than the model takes into model-sized files and asks each (one row, the answers joined).
     */
    readonly mode: 'auto' | 'file' | 'frames' | 'segments';
    /** Where the window starts, in seconds. */
    readonly startSec: number;
    /** Window length; null = to the end (file mode: at most the model's maximum). */
    readonly windowSec: number | null;
    /** Frame count for `frames`; null = 2 per second of the window, clamped to the model's range. */
    readonly frames: number | null;
    /** `auto` sends the file when at most this many seconds must be cut off; otherwise frames. */
    readonly autoMaxTrimSec: number;
  };
  readonly audio: {
    /** `trim`: cut to the model's maximum; `segments`: cut into model-sized parts, ask each, one row. */
    readonly mode: 'trim' | 'segments';
    /** Where the clip starts, in seconds. */
    readonly startSec: number;
  };
  /**
   * Local audio and video over the data-URL cap but within the model's limits go by DashScope's temporary upload
   * (oss://). Not part of the job id: it changes how a file travels, not what is asked.
   */
  readonly upload: boolean;
}

/** Spoken answers: the voice asked for and the folder each answer's WAV file goes to. */
export interface SpokenAnswer {
  readonly voice: string;
  /** The only format the API documents for output audio. */
  readonly format: 'wav';
  /** Absolute. */
  readonly dir: string;
}

/** What kind of answer is asked for; part of the job id when not plain text, so changing it sends the file again. */
export interface AnswerOptions {
  /** Labels or a JSON Schema for the answer of the last turn; undefined = free text. */
  readonly format: AnswerSchema | undefined;
  /** Speech for the answer of the last turn (`modalities: ["text","audio"]`); undefined = text only. */
  readonly audio: SpokenAnswer | undefined;
  /**
   * Thinking mode as the model will run it (the model's default already applied): `off`, `on` at the model's
   * default strength, or a strength; sent as the model's own parameter. The reasoning goes to its own column.
   */
  readonly thinking: ThinkingSetting;
}

/** Sampling settings sent as they are (the API's names); each is absent unless the job file or a flag set it. */
export interface GenerationSettings {
  readonly temperature?: number;
  readonly top_p?: number;
  readonly max_tokens?: number;
  readonly seed?: number;
  readonly presence_penalty?: number;
}

/**
 * Local media files up to this size are read once and their bytes kept with the job while it is worked on
 * (planning hands them to the in-process worker; a queue worker reads a small image once itself): the probe, the
 * id, an image's end-marker check and resize, and a request that sends the file as it is all use them. At most
 * one file per job slot is held.
 */
export const KEEP_CONTENT_BYTES = 2 * 1024 * 1024;

export const PLAIN_ANSWER: AnswerOptions = { format: undefined, audio: undefined, thinking: 'off' };

/** Prompt tokens by modality, estimated before any call. */
export interface TokenEstimate {
  text: number;
  image: number;
  audio: number;
  video: number;
}

export interface Job {
  readonly id: string;
  readonly path: string;
  /** For a manifest row: the file, URL or frame list it names; '' for a scanned file. */
  readonly source: string;
  readonly kind: MediaKind;
  readonly model: string;
  /**
   * The job file's `modelLimits` block, when it has one (the facts the model runs on are the catalogue's with
   * it applied: shared/model-overrides.ts). Optional, like the two below: a job queued by an older version has none.
   */
  readonly modelLimits?: ModelLimitsBlock | undefined;
  /** Whose list prices the row's cost uses; absent: Beijing (cn), as before regions had prices. */
  readonly priceRegion?: RegionId | undefined;
  /** temperature, top_p, max_tokens, seed, presence_penalty as set; absent or empty: the model's defaults. */
  readonly generation?: GenerationSettings | undefined;
  /**
   * The endpoint's dialect; absent: DashScope. Not part of the id: the same file asked of the same model in another
   * dialect is the same question.
   */
  readonly api?: ApiDialect | undefined;
  /** The job file's own price (run-price.ts); absent: the list price where the dialect has one. Not part of the id. */
  readonly price?: RunPrice | undefined;
  readonly system: string | undefined;
  /** Turn 1, then each follow-up, already rendered. */
  readonly prompts: readonly string[];
  readonly media: JobMedia | undefined;
  readonly facts: MediaFacts;
  /**
   * Further media sent in the same user message (a manifest row's `media` list, for a model that takes mixed
   * media), each with its probe facts; `media` is the first. Absent for one medium.
   */
  readonly extra?: readonly { readonly media: JobMedia; readonly facts: MediaFacts }[] | undefined;
  readonly options: PreprocessOptions;
  readonly answer: AnswerOptions;
  /** Prompt tokens of turn 1 as the documented rules predict them from the probe. */
  readonly estimate: TokenEstimate;
  /** Cost of the estimate plus the assumed answers; null when the model has no price. */
  readonly estimatedCost: number | null;
  /** Input order (1-based) and the manifest columns kept for the row (see Row.index / Row.kept). */
  readonly index?: number | null;
  readonly kept?: Readonly<Record<string, string>>;
}
