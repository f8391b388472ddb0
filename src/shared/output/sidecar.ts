/**
 * Sidecar captions, written after each run for every ok row of the output: the answer of each file next to it (`photos/a.jpg` -> `photos/a.txt`) or into a
 * mirror folder (`--sidecar-dir`), the layout dataset-training tools read.
 *
 * Ownership: every sidecar written is recorded with a hash of its content in a ledger beside the output
 * (`.<out>.sidecars.jsonl`, hidden so it is never an input). An existing file is replaced only when the ledger
 * says omni-batch wrote it and it is unchanged since, or with `overwrite`; `skipExisting` leaves every existing
 * file alone. Sidecars written next to inputs are never discovered as inputs (see `written`).
 *
 * Manifest rows get the sidecar of the file they name; URL rows only under `--sidecar-dir`. A sidecar is named
 * after its file's stem (`a.jpg` -> `a.txt`, what kohya-style trainers read); when several rows would share one, the
 * first by path (and row number) keeps the stem and the others are told apart by extension or row number
 * (`a.png.txt`, `a.row2.txt`), never one over the other, with a warning and a count in the summary (see `place`).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import pLimit from 'p-limit';
import { ConfigError, OutputError } from '../errors.js';
import { displayPath } from '../display-path.js';
import type { OutputFormat, RunConfig } from '../config.js';
import { unflatten, type Row } from '../row.js';
import { appendAll, ensureDir, ioReason, isDiskError } from './disk.js';
import { formatFor } from './format.js';

export const SIDECAR_FORMATS = ['txt', 'json'] as const;

export interface SidecarOptions {
  /** `txt`: the answer(s) as plain text (follow-up answers after a blank line); `json`: path, id, model, answers. */
  readonly format: (typeof SIDECAR_FORMATS)[number];
  /** Mirror folder (absolute); undefined: next to each file. */
  readonly dir: string | undefined;
  /** Leave every existing sidecar alone, even one omni-batch wrote. Default false. */
  readonly skipExisting: boolean;
  /** Replace existing sidecars omni-batch did not write. Default false. */
  readonly overwrite: boolean;
  /** Leave out (a skipped row, `already_captioned`) every file whose sidecar exists and was not written by omni-batch. Default false. */
  readonly skipCaptioned?: boolean;
  /** Text put before / after the answer in the sidecar only (trigger words); never in the output's answer. Default ''. */
  readonly prefix?: string | undefined;
  readonly suffix?: string | undefined;
}

/** The sidecar flags as the CLI parsed them. */
export interface SidecarFlags {
  sidecar?: SidecarOptions['format'] | undefined;
  sidecarDir?: string | undefined;
  sidecarSkipExisting?: boolean | undefined;
  overwrite?: boolean | undefined;
  skipCaptioned?: boolean | undefined;
  captionPrefix?: string | undefined;
  captionSuffix?: string | undefined;
}

/** The CLI flags -> options (commander checks --sidecar's choices; here, how they go together). Undefined without --sidecar. */
export function sidecarOptions(flags: SidecarFlags, cwd: string): SidecarOptions | undefined {
  if (flags.sidecar === undefined) {
    const named: [unknown, string][] = [
      [flags.sidecarDir, '--sidecar-dir'],
      [flags.sidecarSkipExisting, '--sidecar-skip-existing'],
      [flags.overwrite, '--overwrite'],
      [flags.skipCaptioned, '--skip-captioned'],
      [flags.captionPrefix, '--caption-prefix'],
      [flags.captionSuffix, '--caption-suffix'],
    ];
    const given = named.filter(([value]) => value !== undefined).map(([, flag]) => flag);
    if (given.length) throw new ConfigError(`${given.join(', ')}: ${given.length > 1 ? 'they need' : 'needs'} --sidecar txt|json (the sidecars they are about)`);
    return undefined;
  }
  if (flags.sidecarSkipExisting === true && flags.overwrite === true) throw new ConfigError('--sidecar-skip-existing and --overwrite: give one, not both');
  return {
    format: flags.sidecar,
    dir: flags.sidecarDir === undefined ? undefined : path.resolve(cwd, flags.sidecarDir),
    skipExisting: flags.sidecarSkipExisting === true,
    overwrite: flags.overwrite === true,
    skipCaptioned: flags.skipCaptioned === true,
    prefix: flags.captionPrefix,
    suffix: flags.captionSuffix,
  };
}

