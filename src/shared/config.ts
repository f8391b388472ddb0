/**
 * The run configuration: the job-file schema, the flags that override it, and every default in one place.
 * Everything is validated once, here, with messages that name the field, what was expected and what arrived.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { availableParallelism } from 'node:os';
import { ConfigError } from './errors.js';
import { checkBaseUrl } from './base-url.js';
import { schemaFromJsonSchema, schemaFromLabels, type AnswerSchema } from './answer-schema.js';
import type { AnswerOptions, GenerationSettings, PreprocessOptions, ThinkingSetting } from './job.js';
import { lookupModel, modelInfo, KNOWN_MODELS, THINKING_EFFORTS, type ModelInfo, type Prices, type RegionId } from './models.js';
import { COMPLETION_WINDOW, parseHours } from './batch.js';
import { ModelLimitsSchema, resolveModelInfo, type ModelLimitsBlock } from './model-overrides.js';
import { API_NAMES, apiOfUrl, DIALECTS, type ApiDialect } from './dialect.js';
import { PriceSchema, runPrices, type RunPrice } from './run-price.js';

/**
 * Documented DashScope OpenAI-compatible base URLs; a key works only in its own region. Hong Kong, Tokyo,
 * Frankfurt and Virginia (qwen3.8-omni-flash, MODELS-2026 [1]) have no documented base URL yet: name them with
 * --region for their prices, and give the URL (a workspace URL, say) with --base-url.
 */
export const REGIONS: Readonly<Record<RegionId, string | undefined>> = {
  cn: 'https://dashscope.aliyuncs.com/compatible-mode/v1',
  intl: 'https://dashscope-intl.aliyuncs.com/compatible-mode/v1',
  us: 'https://dashscope-us.aliyuncs.com/compatible-mode/v1',
  hk: undefined,
  tokyo: undefined,
  frankfurt: undefined,
  virginia: undefined,
};
export type Region = RegionId;

/** Batch Chat: Beijing's synchronous endpoint at the batch price (half), for the models Batch lists (MODELS-2026.md section 4). */
export const BATCH_CHAT_URL = 'https://batch.dashscope.aliyuncs.com/compatible-mode/v1';

/** Base URLs whose answers cost the batch price (Batch Chat). */
export const HALF_PRICE_BASE_URLS: readonly string[] = [BATCH_CHAT_URL];

/** How a run is scheduled: in this process, as DashScope Batch jobs, or batch when the model and a deadline allow it. */
export const ENGINES = ['in-process', 'batch', 'auto'] as const;
export type EngineName = (typeof ENGINES)[number];
export const REGION_NAMES = Object.keys(REGIONS) as [Region, ...Region[]];

/** The region a documented host serves (its prices apply); undefined for a proxy, a stand-in or another host. */
export function regionOfUrl(url: string): Region | undefined {
  let host: string;
  try {
    host = new URL(url).host;
  } catch {
    return undefined;
  }
  const preset = REGION_NAMES.find((r) => REGIONS[r] !== undefined && new URL(REGIONS[r]).host === host);
  if (preset) return preset;
  if (host === new URL(BATCH_CHAT_URL).host) return 'cn';
  // Workspace URLs: https://{WorkspaceId}.ap-southeast-1.maas.aliyuncs.com/compatible-mode/v1 (MODELS-2026).
  if (host.endsWith('.ap-southeast-1.maas.aliyuncs.com')) return 'intl';
  if (host.endsWith('.cn-beijing.maas.aliyuncs.com')) return 'cn';
  return undefined;
}

/**
 * The ranges of the generation settings, the same for every Omni model (Qwen API reference, MODELS-2026 [12]);
 * max_tokens is also capped by the model's output window.
 */
export const GENERATION_RANGES = {
  temperature: { whole: false, min: 0, max: 1.999 },
  top_p: { whole: false, min: 0.001, max: 1 },
  max_tokens: { whole: true, min: 1, max: Number.MAX_SAFE_INTEGER },
  seed: { whole: true, min: 0, max: 2 ** 31 - 1 },
  presence_penalty: { whole: false, min: -2, max: 2 },
} as const satisfies Record<keyof GenerationSettings, NumberRange>;

export const THINKING_SETTINGS = ['off', 'on', ...THINKING_EFFORTS] as const satisfies readonly ThinkingSetting[];

