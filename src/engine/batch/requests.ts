/**
 * Request files: the JSONL lines of a batch run, with what each row needs beside them (`.meta.jsonl`). A file is
 * closed at 50,000 lines or 500 MB and the next one begun (one model per file: a run has one model). A line over
 * 6 MB is refused before any upload, with a row saying why.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import type { BatchRequest } from '../../worker/batch-request.js';
import { BATCH_LIMITS } from '../../shared/batch.js';
import { batchDirFor, metaFileOf, requestFileOf, type BatchEntry } from './state.js';

interface Open {
  readonly entry: BatchEntry;
  readonly requests: FileHandle;
  readonly meta: FileHandle;
}

/** Why a request cannot go into a batch file, or undefined when it can. */
export function lineTooLarge(bytes: number): string | undefined {
  if (bytes <= BATCH_LIMITS.bytesPerLine) return undefined;
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `the batch request is ${mb(bytes)}, over Batch's ${mb(BATCH_LIMITS.bytesPerLine)} per line (media travels inside the line as base64): give the media as a URL (a manifest url column), or run it with --engine in-process`;
}

export class RequestFiles {
  private current: Open | undefined;
  private readonly sealed: BatchEntry[] = [];
  /** Lines are written one after another even when jobs finish preparing at once. */
  private chain: Promise<void> = Promise.resolve();

  /** `limits`: Batch's own (BATCH_LIMITS) unless a test asks for smaller files. */
  constructor(
    private readonly out: string,
    private nextN: number,
    private readonly limits: { readonly linesPerFile: number; readonly bytesPerFile: number } = BATCH_LIMITS,
  ) {}

  /** Appends one request; `undefined` when it went in, the reason when it is too large for any batch file. */
  add(request: BatchRequest): string | undefined {
    const line = `${JSON.stringify(request.line)}\n`;
    const bytes = Buffer.byteLength(line);
    const refused = lineTooLarge(bytes);
    if (refused) return refused;
    const meta = `${JSON.stringify(request.meta)}\n`;
    this.chain = this.chain.then(() => this.write(line, bytes, meta));
    return undefined;
  }

  private async write(line: string, bytes: number, meta: string): Promise<void> {
    const e = this.current?.entry;
    if (e && (e.lines >= this.limits.linesPerFile || e.bytes + bytes > this.limits.bytesPerFile)) await this.close();
    const cur = this.current ?? (await this.begin());
    await cur.requests.write(line);
    await cur.meta.write(meta);
    cur.entry.lines++;
    cur.entry.bytes += bytes;
  }

  private async begin(): Promise<Open> {
    await mkdir(batchDirFor(this.out), { recursive: true });
    const n = this.nextN++;
    const requests = await open(requestFileOf(this.out, n), 'w');
    const meta = await open(metaFileOf(this.out, n), 'w');
    this.current = { entry: { n, lines: 0, bytes: 0 }, requests, meta };
    return this.current;
  }

  private async close(): Promise<void> {
    const cur = this.current;
    if (!cur) return;
    this.current = undefined;
    await cur.requests.close();
    await cur.meta.close();
    this.sealed.push(cur.entry);
  }

  /** Closes the last file: the entries of every file written, in order. */
  async seal(): Promise<BatchEntry[]> {
    await this.chain;
    await this.close();
    return this.sealed;
  }
}
