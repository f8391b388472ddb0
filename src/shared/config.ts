/**
 * The run configuration: the job-file schema, the flags that override it, and every default in one place.
 * Everything is validated once, here, with messages that name the field, what was expected and what arrived.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { availableParallelism } from 'node:os';
import { ConfigError } from './errors.js';
import { schemaFromJsonSchema, schemaFromLabels, type AnswerSchema } from './answer-schema.js';
import type { AnswerOptions, PreprocessOptions } from './job.js';
import { modelInfo, KNOWN_MODELS } from './models.js';

/** Documented DashScope OpenAI-compatible base URLs; a key works only in its own region. */
export const REGIONS = {
  cn: 'https://dashscope.aliyuncs.com/compatible-mode/v1',
  intl: 'https://dashscope-intl.aliyuncs.com/compatible-mode/v1',
  us: 'https://dashscope-us.aliyuncs.com/compatible-mode/v1',
} as const;
export type Region = keyof typeof REGIONS;

/** Every default, in one place. */
export const DEFAULTS = {
  /** The model asked when none is named. */
  model: 'qwen-omni-turbo',
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
  /** Requests per minute: DashScope's documented account limit for the omni models. 0 turns pacing off. */
  rpm: 60,
  /** Tokens per minute (prompt + completion): the documented account limit. 0 turns pacing off. */
  tpm: 100_000,
  /** Preprocessing jobs (image resizing, ffmpeg) at once: one per core. */
  cpuConcurrency: availableParallelism(),
  /** Sides <= 10 px or aspect over 200:1 are padded until they fit (or `refuse`d with a skipped row). */
  imageFix: 'pad',
  /** `auto`: send the video file when it fits after cutting at most `videoAutoMaxTrimSec`, else frames. */
  videoMode: 'auto',
  videoAutoMaxTrimSec: 10,
  /** Answer length assumed by the estimate, per turn. */
  estimateAnswerTokens: 150,
  /** Spoken answers: a voice both turbo and qwen3-omni-flash have. */
  voice: 'Cherry',
  /** Spoken answers: the only output audio format the API documents. */
  audioFormat: 'wav',
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
  estimateAnswerTokens: number;
  voice: string;
  audioFormat: 'wav';
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
}
const doc = <T extends z.ZodType>(schema: T, d: FieldDoc): T => schema.meta({ ...d });

