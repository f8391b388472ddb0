/**
 * Rows and totals of a distributed run, in Redis.
 *
 * Rows are a hash keyed by path (one row per file, the newest wins, exactly as the output file is compacted).
 * Writing a row and updating the run's totals happen in one script: a duplicate delivery of the same job
 * replaces its row and corrects the totals instead of counting twice. The same step keeps the few things a
 * live view needs and the totals cannot give: the newest rows in order, and an example of each error code.
 */
import type { RedisClient } from './connection.js';
import { USAGE_FIELDS, type Row } from '../../shared/row.js';
import { RUNS_KEY, runKeys } from './keys.js';
import { withScripts, type Scripts } from './scripts.js';

/** How many of the newest row paths a run keeps (a capped list: memory stays flat whatever the run's size). */
export const LATEST_CAP = 50;

/** A row as a worker saved it. */
function rowFromJson(json: string): Row {
  return JSON.parse(json) as Row;
}

export interface RunTotals {
  rows: number;
  byStatus: { ok: number; failed: number; skipped: number };
  byKind: Record<string, { ok: number; failed: number; skipped: number }>;
  tokens: Record<string, number>;
  cost: number;
  rowsWithoutPrice: number;
  attempts: number;
  errors: Record<string, number>;
  /** Of `errors`, the codes of failed rows only (skipped rows carry codes too). */
  failures: Record<string, number>;
  /** What the workers spent on this run in all: requests, tokens and cost. Never goes down, unlike the sums above. */
  spent: { requests: number; tokens: number; cost: number };
}

/**
 * How many saved paths a run's journal keeps (about 100 bytes each). The follower reads it four times a second,
 * so it never falls this far behind; the final collect writes every row in any case.
 */
export const JOURNAL_CAP = 100_000;

/** The usage fields the save-row script sums, as it takes them (an argument, so that its text stays fixed). */
const USAGE_FIELDS_ARG = JSON.stringify(USAGE_FIELDS);

export class RunResults {
  readonly keys: ReturnType<typeof runKeys>;
  private readonly redis: RedisClient & Scripts;

  constructor(
    redis: RedisClient,
    readonly runId: string,
  ) {
    this.redis = withScripts(redis);
    this.keys = runKeys(runId);
  }

  /**
   * Writes (or replaces) the row of a file and updates the totals, atomically; `bullId` (the queue job that made
   * the row) leaves the run's pending set in the same step.
   */
  async save(row: Row, bullId = ''): Promise<void> {
    const k = this.keys;
    await this.redis.omniBatchSaveRow(k.rows, k.totals, k.pending, k.meta, k.latest, k.examples, k.journal, row.path, JSON.stringify(row), bullId, LATEST_CAP, USAGE_FIELDS_ARG, JOURNAL_CAP);
  }

  /** The id of the journal's newest entry ('0-0' when it is empty): where a follower starts reading. */
  async journalEnd(): Promise<string> {
    const last = await this.redis.xrevrange(this.keys.journal, '+', '-', 'COUNT', 1);
    return last[0]?.[0] ?? '0-0';
  }

  /** The rows saved after journal entry `after` (a page of them, at their current value) and the id to read on from. */
  async savedSince(after: string, count = 500): Promise<{ rows: Row[]; next: string }> {
    const reply = await this.redis.xread('COUNT', count, 'STREAMS', this.keys.journal, after);
    const entries = reply?.[0]?.[1] ?? [];
    if (!entries.length) return { rows: [], next: after };
    const paths = [...new Set(entries.map(([, fields]) => fields[1] ?? ''))];
    const json = await this.redis.hmget(this.keys.rows, ...paths);
    return { rows: json.flatMap((j) => (j ? [rowFromJson(j)] : [])), next: entries[entries.length - 1]?.[0] ?? after };
  }

  /** For each path, whether the run has a row for it. */
  async hasRows(paths: readonly string[]): Promise<boolean[]> {
    if (!paths.length) return [];
    const pipe = this.redis.pipeline();
    for (const p of paths) pipe.hexists(this.keys.rows, p);
    const replies = (await pipe.exec()) ?? [];
    return replies.map(([err, n]) => !err && n === 1);
  }