export const OUTPUT_FORMATS = ['csv', 'jsonl'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export const VIDEO_MODES = ['auto', 'file', 'frames', 'segments'] as const satisfies readonly PreprocessOptions['video']['mode'][];
export const AUDIO_MODES = ['trim', 'segments'] as const satisfies readonly PreprocessOptions['audio']['mode'][];

/** Every default, in one place. */
/** The highest level `--concurrency auto` tries. */
export const AUTO_CONCURRENCY_MAX = 64;

export const DEFAULTS = {
  /**
   * The model asked when none is named: a current one whose limits and prices are documented ([4][10]), with
   * speech output. qwen3.8-omni-flash, Alibaba's pick for understanding, is not the default because its price and
   * thinking switch are inferred and it thinks by default (every answer then pays for its reasoning).
   */
  model: 'qwen3.5-omni-flash',
  /** Beijing. */
  region: 'cn',
  /** Requests in flight at once. The account allows about 1 request per second, so more buys little. */
  concurrency: 4,
  /** Seconds a stream may send nothing before it is aborted and retried. */
  idleTimeoutSec: 60,
  /** Retries after the first attempt for rate limits, 5xx, timeouts and cut streams. */
  retries: 5,
  /** First backoff step; doubles each retry, with full jitter. */
  retryBaseMs: 1_000,
  /** Longest single backoff, unless the server's Retry-After asks for more. */
  retryMaxMs: 60_000,
  /** Output file when none is named. */
  out: 'omni-batch-results.csv',
  /** Requests per minute when the model's catalogue entry has none (it always has). 0 turns pacing off. */
  rpm: 60,
  /** Tokens per minute (prompt + completion), likewise. 0 turns pacing off. */
  tpm: 100_000,
  /** Preprocessing jobs (image resizing, ffmpeg) at once: one per core. */
  cpuConcurrency: availableParallelism(),
  /** Sides <= 10 px or aspect over 200:1 are padded until they fit (or `refuse`d with a skipped row). */
  imageFix: 'pad',
  /** `auto`: send the video file when it fits after cutting at most `videoAutoMaxTrimSec`, else frames. */
  videoMode: 'auto',
  videoAutoMaxTrimSec: 10,
  /** `trim`: audio longer than the model takes is cut to its maximum; `segments` asks each part. */
  audioMode: 'trim',
  /** Local audio and video over the data-URL cap but within the model's limits go by DashScope's temporary upload. */
  upload: true,
  /** Answer length assumed by the estimate, per turn. */
  estimateAnswerTokens: 150,
  /** Spoken answers: a voice turbo and qwen3-omni-flash have; a model that lacks it uses its first voice. */
  voice: 'Cherry',
  /** Spoken answers: the only output audio format the API documents. */
  audioFormat: 'wav',
  /** The in-process engine unless asked. */
  engine: 'in-process',
  /** How long a batch may take (DashScope's completion_window: 24h to 14d). */
  completionWindow: '24h',
} as const satisfies {
  model: string;
  region: Region;
  concurrency: number;
  idleTimeoutSec: number;
  retries: number;
  retryBaseMs: number;
  retryMaxMs: number;
  out: string;
  rpm: number;
  tpm: number;
  cpuConcurrency: number;
  imageFix: PreprocessOptions['image']['fix'];
  videoMode: PreprocessOptions['video']['mode'];
  videoAutoMaxTrimSec: number;
  audioMode: PreprocessOptions['audio']['mode'];
  upload: boolean;
  estimateAnswerTokens: number;
  voice: string;
  audioFormat: 'wav';
  engine: EngineName;
  completionWindow: string;
};

const stringList = z.union([z.string().min(1), z.array(z.string().min(1))]).transform((v) => (Array.isArray(v) ? v : [v]));
const positiveInt = (max: number) => z.number().int().min(1).max(max);

/**
 * Documentation carried by the schema itself: the README's job-file reference and docs/job-file.schema.json are
 * generated from it (`npm run docs:job-reference`), and a test fails when they drift apart.
 */
interface FieldDoc {
  /** Shown as is; one or two sentences. */
  description: string;
  /** The value used when the field is absent (documentation only: defaults are applied in resolveConfig). */
  default?: unknown;
  /** Text for the default when it is not a plain value (e.g. "one per core"). */
  defaultText?: string;
  /** The flag that overrides the field. */
  flag?: string;
  /** The reference lists this field's own fields too (default true); false for a block documented elsewhere. */
  nested?: boolean;
}
const doc = <T extends z.ZodType>(schema: T, d: FieldDoc): T => schema.meta({ ...d });

/** The job file (YAML). Paths inside it are relative to the job file's folder. */
export const JobFileSchema = z
  .object({
    inputs: doc(stringList.optional(), { description: 'Folders, files or globs to scan; folders are scanned recursively.', flag: '--input' }),
    include: doc(stringList.optional(), { description: 'Globs, relative to each input folder, that a file must match.', defaultText: 'every file', flag: '--include' }),
    exclude: doc(stringList.optional(), { description: 'Globs, relative to each input folder, that leave files out.', flag: '--exclude' }),
    captionPrefix: doc(z.string().optional(), {
      description: 'Text put before each answer in its sidecar (trigger words, e.g. "ohwx, "); the output\'s answer column stays as the model wrote it.',
      flag: '--caption-prefix',
    }),
    captionSuffix: doc(z.string().optional(), { description: 'Text put after each answer in its sidecar; not in the output.', flag: '--caption-suffix' }),
    keep: doc(z.union([z.literal('*'), z.array(z.string().min(1))]).optional(), {
      description: 'Manifest columns carried into every row of the output, as `row_<column>` (so they never clash with ours): a list, or "*" for all.',
      flag: '--keep',
    }),
    sort: doc(z.literal('input').optional(), {
      description: 'Rewrite the finished output in input order (by its index column); rows are written as files finish otherwise.',
      flag: '--sort',
    }),
    caseSensitive: doc(z.boolean().optional(), {
      description: 'Match input, include and exclude globs case-sensitively (by default `*.jpg` also matches `IMG_0001.JPG`).',
      default: false,
      flag: '--case-sensitive',
    }),
    manifest: doc(z.string().min(1).optional(), {
      description: 'A CSV or JSONL manifest instead of (or besides) folders: a path, url or frames column per row; the other columns are {{row.*}}.',
      flag: '--manifest',
    }),
    manifestRoot: doc(z.string().min(1).optional(), {
      description: "The folder a manifest's local paths (and what their symlinks point to) must stay inside; others get a skipped row (path_outside_root).",
      defaultText: "the manifest's folder",
      flag: '--manifest-root',
    }),
    allowEmpty: doc(z.boolean().optional(), {
      description: 'Accept a run that finds no input file and no manifest row (exit 0); otherwise it says so and exits 5.',
      default: false,
      flag: '--allow-empty',
    }),
    prompt: doc(z.string().min(1).optional(), { description: 'The prompt template of the first turn (template variables below).', flag: '--prompt' }),
    promptFile: doc(z.string().min(1).optional(), { description: 'A file holding the prompt template, instead of prompt.', flag: '--prompt-file' }),
    system: doc(z.string().min(1).optional(), { description: 'System prompt; a template as well.', flag: '--system' }),
    followUps: doc(z.array(z.string().min(1)).optional(), {
      description: 'Further prompts asked in the same conversation after the first answer; every answer is kept.',
      flag: '--follow-up',
    }),
    model: doc(z.string().min(1).optional(), {
      description: 'The model (README "Models"). A name the catalogue does not list runs, with a warning, on the facts of its family (qwen3.5-omni-*, ...) patched by modelLimits.',
      default: DEFAULTS.model,
      flag: '--model',
    }),
    modelLimits: doc(ModelLimitsSchema.optional(), {
      description:
        'Catalogue facts for the model, over its entry: like (the entry to start from), limits, tokens, output, thinking, streamOnly, prices (per region), rateLimits; field names as in src/shared/models.ts.',
      nested: false,
    }),
    region: doc(z.enum(REGION_NAMES).optional(), {
      description:
        'DashScope region: cn (Beijing), intl (Singapore), us; hk, tokyo, frankfurt, virginia need baseUrl too (no documented URL). A key works only in its own region; the prices and currency are the region\'s.',
      default: DEFAULTS.region,
      flag: '--region',
    }),
    baseUrl: doc(z.url().optional(), { description: 'API base URL; overrides region (env DASHSCOPE_BASE_URL too).', flag: '--base-url' }),
    api: doc(z.enum(API_NAMES).optional(), {
      description:
        'The dialect of the endpoint: dashscope, openai-compatible (hosted providers), vllm-omni (your own server). Each part is sent in the shapes the dialect takes; what it cannot express is a skipped row (README "Run it on your own GPUs").',
      defaultText: 'dashscope for DashScope hosts and /compatible-mode/ paths, openai-compatible for known hosted providers; for any other host vllm-omni when the model is an open-weights name (Qwen/...), else dashscope',
      flag: '--api',
    }),
    price: doc(PriceSchema.optional(), {
      description:
        'Your own price, for a server the catalogue has no list price for: inputPerMillion and outputPerMillion (per 1M tokens; every row gets a cost), or gpuHour and gpus (spread over the run\'s wall time, in the totals); currency USD or CNY (default USD). Replaces the list price.',
      nested: false,
    }),
    concurrency: doc(z.union([positiveInt(256), z.literal('auto')], { error: 'expected a whole number from 1 to 256, or "auto"' }).optional(), {
      description: `Requests in flight at once; auto starts at 1 and doubles while the latency per token stays flat, stops at the knee (at most ${AUTO_CONCURRENCY_MAX}) and reports it (in-process runs).`,
      default: DEFAULTS.concurrency,
      flag: '--concurrency',
    }),
    maxFiles: doc(positiveInt(Number.MAX_SAFE_INTEGER).optional(), { description: 'Stop discovering after this many files.', flag: '--max-files' }),
    idleTimeoutSec: doc(z.number().positive().max(3600).optional(), {
      description: 'Seconds a stream may send nothing before it is aborted and retried.',
      default: DEFAULTS.idleTimeoutSec,
      flag: '--idle-timeout',
    }),
    retries: doc(z.number().int().min(0).max(20).optional(), {
      description: 'Retries for 5xx, timeouts and cut streams; 400s are final, 429s are waited out without using these.',
      default: DEFAULTS.retries,
      flag: '--retries',
    }),
    retryBaseMs: doc(z.number().int().min(0).max(600_000).optional(), {
      description: 'First backoff step in ms; it doubles each retry, with full jitter. Retry-After is honoured.',
      default: DEFAULTS.retryBaseMs,
    }),
    retryMaxMs: doc(z.number().int().min(0).max(3_600_000).optional(), {
      description: "Longest single backoff in ms, unless the server's Retry-After asks for more.",
      default: DEFAULTS.retryMaxMs,
    }),
    rpm: doc(z.number().int().min(0).max(1_000_000).optional(), {
      description: 'Requests per minute for the whole run, all workers together; 0 turns pacing off (env OMNI_BATCH_RPM).',
      default: DEFAULTS.rpm,
      flag: '--rpm',
    }),
    tpm: doc(z.number().int().min(0).max(100_000_000).optional(), {
      description: 'Tokens per minute (prompt + answer) for the whole run; 0 turns pacing off (env OMNI_BATCH_TPM).',
      default: DEFAULTS.tpm,
      flag: '--tpm',
    }),
    cpuConcurrency: doc(positiveInt(256).optional(), {
      description: 'Preprocessing jobs at once (image resizing, ffmpeg).',
      defaultText: 'one per core',
      flag: '--cpu-concurrency',
    }),
    maxCost: doc(z.number().nonnegative().optional(), {
      description: "Refuse to start when the estimated cost of the files not yet done is over this (the price table's currency, CNY).",
      flag: '--max-cost',
    }),
    image: doc(
      z
        .object({
          fix: doc(z.enum(['pad', 'refuse']).optional(), {
            description: 'Images with a side of 10 px or less, or an aspect ratio over 200:1: pad them until they fit, or refuse them with a skipped row.',
            default: DEFAULTS.imageFix,
          }),
        })
        .strict()
        .optional(),
      { description: 'Image preprocessing.' },
    ),
    video: doc(
      z
        .object({
          mode: doc(z.enum(VIDEO_MODES).optional(), {
            description:
              "Send the video file (the model hears its sound too), a list of frames, pick per file, or `segments`: cut a video longer than the model takes into parts, ask each, one row with the answers joined.",
            default: DEFAULTS.videoMode,
            flag: '--video-mode',
          }),
          startSec: doc(z.number().nonnegative().optional(), { description: 'Where the part sent begins, in seconds.', default: 0 }),
          windowSec: doc(z.number().positive().optional(), { description: 'How many seconds are sent.', defaultText: "the model's maximum" }),
          frames: doc(z.number().int().min(1).max(1000).optional(), {
            description: "Frames sampled in frames mode, clamped to the model's range (4-80; qwen3-omni-flash 2-128).",
            defaultText: 'from the duration',
          }),
          autoMaxTrimSec: doc(z.number().nonnegative().optional(), {
            description: 'In auto mode, the file is sent when at most this many seconds must be cut; otherwise frames.',
            default: DEFAULTS.videoAutoMaxTrimSec,
          }),
        })
        .strict()
        .optional(),
      { description: 'Video preprocessing.' },
    ),
    audio: doc(
      z
        .object({
          mode: doc(z.enum(AUDIO_MODES).optional(), {
            description: "Audio longer than the model takes: `trim` it to the model's maximum, or `segments`: cut it into parts, ask each, one row with the answers joined in order with their time ranges.",
            default: DEFAULTS.audioMode,
            flag: '--audio-mode',
          }),
          startSec: doc(z.number().nonnegative().optional(), { description: 'Where input audio begins, in seconds.', default: 0 }),
          voice: doc(z.string().min(1).optional(), { description: 'Voice of spoken answers.', default: DEFAULTS.voice, flag: '--voice' }),
          format: doc(z.enum(['wav']).optional(), { description: 'Format of spoken answers.', default: DEFAULTS.audioFormat }),
          out: doc(z.string().min(1).optional(), {
            description: 'Ask for spoken answers too and write one WAV file (24 kHz, 16-bit mono) per input into this folder.',
            flag: '--audio-out',
          }),
        })
        .strict()
        .optional(),
      { description: 'Input audio, and spoken answers.' },
    ),
    labels: doc(
      z
        .array(z.string().trim().min(1))
        .min(2)
        .refine((l) => new Set(l).size === l.length, 'labels must be unique')
        .optional(),
      { description: 'A closed set of labels: the answer must be one of them (several with multi), in a label column.' },
    ),
    multi: doc(z.boolean().optional(), { description: 'With labels: an answer may hold several labels.', default: false }),
    schema: doc(z.record(z.string(), z.unknown()).optional(), {
      description: 'A JSON Schema of an answer object: the answer is validated and each property becomes a column.',
    }),
    thinking: doc(z.enum(THINKING_SETTINGS).optional(), {
      description:
        "Thinking mode: off, on, or a strength (low, medium, high, xhigh: models with reasoning_effort); sent as the model's own parameter. The reasoning goes to a reasoning column and is billed as answer tokens.",
      defaultText: "the model's default (qwen3.8-omni-flash: on)",
      flag: '--thinking',
    }),
    enableThinking: doc(z.boolean().optional(), { description: 'Older name of thinking: true is on, false is off.', flag: '--thinking' }),
    generation: doc(
      z
        .object({
          temperature: doc(z.number().min(0).max(GENERATION_RANGES.temperature.max).optional(), { description: 'Sampling temperature, 0 to under 2.', flag: '--temperature' }),
          top_p: doc(z.number().min(GENERATION_RANGES.top_p.min).max(1).optional(), { description: 'Nucleus sampling, over 0 up to 1.', flag: '--top-p' }),
          max_tokens: doc(z.number().int().min(1).optional(), {
            description: "Longest answer per turn in tokens (thinking included), at most the model's output window; the estimate assumes answers this long.",
            flag: '--max-tokens',
          }),
          seed: doc(z.number().int().min(0).max(GENERATION_RANGES.seed.max).optional(), { description: 'Sampling seed, for repeatable answers.', flag: '--seed' }),
          presence_penalty: doc(z.number().min(-2).max(2).optional(), { description: 'Penalty for repeating what was said, -2 to 2.', flag: '--presence-penalty' }),
        })
        .strict()
        .optional(),
      { description: "Generation settings, sent with the API's names; unset ones keep the model's defaults. Part of the row id." },
    ),
    engine: doc(z.enum(ENGINES).optional(), {
      description: 'in-process sends each file now; batch runs the job as DashScope Batch jobs (half price, within completionWindow); auto picks batch when the model supports it and deadline allows it.',
      default: DEFAULTS.engine,
      flag: '--engine',
    }),
    completionWindow: doc(z.string().regex(/^\d+(\.\d+)?\s*[hd]$/i).optional(), {
      description: 'Batch: how long DashScope may take (24h to 14d, e.g. 24h, 3d).',
      default: DEFAULTS.completionWindow,
      flag: '--completion-window',
    }),
    deadline: doc(z.string().regex(/^\d+(\.\d+)?\s*[hd]$/i).optional(), {
      description: 'How long the answers may take (e.g. 36h); with engine auto, batch is picked when its completionWindow fits in it.',
      flag: '--deadline',
    }),
    batchChat: doc(z.boolean().optional(), {
      description: "Send to Beijing's Batch Chat endpoint: synchronous, one request per call, at the batch price (half); for the models Batch serves in cn.",
      default: false,
      flag: '--batch-chat',
    }),
    output: doc(
      z
        .union([
          z.string().min(1),
          z.object({ path: z.string().min(1), format: z.enum(OUTPUT_FORMATS).optional() }).strict(),
        ])
        .optional(),
      { description: 'The output file, or { path, format }; the format comes from the extension unless given.', default: DEFAULTS.out, flag: '--out, --format' },
    ),
    csvRaw: doc(z.boolean().optional(), {
      description:
        "CSV only: write cells as they are. By default a text cell that starts with = + - @, a tab or a CR gets a leading ' (a spreadsheet would run it as a formula); omni-batch strips it again when it reads its own output.",
      default: false,
      flag: '--csv-raw',
    }),
    upload: doc(z.boolean().optional(), {
      description:
        "Local audio and video over the 10 MB data-URL cap but within the model's limits are uploaded with DashScope's temporary-file flow (oss://, 48 h) instead of being cut down; false keeps them under the cap (trimmed, re-encoded).",
      default: DEFAULTS.upload,
      flag: '--no-upload',
    }),
  })
  .strict();

export type JobFile = z.infer<typeof JobFileSchema>;

/** Flags as the CLI parsed them: already typed and in range (commander checks them), only merged here. */
export interface Flags {
  input?: string[];
  include?: string[];
  exclude?: string[];
  keep?: string[];
  sort?: 'input';
  caseSensitive?: boolean;
  manifest?: string;
  manifestRoot?: string;
  allowEmpty?: boolean;
  prompt?: string;
  promptFile?: string;
  system?: string;
  followUp?: string[];
  out?: string;
  format?: OutputFormat;
  csvRaw?: boolean;
  model?: string;
  baseUrl?: string;
  api?: ApiDialect;
  region?: Region;
  concurrency?: number | 'auto';
  maxFiles?: number;
  /** Seconds. */
  idleTimeout?: number;
  retries?: number;
  rpm?: number;
  tpm?: number;
  dryRun?: boolean;
  maxCost?: number;
  cpuConcurrency?: number;
  videoMode?: PreprocessOptions['video']['mode'];
  audioMode?: PreprocessOptions['audio']['mode'];
  /** false: --no-upload. */
  upload?: boolean;
  audioOut?: string;
  voice?: string;
  /** `--thinking` alone is `on`. */
  thinking?: ThinkingSetting;
  engine?: EngineName;
  completionWindow?: string;
  deadline?: string;
  batchChat?: boolean;
  temperature?: number;
  topP?: number;
  maxTokens?: number;
  seed?: number;
  presencePenalty?: number;
}

/** The values a number set by a flag or an environment variable may take (the job-file schema keeps the same). */
export interface NumberRange {
  /** Digits only: no sign, point or exponent. */
  readonly whole: boolean;
  readonly min: number;
  readonly max: number;
}

const wholeFrom = (min: number, max = Number.MAX_SAFE_INTEGER): NumberRange => ({ whole: true, min, max });

/** The ranges of the run's numeric flags and environment variables. */
export const RANGES = {
  concurrency: wholeFrom(1, 256),
  maxFiles: wholeFrom(1),
  idleTimeoutSec: { whole: false, min: 0.001, max: 3600 },
  retries: wholeFrom(0, 20),
  rpm: wholeFrom(0, 1_000_000),
  tpm: wholeFrom(0, 100_000_000),
  cpuConcurrency: wholeFrom(1, 256),
  maxCost: { whole: false, min: 0, max: Number.MAX_SAFE_INTEGER },
} as const satisfies Record<string, NumberRange>;

/** `text` as a number in `range`, or undefined when it is not one. */
export function readNumber(text: string, range: NumberRange): number | undefined {
  const n = Number(text);
  const shaped = range.whole ? /^\d+$/.test(text.trim()) && Number.isSafeInteger(n) : text.trim() !== '' && Number.isFinite(n);
  return shaped && n >= range.min && n <= range.max ? n : undefined;
}

/** What `range` expects, as a message says it: `a whole number from 1 to 256`. */
export function describeRange(range: NumberRange): string {
  const what = range.whole ? 'a whole number' : 'a number';
  return range.max === Number.MAX_SAFE_INTEGER ? `${what}, at least ${range.min}` : `${what} from ${range.min} to ${range.max}`;
}

/** A number from the environment: undefined when unset, a ConfigError naming the variable when it is not in `range`. */
function envNumber(env: NodeJS.ProcessEnv, name: string, range: NumberRange): number | undefined {
  const text = env[name];
  if (text === undefined) return undefined;
  const n = readNumber(text, range);
  if (n === undefined) throw new ConfigError(`${name} (environment): expected ${describeRange(range)}, received ${JSON.stringify(text)}`);
  return n;
}

/** The one validated configuration a run works from. All paths are absolute. */
export interface RunConfig {
  /** Folders or globs, absolute. */
  readonly inputs: readonly string[];
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  /** Globs match case-sensitively; default false (`*.jpg` matches `A.JPG`). */
  readonly caseSensitive: boolean;
  /** Manifest columns carried into the output as `row_<column>`; '*' for all of them. Default none. */
  readonly keep: readonly string[] | '*';
  /** Rewrite the finished output in input order (`--sort input`). Default false. */
  readonly sortInput?: boolean;
  readonly manifest: string | undefined;
  /** A manifest's local paths must stay inside this folder (absolute); undefined: the manifest's own folder. */
  readonly manifestRoot: string | undefined;
  /** An empty pass (no file, no manifest row) exits 0 instead of EXIT.empty. */
  readonly allowEmpty: boolean;
  readonly prompt: string;
  readonly system: string | undefined;
  readonly followUps: readonly string[];
  readonly model: string;
  /** The job file's modelLimits block (it travels with each job); undefined without one. */
  readonly modelLimits: ModelLimitsBlock | undefined;
  /** The facts the model runs on: its catalogue entry (or its family's) with modelLimits applied. */
  readonly modelInfo: ModelInfo;
  /** Whose prices apply: --region, else the region of the base URL's host, else Beijing. */
  readonly priceRegion: Region;
  /** The model's list prices there; undefined: rows carry an empty cost. */
  readonly prices: Prices | undefined;
  /** temperature, top_p, max_tokens, seed, presence_penalty as set (checked against the model). */
  readonly generation: GenerationSettings;
  /** One line each, printed before the run starts (a model name the catalogue does not list, ...). */
  readonly warnings: readonly string[];
  readonly baseURL: string;
  /** `--concurrency auto`: `concurrency` is then the highest level tried (AUTO_CONCURRENCY_MAX). */
  readonly autoConcurrency?: boolean;
  /** The endpoint's dialect (--api, the job file's api, else from the base URL). */
  readonly api: ApiDialect;
  /** The job file's price block; undefined: the list price where the dialect has one. */
  readonly price: RunPrice | undefined;
  readonly concurrency: number;
  readonly maxFiles: number | undefined;
  readonly idleTimeoutMs: number;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** Requests / tokens per minute for the whole run; 0 = unlimited. */
  readonly rpm: number;
  readonly tpm: number;
  readonly out: string;
  readonly format: OutputFormat;
  /** CSV cells as they are, without the leading ' that keeps spreadsheets from running formulas. Default false. */
  readonly csvRaw: boolean;
  /** `captions.csv` -> `captions.csv.totals.json`. */
  readonly totalsPath: string;
  /** `captions.csv` -> `captions.estimate.csv`: the dry run's `planned` rows. */
  readonly estimatePath: string;
  readonly dryRun: boolean;
  /** Preprocessing jobs at once, separate from `concurrency` (API requests). */
  readonly cpuConcurrency: number;
  readonly preprocess: PreprocessOptions;
  /** Labels / schema, spoken answers, thinking mode. */
  readonly answer: AnswerOptions;
  /** Refuse to start when the estimate is over this; undefined = no limit. */
  readonly maxCost: number | undefined;
  /** Answer length the estimate assumes per turn. */
  readonly estimateAnswerTokens: number;
  /** Where relative paths in rows are measured from (the working directory). */
  readonly cwd: string;
  /** Only these row paths are processed (`omni-batch retry`); undefined = every discovered item. */
  readonly only?: ReadonlySet<string> | undefined;
  /** How the run is scheduled (`auto` is decided by the run, from the model and `deadlineHours`). */
  readonly engine: EngineName;
  /** Batch: completion_window in hours (24 to 336). */
  readonly completionWindowHours: number;
  /** How long the answers may take, in hours; undefined: no deadline. */
  readonly deadlineHours: number | undefined;
  /** Row paths never processed (sidecars this output wrote next to its inputs); may grow while the run works. */
  readonly skip?: ReadonlySet<string> | undefined;
  /** --skip-captioned: for a local file, the caption already beside it (its file gets a skipped row), else undefined. */
  readonly captioned?: ((file: string) => string | undefined) | undefined;
  /** Text before / after the answer in each sidecar (trigger words); never in the output. */
  readonly captionPrefix?: string | undefined;
  readonly captionSuffix?: string | undefined;
  /** The sidecar flags the run wrote sidecars with, recorded in the run file for the review page; undefined without --sidecar. */
  readonly sidecars?: RecordedSidecars | undefined;
}

/** --sidecar, --sidecar-dir (absolute), --sidecar-skip-existing, --overwrite, --caption-prefix/suffix as a run had them. */
export interface RecordedSidecars {
  readonly format: 'txt' | 'json';
  readonly dir: string | undefined;
  readonly skipExisting: boolean;
  readonly overwrite: boolean;
  readonly prefix?: string | undefined;
  readonly suffix?: string | undefined;
}

/** Formats zod issues as `<where>: field "a.b": expected X, received Y` lines. */
export function formatIssues(where: string, error: z.ZodError, knownKeys: readonly string[] = []): string {
  return error.issues
    .map((issue) => {
      const field = issue.path.length ? issue.path.join('.') : '(top level)';
      if (issue.code === 'unrecognized_keys') {
        return issue.keys
          .map((key) => {
            const hint = closest(key, knownKeys);
            return `${where}: unknown field "${[...issue.path, key].join('.')}"${hint ? ` (did you mean "${hint}"?)` : ''}`;
          })
          .join('\n');
      }
      const received = 'input' in issue ? describe(issue.input) : 'nothing';
      const expected = issue.code === 'invalid_type' ? `expected ${issue.expected}` : issue.message.replace(/^Invalid (input|option): /, '');
      return `${where}: field "${field}": ${expected}, received ${received}`;
    })
    .join('\n');
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = candidate;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * `job.yaml:3:9: not valid YAML: <reason>` and a code frame: the line the parser names with a caret under the
 * column, and the lines either side (the parser often names the line before the mistake, as for a key indented
 * under a plain value).
 */
export function yamlErrorMessage(file: string, text: string, err: Error & { linePos?: { line: number; col: number }[] }): string {
  const reason = err.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? String(err);
  const at = err.linePos?.[0];
  if (!at) return `${file}: not valid YAML: ${reason}`;
  const lines = text.split(/\r?\n/);
  const width = String(Math.min(at.line + 1, lines.length)).length;
  const frame: string[] = [];
  for (let n = Math.max(1, at.line - 1); n <= Math.min(lines.length, at.line + 1); n++) {
    frame.push(`  ${String(n).padStart(width)} | ${lines[n - 1] ?? ''}`.trimEnd());
    if (n === at.line) frame.push(`  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, at.col - 1))}^`);
  }
  return [`${file}:${at.line}:${at.col}: not valid YAML: ${reason}`, ...frame].join('\n');
}

/** Reads and validates a YAML job file. */
export async function readJobFile(file: string): Promise<JobFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${file}: cannot read the job file (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  // Loaded here: a run from flags alone does not pay for the YAML parser at start-up.
  const { parse: parseYaml } = await import('yaml');
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new ConfigError(yamlErrorMessage(file, text, err as Error & { linePos?: { line: number; col: number }[] }));
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`${file}: expected a mapping of fields (inputs, prompt, output, ...), received ${describe(data)}`);
  }
  const parsed = JobFileSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) throw new ConfigError(formatIssues(file, parsed.error, Object.keys(JobFileSchema.shape)));
  return parsed.data;
}

