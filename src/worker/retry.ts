/**
 * Retries for the errors that are worth retrying (shared/errors.ts says which): exponential backoff with full
 * jitter, never shorter than the server's Retry-After.
 *
 * A rate limit pauses the whole run through the gate, for as long as the server said (Retry-After, up to
 * MAX_RETRY_AFTER_MS) or one base step when it did not say: one row's own growing backoff never stretches the
 * run's pause. A row told to wait waits the server's time and a jitter of up to one base step, and a request the
 * gate held starts up to one base step after the pause ends, so that the rows a 429 stopped do not all come back
 * at the same instant and get refused together again.
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

/** The longest Retry-After of a 429 taken as given: a server asking for more is asked again after this long. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

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
  /**
   * A drain (the first Ctrl-C): the waits before an attempt (the gate, a backoff) end and the job gives up with
   * `interrupted` (no row: the next run does it); a request already sent is not cut.
   */
  readonly drain?: AbortSignal | undefined;
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
  const { gate, signal, policy } = opts;
  const clock = opts.clock ?? systemClock;
  const random = opts.random ?? Math.random;
  const waits = new RetryWaits(policy, gate, random);
  // A drain ends the waits (a request that need not wait, a later turn of a conversation under way, still goes).
  const waiting = eitherSignal(signal, opts.drain);
  for (let attempt = 1; ; attempt++) {
    try {
      // Held by a pause: start within one base step after it ends, not at its very end with every other request.
      if (await gate.ready(waiting)) await clock.sleep(Math.round(random() * policy.baseMs), waiting);
    } catch {
      throw interrupted(attempt - 1);
    }
    opts.onAttempt?.();
    try {
      return { value: await fn(), attempts: attempt };
    } catch (err) {
      const error = err instanceof OmniError ? err : new OmniError('server_error', String(err), { cause: err });
      if (!isRetried(error.code) || signal?.aborted) throw new GaveUp(error, attempt);
      const wait = waits.next(error);
      if (wait === undefined) throw new GaveUp(error, attempt);
      await clock.sleep(wait, waiting).catch(() => {
        throw interrupted(attempt);
      });
    }
  }
}

/** A signal that aborts when either does (undefined when neither is given). */
export function eitherSignal(a: AbortSignal | undefined, b: AbortSignal | undefined): AbortSignal | undefined {
  return a && b ? AbortSignal.any([a, b]) : (a ?? b);
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
    const wait = error.retryAfterMs === undefined ? this.ownBackoff() : this.serversWait(error.retryAfterMs);
    this.rateLimitedMs += wait;
    return wait;
  }

  /** The server said how long: the run pauses that long, and this row comes back within one base step after. */
  private serversWait(retryAfterMs: number): number {
    const asked = Math.min(retryAfterMs, MAX_RETRY_AFTER_MS);
    this.gate.pause(asked);
    return asked + Math.round(this.random() * this.policy.baseMs);
  }

  /** The server did not say: this row backs off exponentially (at least a base step); the run pauses one base step. */
  private ownBackoff(): number {
    const { policy } = this;
    this.gate.pause(policy.baseMs);
    return Math.max(policy.baseMs, backoffMs(++this.rateLimits, policy, undefined, this.random));
  }
}
