/**
 * Connections to Redis. Connection settings (TLS with rediss://, user, password, db number) come from the URL;
 * the password never appears in a message.
 */
import { Redis } from 'ioredis';
import { ConfigError } from '../../shared/errors.js';

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

function checkRedisUrl(url: string): void {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new Error('protocol');
  } catch {
    throw new ConfigError(`--redis: expected a redis:// or rediss:// URL, received ${JSON.stringify(describeRedisUrl(url))}`);
  }
}

/**
 * Opens a connection for BullMQ and our own keys. BullMQ needs `maxRetriesPerRequest: null` so blocking
 * commands survive reconnects (a Redis restart mid-run). Fails with one clear line when Redis cannot be reached.
 */
export async function connectRedis(url: string, opts: { connectTimeoutMs?: number } = {}): Promise<Redis> {
  checkRedisUrl(url);
  let connected = false;
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    lazyConnect: true,
    // Keep retrying once connected: a Redis restart must not end a worker. The first connection is not retried:
    // a Redis that refuses it (nothing listening, a wrong port) is a wrong --redis, said at once, not after seconds.
    retryStrategy: (times) => (connected ? Math.min(200 * times, 2_000) : null),
  });
  // Reconnects are handled by ioredis; a lost connection is reported where a command fails. The first connection's
  // error says why it failed (ECONNREFUSED, ENOTFOUND), where connect() itself only says the connection closed.
  let firstError: Error | undefined;
  redis.on('error', (err: Error) => void (firstError ??= err));
  try {
    await withTimeout(redis.connect(), opts.connectTimeoutMs ?? 5_000);
    await redis.ping();
    connected = true;
  } catch (err) {
    // Not after a refused connection ('end'): ioredis would then arm a 2-s timer for a socket already closed,
    // and the process would wait it out before exiting.
    if (redis.status !== 'end') redis.disconnect();
    throw new ConfigError(
      `cannot reach Redis at ${describeRedisUrl(url)} (${(firstError ?? (err as Error)).message}); start one (docker compose up -d redis) or fix --redis`,
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
