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
import { systemClock, type Clock } from './clock.js';

export interface Gate {
  /** Holds new requests back for at least `ms` from now. */
  pause(ms: number): void;
  /**
   * Resolves when no pause is in force: true when a pause held it back (the caller then spreads its restart, so
   * that the requests a pause held do not all start at the instant it ends). Rejects when `signal` aborts.
   */
  ready(signal?: AbortSignal): Promise<boolean>;
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

  /** `clock`: where time comes from (default: the system clock). */
  constructor(private readonly clock: Clock = systemClock) {}

  pause(ms: number): void {
    this.until = Math.max(this.until, this.clock.now() + ms);
  }

  async ready(signal?: AbortSignal): Promise<boolean> {
    for (let held = false; ; held = true) {
      const wait = this.until - this.clock.now();
      if (wait <= 0) return held;
      await this.clock.sleep(wait, signal);
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

/**
 * What every GCRA pacer does alike, wherever its theoretical arrival times live: ask to reserve, and while the
 * answer is "not yet", sleep and ask again; turn a settle into a shift of the token time. A subclass only says
 * how to reserve and how to shift.
 */
export abstract class GcraPacer implements Pacer {
  /** `clock`: where time comes from (default: the system clock). */
  constructor(
    protected readonly limits: Limits,
    protected readonly clock: Clock = systemClock,
  ) {}

  /**
   * Reserves `cost` and returns 0 when the request may start now; otherwise reserves nothing and returns the
   * milliseconds until it may.
   */
  protected abstract tryReserve(cost: { request: number; tokens: number }): Promise<number> | number;

  /** Moves the token arrival time by `deltaMs` (negative: capacity given back). */
  protected abstract shiftTokens(deltaMs: number): void;

  /** Requests waiting for the pacer now, and the limit that held the latest of them. */
  private waiting = 0;
  private heldBy: 'rpm' | 'tpm' = 'rpm';

  async acquire(tokens: number, signal?: AbortSignal): Promise<void> {
    if (!this.limits.rpm && !this.limits.tpm) return;
    const cost = costMs(this.limits, tokens);
    let held = false;
    try {
      for (;;) {
        const wait = await this.tryReserve(cost);
        if (!(wait > 0)) return;
        if (!held) this.waiting++;
        held = true;
        // The limit a request costs more of is the one that holds it back.
        this.heldBy = cost.tokens > cost.request ? 'tpm' : 'rpm';
        this.onHeld(this.pacedBy() ?? '');
        // Wake up to look again: a settle (here or in another worker) may give back capacity that an inflated
        // reservation held.
        await this.clock.sleep(Math.min(wait, RECHECK_MS), signal);
      }
    } finally {
      if (held) this.waiting--;
    }
  }

  /** Called each time a request finds it must wait, with what holds it (`--rpm 60`): a shared pacer tells others. */
  protected onHeld(_by: string): void {}

  /** `--rpm 60` (or `--tpm N`) while requests wait for the pacer: pacing, not the API or the slots, sets the rate. */
  pacedBy(): string | undefined {
    if (this.waiting === 0) return undefined;
    return this.heldBy === 'tpm' ? `--tpm ${this.limits.tpm}` : `--rpm ${this.limits.rpm}`;
  }

  settle(reserved: number, actual: number): void {
    if (!this.limits.tpm) return;
    this.shiftTokens(costMs(this.limits, actual).tokens - costMs(this.limits, reserved).tokens);
  }
}

/** One process: two theoretical arrival times kept in memory. */
export class LocalPacer extends GcraPacer {
  private requestTat = 0;
  private tokenTat = 0;

  protected tryReserve(cost: { request: number; tokens: number }): number {
    const now = this.clock.now();
    const wait = Math.max(this.requestTat - now, this.tokenTat - now, 0);
    if (wait > 0) return wait;
    this.requestTat = Math.max(this.requestTat, now) + cost.request;
    this.tokenTat = Math.max(this.tokenTat, now) + cost.tokens;
    return 0;
  }

  protected shiftTokens(deltaMs: number): void {
    this.tokenTat += deltaMs;
  }
}

export const NO_PACING: Pacer = {
  acquire: () => Promise.resolve(),
  settle: () => undefined,
};
