/**
 * The media of a row as the review page shows it, and the only files the page may fetch: those the output names
 * (a row's file, a manifest row's source or frames, a spoken answer's WAV), resolved against the run's working
 * directory as the rest of omni-batch does. Image thumbnails are made here by sharp (at most THUMB_PX a side,
 * kept in memory), so a 6000x4000 photo never goes to the browser whole.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Row } from '../../shared/row.js';

export type MediaView =
  | { readonly type: 'image' | 'audio' | 'video'; readonly src: string }
  | { readonly type: 'frames'; readonly frames: readonly string[] }
  | { readonly type: 'text'; readonly src: string }
  | { readonly type: 'url'; readonly url: string }
  | { readonly type: 'none' };

const THUMB_PX = 360;
const THUMBS_KEPT = 2_000;
/** How much of a text input the card shows. */
const TEXT_SHOWN = 4_000;

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** What the card of a row shows, by the names the output gives its files. */
export function mediaOf(row: Row): MediaView {
  const manifestRow = row.source !== '';
  const name = manifestRow ? row.source : row.path;
  if (!manifestRow && /\.(csv|jsonl|ndjson|json)#\d+$/i.test(row.path)) return { type: 'none' };
  if (!name) return { type: 'none' };
  if (isUrl(name)) return { type: 'url', url: name };
  if (row.kind === 'video' && name.includes(';')) return { type: 'frames', frames: name.split(';').filter(Boolean) };
  if (row.kind === 'image' || row.kind === 'audio' || row.kind === 'video') return { type: row.kind, src: name };
  if (row.kind === 'text') return { type: 'text', src: name };
  return { type: 'none' };
}

/** Every file name a row gives (its media, its spoken answer), for the list of files the page may fetch. */
export function namesOf(row: Row): string[] {
  const m = mediaOf(row);
  const names = m.type === 'frames' ? [...m.frames] : 'src' in m ? [m.src] : [];
  if (row.audio_path) names.push(row.audio_path);
  return names;
}

/** Resolves the names an output gives to files, and makes the thumbnails of its images. */
export class MediaFiles {
  /** Absolute paths of every file the output names. */
  private allowed = new Set<string>();
  private readonly thumbs = new Map<string, Buffer>();

  constructor(private readonly cwd: string) {}

  /** The output was read again: these are now the names it gives. */
  reset(rows: Iterable<readonly string[]>): void {
    const allowed = new Set<string>();
    for (const names of rows) for (const n of names) allowed.add(this.resolve(n));
    this.allowed = allowed;
  }

  add(names: readonly string[]): void {
    for (const n of names) this.allowed.add(this.resolve(n));
  }

  private resolve(name: string): string {
    return path.resolve(this.cwd, name);
  }

  /** The file of `name` when the output names it (and it is a file), else undefined: the page gets a 404. */
  async file(name: string): Promise<string | undefined> {
    if (!name || isUrl(name) || name.includes('\0')) return undefined;
    const abs = this.resolve(name);
    if (!this.allowed.has(abs)) return undefined;
    return (await stat(abs).catch(() => undefined))?.isFile() ? abs : undefined;
  }

  /** A JPEG at most THUMB_PX a side (EXIF rotation applied), made once per file version. */
  async thumbnail(abs: string): Promise<Buffer> {
    const s = await stat(abs);
    const key = `${abs}\0${s.size}\0${s.mtimeMs}`;
    const kept = this.thumbs.get(key);
    if (kept) return kept;
    const { default: sharp } = await import('sharp');
    const jpeg = await sharp(abs, { failOn: 'none' }).rotate().resize(THUMB_PX, THUMB_PX, { fit: 'inside', withoutEnlargement: true }).flatten({ background: '#ffffff' }).jpeg({ quality: 78 }).toBuffer();
    if (this.thumbs.size >= THUMBS_KEPT) this.thumbs.delete(this.thumbs.keys().next().value as string);
    this.thumbs.set(key, jpeg);
    return jpeg;
  }

  /** The start of a text input, for its card. */
  async text(name: string): Promise<string> {
    const abs = await this.file(name);
    if (!abs) return '';
    const text = (await readFile(abs)).subarray(0, TEXT_SHOWN * 4).toString('utf8');
    return text.length > TEXT_SHOWN ? `${text.slice(0, TEXT_SHOWN)}...` : text;
  }
}
