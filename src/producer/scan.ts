/**
 * Walks the inputs folder by folder with fs.opendir, taking entries only as fast as the run takes files: the tree
 * is never held in memory (fast-glob's stream reads every folder ahead of its reader and buffered a 200,000-file
 * tree whole; fast-glob still splits glob inputs and recognises patterns).
 *
 * Rules: hidden files and folders are never inputs; the run's own output files are never inputs; a symlink is
 * followed only when its target stays inside the input root, and one that escapes the root, dangles or loops
 * becomes an item with a `skip` reason, so it still gets its row; so does a file whose name is not UTF-8.
 */
import { isUtf8 } from 'node:buffer';
import { existsSync } from 'node:fs';
import type { Dirent } from 'node:fs';
import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import picomatch from 'picomatch';
import { ConfigError } from '../shared/errors.js';
import { displayPath } from '../shared/display-path.js';
import { fileVars, type Item } from './item.js';
import { DigestSet } from '../shared/digest-set.js';
import { lazy } from '../shared/lazy.js';

const fastGlob = lazy<typeof import('fast-glob')>('fast-glob');
/** fast-glob's own test, loaded only when an input may be a pattern (it has one of the characters that test looks for). */
const isDynamicPattern = (p: string) => /[*?[\]{}()!@+\\]/.test(p) && fastGlob().isDynamicPattern(p);

export interface ScanOptions {
  /** Absolute folders, files or globs. */
  readonly inputs: readonly string[];
  /** Globs relative to each input root a file must match (empty: every file). */
  readonly include: readonly string[];
  /** Globs relative to each input root that remove files. */
  readonly exclude: readonly string[];
  /** Globs match case-sensitively; default false: `*.jpg` matches `IMG_0001.JPG` (cameras write upper case). */
  readonly caseSensitive?: boolean;
  /** Absolute paths never to yield (the run's output and totals files). */
  readonly never: readonly string[];
  readonly cwd: string;
}

interface Root {
  /** Absolute folder the walk starts from. */
  dir: string;
  /** Pattern relative to `dir` (from a glob input), or undefined for a plain folder. */
  pattern: string | undefined;
}

/**
 * Splits `/data/photos/**\/*.jpg` into the folder `/data/photos` and the pattern `**\/*.jpg`. A path that exists
 * as it is written is taken literally, so a folder named `Photos [2020]` is a folder, not a pattern.
 */
export function splitGlob(input: string): Root {
  const posix = input.split(path.sep).join('/');
  if (!isDynamicPattern(posix) || existsSync(input)) return { dir: input, pattern: undefined };
  const parts = posix.split('/');
  const staticParts: string[] = [];
  while (parts.length && (parts[0] === '' || !isDynamicPattern(parts[0] ?? ''))) staticParts.push(parts.shift() ?? '');
  return { dir: staticParts.join('/') || '/', pattern: parts.join('/') };
}

/** True when `child` is `parent` or below it (by name; resolve symlinks first to compare where they lead). */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/** Yields one item per discovered file, in walk order, input by input. */
export async function* scan(opts: ScanOptions): AsyncGenerator<Item> {
  const never = new Set<string>();
  for (const p of opts.never) {
    never.add(path.resolve(p));
    never.add(await realpath(p).catch(() => path.resolve(p)));
  }
  for (const input of opts.inputs) {
    const root = splitGlob(input);
    const st = await stat(root.dir).catch((err: NodeJS.ErrnoException) => err);
    if (st instanceof Error) throw new ConfigError(`--input ${input}: ${st.code === 'ENOENT' ? 'no such file or folder' : st.message}`);
    if (st.isFile() && root.pattern === undefined) {
      if (!never.has(path.resolve(root.dir))) {
        yield { path: displayPath(root.dir, opts.cwd), file: fileVars(path.basename(root.dir)), media: { type: 'single', source: { file: root.dir } }, row: undefined };
      }
      continue;
    }
    if (!st.isDirectory()) throw new ConfigError(`--input ${input}: not a file or folder`);
    const rootReal = await realpath(root.dir);
    const patterns = [...opts.include];
    const glob = { dot: false, nocase: opts.caseSensitive !== true };
    const matchers = [root.pattern ? picomatch(root.pattern, glob) : undefined, patterns.length ? picomatch(patterns, glob) : undefined].filter((m): m is picomatch.Matcher => m !== undefined);
    const excluded = opts.exclude.length ? picomatch([...opts.exclude], glob) : undefined;
    const wanted = (rel: string) => matchers.every((m) => m(rel)) && !(excluded?.(rel) ?? false);
    // `X/**` removes everything under a folder matching X: such a folder is not read at all.
    const whole = opts.exclude.filter((g) => g.endsWith('/**')).map((g) => g.slice(0, -3));
    const pruned = whole.length ? picomatch(whole, glob) : undefined;
    yield* walk(root.dir, '', new Set([rootReal]), { rootReal, wanted, pruned, never, opts, seen: new DigestSet() });
  }
}

