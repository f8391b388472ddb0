/** Where the distributed commands find Redis: --redis, else OMNI_BATCH_REDIS_URL; and how long they wait when it goes. */
import { ConfigError } from '../shared/errors.js';

export function redisUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const url = flag ?? env.OMNI_BATCH_REDIS_URL;
  if (!url) throw new ConfigError('no Redis: give --redis redis://host:6379 (or set OMNI_BATCH_REDIS_URL); docker compose up -d redis starts one');
  return url;
}

/** Seconds a follower (`run --redis`) or a worker waits for a Redis that went away before it gives up. */
export const REDIS_GIVE_UP_DEFAULT_S = 300;

/** OMNI_BATCH_REDIS_GIVE_UP (seconds, default 300), in ms. */
export function redisGiveUpMs(env: NodeJS.ProcessEnv): number {
  const raw = env.OMNI_BATCH_REDIS_GIVE_UP?.trim();
  if (!raw) return REDIS_GIVE_UP_DEFAULT_S * 1000;
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0) throw new ConfigError(`OMNI_BATCH_REDIS_GIVE_UP: expected seconds greater than 0, received ${JSON.stringify(raw)}`);
  return s * 1000;
}
