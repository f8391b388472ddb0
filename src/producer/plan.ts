/**
 * Item -> Job: classify, measure, render the prompts, and give the job its stable id.
 * An item that cannot become a job becomes its row right here (skipped or failed), so it is never dropped.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { OmniError, type ErrorCode } from '../shared/errors.js';
import type { Job, JobMedia, JobSource, MediaFacts } from '../shared/job.js';
import { probeAv, probeImage } from '../shared/probe.js';
import { rowWithoutAnswer, type MediaKind, type Row } from '../shared/row.js';
import { classify, type Classification } from './classify.js';
import type { Item, Source } from './item.js';
import { MissingVariableError, render, type Template } from './template.js';

export interface PlanContext {
  readonly model: string;
  readonly system: Template | undefined;
  /** Turn 1, then each follow-up. */
  readonly prompts: readonly Template[];
}

export type Planned = { readonly job: Job } | { readonly row: Row };

/** Bump when the meaning of an id changes, so old outputs are not taken as done. */
const ID_VERSION = 1;

export function jobId(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify([ID_VERSION, parts])).digest('hex').slice(0, 32);
}

async function fileDigest(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
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
    throw new Skip('failed', 'file_unreadable', `${label}: ${err.code === 'ENOENT' ? 'no such file' : `cannot read (${err.code})`}`, kind);
  });
  if (!st.isFile()) throw new Skip('failed', 'file_unreadable', `${label}: not a regular file`, kind);
  return st.size;
}

interface Measured {
  kind: MediaKind;
  media: JobMedia | undefined;
  facts: MediaFacts;
  digest: string;
}

async function measure(item: Item): Promise<Measured> {
  const m = item.media;
  if (!m) return { kind: 'text', media: undefined, facts: {}, digest: '' };
  if (m.type === 'frames') {
    const frames: { source: JobSource; mime: string | undefined }[] = [];
    const facts: NonNullable<MediaFacts['frames']> = [];
    const digests: string[] = [];
    for (const [i, source] of m.frames.entries()) {
      const c = classifySource(source, undefined);
      const label = `${item.path}: frame ${i + 1} (${'file' in source ? source.file : source.url})`;
      if (c.kind !== 'image' || !c.sendable) throw new Skip('skipped', 'unsupported_format', `${label}: frames must be JPEG, PNG or WebP images`, 'video');
      if ('file' in source) {
        const bytes = await statFile(source.file, label, 'video');
        const img = await probeImage(source.file, label).catch(rethrowAs('video'));
        facts.push({ bytes, width: img.width, height: img.height });
        digests.push(await fileDigest(source.file));
      } else digests.push(source.url);
      frames.push({ source, mime: c.format });
    }
    return { kind: 'video', media: { type: 'frames', frames }, facts: { frames: facts }, digest: digests.join(',') };
  }

  const source = m.source;
  const c = classifySource(source, item.row);
  const label = item.path;
  if (c.kind === 'unknown') {
    throw new Skip('skipped', 'unsupported_type', `${label}: ${c.ext ? `".${c.ext}" is not` : 'a name without an extension is not'} an image, audio, video or text file`, 'unknown');
  }
  if (!c.sendable) {
    throw new Skip('skipped', 'unsupported_format', `${label}: the API does not take .${c.ext} ${c.kind} as it is (convert it to a listed format)`, c.kind);
  }
  if ('url' in source) {
    const media: JobMedia =
      c.kind === 'image'
        ? { type: 'image', source, mime: c.format }
        : c.kind === 'audio'
          ? { type: 'audio', source, format: c.format ?? 'mp3' }
          : c.kind === 'video'
            ? { type: 'video_file', source }
            : (() => {
                throw new Skip('skipped', 'unsupported_type', `${label}: text is read from local files only, not from URLs`, 'text');
              })();
    return { kind: c.kind, media, facts: {}, digest: `url:${source.url}` };
  }

  const bytes = await statFile(source.file, label, c.kind);
  const facts: MediaFacts = { bytes };
  let media: JobMedia;
  if (c.kind === 'text') {
    media = { type: 'text_file', file: source.file };
  } else if (c.kind === 'image') {
    const img = await probeImage(source.file, label).catch(rethrowAs('image'));
    facts.width = img.width;
    facts.height = img.height;
    media = { type: 'image', source, mime: c.format };
  } else {
    const av = await probeAv(source.file, label).catch(rethrowAs(c.kind));
    if (av.durationSec !== undefined) facts.durationSec = av.durationSec;
    if (av.width !== undefined) facts.width = av.width;
    if (av.height !== undefined) facts.height = av.height;
    if (c.kind === 'audio' && !av.hasAudio) throw new Skip('failed', 'media_unreadable', `${label}: has no audio stream`, 'audio');
    if (c.kind === 'video' && !av.hasVideo) throw new Skip('failed', 'media_unreadable', `${label}: has no video stream`, 'video');
    media = c.kind === 'audio' ? { type: 'audio', source, format: c.format ?? c.ext } : { type: 'video_file', source };
  }
  return { kind: c.kind, media, facts, digest: await fileDigest(source.file) };
}

function rethrowAs(kind: MediaKind) {
  return (err: unknown): never => {
    if (err instanceof OmniError) throw new Skip('failed', err.code, err.message, kind);
    throw err;
  };
}

/** Plans one item. Throws only for run-level problems (ffprobe missing); item problems become rows. */
export async function planItem(item: Item, ctx: PlanContext): Promise<Planned> {
  const sourceIds = ctx.prompts.map((t) => t.source);
  const fallbackId = () => jobId([ctx.model, item.path, sourceIds, ctx.system?.source]);
  if (item.skip) {
    return { row: rowWithoutAnswer({ id: fallbackId(), path: item.path, kind: 'unknown', model: ctx.model }, 'skipped', item.skip.code, item.skip.message) };
  }
  let measured: Measured;
  try {
    measured = await measure(item);
  } catch (err) {
    if (!(err instanceof Skip)) throw err;
    return { row: rowWithoutAnswer({ id: fallbackId(), path: item.path, kind: err.kind, model: ctx.model }, err.status, err.code, err.message) };
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
    system = ctx.system ? render(ctx.system, values) : undefined;
  } catch (err) {
    if (!(err instanceof MissingVariableError)) throw err;
    return { row: rowWithoutAnswer({ id: fallbackId(), path: item.path, kind: measured.kind, model: ctx.model }, 'failed', 'template_error', `${item.path}: ${err.message}`) };
  }
  const id = jobId([ctx.model, system, prompts, measured.digest, measured.media?.type]);
  return { job: { id, path: item.path, kind: measured.kind, model: ctx.model, system, prompts, media: measured.media, facts: measured.facts } };
}
