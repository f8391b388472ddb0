/**
 * Item -> Job: probe (local media by content, not by name), render the prompts, estimate the tokens, and give
 * the job its stable id. Cheap on purpose: headers only, nothing is decoded or converted here (the worker does
 * that). An item that cannot become a job becomes its row right here (skipped or failed), so it is never dropped.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat, statRead, type Opened } from '../shared/fast-fs.js';
import { pipeline } from 'node:stream/promises';
import { OmniError, unreadableMessage, type ErrorCode } from '../shared/errors.js';
import { estimateCost, estimateJob, mediaTokens, requestsPerTurn, textTokens } from '../shared/estimate.js';
import { formatInstructions } from '../shared/answer-schema.js';
import { KEEP_CONTENT_BYTES, type AnswerOptions, type GenerationSettings, type Job, type TokenEstimate, type JobMedia, type JobSource, type MediaFacts, type PreprocessOptions } from '../shared/job.js';
import { orientedSize, planImage } from '../shared/media-plan.js';
import { KNOWN_MODELS, modelInfo, type ModelInfo, type RegionId } from '../shared/models.js';
import type { ModelLimitsBlock } from '../shared/model-overrides.js';
import type { ApiDialect } from '../shared/dialect.js';
import { runPrices, type RunPrice } from '../shared/run-price.js';
import { looksLikeText, probeContent, probeImage } from '../shared/probe.js';
import { rowWithoutAnswer, type Row } from '../shared/row.js';
import type { MediaKind } from '../shared/job.js';
import { classify, type Classification } from './classify.js';
import type { Item, Source } from './item.js';
import { MissingVariableError, render, type Template } from './template.js';

export interface PlanContext {
  readonly model: string;
  /** The facts the model runs on (modelLimits applied), and the block itself, which each job carries. */
  readonly info: ModelInfo;
  readonly modelLimits: ModelLimitsBlock | undefined;
  /** Whose prices the estimate and the rows use. */
  readonly priceRegion: RegionId;
  /** The endpoint's dialect and the job file's own price; each job carries them (neither is part of its id). */
  readonly api?: ApiDialect | undefined;
  readonly price?: RunPrice | undefined;
  /** Sampling settings; part of the id when any is set. */
  readonly generation: GenerationSettings;
  readonly system: Template | undefined;
  /** Turn 1, then each follow-up. */
  readonly prompts: readonly Template[];
  /** How media is made to fit; part of the id. */
  readonly options: PreprocessOptions;
  /** Labels / schema, spoken answers, thinking mode; part of the id unless the answer is plain text. */
  readonly answer: AnswerOptions;
  /** Answer length the estimate assumes per turn. */
  readonly answerTokens: number;
  /** Manifest columns carried into the rows (`keep`, resolved); default none. */
  readonly keep?: readonly string[];
}

/**
 * A job, or the row of an item that cannot become one. `content`: the bytes of a small local media file, read
 * once for the probe and the id; the in-process engine hands them to the worker so the file is not read again.
 */
export type Planned = { readonly job: Job; readonly content?: Buffer | undefined } | { readonly row: Row };

/** Bump when the meaning of an id changes, so old outputs are not taken as done. */
const ID_VERSION = 2;

export function jobId(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify([ID_VERSION, parts])).digest('hex').slice(0, 32);
}

/**
 * Files up to this size are hashed from one readFile; bigger ones are streamed through the hash. A read stream
 * costs several reads, closes and stream objects per file: for the small files of a large tree that was most of
 * the planning time (a 2,000-file text run spent 0.18 ms per file in read() alone).
 */
const WHOLE_READ_BYTES = 8 * 1024 * 1024;

/** Text files up to this size keep their content in the job (see JobMedia `text_file`). */
export const INLINE_TEXT_BYTES = 64 * 1024;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

