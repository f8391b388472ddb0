/**
 * `Row` is the one shape every writer writes and every reader (resume, later collect and retry) reads back.
 * The flat column list is the same for CSV and JSONL.
 */
import { answerFields, countedFields } from './answer-schema.js';
import type { ErrorCode } from './errors.js';
import type { AnswerOptions, MediaKind } from './job.js';

/** `planned`: a --dry-run estimate row (never in a run's output file). */
export type RowStatus = 'ok' | 'failed' | 'skipped' | 'planned';

/**
 * Token counts as the API reported them; the modality fields are the prompt side (input), except
 * `completion_audio_tokens`: the part of `completion_tokens` that is generated speech (priced apart), and
 * `reasoning_tokens`: the part that is thinking (billed as answer text). `cached_tokens`: the part of the prompt
 * served from the implicit cache (priced at the model's cached-input price where it has one).
 */
export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  text_tokens: number;
  image_tokens: number;
  audio_tokens: number;
  video_tokens: number;
  completion_audio_tokens: number;
  reasoning_tokens: number;
  cached_tokens: number;
}

export const USAGE_FIELDS = [
  'prompt_tokens',
  'completion_tokens',
  'total_tokens',
  'text_tokens',
  'image_tokens',
  'audio_tokens',
  'video_tokens',
  'completion_audio_tokens',
  'reasoning_tokens',
  'cached_tokens',
] as const satisfies readonly (keyof Usage)[];

export function emptyUsage(): Usage {
  return { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, text_tokens: 0, image_tokens: 0, audio_tokens: 0, video_tokens: 0, completion_audio_tokens: 0, reasoning_tokens: 0, cached_tokens: 0 };
}

export function addUsage(into: Usage, more: Usage): Usage {
  for (const f of USAGE_FIELDS) into[f] += more[f];
  return into;
}

export interface Row {
  /** Stable for the same content, prompts, model and options. */
  id: string;
  /** The file as the user would name it (relative to the working directory), a URL, or `manifest#row`. */
  path: string;
  /** For a manifest row: the file, URL or frame list it names (`path` is then `manifest#row`); '' otherwise. */
  source: string;
  kind: MediaKind;
  status: RowStatus;
  /** One answer per turn: the first prompt, then each follow-up. Missing turns are empty strings. */
  answers: string[];
  /** The validated answer object of a run with labels or a schema; null otherwise (and when it failed). */
  parsed: Record<string, unknown> | null;
  /** Thinking mode: the reasoning text of every turn (blank-line separated), never part of `answers`. */
  reasoning: string;
  /** Spoken answers: the WAV file of the answer; '' otherwise. */
  audio_path: string;
  error_code: ErrorCode | '';
  error_message: string;
  model: string;
  usage: Usage;
  /** In the price table's currency; null when the model has no price or nothing was billed. */
  cost: number | null;
  /** API requests made for this row: one per turn asked (follow-ups and an answer asked again included), plus retries. */
  requests: number;
  /** Of `requests`, the ones that repeated a request that had failed (rate limits, 5xx, timeouts, cut streams). */
  retries: number;
  latency_ms: number | null;
  ttft_ms: number | null;
  /** What preprocessing did, e.g. `resized 6000x4000->1232x812 jpeg`, `trimmed 0-40s copy`, `frames 16 @ 0.0,3.9,...`. */
  preprocess: string;
  /** Size of the file as found, and of what was sent (after preprocessing). */
  source_bytes: number | null;
  sent_bytes: number | null;
  /** Of what was sent: seconds of audio/video, pixels of the image or of each frame. */
  duration_sec: number | null;
  width: number | null;
  height: number | null;
  /** Prompt tokens (all turns) and cost the documented rules predicted from the probe, before any call. */
  estimated_tokens: number | null;
  estimated_cost: number | null;
  /** 1-based position in input order (rows are written as files finish): sort by it to get the input's order. */
  index?: number | null;
  /** The manifest columns the job keeps (`keep`), by column name; written as `row_<column>`. */
  kept?: Readonly<Record<string, string>>;
  /**
   * True once a person edited the answer on the review page (`omni-batch review`): no rerun, retry or collect
   * replaces the row. Null (CSV: empty) for every row a model answered.
   */
  reviewed?: boolean | null;
}

/** The output column of a kept manifest column: `row_id` for `id`, never one of ours. */
export const keptColumn = (column: string) => `row_${column}`;

/** Media columns, after the usage columns; the same for CSV and JSONL. */
export const MEDIA_FIELDS = ['preprocess', 'source_bytes', 'sent_bytes', 'duration_sec', 'width', 'height', 'estimated_tokens', 'estimated_cost'] as const satisfies readonly (keyof Row)[];

/**
 * Which columns the rows of a run have. Derived from the run's options only (never from the rows), so the header
 * of an output is stable for a run; an output written with another layout is rewritten to this one on open.
 */