/** The output format: the explicit one (checked: it may come from Redis), else from the extension. */
export function formatOf(out: string, explicit: string | undefined, where: string): OutputFormat {
  if (explicit !== undefined) {
    if (explicit !== 'csv' && explicit !== 'jsonl') throw new ConfigError(`${where}: expected csv or jsonl, received ${JSON.stringify(explicit)}`);
    return explicit;
  }
  const ext = path.extname(out).toLowerCase();
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  if (ext === '.csv') return 'csv';
  throw new ConfigError(`${out}: cannot tell the output format from the extension "${ext}"; use .csv or .jsonl, or pass --format csv|jsonl`);
}

/**
 * `captions.csv` -> `captions.csv.totals.json` beside it: named after the whole output name, so that `captions.csv`
 * and `captions.jsonl` in one folder each keep their own.
 */
export function totalsPathFor(out: string): string {
  return `${out}.totals.json`;
}

/**
 * `captions.csv` -> `captions.estimate.csv`: where a dry run writes its `planned` rows. It keeps the output's
 * extension, so two outputs in one folder never share it; it is itself an output a spreadsheet opens.
 */
export function estimatePathFor(out: string): string {
  const ext = path.extname(out);
  return `${out.slice(0, out.length - ext.length)}.estimate${ext}`;
}