/** What one input's walk shares across the folders (and linked folders) it visits. */
interface WalkState {
  readonly rootReal: string;
  readonly wanted: (rel: string) => boolean;
  /** Folders whose whole content an exclude pattern removes (`X/**`): not even read. */
  readonly pruned: ((rel: string) => boolean) | undefined;
  readonly never: Set<string>;
  readonly opts: ScanOptions;
  /** Real path of every file yielded so far: a file reached twice (through a link) is one file. */
  readonly seen: DigestSet;
}

/** A yielded file, or a `skipped` row when the same real file was already yielded under another name. */
function fileItem(abs: string, real: string, rel: string, w: WalkState): Item {
  const item: Item = { path: displayPath(abs, w.opts.cwd), file: fileVars(rel), media: { type: 'single', source: { file: abs } }, row: undefined };
  if (!w.seen.add(real)) return { ...item, media: undefined, skip: { code: 'duplicate', message: `${item.path}: the same file as ${real}, which has its row under another path (through a symlink)` } };
  return item;
}

function hasHiddenSegment(rel: string): boolean {
  return rel.split(path.sep).some((seg) => seg.startsWith('.') && seg !== '.' && seg !== '..');
}

async function* walk(dir: string, prefix: string, ancestors: Set<string>, w: WalkState): AsyncGenerator<Item> {
  const dirReal = await realpath(dir);
  for await (const entry of entries(dir, '', prefix ? undefined : w.pruned)) {
    const rel = prefix ? `${prefix}/${entry.path}` : entry.path;
    const abs = path.join(dir, entry.path);
    const kind = await kindOf(entry.dirent, entry.raw ? Buffer.concat([Buffer.from(dir + path.sep), entry.raw]) : abs);
    if (entry.raw) {
      if (kind !== 'other' && w.wanted(rel)) yield notUtf8Item(abs, rel, w);
      continue;
    }
    if (kind === 'symlink') {
      yield* followLink(abs, rel, ancestors, w);
      continue;
    }
    if (kind !== 'file' || !w.wanted(rel) || w.never.has(abs)) continue;
    yield fileItem(abs, path.join(dirReal, entry.path), rel, w);
  }
}

/**
 * A file whose name (or a folder's above it) is not UTF-8: a `skipped` row naming it with the bad bytes escaped.
 * Not read: its name cannot be written into a row as it is, so the row could not be matched to it again (resume,
 * retry, sidecars), and ffmpeg takes its arguments as UTF-8 text.
 */
function notUtf8Item(abs: string, rel: string, w: WalkState): Item {
  const shown = displayPath(abs, w.opts.cwd);
  const message = `${shown}: the name is not valid UTF-8 (the bad bytes are shown as \\xHH), so it cannot be written into a row as it is; rename it to UTF-8 (e.g. convmv -f latin1 -t utf8 --notest) and run again`;
  return { path: shown, file: fileVars(rel), media: undefined, row: undefined, skip: { code: 'name_not_utf8', message } };
}

const SLASH = Buffer.from('/');

/** A name's bytes as text: valid UTF-8 sequences as they are, every other byte as `\xHH` (and `\` as `\\`). */
export function escapeName(bytes: Buffer): string {
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i] ?? 0;
    const len = lead < 0x80 ? 1 : lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    if (len && i + len <= bytes.length && isUtf8(bytes.subarray(i, i + len))) {
      const text = bytes.subarray(i, i + len).toString('utf8');
      out += text === '\\' ? '\\\\' : text;
      i += len;
    } else {
      out += `\\x${lead.toString(16).padStart(2, '0')}`;
      i++;
    }
  }
  return out;
}

interface Entry {
  /** Relative to the walk's folder, with `/`; a name that is not UTF-8 escaped (see escapeName). */
  readonly path: string;
  readonly dirent: Dirent;
  /** The relative path as bytes when it is not UTF-8 (the entry's name or a folder's above it); else undefined. */
  readonly raw: Buffer | undefined;
}

/**
 * The visible entries under `dir` (relative paths with `/`), depth first; folders themselves are not yielded.
 * One folder is open at a time and read in small chunks as entries are taken, so memory holds one chunk plus
 * the names of the subfolders still to visit. An unreadable folder is left out, as fast-glob's suppressErrors did.
 * Names are read as bytes: one that is not UTF-8 would otherwise become U+FFFD, a name no file has.
 */
