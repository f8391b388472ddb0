/**
 * Walks the inputs with fast-glob as a stream (the tree is never held in memory at once).
 *
 * Rules: hidden files and folders are never inputs; the run's own output files are never inputs; a symlink is
 * followed only when its target stays inside the input root, and one that escapes the root, dangles or loops
 * becomes an item with a `skip` reason, so it still gets its row.
 */
import { realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import fg from 'fast-glob';
import picomatch from 'picomatch';
import { ConfigError } from '../shared/errors.js';
import { displayPath, fileVars, type Item } from './item.js';

export interface ScanOptions {
  /** Absolute folders, files or globs. */
  readonly inputs: readonly string[];
  /** Globs relative to each input root a file must match (empty: every file). */
  readonly include: readonly string[];
  /** Globs relative to each input root that remove files. */
  readonly exclude: readonly string[];
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

/** Splits `/data/photos/**\/*.jpg` into the folder `/data/photos` and the pattern `**\/*.jpg`. */
export function splitGlob(input: string): Root {
  const posix = input.split(path.sep).join('/');
  if (!fg.isDynamicPattern(posix)) return { dir: input, pattern: undefined };
  const parts = posix.split('/');
  const staticParts: string[] = [];
  while (parts.length && (parts[0] === '' || !fg.isDynamicPattern(parts[0] ?? ''))) staticParts.push(parts.shift() ?? '');
  return { dir: staticParts.join('/') || '/', pattern: parts.join('/') };
}

function isInside(child: string, parent: string): boolean {
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
    const matchers = [root.pattern ? picomatch(root.pattern, { dot: false }) : undefined, patterns.length ? picomatch(patterns, { dot: false }) : undefined].filter(
      (m): m is picomatch.Matcher => m !== undefined,
    );
    const excluded = opts.exclude.length ? picomatch([...opts.exclude], { dot: false }) : undefined;
    const wanted = (rel: string) => matchers.every((m) => m(rel)) && !(excluded?.(rel) ?? false);
    yield* walk(root.dir, '', rootReal, new Set([rootReal]), wanted, never, opts);
  }
}

async function* walk(
  dir: string,
  prefix: string,
  rootReal: string,
  ancestors: Set<string>,
  wanted: (rel: string) => boolean,
  never: Set<string>,
  opts: ScanOptions,
): AsyncGenerator<Item> {
  const stream = fg.stream('**', {
    cwd: dir,
    dot: false,
    onlyFiles: false,
    followSymbolicLinks: false,
    objectMode: true,
    ignore: opts.exclude.length && !prefix ? [...opts.exclude] : [],
    suppressErrors: true,
  });
  for await (const raw of stream) {
    const entry = raw as unknown as fg.Entry;
    const rel = prefix ? `${prefix}/${entry.path}` : entry.path;
    const abs = path.join(dir, entry.path);
    const dirent = entry.dirent;
    if (dirent.isDirectory()) continue;
    if (dirent.isSymbolicLink()) {
      yield* followLink(abs, rel, rootReal, ancestors, wanted, never, opts);
      continue;
    }
    if (!dirent.isFile() || !wanted(rel) || never.has(abs)) continue;
    yield { path: displayPath(abs, opts.cwd), file: fileVars(rel), media: { type: 'single', source: { file: abs } }, row: undefined };
  }
}

async function* followLink(
  abs: string,
  rel: string,
  rootReal: string,
  ancestors: Set<string>,
  wanted: (rel: string) => boolean,
  never: Set<string>,
  opts: ScanOptions,
): AsyncGenerator<Item> {
  const base = { path: displayPath(abs, opts.cwd), file: fileVars(rel), media: undefined, row: undefined };
  let target: string;
  try {
    target = await realpath(abs);
  } catch (err) {
    if (!wanted(rel)) return;
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ELOOP' ? 'the symlink loops' : code === 'ENOENT' ? 'the symlink points to a missing file' : `the symlink cannot be resolved (${code})`;
    yield { ...base, skip: { code: 'symlink_broken', message: `${base.path}: ${why}` } };
    return;
  }
  const st = await stat(target).catch(() => undefined);
  if (st?.isDirectory()) {
    if (!isInside(target, rootReal)) {
      yield { ...base, skip: { code: 'symlink_escapes_root', message: `${base.path}: links to the folder ${target}, outside the input root ${rootReal}` } };
      return;
    }
    // A link back to a folder we are already inside would walk forever.
    const parentReal = await realpath(path.dirname(abs));
    if (ancestors.has(target) || isInside(parentReal, target)) {
      yield { ...base, skip: { code: 'symlink_broken', message: `${base.path}: the symlink loops back to ${target}` } };
      return;
    }
    yield* walk(abs, rel, rootReal, new Set([...ancestors, target]), wanted, never, opts);
    return;
  }
  if (!wanted(rel) || never.has(target) || never.has(abs)) return;
  if (!isInside(target, rootReal)) {
    yield { ...base, skip: { code: 'symlink_escapes_root', message: `${base.path}: links to ${target}, outside the input root ${rootReal}` } };
    return;
  }
  yield { ...base, media: { type: 'single', source: { file: abs } } };
}

/** Fails fast, before any API call, when an input folder or file does not exist. */
export async function checkInputs(inputs: readonly string[]): Promise<void> {
  for (const input of inputs) {
    const { dir } = splitGlob(input);
    const st = await stat(dir).catch((err: NodeJS.ErrnoException) => err);
    if (st instanceof Error) throw new ConfigError(`--input ${input}: ${st.code === 'ENOENT' ? 'no such file or folder' : st.message}`);
  }
}