/** The job file as read, and where each side's paths are relative to. */
interface Sides {
  readonly job: JobFile;
  /** For messages: the job file as given, or `job file` without one. */
  readonly where: string;
  /** Job-file paths are relative to the job file's folder, flag paths to the working directory. */
  readonly fromJob: (p: string) => string;
  readonly fromCwd: (p: string) => string;
}

/**
 * Merges a job file (optional) with flags into one RunConfig. Flags win over the job file; the job file wins over
 * the environment (DASHSCOPE_BASE_URL, OMNI_BATCH_RPM, OMNI_BATCH_TPM); that wins over the defaults. Job-file
 * paths are relative to the job file's folder, flag paths to the working directory.
 */
export async function resolveConfig(jobFilePath: string | undefined, flags: Flags, env: NodeJS.ProcessEnv, cwd: string): Promise<RunConfig> {
  const jobFile = jobFilePath === undefined ? undefined : path.resolve(cwd, jobFilePath);
  const sides: Sides = {
    job: jobFile ? await readJobFile(jobFile) : {},
    where: jobFilePath ?? 'job file',
    fromJob: (p) => path.resolve(jobFile ? path.dirname(jobFile) : cwd, p),
    fromCwd: (p) => path.resolve(cwd, p),
  };
  const { job } = sides;
  const sources = resolveSources(flags, sides);
  const prompt = await resolvePrompt(flags, sides);
  const { model, info, warnings } = resolveModel(flags, job);
  const baseURL = resolveBaseUrl(flags, job, env);
  if (baseURL === BATCH_CHAT_URL && !info.batch?.regions.includes('cn')) {
    warnings.push(`--batch-chat: the catalogue lists no Beijing Batch support for ${model}; Batch Chat serves the models Batch lists, so it may refuse this one`);
  }
  const priceRegion = flags.region ?? job.region ?? regionOfUrl(baseURL) ?? DEFAULTS.region;
  const generation = generationSettings(flags, sides, info);
  const api = flags.api ?? job.api ?? apiOfUrl(baseURL, model);
  if (flags.api === undefined && job.api === undefined && api !== 'dashscope') warnings.push(`note: ${baseURL} is taken to speak the ${api} dialect (${DIALECTS[api].keyVariable} is its key); --api (job file: api) names another`);
  const answer = answerOptions(flags, sides, model, info, warnings);
  checkDialect(api, { answer, flags, job, where: sides.where });
  return {
    ...sources,
    prompt,
    system: flags.system ?? job.system,
    followUps: flags.followUp?.length ? flags.followUp : (job.followUps ?? []),
    model,
    modelLimits: job.modelLimits,
    modelInfo: info,
    priceRegion,
    prices: runPrices(info, priceRegion, api, job.price),
    generation,
    warnings,
    baseURL,
    api,
    price: job.price,
    ...resolveLimits(flags, job, env, info, api),
    ...resolveOutput(flags, sides),
    dryRun: flags.dryRun ?? false,
    ...segmentedAnswers(preprocessOptions(flags, job, api), answer),
    maxCost: flags.maxCost ?? job.maxCost,
    ...resolveEngine(flags, job, sides.where),
    estimateAnswerTokens: generation.max_tokens ?? DEFAULTS.estimateAnswerTokens,
    cwd,
  };
}