async function fileDigest(file: string, bytes: number): Promise<string> {
  if (bytes <= WHOLE_READ_BYTES) return sha256(await readFile(file));
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** A text file: a small one kept from the one read that hashed it; a larger one hashed now and read again by the worker. */
async function textMedia(file: string, opened: Opened): Promise<{ media: JobMedia; bytes: number; digest: string }> {
  const content = opened.content;
  if (!content) return { media: { type: 'text_file', file }, bytes: opened.size, digest: await fileDigest(file, opened.size) };
  return { media: { type: 'text_file', file, text: content.toString('utf8') }, bytes: content.length, digest: sha256(content) };
}

/**
 * The job without the text content planning kept: for jobs held for long (all of them, planned before a
 * --max-cost check) or stored elsewhere (a Redis queue), where the worker reading the file again costs less than
 * keeping every file's content.
 */
export function withoutInlineText(job: Job): Job {
  const m = job.media;
  if (m?.type !== 'text_file' || m.text === undefined) return job;
  return { ...job, media: { type: 'text_file', file: m.file } };
}

const KIND_OVERRIDES = new Set(['image', 'audio', 'video']);

/** Kind of a URL: a manifest `kind` column wins over the URL's extension. */
function classifySource(source: Source, row: Readonly<Record<string, string>> | undefined): Classification {
  const byName = classify('file' in source ? source.file : new URL(source.url).pathname);
  const override = row?.kind?.trim().toLowerCase();
  if ('url' in source && override && KIND_OVERRIDES.has(override) && override !== byName.kind) {
    const kind = override as MediaKind;
    return { kind, ext: byName.ext, sendable: true, format: kind === 'audio' ? (byName.format ?? 'mp3') : undefined };
  }
  return byName;
}

class Skip extends Error {
  constructor(
    readonly status: 'skipped' | 'failed',
    readonly code: ErrorCode,
    message: string,
    readonly kind: MediaKind,
  ) {
    super(message);
  }
}

async function statFile(file: string, label: string, kind: MediaKind): Promise<number> {
  const st = await stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new Skip('failed', 'file_unreadable', unreadableMessage(label, err), kind);
  });
  if (!st.isFile()) throw new Skip('failed', 'file_unreadable', `${label}: not a regular file`, kind);
  return st.size;
}

/** A regular file's size, and its content when it has at most `maxRead` bytes; a Skip row when it is neither. */
async function openFile(file: string, label: string, kind: MediaKind, maxRead: number): Promise<Opened> {
  const opened = await statRead(file, maxRead).catch((err: NodeJS.ErrnoException) => {
    throw new Skip('failed', 'file_unreadable', unreadableMessage(label, err), kind);
  });
  if (!opened.isFile) throw new Skip('failed', 'file_unreadable', `${label}: not a regular file`, kind);
  return opened;
}

interface Measured {
  kind: MediaKind;
  media: JobMedia | undefined;
  facts: MediaFacts;
  digest: string;
  content?: Buffer | undefined;
  /** The media after the first of a `mixed` item. */
  extra?: { media: JobMedia; facts: MediaFacts }[];
}

/** What is sent for an item, and the facts and digest its estimate and id come from. */
async function measure(item: Item): Promise<Measured> {
  const m = item.media;
  if (!m) return { kind: 'text', media: undefined, facts: {}, digest: '' };
  if (m.type === 'frames') return measureFrames(item.path, m.frames);
  if (m.type === 'mixed') return measureMixed(item, m.parts);
  const c = classifySource(m.source, item.row);
  return 'url' in m.source ? measureUrl(item.path, m.source, c) : measureFile(item.path, m.source, c);
}

/**
 * Several media for one message: each measured as if alone; images, one audio and one video at most (the API's
 * rule for one message), no text files. The first is the job's media, its kind the row's kind.
 */
