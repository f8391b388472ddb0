/** Where the distributed commands find Redis: --redis, else OMNI_BATCH_REDIS_URL. */
import { ConfigError } from '../shared/errors.js';

export function redisUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const url = flag ?? env.OMNI_BATCH_REDIS_URL;
  if (!url) throw new ConfigError('no Redis: give --redis redis://host:6379 (or set OMNI_BATCH_REDIS_URL); docker compose up -d redis starts one');
  return url;
}
