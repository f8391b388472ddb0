/**
 * Retries for the errors that are worth retrying (shared/errors.ts says which): exponential backoff with full
 * jitter, never shorter than the server's Retry-After. A rate limit pauses the whole run through the gate.
 */
import { isRetried, OmniError } from '../shared/errors.js';
import { systemClock, type Clock } from '../shared/clock.js';
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

/** What withRetries works with besides the call itself. */
export interface RetryOptions {
  readonly policy: RetryPolicy;
  /** The run-wide pause: every attempt waits for it; a rate limit sets it. */
  readonly gate: Gate;
  /** A hard stop: the waits end and the job gives up with `interrupted`. */
  readonly signal?: AbortSignal | undefined;
  /** Called before every attempt (for counting requests). */
  readonly onAttempt?: (() => void) | undefined;
  /** Where the waits between attempts take their time from (default: the system clock). */
  readonly clock?: Clock | undefined;
  /** The jitter's source of randomness (default: Math.random). */
  readonly random?: (() => number) | undefined;
}

const interrupted = (attempts: number) => new GaveUp(new OmniError('interrupted', 'stopped by the user'), attempts);

/**
 * Calls `fn` until it succeeds, the error is final, or the retries (or, for rate limits, the patience) run out;
 * then throws GaveUp with the last error.
 */
export async function withRetries<T>(fn: () => Promise<T>, opts: RetryOptions): Promise<Attempted<T>> {
  const { gate, signal } = opts;
  const clock = opts.clock ?? systemClock;
  const waits = new RetryWaits(opts.policy, gate, opts.random ?? Math.random);
  for (let attempt = 1; ; attempt++) {
    await gate.ready(signal).catch(() => {
      throw interrupted(attempt - 1);
    });
    opts.onAttempt?.();
    try {
      return { value: await fn(), attempts: attempt };
    } catch (err) {
      const error = err instanceof OmniError ? err : new OmniError('server_error', String(err), { cause: err });
      if (!isRetried(error.code) || signal?.aborted) throw new GaveUp(error, attempt);
      const wait = waits.next(error);
      if (wait === undefined) throw new GaveUp(error, attempt);
      await clock.sleep(wait, signal).catch(() => {
        throw interrupted(attempt);
      });
    }
  }
}

/** The wait before each retry of one job, and when it must give up instead. */
class RetryWaits {
  private retriesUsed = 0;
  private rateLimits = 0;
  private rateLimitedMs = 0;

  constructor(
    private readonly policy: RetryPolicy,
    private readonly gate: Gate,
    private readonly random: () => number,
  ) {}

  /** The wait before retrying after `error` (a retried one), or undefined when it is time to give up. */
  next(error: OmniError): number | undefined {
    const policy = this.policy;
    if (error.code !== 'rate_limited') {
      if (++this.retriesUsed > policy.retries) return undefined;
      return backoffMs(this.retriesUsed, policy, error.retryAfterMs, this.random);
    }
    if (this.rateLimitedMs >= (policy.rateLimitPatienceMs ?? DEFAULT_RATE_LIMIT_PATIENCE_MS)) return undefined;
    // Never hammer a limit with a near-zero jittered wait: at least one base step.
    const wait = Math.max(policy.baseMs, backoffMs(++this.rateLimits, policy, error.retryAfterMs, this.random));
    this.rateLimitedMs += wait;
    this.gate.pause(wait);
    return wait;
  }
}