/** Inputs, filters and manifest: flags replace the job file's lists; at least an input or a manifest. */
function resolveSources(
  flags: Flags,
  { job, fromJob, fromCwd }: Sides,
): Pick<RunConfig, 'inputs' | 'include' | 'exclude' | 'caseSensitive' | 'keep' | 'sortInput' | 'captionPrefix' | 'captionSuffix' | 'manifest' | 'manifestRoot' | 'allowEmpty'> {
  const inputs = flags.input?.length ? flags.input.map(fromCwd) : (job.inputs ?? []).map(fromJob);
  const manifest = flags.manifest !== undefined ? fromCwd(flags.manifest) : job.manifest !== undefined ? fromJob(job.manifest) : undefined;
  if (inputs.length === 0 && manifest === undefined) {
    throw new ConfigError('nothing to process: give --input DIR|GLOB (repeatable) or --manifest FILE, or a job file with inputs/manifest');
  }
  return {
    inputs,
    include: flags.include?.length ? flags.include : (job.include ?? []),
    exclude: flags.exclude?.length ? flags.exclude : (job.exclude ?? []),
    caseSensitive: flags.caseSensitive ?? job.caseSensitive ?? false,
    keep: flags.keep?.length ? (flags.keep.includes('*') ? '*' : flags.keep) : (job.keep ?? []),
    sortInput: (flags.sort ?? job.sort) === 'input',
    ...(job.captionPrefix !== undefined ? { captionPrefix: job.captionPrefix } : {}),
    ...(job.captionSuffix !== undefined ? { captionSuffix: job.captionSuffix } : {}),
    manifest,
    manifestRoot: flags.manifestRoot !== undefined ? fromCwd(flags.manifestRoot) : job.manifestRoot !== undefined ? fromJob(job.manifestRoot) : undefined,
    allowEmpty: flags.allowEmpty ?? job.allowEmpty ?? false,
  };
}

