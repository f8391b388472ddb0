/**
 * `omni-batch retry OUTPUT [--codes a,b]`: re-runs only the `failed` rows of an output (optionally only some error
 * codes) with the settings recorded in `<out>.run.json`, replacing those rows in place and keeping every other row.
 * It is the normal pipeline with discovery restricted to the failed paths; resume leaves the ok rows alone.
 */
import path from 'node:path';
import { ConfigError, ERROR_CODES, EXIT } from '../shared/errors.js';
import { formatFor } from '../shared/output/format.js';
import { readRunFile } from '../shared/output/run-file.js';
import { unflatten } from '../shared/row.js';
import { runResolved, type Io } from './run.js';

export interface RetryFlags {
  /** Comma-separated error codes; default: every failed row. */
  codes?: string;
  concurrency?: string;
}

function parseCodes(value: string | undefined): ReadonlySet<string> | undefined {
  if (value === undefined) return undefined;
  const codes = value
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean);
  const unknown = codes.filter((c) => !(c in ERROR_CODES));
  if (unknown.length || codes.length === 0) {
    throw new ConfigError(`--codes: expected error codes separated by commas (e.g. rate_limited,timeout; see --help), received ${JSON.stringify(value)}`);
  }
  return new Set(codes);
}

export async function retryOutput(output: string, flags: RetryFlags, io: Io): Promise<number> {
  const codes = parseCodes(flags.codes);
  const out = path.resolve(io.cwd, output);
  const saved = await readRunFile(out);
  if (path.resolve(saved.out) !== out) {
    throw new ConfigError(`${output}: its run settings name another output (${saved.out}); rerun the original command instead`);
  }
  // The newest row of a path wins, as when the file is compacted (a run that crashed leaves both).
  const latest = new Map<string, { status: string; code: string }>();
  for await (const rec of formatFor(saved.format).read(out)) {
    const row = unflatten(rec);
    if (row) latest.set(row.path, { status: row.status, code: row.error_code });
  }
  const failed = new Set<string>();
  const byCode = new Map<string, number>();
  for (const [p, row] of latest) {
    if (row.status !== 'failed' || (codes && !codes.has(row.code))) continue;
    failed.add(p);
    byCode.set(row.code, (byCode.get(row.code) ?? 0) + 1);
  }
  if (failed.size === 0) {
    io.out(`omni-batch: nothing to retry in ${output}: no failed rows${codes ? ` with ${[...codes].join(', ')}` : ''}`);
    return EXIT.ok;
  }
  io.err(`omni-batch: retrying ${failed.size} failed rows of ${output} (${[...byCode].map(([c, n]) => `${c} ${n}`).join(', ')}); every other row is kept`);
  const concurrency = flags.concurrency === undefined ? saved.concurrency : Number(flags.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256) {
    throw new ConfigError(`--concurrency: expected a whole number from 1 to 256, received ${JSON.stringify(flags.concurrency)}`);
  }
  return runResolved({ ...saved, concurrency, only: failed }, io);
}
