/**
 * Connections to Redis. Connection settings (TLS with rediss://, user, password, db number) come from the URL;
 * the password never appears in a message.
 *
 * Redis Cluster is named by its own URL form, `redis+cluster://[user:pass@]host:port[,host:port...]` (or
 * `rediss+cluster://` for TLS): ioredis then follows the cluster's slots (no `MOVED` errors), and BullMQ runs on it
 * because every key shares the hash tag `{omni-batch}` (see keys.ts).
 */
import { Cluster, Redis } from 'ioredis';
import { ConfigError } from '../../shared/errors.js';

/** A single Redis or a Redis Cluster: the engine uses only commands both have. */
export type RedisClient = Redis | Cluster;

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#@]+)(?:\/(\d*))?\/?$/i;

/** Redacts the password of a Redis URL for messages. */
export function describeRedisUrl(url: string): string {
  if (/^rediss?\+cluster:/i.test(url)) return url.replace(/^([^:]+:\/\/[^:@/]*):[^@/]*@/, '$1:***@').replace(/\?.*$/, '');
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

/** What a `--redis` URL names: one server (the URL as ioredis takes it) or a cluster's seed nodes. */
type RedisTarget = { readonly cluster: false; readonly db: number } | { readonly cluster: true; readonly nodes: { host: string; port: number }[]; readonly tls: boolean; readonly username: string; readonly password: string };

function parseRedisUrl(url: string): RedisTarget {
  const bad = () =>
    new ConfigError(`--redis: expected redis://host:6379[/db], rediss://... or redis+cluster://host:port[,host:port], received ${JSON.stringify(describeRedisUrl(url))}`);
  const cluster = CLUSTER_URL.exec(url);
  if (cluster) {
    const [, scheme = '', auth = '', hosts = '', db = ''] = cluster;
    if (db && Number(db) !== 0) throw new ConfigError(`--redis: Redis Cluster has only db 0, received db ${db} in ${describeRedisUrl(url)}`);
    const nodes = hosts.split(',').map((h) => /^([^:,]+):(\d{1,5})$/.exec(h.trim()));
    if (!nodes.length || nodes.some((n) => !n)) throw bad();
    const colon = auth.indexOf(':');
    const decode = (s: string) => decodeURIComponent(s);
    return {
      cluster: true,
      nodes: nodes.map((n) => ({ host: n?.[1] ?? '', port: Number(n?.[2]) })),
      tls: scheme.toLowerCase() === 'rediss',
      username: decode(colon < 0 ? auth : auth.slice(0, colon)),
      password: decode(colon < 0 ? '' : auth.slice(colon + 1)),
    };
  }
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new Error('protocol');
    const db = parsed.pathname.replace(/^\//, '');
    if (db && !/^\d+$/.test(db)) throw new Error('db');
    return { cluster: false, db: Number(db || 0) };
  } catch {
    throw bad();
  }
}

export interface ConnectOptions {
  /** How long the first connection may take. Default 5 s. */
  readonly connectTimeoutMs?: number;
  /**
   * Producers, workers and collectors keep a run's rows and jobs in Redis: a Redis that may evict keys would lose
   * them silently, so it is refused. Read-only views (status, dashboard) pass false. Default true.
   */
  readonly requireNoEviction?: boolean;
}

/** Per connection: what stops it, and every duplicate of it, from reconnecting (see retire). */
const retirers = new WeakMap<RedisClient, () => void>();

/**
 * Closes a connection for good: neither it nor the duplicates BullMQ made of it (its workers' blocking connections
 * share its retry strategy) try to reconnect any more, so a Redis that is gone keeps no timer, and no process, alive.
 */
export function retire(client: RedisClient): void {
  retirers.get(client)?.();
  client.disconnect();
}

/** Keep retrying once connected (a Redis restart must not end a worker); never retry the first connection. */
function retryWhile(connected: () => boolean): (times: number) => number | null {
  return (times) => (connected() ? Math.min(200 * times, 2_000) : null);
}

function newClient(url: string, target: RedisTarget, connected: () => boolean): RedisClient {
  // BullMQ needs `maxRetriesPerRequest: null` so blocking commands survive reconnects (a Redis restart mid-run).
  if (!target.cluster) return new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true, retryStrategy: retryWhile(connected) });
  const { nodes, tls, username, password } = target;
  return new Cluster(nodes, {
    lazyConnect: true,
    clusterRetryStrategy: retryWhile(connected),
    redisOptions: { maxRetriesPerRequest: null, ...(username ? { username } : {}), ...(password ? { password } : {}), ...(tls ? { tls: {} } : {}) },
  });
}