export interface RowLayout {
  /** `answer`, `answer_2`, ... */
  readonly turns: number;
  /** Answer-schema fields, one column each, then `parsed`; empty for free-text answers. */
  readonly fields: readonly string[];
  /** Fields whose values the totals count (labels, enums), with every value they may take. */
  readonly counted: readonly { readonly field: string; readonly values: readonly string[] }[];
  /** A `reasoning` column (thinking mode). */
  readonly reasoning: boolean;
  /** An `audio_path` column (spoken answers). */
  readonly audio: boolean;
  /** Manifest columns kept (`keep`), written as `row_<column>` after `index`. */
  readonly keep?: readonly string[];
}

/** The layout of a run with `turns` turns and these answer options. */
export function rowLayout(turns: number, answer: AnswerOptions, keep: readonly string[] = []): RowLayout {
  return {
    ...(keep.length ? { keep } : {}),
    turns,
    fields: answer.format ? answerFields(answer.format) : [],
    counted: answer.format ? countedFields(answer.format) : [],
    reasoning: answer.thinking !== 'off',
    audio: answer.audio !== undefined,
  };
}

/** A plain-text layout: free answers over `turns` turns, no schema, reasoning or audio columns. */
export function textLayout(turns: number): RowLayout {
  return { turns, fields: [], counted: [], reasoning: false, audio: false };
}

/** `answer`, then `answer_2` ... one per follow-up turn. */
export function answerColumns(turns: number): string[] {
  const cols = ['answer'];
  for (let i = 2; i <= turns; i++) cols.push(`answer_${i}`);
  return cols;
}

/** The extra columns of a layout, after the answers: schema fields, `parsed`, `reasoning`, `audio_path`. */
function answerFormatColumns(l: RowLayout): string[] {
  return [...l.fields, ...(l.fields.length ? ['parsed'] : []), ...(l.reasoning ? ['reasoning'] : []), ...(l.audio ? ['audio_path'] : [])];
}

export function columnsFor(layout: RowLayout): string[] {
  return [
    'id',
    'path',
    'source',
    'kind',
    'status',
    ...answerColumns(layout.turns),
    ...answerFormatColumns(layout),
    'error_code',
    'error_message',
    'model',
    ...USAGE_FIELDS,
    'cost',
    'requests',
    'retries',
    'latency_ms',
    'ttft_ms',
    ...MEDIA_FIELDS,
    'reviewed',
    'index',
    ...(layout.keep ?? []).map(keptColumn),
  ];
}

/**
 * One value of a row as JSON types it: schema fields as the answer gave them (arrays, booleans, objects), a frame
 * list as an array, null for every missing value. JSONL writes these as they are; CSV flattens them (csv.ts).
 */
export type CellValue = string | number | boolean | null | readonly unknown[] | Record<string, unknown>;
export type FlatRecord = Record<string, CellValue>;

/** A text column: '' (none) is null. */
const text = (value: string): string | null => (value === '' ? null : value);

/** A schema field's value, missing as null. */
function field(value: unknown): CellValue {
  if (value === undefined || value === null) return null;
  return value as CellValue;
}

/** A manifest row's frame list (`source` holds it `;`-joined) as an array; any other source as text. */
function sourceValue(row: Row): CellValue {
  return row.kind === 'video' && row.source.includes(';') ? row.source.split(';') : text(row.source);
}

/** Row -> record with exactly `columnsFor(layout)` keys, typed (see CellValue). */
export function flatten(row: Row, layout: RowLayout): FlatRecord {
  const rec: FlatRecord = { id: row.id, path: row.path, source: sourceValue(row), kind: row.kind, status: row.status };
  // A turn that was asked has its answer ('' when it was empty); one never reached is null.
  answerColumns(layout.turns).forEach((col, i) => (rec[col] = row.answers[i] ?? null));
  for (const f of layout.fields) rec[f] = field(row.parsed?.[f]);
  if (layout.fields.length) rec.parsed = row.parsed;
  if (layout.reasoning) rec.reasoning = text(row.reasoning);
  if (layout.audio) rec.audio_path = text(row.audio_path);
  rec.error_code = text(row.error_code);
  rec.error_message = text(row.error_message);
  rec.model = row.model;
  for (const f of USAGE_FIELDS) rec[f] = row.usage[f];
  rec.cost = row.cost;
  rec.requests = row.requests;
  rec.retries = row.retries;
  rec.latency_ms = row.latency_ms;
  rec.ttft_ms = row.ttft_ms;
  for (const f of MEDIA_FIELDS) rec[f] = typeof row[f] === 'string' ? text(row[f]) : row[f];
  rec.index = row.index ?? null;
  rec.reviewed = row.reviewed === true ? true : null;
  for (const c of layout.keep ?? []) rec[keptColumn(c)] = row.kept?.[c] ?? null;
  return rec;
}