/** The job file's captionPrefix / captionSuffix, where the flags gave none. */
export function withCaptionText(opts: SidecarOptions, job: Pick<RunConfig, 'captionPrefix' | 'captionSuffix'>): SidecarOptions {
  return { ...opts, prefix: opts.prefix ?? job.captionPrefix, suffix: opts.suffix ?? job.captionSuffix };
}

/**
 * The sidecar writer of a run (undefined without --sidecar) and the configuration to run with: the sidecars it
 * writes are never inputs, and with --skip-captioned a file whose caption exists gets a skipped row instead.
 */
export function sidecarRun(opts: SidecarOptions | undefined, resolved: RunConfig): { sidecars: SidecarWriter | undefined; cfg: RunConfig } {
  if (!opts || resolved.dryRun) return { sidecars: undefined, cfg: resolved };
  const sidecars = new SidecarWriter(withCaptionText(opts, resolved), ledgerPathFor(resolved.out), resolved.cwd, resolved.inputs);
  const captioned = opts.skipCaptioned ? (file: string) => sidecars.captioned(file) : undefined;
  const { format, dir, skipExisting, overwrite, prefix, suffix } = opts;
  return { sidecars, cfg: { ...resolved, skip: sidecars.written, captioned, sidecars: { format, dir, skipExisting, overwrite, prefix, suffix } } };
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

/** Where one row's sidecar would go: the file, the source it is about, and the tag that tells it apart when shared. */
interface Place {
  readonly file: string;
  readonly source: string;
  readonly tag: string;
}

/** Orders the claimants of one place: by source path, then by row number (`row2` before `row10`). */
const claimKey = (at: Place) => `${at.source}\u0000${at.tag.replace(/\d+/, (d) => d.padStart(12, '0'))}`;

/** `.captions.csv.sidecars.jsonl` beside the output. */
export function ledgerPathFor(out: string): string {
  return path.join(path.dirname(out), `.${path.basename(out)}.sidecars.jsonl`);
}

export class SidecarWriter {
  /** Row paths (as discovery names them) of every sidecar this output owns: discovery skips them. */
  readonly written = new Set<string>();
  private readonly owned = new Map<string, string>();
  private readonly pending: Promise<void>[] = [];
  readonly counts = { written: 0, unchanged: 0, keptForeign: 0, keptExisting: 0, failed: 0, renamed: 0, none: new Map<string, number>() };
  /** The first sidecar that could not take its file's stem: for the summary's warning. */
  private firstRenamed: string | undefined;
  /** A few files at a time: an output of 200,000 rows must not open 200,000 files at once. */
  private readonly writes = pLimit(16);
  private firstError: string | undefined;
  /** The first failure that was the disk's, not one file's. */
  private diskError: string | undefined;

  constructor(
    private readonly opts: SidecarOptions,
    private readonly ledger: string,
    private readonly cwd: string,
    private readonly inputs: readonly string[],
  ) {
    let text = '';
    try {
      text = readFileSync(ledger, 'utf8');
    } catch {
      // No ledger yet: nothing owned.
    }
    for (const line of text.split('\n')) {
      try {
        const rec = JSON.parse(line) as { path?: unknown; sha256?: unknown };
        if (typeof rec.path === 'string' && typeof rec.sha256 === 'string') this.own(rec.path, rec.sha256);
      } catch {
        // A line a crash cut short.
      }
    }
  }

  private own(file: string, hash: string): void {
    this.owned.set(file, hash);
    this.written.add(displayPath(file, this.cwd));
  }

  /** The sidecar beside a local file that omni-batch did not write (a caption made by hand or by another tool), if any. */
  captioned(abs: string): string | undefined {
    const file = this.target(abs);
    return file !== abs && !this.owned.has(file) && existsSync(file) ? file : undefined;
  }

  /** Where the sidecar of a local file goes. */
  target(abs: string): string {
    const ext = `.${this.opts.format}`;
    const stem = (p: string) => p.slice(0, p.length - path.extname(p).length) + ext;
    if (!this.opts.dir) return stem(abs);
    const root = this.inputs.find((i) => {
      const rel = path.relative(i, abs);
      return rel && !rel.startsWith('..') && !path.isAbsolute(rel);
    });
    const rel = root ? path.relative(root, abs) : path.relative(this.cwd, abs).startsWith('..') ? path.basename(abs) : path.relative(this.cwd, abs);
    return path.join(this.opts.dir, stem(rel));
  }

  /**
   * One sidecar per `ok` row of the output, after the run: rows of earlier runs get theirs too, so adding
   * --sidecar to a finished run costs no request. Two passes over the output: the first finds the places several
   * rows would share (two manifest rows asking about one image, `a.jpg` and `a.png`, a text input `a.txt` whose
   * sidecar would be itself), the second writes, giving each of those its own name (see `place`). `only`: write
   * just the sidecars of these row paths (an answer edited on the review page), named as the whole output has them.
   */
  async fromOutput(out: string, format: OutputFormat, only?: ReadonlySet<string>): Promise<void> {
    // Per sidecar place: how many rows want it, and the one that keeps the stem ('' when none may: a text input
    // `a.txt` whose sidecar would be itself, so neither it nor `a.jpg` beside it takes `a.txt`).
    const claims = new Map<string, { n: number; first: string }>();
    for await (const rec of formatFor(format).read(out)) {
      const row = unflatten(rec);
      const at = row?.status === 'ok' ? this.place(row) : undefined;
      if (!at || !('file' in at)) continue;
      const key = claimKey(at);
      const c = claims.get(at.file);
      const first = at.file === at.source ? '' : c === undefined ? key : c.first === '' ? '' : key < c.first ? key : c.first;
      claims.set(at.file, { n: (c?.n ?? 0) + 1, first });
    }
    for await (const rec of formatFor(format).read(out)) {
      const row = unflatten(rec);
      if (row && (!only || only.has(row.path))) {
        this.row(row, (at) => {
          const c = claims.get(at.file);
          return c !== undefined && (c.n > 1 || c.first === '') && c.first !== claimKey(at);
        });
      }
    }
  }

  /**
   * Where the sidecar of an `ok` row goes, or why it gets none:
   * - a file: beside it (or mirrored under `dir`);
   * - a manifest row naming a local file: beside that file (or mirrored), as if the file had been an input;
   * - a manifest row naming a URL: under `dir` only, mirrored as `<dir>/<host>/<path>`; none without `dir`;
   * - a manifest row with a frame list or no media at all: none (there is no one file to put it beside).
   * `tag` tells rows apart that would share a place: a manifest row's number (`a.row3.txt`), a file's extension
   * (`a.jpg.txt` and `a.png.txt`).
   */
  private place(row: Row): Place | { none: string } {
    const manifestRow = /\.(csv|jsonl|ndjson|json)#(\d+)$/i.exec(row.path);
    if (!manifestRow) {
      const abs = path.resolve(this.cwd, row.path);
      return { file: this.target(abs), source: abs, tag: path.extname(abs).slice(1) || 'file' };
    }
    const tag = `row${manifestRow[2]}`;
    const src = row.source;
    if (!src) return { none: 'manifest rows without a file (text only)' };
    if (/^https?:\/\//i.test(src)) {
      if (!this.opts.dir) return { none: 'URL rows (--sidecar-dir mirrors them by host and path)' };
      return { file: path.join(this.opts.dir, this.urlPlace(src)), source: src, tag };
    }
    if (row.kind === 'video' && src.includes(';')) return { none: 'frame-list rows' };
    const abs = path.resolve(this.cwd, src);
    return { file: this.target(abs), source: abs, tag };
  }

  /** `https://cdn.example.com:8443/img/cat.jpg?v=2` -> `cdn.example.com_8443/img/cat.txt` (query left out). */
  private urlPlace(url: string): string {
    const u = new URL(url);
    const clean = (seg: string) => seg.replace(/[\\/:*?"<>|\0]/g, '_');
    const segs = u.pathname
      .split('/')
      .map((seg) => {
        try {
          return decodeURIComponent(seg);
        } catch {
          return seg;
        }
      })
      .filter((seg) => seg && seg !== '.' && seg !== '..')
      .map(clean);
    const last = segs.pop() ?? 'index';
    return path.join(clean(u.host), ...segs, `${last.slice(0, last.length - path.extname(last).length) || last}.${this.opts.format}`);
  }

  /** Writes the sidecar of one row (only `ok` rows get one); `isShared(at)`: another row keeps the stem of `at.file`. */
  row(row: Row, isShared: (at: Place) => boolean = () => false): void {
    if (row.status !== 'ok') return;
    const at = this.place(row);
    if ('none' in at) {
      this.counts.none.set(at.none, (this.counts.none.get(at.none) ?? 0) + 1);
      return;
    }
    const ext = `.${this.opts.format}`;
    const renamed = isShared(at);
    const file = renamed ? `${at.file.slice(0, at.file.length - ext.length)}.${at.tag}${ext}` : at.file;
    if (renamed && at.file !== at.source) {
      this.counts.renamed++;
      this.firstRenamed ??= `${displayPath(at.source, this.cwd)} -> ${displayPath(file, this.cwd)}`;
    }
    // Before the file exists, so that discovery, still running, never takes it for an input.
    this.written.add(displayPath(file, this.cwd));
    this.pending.push(this.writes(() => this.write(file, row)));
  }

  private async write(file: string, row: Row): Promise<void> {
    const { prefix = '', suffix = '' } = this.opts;
    const caption = (answer: string) => `${prefix}${answer}${suffix}`;
    const extra = prefix || suffix ? { caption: caption(row.answers[0] ?? '') } : {};
    const body =
      this.opts.format === 'txt'
        ? `${caption(row.answers.join('\n\n').trim())}\n`
        : `${JSON.stringify({ path: row.path, ...(row.source ? { source: row.source } : {}), id: row.id, model: row.model, answer: row.answers[0] ?? '', ...extra, answers: row.answers }, null, 2)}\n`;
    try {
      const existing = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
      if (existing === body) {
        this.counts.unchanged++;
        return;
      }
      if (existing !== undefined) {
        const ours = this.owned.get(file) === sha(existing);
        if (this.opts.skipExisting) {
          this.counts.keptExisting++;
          return;
        }
        if (!ours && !this.opts.overwrite) {
          this.counts.keptForeign++;
          return;
        }
      }
      await ensureDir(path.dirname(file));
      await writeFile(file, body);
      const hash = sha(body);
      this.owned.set(file, hash);
      this.record(file, hash);
      this.counts.written++;
    } catch (err) {
      this.counts.failed++;
      this.firstError ??= `${file}: ${ioReason(err)}`;
      if (isDiskError(err)) this.diskError ??= this.firstError;
    }
  }

  /** One whole ledger line, or none (a line a full disk cut would swallow the next one). */
  private record(file: string, hash: string): void {
    const fd = openSync(this.ledger, 'a');
    try {
      appendAll(fd, `${JSON.stringify({ path: file, sha256: hash })}\n`, fstatSync(fd).size);
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Waits for the writes; one line for the summary. OutputError (exit 4) when the disk refused one (full, over
   * quota, failing): the output is complete, the sidecars are not.
   */
  async finish(): Promise<string> {
    await Promise.all(this.pending);
    if (this.diskError) {
      throw new OutputError(`sidecars: cannot write ${this.diskError}; ${this.counts.written} written, ${this.counts.failed} not. The output is complete: free some space and rerun the same command to write the rest (nothing is sent again)`);
    }
    const c = this.counts;
    const parts = [`${c.written} written${this.opts.dir ? ` under ${this.opts.dir}` : ' next to the files'}`];
    if (c.unchanged) parts.push(`${c.unchanged} already up to date`);
    if (c.keptExisting) parts.push(`${c.keptExisting} existing left alone (--sidecar-skip-existing)`);
    if (c.keptForeign) parts.push(`${c.keptForeign} existing not written by omni-batch left alone (--overwrite replaces them)`);
    for (const [why, n] of c.none) parts.push(`${n} without one: ${why}`);
    if (c.renamed) parts.push(`warning: ${c.renamed} not named after the file's stem, which another row's sidecar takes (first: ${this.firstRenamed})`);
    if (c.failed) parts.push(`${c.failed} could not be written (first: ${this.firstError})`);
    return `  sidecars (.${this.opts.format}): ${parts.join(', ')}`;
  }
}