/**
 * Opens a connection for BullMQ and our own keys. Fails with one clear line when Redis cannot be reached, refuses
 * the password, has no such db number, or may evict keys (see ConnectOptions).
 */
export async function connectRedis(url: string, opts: ConnectOptions = {}): Promise<RedisClient> {
  const target = parseRedisUrl(url);
  let connected = false;
  let retired = false;
  const redis = newClient(url, target, () => connected && !retired);
  retirers.set(redis, () => (retired = true));
  // Reconnects are handled by ioredis; a lost connection is reported where a command fails. The first connection's
  // error says why it failed (ECONNREFUSED, WRONGPASS), where connect() itself only says the connection closed.
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
    throw connectError(url, firstError ?? (err as Error));
  }
  try {
    if (!target.cluster && target.db > 0) await checkDb(redis as Redis, url, target.db);
    if (opts.requireNoEviction ?? true) await checkNoEviction(redis, url);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  return redis;
}

function connectError(url: string, err: Error): ConfigError {
  const where = describeRedisUrl(url);
  if (/WRONGPASS|NOAUTH|invalid password|AUTH.*(failed|without any password)/i.test(err.message)) {
    return new ConfigError(`authentication failed at Redis ${where} (${err.message.split('.')[0]}): fix the user and password in the URL`);
  }
  return new ConfigError(`cannot reach Redis at ${where} (${err.message}); start one (docker compose up -d redis) or fix --redis`);
}

/** ioredis selects the URL's db on connect but goes on in db 0 when the server refuses it: refused here instead. */
async function checkDb(redis: Redis, url: string, db: number): Promise<void> {
  try {
    await redis.select(db);
  } catch (err) {
    const count = await redis.config('GET', 'databases').then((r) => r[1], () => undefined);
    const has = count ? ` (it has ${count}: 0 to ${Number(count) - 1})` : '';
    throw new ConfigError(`--redis: db ${db} does not exist on Redis ${describeRedisUrl(url)}${has}: ${(err as Error).message}; fix the number after the last / of the URL`);
  }
}

/** The eviction policy of one server: CONFIG GET, else INFO (managed Redis often refuses CONFIG); undefined if neither says. */
async function evictionPolicy(node: Redis): Promise<string | undefined> {
  const fromConfig = await node.config('GET', 'maxmemory-policy').then((r) => r[1], () => undefined);
  if (fromConfig) return fromConfig;
  const info = await node.info('memory').catch(() => '');
  return /^maxmemory_policy:(\S+)/m.exec(info)?.[1];
}

async function checkNoEviction(redis: RedisClient, url: string): Promise<void> {
  const servers = redis instanceof Cluster ? redis.nodes('master') : [redis];
  for (const server of servers) {
    const policy = await evictionPolicy(server);
    if (policy && policy !== 'noeviction') {
      throw new ConfigError(
        `Redis ${describeRedisUrl(url)} may evict keys (maxmemory-policy ${policy}): a run's rows and jobs would be lost without a word; set maxmemory-policy noeviction (redis-cli CONFIG SET maxmemory-policy noeviction, in redis.conf, or in your provider's settings)`,
      );
    }
  }
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
