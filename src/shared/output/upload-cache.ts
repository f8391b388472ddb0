/**
 * Where temporary uploads (oss://) are remembered, so a file is uploaded once per content hash and model and reused
 * while it lasts: across the files of a run, across reruns (a small JSON file beside the output,
 * `captions.csv.uploads.json`), and across BullMQ workers (a Redis hash under the run's keys, engine/bullmq).
 * Only the URL and when it was made are kept: never the upload policy, its signature or the API key.
 */
import { readFile, rename, writeFile } from 'node:fs/promises';

/** How long an uploaded file can be used (documented: 48 h, bound to the model and the account). */
export const UPLOAD_VALID_MS = 48 * 3600 * 1000;

export interface UploadRecord {
  /** `oss://<key>`. */
  readonly url: string;
  /** ms since the epoch, by the run's clock. */
  readonly uploadedAt: number;
}

export interface UploadCache {
  get(key: string): Promise<UploadRecord | undefined>;
  put(key: string, record: UploadRecord): Promise<void>;
}

/** `captions.csv` -> `captions.csv.uploads.json`, named after the whole output name like the other side files. */
export function uploadCachePathFor(out: string): string {
  return `${out}.uploads.json`;
}

/** The in-process engine's cache: a JSON object `{key: {url, uploadedAt}}`, rewritten whole (it is small) by rename. */
export class FileUploadCache implements UploadCache {
  private records: Map<string, UploadRecord> | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  async get(key: string): Promise<UploadRecord | undefined> {
    return (await this.load()).get(key);
  }

  async put(key: string, record: UploadRecord): Promise<void> {
    const records = await this.load();
    records.set(key, record);
    // Uploads that are gone by now are dropped, so the file never grows past what could still be used.
    for (const [k, r] of records) if (r.uploadedAt + UPLOAD_VALID_MS < record.uploadedAt) records.delete(k);
    const text = `${JSON.stringify(Object.fromEntries(records), null, 1)}\n`;
    // One write at a time, in order: the last put's view is the file's.
    this.writing = this.writing.then(async () => {
      const tmp = `${this.file}.tmp-${process.pid}`;
      await writeFile(tmp, text);
      await rename(tmp, this.file);
    });
    await this.writing;
  }

  private async load(): Promise<Map<string, UploadRecord>> {
    if (this.records) return this.records;
    let parsed: Record<string, UploadRecord> = {};
    try {
      parsed = JSON.parse(await readFile(this.file, 'utf8')) as Record<string, UploadRecord>;
    } catch {
      // Missing or unreadable: nothing is remembered, files are uploaded again (that costs time, not tokens).
    }
    this.records ??= new Map(Object.entries(parsed).filter(([, r]) => typeof r?.url === 'string' && typeof r.uploadedAt === 'number'));
    return this.records;
  }
}