/** The job file (YAML). Paths inside it are relative to the job file's folder. */
export const JobFileSchema = z
  .object({
    inputs: doc(stringList.optional(), { description: 'Folders, files or globs to scan; folders are scanned recursively.', flag: '--input' }),
    include: doc(stringList.optional(), { description: 'Globs, relative to each input folder, that a file must match.', defaultText: 'every file', flag: '--include' }),
    exclude: doc(stringList.optional(), { description: 'Globs, relative to each input folder, that leave files out.', flag: '--exclude' }),
    manifest: doc(z.string().min(1).optional(), {
      description: 'A CSV or JSONL manifest instead of (or besides) folders: a path, url or frames column per row; the other columns are {{row.*}}.',
      flag: '--manifest',
    }),
    prompt: doc(z.string().min(1).optional(), { description: 'The prompt template of the first turn (template variables below).', flag: '--prompt' }),
    promptFile: doc(z.string().min(1).optional(), { description: 'A file holding the prompt template, instead of prompt.', flag: '--prompt-file' }),
    system: doc(z.string().min(1).optional(), { description: 'System prompt; a template as well.', flag: '--system' }),
    followUps: doc(z.array(z.string().min(1)).optional(), {
      description: 'Further prompts asked in the same conversation after the first answer; every answer is kept.',
      flag: '--follow-up',
    }),
    model: doc(z.string().min(1).optional(), { description: `The model: ${KNOWN_MODELS.join(', ')}.`, default: DEFAULTS.model, flag: '--model' }),
    region: doc(z.enum(['cn', 'intl', 'us']).optional(), {
      description: 'DashScope region: cn (Beijing), intl (Singapore), us. A key works only in its own region.',
      default: DEFAULTS.region,
      flag: '--region',
    }),
    baseUrl: doc(z.url().optional(), { description: 'API base URL; overrides region (env DASHSCOPE_BASE_URL too).', flag: '--base-url' }),
    concurrency: doc(positiveInt(256).optional(), { description: 'Requests in flight at once.', default: DEFAULTS.concurrency, flag: '--concurrency' }),
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
          mode: doc(z.enum(['auto', 'file', 'frames']).optional(), {
            description: 'Send the video file (the model hears its sound too), a list of frames, or pick per file.',
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
    enableThinking: doc(z.boolean().optional(), {
      description: 'qwen3-omni-flash thinking mode; the reasoning goes to a reasoning column.',
      default: false,
      flag: '--thinking',
    }),
    output: doc(
      z
        .union([
          z.string().min(1),
          z.object({ path: z.string().min(1), format: z.enum(['csv', 'jsonl']).optional() }).strict(),
        ])
        .optional(),
      { description: 'The output file, or { path, format }; the format comes from the extension unless given.', default: DEFAULTS.out, flag: '--out, --format' },
    ),
  })
  .strict();

export type JobFile = z.infer<typeof JobFileSchema>;

/** Flags as the CLI parsed them (strings already coerced where commander can). */
export interface Flags {
  input?: string[];
  include?: string[];
  exclude?: string[];
  manifest?: string;
  prompt?: string;
  promptFile?: string;
  system?: string;
  followUp?: string[];
  out?: string;
  format?: string;
  model?: string;
  baseUrl?: string;
  region?: string;
  concurrency?: string;
  maxFiles?: string;
  idleTimeout?: string;
  retries?: string;
  rpm?: string;
  tpm?: string;
  dryRun?: boolean;
  maxCost?: string;
  cpuConcurrency?: string;
  videoMode?: string;
  audioOut?: string;
  voice?: string;
  thinking?: boolean;
}

export type OutputFormat = 'csv' | 'jsonl';

/** The one validated configuration a run works from. All paths are absolute. */
export interface RunConfig {
  /** Folders or globs, absolute. */
  readonly inputs: readonly string[];
  readonly include: readonly string[];
  readonly exclude: readonly string[];
  readonly manifest: string | undefined;
  readonly prompt: string;
  readonly system: string | undefined;
  readonly followUps: readonly string[];
  readonly model: string;
  readonly baseURL: string;
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
  /** `captions.csv` -> `captions.totals.json`. */
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
  /** Row paths never processed (sidecars this output wrote next to its inputs); may grow while the run works. */
  readonly skip?: ReadonlySet<string> | undefined;
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
    throw new ConfigError(`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError(`${file}: expected a mapping of fields (inputs, prompt, output, ...), received ${describe(data)}`);
  }
  const parsed = JobFileSchema.safeParse(data, { reportInput: true });
  if (!parsed.success) throw new ConfigError(formatIssues(file, parsed.error, Object.keys(JobFileSchema.shape)));
  return parsed.data;
}

function intFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(`--${name}: expected a whole number from ${min} to ${max}, received ${JSON.stringify(value)}`);
  }
  return n;
}

function numberFlag(name: string, value: string | undefined, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || n > max) {
    throw new ConfigError(`--${name}: expected a number from ${min} to ${max}, received ${JSON.stringify(value)}`);
  }
  return n;
}

/** The output format: the explicit one (checked), else from the extension. */
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

/** `captions.csv` -> `captions.totals.json` beside it. */
export function totalsPathFor(out: string): string {
  const ext = path.extname(out);
  return `${out.slice(0, out.length - ext.length)}.totals.json`;
}

/** `captions.csv` -> `captions.estimate.csv`: where a dry run writes its `planned` rows. */
export function estimatePathFor(out: string): string {
  const ext = path.extname(out);
  return `${out.slice(0, out.length - ext.length)}.estimate${ext}`;
}

/**
 * Merges a job file (optional) with flags into one RunConfig. Flags win over the job file; the job file wins over
 * DASHSCOPE_BASE_URL; that wins over the default region. Job-file paths are relative to the job file's folder,
 * flag paths to the working directory.
 */
export async function resolveConfig(jobFilePath: string | undefined, flags: Flags, env: NodeJS.ProcessEnv, cwd: string): Promise<RunConfig> {
  const job: JobFile = jobFilePath ? await readJobFile(path.resolve(cwd, jobFilePath)) : {};
  const jobDir = jobFilePath ? path.dirname(path.resolve(cwd, jobFilePath)) : cwd;
  const fromJob = (p: string) => path.resolve(jobDir, p);
  const fromCwd = (p: string) => path.resolve(cwd, p);

  const inputs = flags.input?.length ? flags.input.map(fromCwd) : (job.inputs ?? []).map(fromJob);
  const manifest = flags.manifest !== undefined ? fromCwd(flags.manifest) : job.manifest !== undefined ? fromJob(job.manifest) : undefined;
  if (inputs.length === 0 && manifest === undefined) {
    throw new ConfigError('nothing to process: give --input DIR|GLOB (repeatable) or --manifest FILE, or a job file with inputs/manifest');
  }

  let prompt: string | undefined;
  if (flags.prompt !== undefined) prompt = flags.prompt;
  else if (flags.promptFile !== undefined) prompt = await readPromptFile(fromCwd(flags.promptFile), '--prompt-file');
  else if (job.prompt !== undefined) prompt = job.prompt;
  else if (job.promptFile !== undefined) prompt = await readPromptFile(fromJob(job.promptFile), `${jobFilePath}: field "promptFile"`);
  if (flags.prompt !== undefined && flags.promptFile !== undefined) throw new ConfigError('--prompt and --prompt-file: give one, not both');
  if (job.prompt !== undefined && job.promptFile !== undefined) throw new ConfigError(`${jobFilePath}: fields "prompt" and "promptFile": give one, not both`);
  if (prompt === undefined || prompt.trim() === '') throw new ConfigError('no prompt: give --prompt TEXT or --prompt-file FILE, or "prompt" in the job file');

  const model = flags.model ?? job.model ?? DEFAULTS.model;
  if (!modelInfo(model)) {
    throw new ConfigError(`--model: unknown model ${JSON.stringify(model)}; expected one of ${KNOWN_MODELS.join(', ')} (or a -latest / dated snapshot of one)`);
  }

  let region: Region | undefined;
  if (flags.region !== undefined) {
    if (!(flags.region in REGIONS)) throw new ConfigError(`--region: expected cn, intl or us, received ${JSON.stringify(flags.region)}`);
    region = flags.region as Region;
  }
  const envBase = env.DASHSCOPE_BASE_URL?.trim() ? env.DASHSCOPE_BASE_URL.trim() : undefined;
  const baseURL =
    flags.baseUrl ?? (region ? REGIONS[region] : undefined) ?? job.baseUrl ?? (job.region ? REGIONS[job.region] : undefined) ?? envBase ?? REGIONS[DEFAULTS.region];
  try {
    const u = new URL(baseURL);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new ConfigError(`--base-url: expected an http(s) URL, received ${JSON.stringify(baseURL)}`);
  }

  const outRaw = flags.out !== undefined ? fromCwd(flags.out) : typeof job.output === 'string' ? fromJob(job.output) : job.output ? fromJob(job.output.path) : fromCwd(DEFAULTS.out);
  const format = formatOf(
    outRaw,
    flags.format ?? (typeof job.output === 'object' ? job.output.format : undefined),
    flags.format !== undefined ? '--format' : `${jobFilePath}: field "output.format"`,
  );

  const retryBaseMs = job.retryBaseMs ?? DEFAULTS.retryBaseMs;
  const answer = answerOptions(job, jobFilePath, flags, model, fromJob, fromCwd);
  return {
    inputs,
    include: flags.include?.length ? flags.include : (job.include ?? []),
    exclude: flags.exclude?.length ? flags.exclude : (job.exclude ?? []),
    manifest,
    prompt,
    system: flags.system ?? job.system,
    followUps: flags.followUp?.length ? flags.followUp : (job.followUps ?? []),
    model,
    baseURL,
    concurrency: intFlag('concurrency', flags.concurrency, 1, 256) ?? job.concurrency ?? DEFAULTS.concurrency,
    maxFiles: intFlag('max-files', flags.maxFiles, 1, Number.MAX_SAFE_INTEGER) ?? job.maxFiles,
    idleTimeoutMs: Math.round((numberFlag('idle-timeout', flags.idleTimeout, 0.001, 3600) ?? job.idleTimeoutSec ?? DEFAULTS.idleTimeoutSec) * 1000),
    retries: intFlag('retries', flags.retries, 0, 20) ?? job.retries ?? DEFAULTS.retries,
    retryBaseMs,
    retryMaxMs: Math.max(job.retryMaxMs ?? DEFAULTS.retryMaxMs, retryBaseMs),
    rpm: intFlag('rpm', flags.rpm, 0, 1_000_000) ?? job.rpm ?? intFlag('rpm (env OMNI_BATCH_RPM)', env.OMNI_BATCH_RPM, 0, 1_000_000) ?? DEFAULTS.rpm,
    tpm: intFlag('tpm', flags.tpm, 0, 100_000_000) ?? job.tpm ?? intFlag('tpm (env OMNI_BATCH_TPM)', env.OMNI_BATCH_TPM, 0, 100_000_000) ?? DEFAULTS.tpm,
    out: outRaw,
    format,
    totalsPath: totalsPathFor(outRaw),
    estimatePath: estimatePathFor(outRaw),
    dryRun: flags.dryRun ?? false,
    cpuConcurrency: intFlag('cpu-concurrency', flags.cpuConcurrency, 1, 256) ?? job.cpuConcurrency ?? DEFAULTS.cpuConcurrency,
    preprocess: {
      image: { fix: job.image?.fix ?? DEFAULTS.imageFix },
      video: {
        mode: videoModeFlag(flags.videoMode) ?? job.video?.mode ?? DEFAULTS.videoMode,
        startSec: job.video?.startSec ?? 0,
        windowSec: job.video?.windowSec ?? null,
        frames: job.video?.frames ?? null,
        autoMaxTrimSec: job.video?.autoMaxTrimSec ?? DEFAULTS.videoAutoMaxTrimSec,
      },
      audio: { startSec: job.audio?.startSec ?? 0 },
    },
    answer,
    maxCost: numberFlag('max-cost', flags.maxCost, 0, Number.MAX_SAFE_INTEGER) ?? job.maxCost,
    estimateAnswerTokens: DEFAULTS.estimateAnswerTokens,
    cwd,
  };
}

/** Labels or schema, spoken answers and thinking mode, checked against each other and against the model. */
function answerOptions(
  job: JobFile,
  jobFilePath: string | undefined,
  flags: Flags,
  model: string,
  fromJob: (p: string) => string,
  fromCwd: (p: string) => string,
): AnswerOptions {
  const where = `${jobFilePath ?? 'job file'}`;
  let format: AnswerSchema | undefined;
  if (job.labels && job.schema) throw new ConfigError(`${where}: fields "labels" and "schema": give one, not both`);
  if (job.multi !== undefined && !job.labels) throw new ConfigError(`${where}: field "multi": only goes with "labels"`);
  if (job.labels) format = schemaFromLabels(job.labels, job.multi ?? false);
  if (job.schema) {
    try {
      format = schemaFromJsonSchema(job.schema);
    } catch (err) {
      throw new ConfigError(`${where}: field "schema": ${(err as Error).message}`);
    }
  }

  const info = modelInfo(model);
  const dir = flags.audioOut !== undefined ? fromCwd(flags.audioOut) : job.audio?.out !== undefined ? fromJob(job.audio.out) : undefined;
  const voice = flags.voice ?? job.audio?.voice;
  if (dir === undefined && (voice !== undefined || job.audio?.format !== undefined)) {
    throw new ConfigError(`${flags.voice !== undefined ? '--voice' : `${where}: field "audio.voice"/"audio.format"`}: spoken answers also need a folder: --audio-out DIR or "audio.out"`);
  }
  if (voice !== undefined && info && !info.voices.includes(voice)) {
    throw new ConfigError(
      `${flags.voice !== undefined ? '--voice' : `${where}: field "audio.voice"`}: ${model} has no voice ${JSON.stringify(voice)}; expected one of ${info.voices.join(', ')}`,
    );
  }
  const audio = dir === undefined ? undefined : { voice: voice ?? DEFAULTS.voice, format: job.audio?.format ?? DEFAULTS.audioFormat, dir };

  const thinking = flags.thinking ?? job.enableThinking ?? false;
  if (thinking && !info?.thinking) {
    throw new ConfigError(`${flags.thinking ? '--thinking' : `${where}: field "enableThinking"`}: thinking mode is for qwen3-omni-flash, not ${model}`);
  }
  if (thinking && audio) {
    throw new ConfigError('thinking mode and spoken answers: the API refuses audio output with enable_thinking; drop one of them');
  }
  return { format, audio, thinking };
}

function videoModeFlag(value: string | undefined): PreprocessOptions['video']['mode'] | undefined {
  if (value === undefined) return undefined;
  if (value !== 'auto' && value !== 'file' && value !== 'frames') throw new ConfigError(`--video-mode: expected auto, file or frames, received ${JSON.stringify(value)}`);
  return value;
}

async function readPromptFile(file: string, where: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${where}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
}