const STATUSES: readonly RowStatus[] = ['ok', 'failed', 'skipped', 'planned'];
const KINDS: readonly MediaKind[] = ['image', 'audio', 'video', 'text', 'unknown'];

function num(v: unknown): number {
  const n = typeof v === 'number' ? v : Number(v);
  return Number.isFinite(n) ? n : 0;
}

function numOrNull(v: unknown): number | null {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
}

/** `parsed` as JSONL (an object) or CSV (JSON text) holds it. */
function parsedOf(v: unknown): Record<string, unknown> | null {
  let value = v;
  if (typeof v === 'string' && v.trim().startsWith('{')) {
    try {
      value = JSON.parse(v);
    } catch {
      return null;
    }
  }
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/**
 * A record read back from CSV (all strings) or JSONL -> Row. Returns undefined for a record that is not a row
 * of ours (no id/path/status), e.g. a line a crash cut short.
 */
export function unflatten(rec: Record<string, unknown>): Row | undefined {
  const status = rec.status;
  if (typeof rec.id !== 'string' || !rec.id || typeof rec.path !== 'string' || !STATUSES.includes(status as RowStatus)) return undefined;
  const answers: string[] = [];
  if (typeof rec.answer === 'string') answers.push(rec.answer);
  for (let i = 2; typeof rec[`answer_${i}`] === 'string'; i++) answers.push(rec[`answer_${i}`] as string);
  const usage = emptyUsage();
  for (const f of USAGE_FIELDS) usage[f] = num(rec[f]);
  return {
    id: rec.id,
    path: rec.path,
    source: typeof rec.source === 'string' ? rec.source : Array.isArray(rec.source) ? rec.source.map(String).join(';') : '',
    kind: KINDS.includes(rec.kind as MediaKind) ? (rec.kind as MediaKind) : 'unknown',
    status: status as RowStatus,
    answers,
    parsed: parsedOf(rec.parsed),
    reasoning: typeof rec.reasoning === 'string' ? rec.reasoning : '',
    audio_path: typeof rec.audio_path === 'string' ? rec.audio_path : '',
    error_code: (typeof rec.error_code === 'string' ? rec.error_code : '') as ErrorCode | '',
    error_message: typeof rec.error_message === 'string' ? rec.error_message : '',
    model: typeof rec.model === 'string' ? rec.model : '',
    usage,
    cost: numOrNull(rec.cost),
    requests: num(rec.requests),
    retries: num(rec.retries),
    latency_ms: numOrNull(rec.latency_ms),
    ttft_ms: numOrNull(rec.ttft_ms),
    preprocess: typeof rec.preprocess === 'string' ? rec.preprocess : '',
    source_bytes: numOrNull(rec.source_bytes),
    sent_bytes: numOrNull(rec.sent_bytes),
    duration_sec: numOrNull(rec.duration_sec),
    width: numOrNull(rec.width),
    height: numOrNull(rec.height),
    estimated_tokens: numOrNull(rec.estimated_tokens),
    estimated_cost: numOrNull(rec.estimated_cost),
    index: numOrNull(rec.index),
    kept: keptOf(rec),
    reviewed: rec.reviewed === true || rec.reviewed === 'true' ? true : null,
  };
}

/** The `row_<column>` cells of a record, by column. */
function keptOf(rec: Record<string, unknown>): Record<string, string> {
  const kept: Record<string, string> = {};
  for (const [k, v] of Object.entries(rec)) {
    if (!k.startsWith('row_') || v === null || v === undefined || v === '') continue;
    kept[k.slice(4)] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  return kept;
}

/** The media columns a row gets before any preprocessing: the source size and the estimate. */
export function noMedia(): Pick<Row, (typeof MEDIA_FIELDS)[number]> {
  return { preprocess: '', source_bytes: null, sent_bytes: null, duration_sec: null, width: null, height: null, estimated_tokens: null, estimated_cost: null };
}

/** A row for a file that got no answer: `skipped` (we chose not to send it) or `failed` (it could not be done). */
export function rowWithoutAnswer(
  base: { id: string; path: string; source?: string; kind: MediaKind; model: string; index?: number | null | undefined; kept?: Readonly<Record<string, string>> | undefined },
  status: 'failed' | 'skipped',
  code: ErrorCode,
  message: string,
  requests = 0,
): Row {
  return {
    id: base.id,
    path: base.path,
    source: base.source ?? '',
    kind: base.kind,
    model: base.model,
    status,
    answers: [],
    parsed: null,
    reasoning: '',
    audio_path: '',
    error_code: code,
    error_message: message,
    usage: emptyUsage(),
    cost: null,
    requests,
    retries: 0,
    latency_ms: null,
    ttft_ms: null,
    ...noMedia(),
    index: base.index ?? null,
    kept: base.kept ?? {},
  };
}
