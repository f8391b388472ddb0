/**
 * Redis for the distributed engine: connections, key names, and the shared gate and pacer.
 *
 * Every key starts with the hash tag `{omni-batch}`, so all of them live in one hash slot: the same deployment
 * runs on a single Redis, a managed Redis or Redis Cluster, and multi-key scripts stay legal. Connection
 * settings (TLS with rediss://, user, password, db number) come from the URL.
 */
import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { ConfigError, EXIT } from '../../shared/errors.js';
import { sleep } from '../../shared/clock.js';
import { costMs, RECHECK_MS, type Gate, type Limits, type Pacer } from '../../shared/rate-limit.js';

export const PREFIX = '{omni-batch}';
/** The queue of file jobs and the queue of control jobs (scheduled enqueues). */
export const JOBS_QUEUE = 'jobs';
export const CONTROL_QUEUE = 'control';

export function runKeys(runId: string) {
  const base = `${PREFIX}:run:${runId}`;
  return {
    meta: `${base}:meta`,
    rows: `${base}:rows`,
    totals: `${base}:totals`,
    pending: `${base}:pending`,
    /** The paths of the newest rows, newest first, capped (the dashboard's "latest rows"). */
    latest: `${base}:latest`,
    /** Per error code, the path and message of the newest row that failed (or was skipped) with it. */
    examples: `${base}:examples`,
  };
}

/** Every run ever enqueued, scored by its latest enqueue (ms): the dashboard lists runs from here. */
export const RUNS_KEY = `${PREFIX}:runs`;

const LIMIT_KEYS = {
  pause: `${PREFIX}:limits:pause-until`,
  requestTat: `${PREFIX}:limits:request-tat`,
  tokenTat: `${PREFIX}:limits:token-tat`,
};

/** Redacts the password of a Redis URL for messages. */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    // ioredis also takes options from the query (?password=...): every value there is hidden.
    for (const key of [...u.searchParams.keys()]) u.searchParams.set(key, '***');
    return u.toString();
  } catch {
    return '(an invalid Redis URL)';
  }
}

/**
 * Opens a connection for BullMQ and our own keys. BullMQ needs `maxRetriesPerRequest: null` so blocking
 * commands survive reconnects (a Redis restart mid-run). Fails with one clear line when Redis cannot be reached.
 */
export async function connectRedis(url: string, opts: { connectTimeoutMs?: number } = {}): Promise<Redis> {
  let parsed: URL;
  try {
    parsed = new URL(url);
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new Error('protocol');
  } catch {
    throw new ConfigError(`--redis: expected a redis:// or rediss:// URL, received ${JSON.stringify(describeRedisUrl(url))}`);
  }
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    lazyConnect: true,
    // Keep retrying after the first connection: a Redis restart must not end a worker.
    retryStrategy: (times) => Math.min(200 * times, 2_000),
  });
  redis.on('error', () => {
    // Reconnects are handled by ioredis; a lost connection is reported where a command fails.
  });
  try {
    await withTimeout(redis.connect(), opts.connectTimeoutMs ?? 5_000);
    await redis.ping();
  } catch (err) {
    redis.disconnect();
    throw new ConfigError(
      `cannot reach Redis at ${describeRedisUrl(url)} (${(err as Error).message}); start one (docker compose up -d redis) or fix --redis`,
      EXIT.config,
    );
  }
  return redis;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/**
 * A Lua script called by its SHA-1 (EVALSHA), loaded with EVAL the first time a server does not know it: the
 * scripts run once or twice per file, and EVAL sent (and Redis hashed) the whole text every time.
 */