async function measureMixed(item: Item, parts: readonly Source[]): Promise<Measured> {
  const measured: Measured[] = [];
  for (const [i, source] of parts.entries()) {
    const one = await measure({ ...item, path: `${item.path}: media ${i + 1}`, media: { type: 'single', source } });
    if (!one.media || one.media.type === 'text_file') throw new Skip('skipped', 'unsupported_type', `${item.path}: media ${i + 1} is text; a media list takes images, audio and video`, 'text');
    measured.push(one);
  }
  for (const kind of ['audio', 'video'] as const) {
    if (measured.filter((x) => x.kind === kind).length > 1) throw new Skip('skipped', 'unsupported_type', `${item.path}: a message takes one ${kind} at most`, kind);
  }
  const [first, ...rest] = measured as [Measured, ...Measured[]];
  const extra = rest.map((x) => ({ media: x.media as JobMedia, facts: x.facts }));
  return { ...first, digest: measured.map((x) => x.digest).join('+'), extra };
}

/** A frame list: every frame a JPEG, PNG or WebP image; local frames probed and hashed, URLs taken as named. */
async function measureFrames(itemPath: string, sources: readonly Source[]): Promise<Measured> {
  const frames: { source: JobSource; mime: string | undefined }[] = [];
  const facts: NonNullable<MediaFacts['frames']> = [];
  const digests: string[] = [];
  for (const [i, source] of sources.entries()) {
    const c = classifySource(source, undefined);
    const label = `${itemPath}: frame ${i + 1} (${'file' in source ? source.file : source.url})`;
    if (c.kind !== 'image' || !c.sendable) throw new Skip('skipped', 'unsupported_format', `${label}: frames must be JPEG, PNG or WebP images`, 'video');
    if ('file' in source) {
      const bytes = await statFile(source.file, label, 'video');
      const img = await probeImage(source.file, label).catch(rethrowAs('video'));
      facts.push({ bytes, width: img.width, height: img.height });
      digests.push(await fileDigest(source.file, bytes));
    } else digests.push(source.url);
    frames.push({ source, mime: c.format });
  }
  return { kind: 'video', media: { type: 'frames', frames }, facts: { frames: facts }, digest: digests.join(',') };
}

/** A URL is passed through untouched: its kind and format come from its name (or the manifest's kind column). */
function measureUrl(label: string, source: Extract<Source, { url: string }>, c: Classification): Measured {
  if (c.kind === 'unknown') {
    throw new Skip('skipped', 'unsupported_type', `${label}: ${c.ext ? `".${c.ext}" is not` : 'a name without an extension is not'} an image, audio, video or text file`, 'unknown');
  }
  if (!c.sendable) {
    throw new Skip('skipped', 'unsupported_format', `${label}: the API does not take .${c.ext} ${c.kind} as it is, and URLs are passed through untouched (download it, or convert it)`, c.kind);
  }
  if (c.kind === 'text') throw new Skip('skipped', 'unsupported_type', `${label}: text is read from local files only, not from URLs`, 'text');
  const media: JobMedia = c.kind === 'image' ? { type: 'image', source, mime: c.format } : c.kind === 'audio' ? { type: 'audio', source, format: c.format ?? 'mp3' } : { type: 'video_file', source };
  return { kind: c.kind, media, facts: {}, digest: `url:${source.url}` };
}

