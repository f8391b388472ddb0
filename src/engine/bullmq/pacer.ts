/** The requests- and tokens-per-minute pacer that every worker of a distributed run shares, in Redis. */
import type { Redis } from 'ioredis';
import { systemClock, type Clock } from '../../shared/clock.js';
import { costMs, RECHECK_MS, type Limits, type Pacer } from '../../shared/rate-limit.js';
import { LIMIT_KEYS } from './keys.js';
import { withScripts, type Scripts } from './scripts.js';

/**
 * GCRA over two theoretical arrival times (requests, tokens) kept in Redis, so that N workers together
 * stay under the account's limits. Redis' own clock is used, so machines with skewed clocks agree.
 */
export class RedisPacer implements Pacer {
  private readonly redis: Redis & Scripts;

  /** `clock`: how this worker waits between questions (default the system clock). */
  constructor(
    redis: Redis,
    private readonly limits: Limits,
    private readonly clock: Clock = systemClock,
  ) {
    this.redis = withScripts(redis);
  }

  settle(reserved: number, actual: number): void {
    if (!this.limits.tpm) return;
    const delta = costMs(this.limits, actual).tokens - costMs(this.limits, reserved).tokens;
    this.redis.omniBatchSettle(LIMIT_KEYS.tokenTat, delta).catch(() => undefined);
  }

  async acquire(tokens: number, signal?: AbortSignal): Promise<void> {
    const { rpm, tpm } = this.limits;
    if (!rpm && !tpm) return;
    const cost = costMs({ rpm, tpm }, tokens);
    // Look again soon while told to wait: another worker's settle may have given back capacity.
    for (let wait = await this.reserve(cost); wait > 0; wait = await this.reserve(cost)) await this.clock.sleep(Math.min(wait, RECHECK_MS), signal);
  }

  /** Reserves a request of `cost` in Redis: 0 when reserved, else how long (ms) until it could be. */
  private async reserve(cost: { request: number; tokens: number }): Promise<number> {
    const wait = Number(await this.redis.omniBatchAcquire(LIMIT_KEYS.requestTat, LIMIT_KEYS.tokenTat, cost.request, cost.tokens));
    return wait > 0 ? wait : 0;
  }
}