export function luaScript(lua: string, numberOfKeys: number): (redis: Redis, ...args: (string | number)[]) => Promise<unknown> {
  const sha = createHash('sha1').update(lua).digest('hex');
  return async (redis, ...args) => {
    try {
      return await redis.evalsha(sha, numberOfKeys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return redis.eval(lua, numberOfKeys, ...args);
    }
  };
}

const PAUSE_SCRIPT = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local untilMs = now + tonumber(ARGV[1])
if untilMs > cur then redis.call('SET', KEYS[1], untilMs, 'PX', tonumber(ARGV[1]) + 1000) end
return 0`;

const WAIT_SCRIPT = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return math.max(0, cur - now)`;

const pauseScript = luaScript(PAUSE_SCRIPT, 1);
const waitScript = luaScript(WAIT_SCRIPT, 1);

/** How long a worker takes the gate as open after Redis said so, before it asks again. */
export const GATE_RECHECK_MS = 100;

/**
 * A 429 seen by any worker pauses every worker: the pause lives in Redis. Asking Redis before every request was a
 * round trip per request; a worker now asks at most every GATE_RECHECK_MS (its jobs in flight share one answer),
 * so another worker's 429 reaches it within that time, and its own 429 at once.
 */
export class RedisGate implements Gate {
  private openUntil = 0;
  private localUntil = 0;
  private asking: Promise<number> | undefined;

  constructor(private readonly redis: Redis) {}

  pause(ms: number): void {
    const wait = Math.max(1, Math.round(ms));
    this.localUntil = Math.max(this.localUntil, Date.now() + wait);
    this.openUntil = 0;
    pauseScript(this.redis, LIMIT_KEYS.pause, wait).catch(() => undefined);
  }

  async ready(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = Date.now();
      let wait = this.localUntil - now;
      if (wait <= 0) {
        if (now < this.openUntil) return;
        wait = await this.ask();
        if (!(wait > 0)) return;
      }
      await sleep(wait, signal);
    }
  }

  /** The pause left in Redis (ms); one question at a time, shared by every job that asks meanwhile. */
  private ask(): Promise<number> {
    this.asking ??= waitScript(this.redis, LIMIT_KEYS.pause)
      .then((w) => {
        const wait = Number(w);
        if (!(wait > 0)) this.openUntil = Date.now() + GATE_RECHECK_MS;
        return wait;
      })
      .finally(() => (this.asking = undefined));
    return this.asking;
  }
}

/**
 * GCRA over two theoretical arrival times (requests, tokens) kept in Redis, so that N workers together
 * stay under the account's limits. Redis' own clock is used, so machines with skewed clocks agree.
 */
const ACQUIRE_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rt = tonumber(redis.call('GET', KEYS[1]) or '0')
local tt = tonumber(redis.call('GET', KEYS[2]) or '0')
local wait = math.max(rt - now, tt - now, 0)
if wait > 0 then return math.ceil(wait) end
local nrt = math.max(rt, now) + tonumber(ARGV[1])
local ntt = math.max(tt, now) + tonumber(ARGV[2])
redis.call('SET', KEYS[1], tostring(nrt), 'PX', math.ceil(nrt - now) + 60000)
redis.call('SET', KEYS[2], tostring(ntt), 'PX', math.ceil(ntt - now) + 60000)
return 0`;

const SETTLE_SCRIPT = `
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBYFLOAT', KEYS[1], ARGV[1]) end
return 0`;

const acquireScript = luaScript(ACQUIRE_SCRIPT, 2);
const settleScript = luaScript(SETTLE_SCRIPT, 1);

export class RedisPacer implements Pacer {
  constructor(
    private readonly redis: Redis,
    private readonly limits: Limits,
  ) {}

  async acquire(tokens: number, signal?: AbortSignal): Promise<void> {
    if (!this.limits.rpm && !this.limits.tpm) return;
    const cost = costMs(this.limits, tokens);
    for (;;) {
      const wait = Number(await acquireScript(this.redis, LIMIT_KEYS.requestTat, LIMIT_KEYS.tokenTat, cost.request, cost.tokens));
      if (!(wait > 0)) return;
      // Look again soon: another worker's settle may have given back capacity.
      await sleep(Math.min(wait, RECHECK_MS), signal);
    }
  }

  settle(reserved: number, actual: number): void {
    if (!this.limits.tpm) return;
    const delta = costMs(this.limits, actual).tokens - costMs(this.limits, reserved).tokens;
    settleScript(this.redis, LIMIT_KEYS.tokenTat, delta).catch(() => undefined);
  }
}