/** A local file: text by its name; media by its content (probed), whatever its name says. */
async function measureFile(label: string, source: Extract<Source, { file: string }>, c: Classification): Promise<Measured> {
  const hinted: MediaKind = c.kind;
  // A small file is read once, here: the probe, the id and (in-process) the request all use these bytes.
  const opened = await openFile(source.file, label, hinted, c.kind === 'text' ? INLINE_TEXT_BYTES : WHOLE_READ_BYTES);
  const bytes = opened.size;
  // Text is known by its name: its content is sent as it is, and any bytes are valid text to the model.
  if (c.kind === 'text') {
    const text = await textMedia(source.file, opened).catch((err: NodeJS.ErrnoException) => {
      throw new Skip('failed', 'file_unreadable', `${label}: cannot read (${err.code})`, 'text');
    });
    return { kind: 'text', media: text.media, facts: { bytes: text.bytes }, digest: text.digest };
  }
  if (bytes === 0) throw new Skip('failed', 'media_unreadable', `${label}: empty file (0 bytes)`, hinted);
  const content = opened.content;
  const probed = await probeContent(source.file, label, content);
  if (probed.kind === 'none') throw await notMedia(label, content ?? source.file, c, probed.reason);
  const facts: MediaFacts = { bytes: content?.length ?? bytes, ...probed.facts };
  const media: JobMedia =
    probed.kind === 'image'
      ? { type: 'image', source, mime: facts.format === 'png' ? 'image/png' : facts.format === 'webp' ? 'image/webp' : 'image/jpeg' }
      : probed.kind === 'audio'
        ? { type: 'audio', source, format: facts.format ?? '' }
        : { type: 'video_file', source };
  const digest = content ? sha256(content) : await fileDigest(source.file, bytes);
  return { kind: probed.kind, media, facts, digest, content: content && content.length <= KEEP_CONTENT_BYTES ? content : undefined };
}

/** Why a local file whose content is no media the probe knows is not sent: plain text, or unreadable. */
async function notMedia(label: string, content: Buffer | string, c: Classification, reason: string): Promise<Skip> {
  const hinted = c.kind;
  if (await looksLikeText(content)) {
    if (hinted === 'unknown') return new Skip('skipped', 'unsupported_type', `${label}: plain text without a text extension (name it .txt to send its content)`, 'unknown');
    return new Skip('failed', 'media_unreadable', `${label}: plain text, not ${hinted === 'audio' || hinted === 'image' ? 'an' : 'a'} ${hinted} (named .${c.ext})`, hinted);
  }
  if (hinted === 'unknown') {
    return new Skip('skipped', 'unsupported_type', `${label}: ${c.ext ? `".${c.ext}" is not` : 'a name without an extension is not'} an image, audio, video or text file, and its content is not media either`, 'unknown');
  }
  return new Skip('failed', 'media_unreadable', `${label}: not readable as media (${reason})`, hinted);
}

function rethrowAs(kind: MediaKind) {
  return (err: unknown): never => {
    if (err instanceof OmniError) throw new Skip('failed', err.code, err.message, kind);
    throw err;
  };
}

type RowReason = ['skipped' | 'failed', ErrorCode, string];

/**
 * The prompts and system prompt of an item, or why it gets a row instead: a template variable the row lacks, or
 * a text too big for the model's input window (a manifest cell too long to be kept, or the prompts as rendered:
 * about 4 characters a token, every turn's prompt and an assumed answer per earlier turn, as a conversation's
 * last request carries them). Such a text is never sent, as a text file too big is not.
 */
function renderFor(item: Item, measured: Measured, ctx: PlanContext): { prompts: string[]; system: string | undefined } | { row: RowReason } {
  const window = ctx.info.limits.inputTokens;
  const templates = ctx.system ? [...ctx.prompts, ctx.system] : ctx.prompts;
  for (const [column, chars] of Object.entries(item.oversized ?? {})) {
    if (!templates.some((t) => t.vars.includes(`row.${column}`))) continue;
    return { row: ['skipped', 'too_large', `${item.path}: column "${column}" holds ${chars} characters, about ${textTokens(chars)} tokens, over ${ctx.model}'s ${window}-token input window`] };
  }
  const values: Record<string, string> = {
    'file.name': item.file.name,
    'file.relPath': item.file.relPath,
    'file.dir': item.file.dir,
    'file.ext': item.file.ext,
    'media.kind': measured.kind,
    'media.durationSec': measured.facts.durationSec === undefined ? '' : String(Math.round(measured.facts.durationSec * 10) / 10),
  };
  for (const [k, v] of Object.entries(item.row ?? {})) values[`row.${k}`] = v;
  let prompts: string[];
  let system: string | undefined;
  try {
    prompts = ctx.prompts.map((t) => render(t, values));
    // The schema applies to the answer of the last turn: its prompt says how to answer.
    const format = ctx.answer.format;
    if (format) prompts[prompts.length - 1] = `${prompts[prompts.length - 1] ?? ''}\n\n${formatInstructions(format)}`;
    system = ctx.system ? render(ctx.system, values) : undefined;
  } catch (err) {
    if (!(err instanceof MissingVariableError)) throw err;
    return { row: ['failed', 'template_error', `${item.path}: ${err.message}`] };
  }
  const chars = prompts.reduce((sum, p) => sum + p.length, system?.length ?? 0);
  const tokens = textTokens(chars) + (prompts.length - 1) * ctx.answerTokens;
  if (tokens > window) return { row: ['skipped', 'too_large', `${item.path}: the prompt is about ${tokens} tokens of text, over ${ctx.model}'s ${window}-token input window`] };
  return { prompts, system };
}

