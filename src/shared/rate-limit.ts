/**
 * Rate limits shared by every request of a run.
 *
 * - A pause gate: when the API answers 429 (or says Retry-After), every request waits, not just the one that
 *   was refused; otherwise the others would keep hitting the limit and all be refused.
 * - A pacer for requests per minute and tokens per minute (GCRA: each request moves a "theoretical arrival
 *   time" forward by its cost; a request may start once that time has come). Tokens are reserved from an
 *   estimate before the call and settled with the real usage after it.
 *
 * Both come in a local flavour (one process) and a Redis flavour (many workers on many machines), behind the
 * same interfaces, so the pipeline does not know which engine runs it.
 */
import { sleep } from './clock.js';

export interface Gate {
  /** Holds new requests back for at least `ms` from now. */
  pause(ms: number): void;
  /** Resolves when no pause is in force. Rejects when `signal` aborts. */
  ready(signal?: AbortSignal): Promise<void>;
}

export interface Pacer {
  /** Waits until a request estimated at `tokens` may start, and reserves it. */
  acquire(tokens: number, signal?: AbortSignal): Promise<void>;
  /** Corrects a reservation once the real usage is known (may free capacity). */
  settle(reserved: number, actual: number): void;
}

/** Requests and tokens per minute; undefined means no limit of that kind. */
export interface Limits {
  readonly rpm: number | undefined;
  readonly tpm: number | undefined;
}

export class PauseGate implements Gate {
  private until = 0;

  pause(ms: number): void {
    this.until = Math.max(this.until, Date.now() + ms);
  }

  async ready(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const wait = this.until - Date.now();
      if (wait <= 0) return;
      await sleep(wait, signal);
    }
  }
}

/**
 * Pacing slightly under the limit: a server that counts a sliding 60-second window must never see one
 * request too many, even when timers fire a little early or late.
 */
export const PACING_MARGIN = 0.98;

/** Longest sleep before a waiting request checks the pacer again. */
export const RECHECK_MS = 100;

/** Milliseconds one request (or one token) adds to the theoretical arrival time. */
export function costMs(limits: Limits, tokens: number): { request: number; tokens: number } {
  return {
    request: limits.rpm ? 60_000 / (limits.rpm * PACING_MARGIN) : 0,
    tokens: limits.tpm ? (60_000 / (limits.tpm * PACING_MARGIN)) * Math.max(0, tokens) : 0,
  };
}

/** One process: two theoretical arrival times kept in memory. */
export class LocalPacer implements Pacer {
  private requestTat = 0;
  private tokenTat = 0;

  constructor(private readonly limits: Limits) {}

  async acquire(tokens: number, signal?: AbortSignal): Promise<void> {
    if (!this.limits.rpm && !this.limits.tpm) return;
    const cost = costMs(this.limits, tokens);
    for (;;) {
      const now = Date.now();
      const wait = Math.max(this.requestTat - now, this.tokenTat - now, 0);
      if (wait <= 0) {
        this.requestTat = Math.max(this.requestTat, now) + cost.request;
        this.tokenTat = Math.max(this.tokenTat, now) + cost.tokens;
        return;
      }
      // Wake up to look again: a settle may give back capacity that an inflated reservation held.
      await sleep(Math.min(wait, RECHECK_MS), signal);
    }
  }

  settle(reserved: number, actual: number): void {
    if (!this.limits.tpm) return;
    this.tokenTat += costMs(this.limits, actual).tokens - costMs(this.limits, reserved).tokens;
  }
}

export const NO_PACING: Pacer = {
  acquire: () => Promise.resolve(),
  settle: () => undefined,
};
