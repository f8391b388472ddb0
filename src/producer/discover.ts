/** All items of a run, in order: scanned files first, then manifest rows; at most `maxFiles` of them (of `only`, when set). */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { RunConfig } from '../shared/config.js';
import { displayPath } from '../shared/display-path.js';
import { runFilePathFor } from '../shared/output/run-file.js';
import { uploadCachePathFor } from '../shared/output/upload-cache.js';
import type { Item } from './item.js';
import { classify } from './classify.js';
import { manifestItems } from './manifest.js';
import { scan } from './scan.js';
import { DigestSet } from '../shared/digest-set.js';

export async function* discover(cfg: RunConfig): AsyncGenerator<Item> {
  let n = 0;
  // Input order, counted over every item (a retry's `only` keeps the numbers of the run it retries).
  let index = 0;
  const limit = cfg.maxFiles ?? Infinity;
  if (limit <= 0) return;
  // Only a --skip-captioned run with sidecars beside the files looks for hand-made captions among its inputs.
  const captions = cfg.captioned && cfg.sidecars && !cfg.sidecars.dir ? new CaptionFiles(cfg, cfg.sidecars.format) : undefined;
  if (cfg.inputs.length) {
    for await (const item of scan({ inputs: cfg.inputs, include: cfg.include, exclude: cfg.exclude, caseSensitive: cfg.caseSensitive, never: [cfg.out, cfg.totalsPath, cfg.estimatePath, runFilePathFor(cfg.out), uploadCachePathFor(cfg.out)], cwd: cfg.cwd })) {
      index++;
      if ((cfg.only && !cfg.only.has(item.path)) || cfg.skip?.has(item.path)) continue;
      const numbered = { ...item, index };
      yield alreadyCaptioned(numbered, cfg) ?? (captions && (await captions.captionOf(numbered))) ?? numbered;
      if (++n >= limit) return;
    }
  }
  if (cfg.manifest) {
    for await (const item of manifestItems(cfg.manifest, cfg.cwd, cfg.manifestRoot)) {
      index++;
      if (cfg.only && !cfg.only.has(item.path)) continue;
      yield alreadyCaptioned({ ...item, index }, cfg) ?? { ...item, index };
      if (++n >= limit) return;
    }
  }
}

/**
 * --skip-captioned: a scanned file, or a manifest row naming a local file, whose caption is already beside the file
 * becomes a skipped row (nothing is sent).
 */
function alreadyCaptioned(item: Item, cfg: RunConfig): Item | undefined {
  const file = localFile(item);
  const caption = file === undefined ? undefined : cfg.captioned?.(file);
  if (caption === undefined) return undefined;
  return { ...item, media: undefined, skip: { code: 'already_captioned', message: `${item.path}: already captioned in ${displayPath(caption, cfg.cwd)} (--skip-captioned)` } };
}

/** The local file of a one-file item; undefined for URLs, frame lists and media lists. */
function localFile(item: Item): string | undefined {
  const source = item.media?.type === 'single' ? item.media.source : undefined;
  return source && 'file' in source ? source.file : undefined;
}

const MEDIA_KINDS = new Set(['image', 'audio', 'video']);

/**
 * --skip-captioned over a folder: a `photo.txt` (or `.json`, the sidecar format) beside a `photo.jpg` of the same
 * folder is that image's caption, not a text input: a skipped row (`is_caption`), nothing sent. Without this, a
 * folder walked without an include glob sent its hand-written captions as text and paid for them. Sidecars in
 * --sidecar-dir are not beside the files, so nothing is taken for one there. One folder's listing is kept at a time
 * (the walk yields a folder's files together).
 */
class CaptionFiles {
  private listing: { dir: string; media: Map<string, string> } | undefined;

  constructor(
    private readonly cfg: RunConfig,
    private readonly format: string,
  ) {}

  async captionOf(item: Item): Promise<Item | undefined> {
    const file = localFile(item);
    const ext = file === undefined ? '' : path.extname(file);
    if (file === undefined || ext.toLowerCase() !== `.${this.format}`) return undefined;
    const dir = path.dirname(file);
    const media = (await this.mediaIn(dir)).get(path.basename(file, ext));
    if (media === undefined) return undefined;
    const message = `${item.path}: the caption of ${displayPath(path.join(dir, media), this.cfg.cwd)} beside it, not an input (--skip-captioned)`;
    return { ...item, media: undefined, skip: { code: 'is_caption', message } };
  }

  /** The media files of a folder by stem (`photo` -> `photo.jpg`). */
  private async mediaIn(dir: string): Promise<Map<string, string>> {
    if (this.listing?.dir === dir) return this.listing.media;
    const media = new Map<string, string>();
    for (const name of await readdir(dir).catch(() => [])) {
      if (MEDIA_KINDS.has(classify(name).kind)) media.set(path.basename(name, path.extname(name)), name);
    }
    this.listing = { dir, media };
    return media;
  }
}

export interface EachOptions<T> {
  /** The same key twice is one item (overlapping inputs: a folder and its subfolder). */
  readonly key: (item: T) => string;
  /** At most this many tasks started and not finished: backpressure, so a 200,000-file tree is not all in memory. */
  readonly window: number;
  /** Checked before each item: true stops taking new ones (drain, a fatal error). */
  readonly stop: () => boolean;
  /** Called for each new item as it is taken, before it may wait for room in the window. */
  readonly onItem?: (item: T) => void;
  /** Called once no more items will be taken (all found, or stopped), while the last tasks may still run. */
  readonly onTaken?: () => void;
}

/**
 * The discovery loop both engines share: each new item is handed to `run` (which schedules it, p-limit or a batch
 * into the queue) with at most `window` unfinished at once. Whatever happens, it returns or throws only after every
 * started task has settled; `run`'s own failures are for `run` to catch.
 */
export async function eachDiscovered<T>(items: AsyncIterable<T>, opts: EachOptions<T>, run: (item: T) => Promise<void>): Promise<void> {
  // One member per file to the end of the run: digests, not path strings (see DigestSet).
  const seen = new DigestSet();
  const inflight = new Set<Promise<void>>();
  try {
    for await (const item of items) {
      if (opts.stop()) break;
      const key = opts.key(item);
      if (!seen.add(key)) continue;
      opts.onItem?.(item);
      while (inflight.size >= opts.window) await Promise.race(inflight);
      const p: Promise<void> = run(item).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    opts.onTaken?.();
  } finally {
    await Promise.allSettled(inflight);
  }
}

/**
 * The one line that says a pass found nothing: which inputs and globs matched no file, or that the manifest had no
 * row. An empty nightly pass is more often a moved folder or a mistyped glob than a quiet night.
 */
export function nothingFound(cfg: Pick<RunConfig, 'inputs' | 'include' | 'exclude' | 'manifest' | 'cwd'>): string {
  const shown = (p: string) => displayPath(p, cfg.cwd);
  const parts: string[] = [];
  if (cfg.inputs.length) {
    const globs = `include ${cfg.include.length ? cfg.include.join(' ') : 'every file'}; exclude ${cfg.exclude.length ? cfg.exclude.join(' ') : 'nothing'}`;
    parts.push(`${cfg.inputs.map(shown).join(', ')} matched no file (${globs})`);
  }
  if (cfg.manifest) parts.push(`the manifest ${shown(cfg.manifest)} has no row`);
  return `no input: ${parts.join(', and ')}; nothing was sent (check the paths and globs, or pass --allow-empty / allowEmpty: true when an empty pass is expected)`;
}