/** What a job carries about its model besides the name: only what is set, so other jobs stay as they were. */
function modelFields(ctx: PlanContext): Pick<Job, 'modelLimits' | 'priceRegion' | 'generation' | 'api' | 'price'> {
  return {
    ...(ctx.api !== undefined && ctx.api !== 'dashscope' ? { api: ctx.api } : {}),
    ...(ctx.price ? { price: ctx.price } : {}),
    ...(ctx.modelLimits ? { modelLimits: ctx.modelLimits } : {}),
    ...(ctx.priceRegion !== 'cn' ? { priceRegion: ctx.priceRegion } : {}),
    ...(Object.keys(ctx.generation).length ? { generation: ctx.generation } : {}),
  };
}

/** The id parts of the generation settings and the modelLimits block: none when unset, so earlier ids stay valid. */
function settingsId(ctx: PlanContext): unknown[] {
  const parts: unknown[] = [];
  if (Object.keys(ctx.generation).length) parts.push({ generation: ctx.generation });
  if (ctx.modelLimits) parts.push({ modelLimits: ctx.modelLimits });
  return parts;
}

/** Plans one item. Throws only for run-level problems (ffprobe missing); item problems become rows. */
/** A job, or the row of an item that cannot become one, with the item's input position and kept columns. */
export async function planItem(item: Item, ctx: PlanContext): Promise<Planned> {
  const planned = await planWithoutInput(item, ctx);
  const kept: Record<string, string> = {};
  for (const c of ctx.keep ?? []) if (item.row?.[c] !== undefined) kept[c] = item.row[c];
  const input = { index: item.index ?? null, kept };
  return 'job' in planned ? { ...planned, job: { ...planned.job, ...input } } : { row: { ...planned.row, ...input } };
}