async function* entries(dir: string, rel: string, pruned: ((rel: string) => boolean) | undefined, rawRel?: Buffer): AsyncGenerator<Entry> {
  const where = rawRel ? Buffer.concat([Buffer.from(dir + path.sep), rawRel]) : rel ? path.join(dir, rel) : dir;
  // 'buffer' is a valid encoding for folder listings; the types only name the text ones.
  const handle = await opendir(where, { bufferSize: 64, encoding: 'buffer' as BufferEncoding }).catch(() => undefined);
  if (!handle) return;
  const subfolders: { rel: string; raw: Buffer | undefined }[] = [];
  for await (const dirent of handle) {
    const bytes = dirent.name as unknown as Buffer;
    if (bytes[0] === 0x2e) continue; // hidden files and folders are never inputs
    const name = isUtf8(bytes) ? bytes.toString('utf8') : escapeName(bytes);
    const p = rel ? `${rel}/${name}` : name;
    const raw = rawRel || !isUtf8(bytes) ? Buffer.concat([rawRel ?? Buffer.from(rel), ...(rel ? [SLASH] : []), bytes]) : undefined;
    if (dirent.isDirectory()) {
      if (!pruned?.(p)) subfolders.push({ rel: p, raw });
    } else yield { path: p, dirent, raw };
  }
  for (const sub of subfolders) yield* entries(dir, sub.rel, pruned, sub.raw);
}

/** What an entry is; file systems that do not say in the folder listing (DT_UNKNOWN) are asked with lstat. */
async function kindOf(dirent: Dirent, abs: string | Buffer): Promise<'file' | 'symlink' | 'other'> {
  if (dirent.isFile()) return 'file';
  if (dirent.isSymbolicLink()) return 'symlink';
  if (dirent.isBlockDevice() || dirent.isCharacterDevice() || dirent.isFIFO() || dirent.isSocket() || dirent.isDirectory()) return 'other';
  const st = await lstat(abs).catch(() => undefined);
  return st?.isFile() ? 'file' : st?.isSymbolicLink() ? 'symlink' : 'other';
}

async function* followLink(abs: string, rel: string, ancestors: Set<string>, w: WalkState): AsyncGenerator<Item> {
  const base = { path: displayPath(abs, w.opts.cwd), file: fileVars(rel), media: undefined, row: undefined };
  let target: string;
  try {
    target = await realpath(abs);
  } catch (err) {
    if (!w.wanted(rel)) return;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ELOOP' ? 'the symlink loops' : code === 'ENOENT' ? 'the symlink points to a missing file' : `the symlink cannot be resolved (${code})`;
    yield { ...base, skip: { code: 'symlink_broken', message: `${base.path}: ${why}` } };
    return;
  }
  const st = await stat(target).catch(() => undefined);
  const inside = isInside(target, w.rootReal);
  // Hidden files are never inputs, also not under a visible name.
  const hidden = inside && hasHiddenSegment(path.relative(w.rootReal, target));
  if (st?.isDirectory()) {
    if (!inside) {
      yield { ...base, skip: { code: 'symlink_escapes_root', message: `${base.path}: links to the folder ${target}, outside the input root ${w.rootReal}` } };
      return;
    }
    if (hidden) {
      yield { ...base, skip: { code: 'symlink_hidden', message: `${base.path}: links to the hidden folder ${target}` } };
      return;
    }
    // A link back to a folder we are already inside would walk forever.
    const parentReal = await realpath(path.dirname(abs));
    if (ancestors.has(target) || isInside(parentReal, target)) {
      yield { ...base, skip: { code: 'symlink_broken', message: `${base.path}: the symlink loops back to ${target}` } };
      return;
    }
    yield* walk(abs, rel, new Set([...ancestors, target]), w);
    return;
  }
  if (!w.wanted(rel) || w.never.has(target) || w.never.has(abs)) return;
  if (!inside) {
    yield { ...base, skip: { code: 'symlink_escapes_root', message: `${base.path}: links to ${target}, outside the input root ${w.rootReal}` } };
    return;
  }
  if (hidden) {
    yield { ...base, skip: { code: 'symlink_hidden', message: `${base.path}: links to the hidden file ${target}` } };
    return;
  }
  yield fileItem(abs, target, rel, w);
}

/** Fails fast, before any API call, when an input folder or file does not exist. */
export async function checkInputs(inputs: readonly string[]): Promise<void> {
  for (const input of inputs) {
    const { dir } = splitGlob(input);
    const st = await stat(dir).catch((err: NodeJS.ErrnoException) => err);
    if (st instanceof Error) throw new ConfigError(`--input ${input}: ${st.code === 'ENOENT' ? 'no such file or folder' : st.message}`);
  }
}
