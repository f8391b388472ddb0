/** The requests- and tokens-per-minute pacer that every worker of a distributed run shares, in Redis. */
import type { RedisClient } from './connection.js';
import type { Clock } from '../../shared/clock.js';
import { GcraPacer, type Limits } from '../../shared/rate-limit.js';
import { LIMIT_KEYS } from './keys.js';
import { withScripts, type Scripts } from './scripts.js';

export const PACED_TTL_MS = 1_500;
const PACED_REFRESH_MS = 500;

/** What a worker's pacer holds requests back by (`--rpm 60`) now, or undefined: for the progress line of `run --redis`. */
export async function pacedByNow(redis: RedisClient): Promise<string | undefined> {
  return (await redis.get(LIMIT_KEYS.pacedBy)) || undefined;
}

/**
 * GCRA over two theoretical arrival times (requests, tokens) kept in Redis, so that N workers together
 * stay under the account's limits. Redis' own clock is used, so machines with skewed clocks agree; `clock` is
 * only how this worker waits between questions.
 */
export class RedisPacer extends GcraPacer {
  private readonly redis: RedisClient & Scripts;

  constructor(redis: RedisClient, limits: Limits, clock?: Clock) {
    super(limits, clock);
    this.redis = withScripts(redis);
  }

  protected async tryReserve(cost: { request: number; tokens: number }): Promise<number> {
    const wait = Number(await this.redis.omniBatchAcquire(LIMIT_KEYS.requestTat, LIMIT_KEYS.tokenTat, cost.request, cost.tokens));
    return wait > 0 ? wait : 0;
  }

  /**
   * Tells the run that follows the queue (its progress line) that pacing is what sets the rate: a key that
   * lives PACED_TTL_MS, set again at most every PACED_REFRESH_MS while this worker's requests wait.
   */
  protected override onHeld(by: string): void {
    const now = this.clock.now();
    if (now - this.markedAt < PACED_REFRESH_MS) return;
    this.markedAt = now;
    this.redis.set(LIMIT_KEYS.pacedBy, by, 'PX', PACED_TTL_MS).catch(() => undefined);
  }

  private markedAt = -Infinity;

  protected shiftTokens(deltaMs: number): void {
    this.redis.omniBatchSettle(LIMIT_KEYS.tokenTat, deltaMs).catch(() => undefined);
  }
}