async function planWithoutInput(item: Item, ctx: PlanContext): Promise<Planned> {
  const sourceIds = ctx.prompts.map((t) => t.source);
  const fallbackId = () => jobId([ctx.model, item.path, sourceIds, ctx.system?.source]);
  if (item.skip) {
    return { row: rowWithoutAnswer({ id: fallbackId(), path: item.path, source: item.source ?? '', kind: 'unknown', model: ctx.model }, 'skipped', item.skip.code, item.skip.message) };
  }
  let measured: Measured;
  try {
    measured = await measure(item);
  } catch (err) {
    if (!(err instanceof Skip)) throw err;
    return { row: rowWithoutAnswer({ id: fallbackId(), path: item.path, source: item.source ?? '', kind: err.kind, model: ctx.model }, err.status, err.code, err.message) };
  }
  const rendered = renderFor(item, measured, ctx);
  if ('row' in rendered) return { row: rowWithoutAnswer({ id: fallbackId(), path: item.path, source: item.source ?? '', kind: measured.kind, model: ctx.model }, ...rendered.row) };
  const { prompts, system } = rendered;
  const base = { id: '', path: item.path, source: item.source ?? '', kind: measured.kind, model: ctx.model };
  const info = ctx.info;
  const m = measured.media;
  const f = measured.facts;
  if (m?.type === 'image' && 'file' in m.source && f.width && f.height) {
    const { width, height } = orientedSize(f);
    const plan = planImage(width, height, info.limits, info.tokens, ctx.options.image.fix);
    if (!plan.ok) return { row: { ...rowWithoutAnswer({ ...base, id: fallbackId() }, 'skipped', plan.code, `${item.path}: ${plan.reason}`), source_bytes: f.bytes ?? null } };
  }
  const { extra } = measured;
  if (extra && !info.limits.mixedMedia) {
    const mixing = KNOWN_MODELS.filter((n) => modelInfo(n)?.limits.mixedMedia && !/\d{4}-\d{2}-\d{2}$/.test(n));
    const why = `${item.path}: ${ctx.model} takes one kind of media per message; this row's media list needs a model that mixes them (${mixing.join(', ')})`;
    return { row: rowWithoutAnswer({ ...base, id: fallbackId() }, 'skipped', 'unsupported_type', why) };
  }
  const id = jobId([ctx.model, system, prompts, measured.digest, m?.type, idOptions(measured, ctx), ...answerId(ctx.answer), ...settingsId(ctx)]);
  const draft = { media: m, facts: f, options: ctx.options, prompts, system };
  const estimate = withExtraTokens(estimateJob(draft, info, ctx.answerTokens), draft, extra, info);
  const estimatedCost = estimateCost(estimate, prompts.length * requestsPerTurn(draft, info), m !== undefined && m.type !== 'text_file', runPrices(info, ctx.priceRegion, ctx.api, ctx.price), ctx.answerTokens);
  const job: Job = { ...base, id, system, prompts, media: m, facts: f, ...(extra ? { extra } : {}), options: ctx.options, answer: ctx.answer, estimate, estimatedCost, ...modelFields(ctx) };
  return measured.content ? { job, content: measured.content } : { job };
}

/** Only the options that change what is sent for this kind take part in the id (all of them for a media list). */
function idOptions(measured: Measured, ctx: PlanContext): unknown {
  if (measured.extra) {
    // How a file travels (upload) is not what is asked: it stays out of the id, as for one file.
    const { upload: _upload, ...asked } = ctx.options;
    return { ...asked, audio: audioIdOptions(asked.audio) };
  }
  const k = measured.kind;
  return k === 'image' ? ctx.options.image : k === 'audio' ? audioIdOptions(ctx.options.audio) : k === 'video' ? ctx.options.video : null;
}

/** The audio options as the id sees them: `mode: trim` (the default, and all there was before it) adds nothing, so ids of earlier runs stay valid. */
function audioIdOptions(audio: PreprocessOptions['audio']): object {
  const { mode, ...rest } = audio;
  return mode === 'trim' ? rest : audio;
}

/** The answer options' id part: none for plain text, so ids of earlier runs stay valid. */
function answerId({ format, audio, thinking }: AnswerOptions): unknown[] {
  // `on` hashes as the `true` of the boolean it replaced, so ids of earlier thinking runs stay valid too.
  const thinks = thinking === 'off' ? false : thinking === 'on' ? true : thinking;
  return format || audio || thinks ? [{ schema: format?.schema, audio, thinking: thinks }] : [];
}

/** The estimate plus the media tokens of a media list's further media, sent again with every turn. */
function withExtraTokens(e: TokenEstimate, draft: Parameters<typeof mediaTokens>[0], extra: Measured['extra'], info: ModelInfo): TokenEstimate {
  for (const x of extra ?? []) {
    const t = mediaTokens({ ...draft, media: x.media, facts: x.facts }, info);
    e.image += t.image * draft.prompts.length;
    e.audio += t.audio * draft.prompts.length;
    e.video += t.video * draft.prompts.length;
  }
  return e;
}