/** The first turn's template: --prompt, --prompt-file, then the job file's prompt or promptFile (one per side). */
async function resolvePrompt(flags: Flags, { job, where, fromJob, fromCwd }: Sides): Promise<string> {
  if (flags.prompt !== undefined && flags.promptFile !== undefined) throw new ConfigError('--prompt and --prompt-file: give one, not both');
  if (job.prompt !== undefined && job.promptFile !== undefined) throw new ConfigError(`${where}: fields "prompt" and "promptFile": give one, not both`);
  let prompt: string | undefined;
  if (flags.prompt !== undefined) prompt = flags.prompt;
  else if (flags.promptFile !== undefined) prompt = await readPromptFile(fromCwd(flags.promptFile), '--prompt-file');
  else if (job.prompt !== undefined) prompt = job.prompt;
  else if (job.promptFile !== undefined) prompt = await readPromptFile(fromJob(job.promptFile), `${where}: field "promptFile"`);
  if (prompt === undefined || prompt.trim() === '') throw new ConfigError('no prompt: give --prompt TEXT or --prompt-file FILE, or "prompt" in the job file');
  return prompt;
}

/** The model name, the facts it runs on, and a warning when the catalogue does not list it. */
function resolveModel(flags: Flags, job: JobFile): { model: string; info: ModelInfo; warnings: string[] } {
  const model = flags.model ?? job.model ?? DEFAULTS.model;
  const info = resolveModelInfo(model, job.modelLimits);
  if (modelInfo(model)) return { model, info, warnings: [] };
  const { match } = lookupModel(model);
  const basis = job.modelLimits?.like ?? info.family;
  const how = match.kind === 'family' && !job.modelLimits?.like ? `the limits of its family ${match.prefix}* (${basis})` : `the limits of ${basis}`;
  const price = Object.keys(info.prices).length ? '' : ', no price (empty cost; set modelLimits.prices)';
  const warning = `warning: model ${JSON.stringify(model)} is not in the catalogue (${KNOWN_MODELS.length} names, README "Models"); running it on ${how}${job.modelLimits ? ' with the job file\'s modelLimits' : ''}${price}`;
  return { model, info, warnings: [warning] };
}

/** The generation settings of the flags over the job file's, each checked against the model's ranges. */
function generationSettings(flags: Flags, { job, where }: Sides, info: ModelInfo): GenerationSettings {
  const g = job.generation ?? {};
  const set: Record<string, number> = {};
  const pick = (key: keyof GenerationSettings, flag: number | undefined) => {
    const v = flag ?? g[key];
    if (v !== undefined) set[key] = v;
  };
  pick('temperature', flags.temperature);
  pick('top_p', flags.topP);
  pick('max_tokens', flags.maxTokens);
  pick('seed', flags.seed);
  pick('presence_penalty', flags.presencePenalty);
  const max = set.max_tokens;
  if (max !== undefined && max > info.limits.outputTokens) {
    const name = flags.maxTokens !== undefined ? '--max-tokens' : `${where}: field "generation.max_tokens"`;
    throw new ConfigError(`${name}: expected at most ${info.limits.outputTokens} (the output window of ${info.family}), received ${max}`);
  }
  return set;
}