  /** The newest rows, newest first (at most LATEST_CAP). */
  async latest(count = LATEST_CAP): Promise<Row[]> {
    const paths = await this.redis.lrange(this.keys.latest, 0, Math.max(0, count - 1));
    if (!paths.length) return [];
    const rows = await this.redis.hmget(this.keys.rows, ...paths);
    return rows.flatMap((json) => (json ? [rowFromJson(json)] : []));
  }

  /** Per error code, the newest row that has it: its path and message. */
  async errorExamples(): Promise<Record<string, { path: string; message: string }>> {
    const h = await this.redis.hgetall(this.keys.examples);
    const out: Record<string, { path: string; message: string }> = {};
    for (const [code, p] of Object.entries(h)) if (!code.endsWith(':message')) out[code] = { path: p, message: h[`${code}:message`] ?? '' };
    return out;
  }

  /** Lists the run among all runs, by its latest enqueue: a run enqueued again (a schedule firing) comes first. */
  async register(enqueuedAtMs: number): Promise<void> {
    await this.redis.zadd(RUNS_KEY, 'GT', enqueuedAtMs, this.runId);
  }

  /**
   * Marks queue jobs as pending for this run (they leave the set when their row is saved), except those whose row
   * is already that job, answered (see lua/add-pending.lua).
   */
  async addPending(jobs: readonly { readonly path: string; readonly jobId: string; readonly bullId: string }[]): Promise<void> {
    if (jobs.length) await this.redis.omniBatchAddPending(this.keys.rows, this.keys.pending, ...jobs.flatMap((j) => [j.path, j.jobId, j.bullId]));
  }

  async removePending(bullId: string): Promise<void> {
    await this.redis.srem(this.keys.pending, bullId);
  }

  async pendingCount(): Promise<number> {
    return this.redis.scard(this.keys.pending);
  }

  async get(path: string): Promise<Row | undefined> {
    const json = await this.redis.hget(this.keys.rows, path);
    return json ? rowFromJson(json) : undefined;
  }

  /** Every row, a page at a time (memory stays bounded whatever the run's size). */
  async *scan(pageSize = 500): AsyncGenerator<Row> {
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(this.keys.rows, cursor, 'COUNT', pageSize);
      cursor = next;
      for (let i = 1; i < flat.length; i += 2) yield rowFromJson(flat[i] ?? '{}');
    } while (cursor !== '0');
  }

  async totals(): Promise<RunTotals> {
    const h = await this.redis.hgetall(this.keys.totals);
    const n = (k: string) => Number(h[k] ?? 0);
    const totals: RunTotals = {
      rows: n('rows'),
      byStatus: { ok: n('status:ok'), failed: n('status:failed'), skipped: n('status:skipped') },
      byKind: {},
      tokens: Object.fromEntries(USAGE_FIELDS.map((f) => [f, n(`tokens:${f}`)])),
      cost: Math.round(n('cost') * 1e8) / 1e8,
      rowsWithoutPrice: n('rowsWithoutPrice'),
      attempts: n('attempts'),
      errors: {},
      failures: {},
      spent: { requests: n('spent:requests'), tokens: n('spent:tokens'), cost: Math.round(n('spent:cost') * 1e8) / 1e8 },
    };
    for (const [k, v] of Object.entries(h)) {
      const kind = /^kind:([^:]+):(ok|failed|skipped)$/.exec(k);
      if (kind?.[1] && kind[2]) {
        const entry = (totals.byKind[kind[1]] ??= { ok: 0, failed: 0, skipped: 0 });
        entry[kind[2] as 'ok'] = Number(v);
      }
      if (k.startsWith('error:') && Number(v) > 0) totals.errors[k.slice(6)] = Number(v);
      if (k.startsWith('failed:') && Number(v) > 0) totals.failures[k.slice(7)] = Number(v);
    }
    return totals;
  }

  async setMeta(fields: Record<string, string | number>): Promise<void> {
    await this.redis.hset(this.keys.meta, fields);
  }

  async setMetaOnce(field: string, value: string | number): Promise<void> {
    await this.redis.hsetnx(this.keys.meta, field, value);
  }

  async incrMeta(field: string, by: number): Promise<void> {
    if (by) await this.redis.hincrby(this.keys.meta, field, by);
  }

  async meta(): Promise<Record<string, string>> {
    return this.redis.hgetall(this.keys.meta);
  }
}
