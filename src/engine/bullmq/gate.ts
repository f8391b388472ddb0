/** The pause gate that every worker of a distributed run shares, in Redis. */
import type { RedisClient } from './connection.js';
import { systemClock, type Clock } from '../../shared/clock.js';
import type { Gate } from '../../shared/rate-limit.js';
import { LIMIT_KEYS } from './keys.js';
import { withScripts, type Scripts } from './scripts.js';

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
  private readonly redis: RedisClient & Scripts;

  /** `clock`: how this worker tells time and waits (default the system clock); the pause itself runs on Redis' clock. */
  constructor(
    redis: RedisClient,
    private readonly clock: Clock = systemClock,
  ) {
    this.redis = withScripts(redis);
  }

  pause(ms: number): void {
    const wait = Math.max(1, Math.round(ms));
    this.localUntil = Math.max(this.localUntil, this.clock.now() + wait);
    this.openUntil = 0;
    this.redis.omniBatchPause(LIMIT_KEYS.pause, wait).catch(() => undefined);
  }

  async ready(signal?: AbortSignal): Promise<boolean> {
    for (let held = false; ; held = true) {
      const now = this.clock.now();
      let wait = this.localUntil - now;
      if (wait <= 0) {
        if (now < this.openUntil) return held;
        wait = await this.ask();
        if (!(wait > 0)) return held;
      }
      await this.clock.sleep(wait, signal);
    }
  }

  /** The pause left in Redis (ms); one question at a time, shared by every job that asks meanwhile. */
  private ask(): Promise<number> {
    this.asking ??= this.redis
      .omniBatchWait(LIMIT_KEYS.pause)
      .then((w) => {
        const wait = Number(w);
        if (!(wait > 0)) this.openUntil = this.clock.now() + GATE_RECHECK_MS;
        return wait;
      })
      .finally(() => (this.asking = undefined));
    return this.asking;
  }
}
