/**
 * Retries for the errors that are worth retrying (shared/errors.ts says which): exponential backoff with full
 * jitter, never shorter than the server's Retry-After. A rate limit pauses the whole run through the gate.
 */
import { isRetried, OmniError } from '../shared/errors.js';
import { sleep, type Gate } from '../shared/rate-limit.js';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  readonly retries: number;
  readonly baseMs: number;
  readonly maxMs: number;
}

/** The wait before retry number `retry` (1-based). */
export function backoffMs(retry: number, policy: RetryPolicy, retryAfter: number | undefined, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** (retry - 1));
  const jittered = Math.round(random() * ceiling);
  return retryAfter === undefined ? jittered : Math.max(retryAfter, jittered);
}

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
  for (let attempt = 1; ; attempt++) {
    await gate.ready(signal).catch(() => {
      throw new GaveUp(new OmniError('interrupted', 'stopped by the user'), attempt - 1);
    });
    onAttempt();
    try {
      return { value: await fn(), attempts: attempt };
    } catch (err) {
      const error = err instanceof OmniError ? err : new OmniError('server_error', String(err), { cause: err });
      if (!isRetried(error.code) || attempt > policy.retries || signal?.aborted) throw new GaveUp(error, attempt);
      const wait = backoffMs(attempt, policy, error.retryAfterMs);
      if (error.code === 'rate_limited') gate.pause(wait);
      try {
        await sleep(wait, signal);
      } catch {
        throw new GaveUp(new OmniError('interrupted', 'stopped by the user'), attempt);
      }
    }
  }
}
