/**
 * `omni-batch retry OUTPUT [--codes a,b]`: re-runs only the `failed` rows of an output (optionally only some error
 * codes) with the settings recorded in `<out>.run.json`, replacing those rows in place and keeping every other row.
 * It is the normal pipeline with discovery restricted to the failed paths; resume leaves the ok rows alone.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { ConfigError, EXIT, type ErrorCode } from '../shared/errors.js';
import type { EngineName, OutputFormat } from '../shared/config.js';
import { ResultFile } from '../shared/output/result-file.js';
import { readRunRecord } from '../shared/output/run-file.js';
import { adoptFixedRows } from '../engine/bullmq/collect.js';
import { connectRedis } from '../engine/bullmq/connection.js';
import { runIdFor } from '../engine/bullmq/keys.js';
import { RunResults } from '../engine/bullmq/results.js';
import { followRun } from './distributed.js';
import { redisUrl } from './redis-url.js';
import { runResolved, type Io } from './run.js';

export interface RetryFlags {
  /** Only rows failed with these codes (commander checks them); default: every failed row. */
  codes?: ReadonlySet<ErrorCode>;
  /** Requests in flight at once; default: as the run had it. */
  concurrency?: number;
  /** Retry through the queue of the distributed run that made the output; default: in this process. */
  redis?: string;
  /** The engine of an in-process retry (a batch run's failures may be retried in-process, and back); default: as the run had it. */
  engine?: EngineName;
}

export async function retryOutput(output: string, flags: RetryFlags, io: Io): Promise<number> {
  const codes: ReadonlySet<string> | undefined = flags.codes;
  const out = path.resolve(io.cwd, output);
  const { config: saved, origin } = await readRunRecord(out);
  if (path.resolve(saved.out) !== out) {
    throw new ConfigError(`${output}: its run settings name another output (${saved.out}); rerun the original command instead`);
  }
  // The newest row of a path wins, as when the file is compacted (a run that crashed leaves both; a line it cut
  // short is not read).
  const latest = new Map<string, { id: string; status: string; code: string; reviewed: boolean }>();
  for await (const row of ResultFile.readRows(out, saved.format)) latest.set(row.path, { id: row.id, status: row.status, code: row.error_code, reviewed: row.reviewed === true });
  const failed = new Set<string>();
  const byCode = new Map<string, number>();
  for (const [p, row] of latest) {
    // A row a person reviewed is never asked again (the review page makes it ok; a hand edit might not).
    if (row.status !== 'failed' || row.reviewed || (codes && !codes.has(row.code))) continue;
    failed.add(p);
    byCode.set(row.code, (byCode.get(row.code) ?? 0) + 1);
  }
  if (failed.size === 0) {
    io.out(`omni-batch: nothing to retry in ${output}: no failed rows${codes ? ` with ${[...codes].join(', ')}` : ''}`);
    return EXIT.ok;
  }
  io.err(`omni-batch: retrying ${failed.size} failed rows of ${output} (${[...byCode].map(([c, n]) => `${c} ${n}`).join(', ')}); every other row is kept`);
  if (flags.redis !== undefined) {
    if (flags.concurrency !== undefined) throw new ConfigError('--concurrency: with --redis the workers set their own (omni-batch worker --concurrency N)');
    const url = redisUrl(flags.redis, io.env);
    const runId = origin.runId ?? runIdFor(saved);
    await checkSameRun(url, runId, latest, output, saved.format);
    return followRun({ ...saved, only: failed }, runId, url, io);
  }
  // A number given here replaces the run's --concurrency auto as well.
  const concurrency = flags.concurrency === undefined ? {} : { concurrency: flags.concurrency, autoConcurrency: false };
  return runResolved({ ...saved, ...concurrency, engine: flags.engine ?? saved.engine ?? 'in-process', only: failed }, io);
}

/**
 * Collecting after a retry through the queue writes the run's rows from Redis over the output. Rows an in-process
 * retry fixed since the last collect are first saved to Redis (adoptFixedRows); refused when Redis still does not
 * hold the same rows (same paths, job ids and statuses: the run was removed, or the output comes from elsewhere).
 */
async function checkSameRun(url: string, runId: string, inOutput: ReadonlyMap<string, { id: string; status: string }>, output: string, format: OutputFormat): Promise<void> {
  const redis = await connectRedis(url);
  try {
    const results = new RunResults(redis, runId);
    const meta = await results.meta();
    if (!meta.createdAt) throw new ConfigError(`${output}: its run ${runId} is not in this Redis; retry in this process instead (leave out --redis)`);
    await adoptFixedRows(results, output, format);
    const mine = new RowSetDigest();
    for (const [p, r] of inOutput) mine.add(p, r.id, r.status);
    const theirs = new RowSetDigest();
    for await (const row of results.scan()) theirs.add(row.path, row.id, row.status);
    if (!mine.equals(theirs)) {
      throw new ConfigError(
        `${output} (${mine.said()}) differs from its run ${runId} in Redis (${theirs.said()}): collecting would replace rows of the output; retry in this process instead (leave out --redis)`,
      );
    }
  } finally {
    redis.disconnect();
  }
}

/** An order-free digest of a set of rows (path, job id, status) and their counts: memory stays flat at any size. */
class RowSetDigest {
  private sum = 0n;
  private readonly counts = { ok: 0, failed: 0, skipped: 0 };

  add(p: string, id: string, status: string): void {
    this.sum = (this.sum + createHash('sha256').update(`${p}\0${id}\0${status}`).digest().readBigUInt64BE(0)) & 0xffffffffffffffffn;
    if (status in this.counts) this.counts[status as keyof typeof this.counts]++;
  }

  equals(other: RowSetDigest): boolean {
    return this.sum === other.sum && this.said() === other.said();
  }

  said(): string {
    return `${this.counts.ok} ok, ${this.counts.failed} failed, ${this.counts.skipped} skipped`;
  }
}