/**
 * --base-url, --region, the job file's baseUrl and region, DASHSCOPE_BASE_URL, the default region: the first given.
 * A URL with credentials is refused, naming where it came from (see shared/base-url.ts).
 */
function resolveBaseUrl(flags: Flags, job: JobFile, env: NodeJS.ProcessEnv): string {
  const envBase = env.DASHSCOPE_BASE_URL?.trim() ? env.DASHSCOPE_BASE_URL.trim() : undefined;
  if (flags.batchChat ?? job.batchChat) {
    if (flags.baseUrl !== undefined || job.baseUrl !== undefined) throw new ConfigError('--batch-chat names its own base URL (Beijing Batch Chat): give it or --base-url / baseUrl, not both');
    return BATCH_CHAT_URL;
  }
  if (flags.baseUrl !== undefined) return checkBaseUrl(flags.baseUrl, '--base-url');
  if (flags.region) return presetUrl(flags.region, '--region');
  if (job.baseUrl !== undefined) return checkBaseUrl(job.baseUrl, 'baseUrl in the job file');
  if (job.region) return presetUrl(job.region, 'region in the job file');
  return envBase === undefined ? presetUrl(DEFAULTS.region, 'the default region') : checkBaseUrl(envBase, 'DASHSCOPE_BASE_URL');
}

function presetUrl(region: Region, source: string): string {
  const url = REGIONS[region];
  if (url === undefined) {
    throw new ConfigError(`${source}: ${region} has no documented base URL; give it with --base-url (your workspace URL, e.g. https://{WorkspaceId}.<region>.maas.aliyuncs.com/compatible-mode/v1) and keep --region ${region} for its prices`);
  }
  return url;
}

type Limits = Pick<RunConfig, 'concurrency' | 'autoConcurrency' | 'maxFiles' | 'idleTimeoutMs' | 'retries' | 'retryBaseMs' | 'retryMaxMs' | 'rpm' | 'tpm' | 'cpuConcurrency'>;

/** How much runs at once, how fast, and how patiently. */
function resolveLimits(flags: Flags, job: JobFile, env: NodeJS.ProcessEnv, info: ModelInfo, api: ApiDialect): Limits {
  const retryBaseMs = job.retryBaseMs ?? DEFAULTS.retryBaseMs;
  // A server of your own has no per-account limit: concurrency bounds it, unless --rpm / --tpm are given.
  const paced = DIALECTS[api].paced;
  return {
    ...concurrencyOf(flags.concurrency ?? job.concurrency ?? DEFAULTS.concurrency),
    maxFiles: flags.maxFiles ?? job.maxFiles,
    idleTimeoutMs: Math.round((flags.idleTimeout ?? job.idleTimeoutSec ?? DEFAULTS.idleTimeoutSec) * 1000),
    retries: flags.retries ?? job.retries ?? DEFAULTS.retries,
    retryBaseMs,
    retryMaxMs: Math.max(job.retryMaxMs ?? DEFAULTS.retryMaxMs, retryBaseMs),
    rpm: flags.rpm ?? job.rpm ?? envNumber(env, 'OMNI_BATCH_RPM', RANGES.rpm) ?? (paced ? info.rateLimits.rpm : 0),
    tpm: flags.tpm ?? job.tpm ?? envNumber(env, 'OMNI_BATCH_TPM', RANGES.tpm) ?? (paced ? info.rateLimits.tpm : 0),
    cpuConcurrency: flags.cpuConcurrency ?? job.cpuConcurrency ?? DEFAULTS.cpuConcurrency,
  };
}

function concurrencyOf(asked: number | 'auto'): Pick<RunConfig, 'concurrency' | 'autoConcurrency'> {
  return asked === 'auto' ? { concurrency: AUTO_CONCURRENCY_MAX, autoConcurrency: true } : { concurrency: asked };
}

/** The engine, the batch completion window and the deadline (both in hours). */
function resolveEngine(flags: Flags, job: JobFile, where: string): Pick<RunConfig, 'engine' | 'completionWindowHours' | 'deadlineHours'> {
  const windowText = flags.completionWindow ?? job.completionWindow ?? DEFAULTS.completionWindow;
  const hours = parseHours(windowText);
  if (hours === undefined || hours < COMPLETION_WINDOW.minHours || hours > COMPLETION_WINDOW.maxHours || !Number.isInteger(hours)) {
    throw new ConfigError(`${flags.completionWindow !== undefined ? '--completion-window' : `${where}: field "completionWindow"`}: expected whole hours from 24h to 14d (336h), received ${JSON.stringify(windowText)}`);
  }
  const deadlineText = flags.deadline ?? job.deadline;
  const deadlineHours = deadlineText === undefined ? undefined : parseHours(deadlineText);
  if (deadlineText !== undefined && (deadlineHours === undefined || deadlineHours <= 0)) {
    throw new ConfigError(`${flags.deadline !== undefined ? '--deadline' : `${where}: field "deadline"`}: expected hours or days (36h, 2d), received ${JSON.stringify(deadlineText)}`);
  }
  return { engine: flags.engine ?? job.engine ?? DEFAULTS.engine, completionWindowHours: hours, deadlineHours };
}

/** The output file, its format, and the files beside it. */
function resolveOutput(flags: Flags, { job, where, fromJob, fromCwd }: Sides): Pick<RunConfig, 'out' | 'format' | 'csvRaw' | 'totalsPath' | 'estimatePath'> {
  const out = flags.out !== undefined ? fromCwd(flags.out) : typeof job.output === 'string' ? fromJob(job.output) : job.output ? fromJob(job.output.path) : fromCwd(DEFAULTS.out);
  const format = formatOf(out, flags.format ?? (typeof job.output === 'object' ? job.output.format : undefined), flags.format !== undefined ? '--format' : `${where}: field "output.format"`);
  return { out, format, csvRaw: flags.csvRaw ?? job.csvRaw ?? false, totalsPath: totalsPathFor(out), estimatePath: estimatePathFor(out) };
}

function preprocessOptions(flags: Flags, job: JobFile, api: ApiDialect): PreprocessOptions {
  return {
    image: { fix: job.image?.fix ?? DEFAULTS.imageFix },
    video: {
      mode: flags.videoMode ?? job.video?.mode ?? DEFAULTS.videoMode,
      startSec: job.video?.startSec ?? 0,
      windowSec: job.video?.windowSec ?? null,
      frames: job.video?.frames ?? null,
      autoMaxTrimSec: job.video?.autoMaxTrimSec ?? DEFAULTS.videoAutoMaxTrimSec,
    },
    audio: { mode: flags.audioMode ?? job.audio?.mode ?? DEFAULTS.audioMode, startSec: job.audio?.startSec ?? 0 },
    // DashScope's temporary upload (oss://) exists at DashScope only: elsewhere media travels as data URLs.
    upload: DIALECTS[api].uploads && (flags.upload ?? job.upload ?? DEFAULTS.upload),
  };
}

/** Labels or schema, spoken answers and thinking mode, checked against each other and against the model. */
/**
 * Segments mode joins the parts' answers as text under their time ranges: an answer checked against labels or a
 * schema, or spoken, cannot be joined, so those are refused together before anything runs.
 */
