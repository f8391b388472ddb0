/** What discovery hands to planning: one item per future row. */
import path from 'node:path';
import type { ErrorCode } from '../shared/errors.js';

/** Where media bytes come from: a local file (absolute path) or a URL passed through untouched. */
export type Source = { readonly file: string } | { readonly url: string };

export type ItemMedia =
  /** One file or URL; its kind is decided by classification. */
  | { readonly type: 'single'; readonly source: Source }
  /** A frame list sent as one `video` part. */
  | { readonly type: 'frames'; readonly frames: readonly Source[] }
  /** Several files or URLs in one user message (a manifest's `media` column), each classified by itself. */
  | { readonly type: 'mixed'; readonly parts: readonly Source[] };

/** Values of the {{file.*}} template variables. */
export interface FileVars {
  readonly name: string;
  readonly relPath: string;
  readonly dir: string;
  readonly ext: string;
}

export interface Item {
  /** The row's `path`: relative to the working directory, a URL, or `manifest#row` for rows without one file. */
  readonly path: string;
  /** For a manifest row: the file, URL or frame list it names, as the row's `source` column shows it. */
  readonly source?: string;
  readonly file: FileVars;
  /** Undefined for a text-only manifest row. */
  readonly media: ItemMedia | undefined;
  /** Manifest columns for {{row.*}}; undefined for scanned files. */
  readonly row: Readonly<Record<string, string>> | undefined;
  /**
   * Manifest cells too long for any model's input window, by column, with their length in characters: they are
   * not kept in `row` (their value there is empty); a prompt that uses one gets a `too_large` row.
   */
  readonly oversized?: Readonly<Record<string, number>>;
  /** Discovery already decided this item gets a `skipped` row (a broken or escaping symlink). */
  readonly skip?: { readonly code: ErrorCode; readonly message: string };
}

export function fileVars(relPath: string): FileVars {
  const posix = relPath.split(path.sep).join('/');
  const slash = posix.lastIndexOf('/');
  const name = posix.slice(slash + 1);
  const dot = name.lastIndexOf('.');
  return { name, relPath: posix, dir: slash >= 0 ? posix.slice(0, slash) : '', ext: dot > 0 ? name.slice(dot + 1) : '' };
}

export function urlFileVars(url: string): FileVars {
  let pathname = url;
  try {
    pathname = decodeURIComponent(new URL(url).pathname);
  } catch {
    // keep the raw text
  }
  return fileVars(pathname.replace(/^\/+/, ''));
}

export const NO_FILE: FileVars = { name: '', relPath: '', dir: '', ext: '' };
