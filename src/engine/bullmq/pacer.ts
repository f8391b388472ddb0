/** The requests- and tokens-per-minute pacer that every worker of a distributed run shares, in Redis. */
import type { RedisClient } from './connection.js';
import type { Clock } from '../../shared/clock.js';
import { GcraPacer, type Limits } from '../../shared/rate-limit.js';
import { LIMIT_KEYS } from './keys.js';
import { withScripts, type Scripts } from './scripts.js';

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

  protected shiftTokens(deltaMs: number): void {
    this.redis.omniBatchSettle(LIMIT_KEYS.tokenTat, deltaMs).catch(() => undefined);
  }
}
