/**
 * The temporary uploads (oss://) of a distributed run, shared by every worker: one Redis hash under the run's keys
 * (`{omni-batch}:run:<id>:uploads`), field = content hash and model, value = `{url, uploadedAt}`. A file one worker
 * uploaded is reused by the others while it lasts (48 h); the signed upload fields and the key never reach Redis.
 * The hash expires with the validity of its newest upload, so it never outlives what it could still be used for.
 */
import { UPLOAD_VALID_MS, type UploadCache, type UploadRecord } from '../../shared/output/upload-cache.js';
import type { RedisClient } from './connection.js';
import { runKeys } from './keys.js';

export class RedisUploadCache implements UploadCache {
  private readonly key: string;

  constructor(
    private readonly redis: RedisClient,
    runId: string,
  ) {
    this.key = runKeys(runId).uploads;
  }

  async get(field: string): Promise<UploadRecord | undefined> {
    const raw = await this.redis.hget(this.key, field);
    if (raw === null) return undefined;
    try {
      const r = JSON.parse(raw) as UploadRecord;
      return typeof r.url === 'string' && typeof r.uploadedAt === 'number' ? r : undefined;
    } catch {
      return undefined;
    }
  }

  async put(field: string, record: UploadRecord): Promise<void> {
    await this.redis.hset(this.key, field, JSON.stringify({ url: record.url, uploadedAt: record.uploadedAt }));
    await this.redis.pexpire(this.key, UPLOAD_VALID_MS);
  }
}