/**
 * What a dialect other than DashScope's cannot do, refused before anything is read: spoken answers (DashScope streams
 * them as `delta.audio`; vLLM-Omni answers speech in a shape of its own), DashScope Batch and Batch Chat.
 */
function checkDialect(api: ApiDialect, s: { answer: AnswerOptions; flags: Flags; job: JobFile; where: string }): void {
  const facts = DIALECTS[api];
  const refuse = (what: string) => new ConfigError(`${what}: the ${api} dialect (--api) has no such thing; it is DashScope's (--api dashscope)`);
  if (s.answer.audio && !facts.speech) throw refuse(s.flags.audioOut !== undefined ? '--audio-out (spoken answers)' : `${s.where}: field "audio.out" (spoken answers)`);
  const engine = s.flags.engine ?? s.job.engine;
  if (!facts.batch && engine === 'batch') throw refuse(s.flags.engine !== undefined ? '--engine batch' : `${s.where}: field "engine": batch`);
  if (!facts.batch && (s.flags.batchChat ?? s.job.batchChat)) throw refuse(s.flags.batchChat !== undefined ? '--batch-chat' : `${s.where}: field "batchChat"`);
  // DashScope switches thinking per request; the open weights do not (the Thinking weights always reason).
  const asked = s.flags.thinking ?? s.job.thinking ?? s.job.enableThinking;
  if (api !== 'dashscope' && asked !== undefined && asked !== 'off' && asked !== false) {
    throw new ConfigError(`${s.flags.thinking !== undefined ? '--thinking' : `${s.where}: field "thinking"`}: the ${api} dialect has no thinking switch; serve the Thinking weights (Qwen/Qwen3-Omni-30B-A3B-Thinking), which always reason`);
  }
}

function segmentedAnswers(preprocess: PreprocessOptions, answer: AnswerOptions): { preprocess: PreprocessOptions; answer: AnswerOptions } {
  const field = preprocess.audio.mode === 'segments' ? 'audio.mode' : preprocess.video.mode === 'segments' ? 'video.mode' : undefined;
  if (field && (answer.format || answer.audio)) {
    throw new ConfigError(`${field} segments joins the parts' answers as text: it does not go with ${answer.format ? 'labels or a schema' : 'spoken answers (audio.out)'}; drop one of them`);
  }
  return { preprocess, answer };
}

function answerOptions(flags: Flags, sides: Sides, model: string, info: ModelInfo, warnings: string[]): AnswerOptions {
  const format = answerFormat(sides);
  const audio = spokenAnswers(flags, sides, { model, info, warnings });
  return { format, audio, thinking: thinkingSetting(flags, sides, model, info, audio !== undefined) };
}

/** The thinking setting asked for (flag, thinking, enableThinking), or the model's default; checked against the model. */
function thinkingSetting(flags: Flags, { job, where }: Sides, model: string, info: ModelInfo, speech: boolean): ThinkingSetting {
  const legacy = job.enableThinking === undefined ? undefined : job.enableThinking ? 'on' : 'off';
  const asked = flags.thinking ?? job.thinking ?? legacy;
  const name = flags.thinking !== undefined ? '--thinking' : job.thinking !== undefined ? `${where}: field "thinking"` : `${where}: field "enableThinking"`;
  const { param, defaultOn, efforts, withSpeech } = info.thinking;
  // Spoken answers with a model that thinks by default: thinking is switched off rather than the run refused.
  if (asked === undefined) return param !== undefined && defaultOn && !(speech && !withSpeech) ? 'on' : 'off';
  if (asked === 'off') return 'off';
  if (param === undefined) {
    const having = KNOWN_MODELS.filter((m) => modelInfo(m)?.thinking.param !== undefined && !m.match(/\d{4}-\d{2}-\d{2}$/));
    throw new ConfigError(`${name}: ${model} has no thinking mode (models with one: ${having.join(', ')})`);
  }
  if (asked !== 'on' && !efforts.includes(asked)) {
    const took = efforts.length ? `takes ${efforts.join(', ')} (${param})` : `switches thinking on or off only (${param}): use on`;
    throw new ConfigError(`${name}: ${model} ${took}, received ${JSON.stringify(asked)}`);
  }
  if (speech && !withSpeech) {
    throw new ConfigError(`${name} and spoken answers: the API refuses audio output while ${model} thinks (${param}); drop one of them (--thinking off)`);
  }
  return asked;
}

/** The answer schema of the job file's labels or schema (one of them), if any. */
function answerFormat({ job, where }: Sides): AnswerSchema | undefined {
  if (job.labels && job.schema) throw new ConfigError(`${where}: fields "labels" and "schema": give one, not both`);
  if (job.multi !== undefined && !job.labels) throw new ConfigError(`${where}: field "multi": only goes with "labels"`);
  if (job.labels) return schemaFromLabels(job.labels, job.multi ?? false);
  if (!job.schema) return undefined;
  try {
    return schemaFromJsonSchema(job.schema);
  } catch (err) {
    throw new ConfigError(`${where}: field "schema": ${(err as Error).message}`);
  }
}

/** Spoken answers: a folder for the WAV files, and a voice the model has. */
function spokenAnswers(flags: Flags, { job, where, fromJob, fromCwd }: Sides, m: { model: string; info: ModelInfo; warnings: string[] }): AnswerOptions['audio'] {
  const { model, info } = m;
  const dir = flags.audioOut !== undefined ? fromCwd(flags.audioOut) : job.audio?.out !== undefined ? fromJob(job.audio.out) : undefined;
  const voice = flags.voice ?? job.audio?.voice;
  if (dir === undefined && (voice !== undefined || job.audio?.format !== undefined)) {
    throw new ConfigError(`${flags.voice !== undefined ? '--voice' : `${where}: field "audio.voice"/"audio.format"`}: spoken answers also need a folder: --audio-out DIR or "audio.out"`);
  }
  if (dir === undefined) return undefined;
  if (!info.output.audio) {
    const speaking = KNOWN_MODELS.filter((n) => modelInfo(n)?.output.audio && !/\d{4}-\d{2}-\d{2}$/.test(n));
    throw new ConfigError(`${flags.audioOut !== undefined ? '--audio-out' : `${where}: field "audio.out"`}: ${model} answers in text only (no speech output); models with spoken answers: ${speaking.join(', ')}`);
  }
  const { voices, voicesComplete } = info.output;
  if (voice !== undefined && !voices.includes(voice)) {
    const field = flags.voice !== undefined ? '--voice' : `${where}: field "audio.voice"`;
    if (voicesComplete) throw new ConfigError(`${field}: ${model} has no voice ${JSON.stringify(voice)}; expected one of ${voices.join(', ')}`);
    m.warnings.push(`warning: ${field}: ${JSON.stringify(voice)} is not among the voices the catalogue knows for ${model} (${voices.join(', ')}; the list is partial); the API decides`);
  }
  const fallback = voices.includes(DEFAULTS.voice) ? DEFAULTS.voice : (voices[0] ?? DEFAULTS.voice);
  return { voice: voice ?? fallback, format: job.audio?.format ?? DEFAULTS.audioFormat, dir };
}

async function readPromptFile(file: string, where: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}
