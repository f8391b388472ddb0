/**
 * Retries for the errors that are worth retrying (shared/errors.ts says which): exponential backoff with full
 * jitter, never shorter than the server's Retry-After. A rate limit pauses the whole run through the gate.
 */
import { isRetried, OmniError } from '../shared/errors.js';
import { sleep } from '../shared/clock.js';
import type { Gate } from '../shared/rate-limit.js';

export interface RetryPolicy {
  /** Retries after the first attempt, for everything but rate limits. */
  readonly retries: number;
  /**
   * Rate limits are waited out rather than counted: a job gives up on 429s only after waiting this long in all
   * (default 10 minutes), since DashScope's limits usually clear within a minute.
   */
  readonly rateLimitPatienceMs?: number;
  readonly baseMs: number;
  readonly maxMs: number;
}

/** The wait before retry number `retry` (1-based). */
export function backoffMs(retry: number, policy: RetryPolicy, retryAfter: number | undefined, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (retry - 1));
  const jittered = Math.round(random() * ceiling);
  return retryAfter === undefined ? jittered : Math.max(retryAfter, jittered);
}

export const DEFAULT_RATE_LIMIT_PATIENCE_MS = 10 * 60_000;

export interface Attempted<T> {
  readonly value: T;
  readonly attempts: number;
}

/** Thrown when the retries are used up or the error is final; carries how many attempts were made. */
export class GaveUp extends Error {
  constructor(
    readonly error: OmniError,
    readonly attempts: number,
  ) {
    super(error.message);
  }
}

export async function withRetries<T>(
  fn: () => Promise<T>,
  policy: RetryPolicy,
  gate: Gate,
  signal: AbortSignal | undefined,
  onAttempt: () => void,
): Promise<Attempted<T>> {
  let retriesUsed = 0;
  let rateLimits = 0;
  let rateLimitedMs = 0;
  for (let attempt = 1; ; attempt++) {
    await gate.ready(signal).catch(() => {
      throw new GaveUp(new OmniError('interrupted', 'stopped by the user'), attempt - 1);
    });
    onAttempt();
    try {
      return { value: await fn(), attempts: attempt };
    } catch (err) {
      const error = err instanceof OmniError ? err : new OmniError('server_error', String(err), { cause: err });
      if (!isRetried(error.code) || signal?.aborted) throw new GaveUp(error, attempt);
      let wait: number;
      if (error.code === 'rate_limited') {
        if (rateLimitedMs >= (policy.rateLimitPatienceMs ?? DEFAULT_RATE_LIMIT_PATIENCE_MS)) throw new GaveUp(error, attempt);
        // Never hammer a limit with a near-zero jittered wait: at least one base step.
        wait = Math.max(policy.baseMs, backoffMs(++rateLimits, policy, error.retryAfterMs));
        rateLimitedMs += wait;
        gate.pause(wait);
      } else {
        if (++retriesUsed > policy.retries) throw new GaveUp(error, attempt);
        wait = backoffMs(retriesUsed, policy, error.retryAfterMs);
      }
      try {
        await sleep(wait, signal);
      } catch {
        throw new GaveUp(new OmniError('interrupted', 'stopped by the user'), attempt);
      }
    }
  }
}
