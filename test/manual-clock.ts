/**
 * A clock that moves only when the test says so: `now()` is virtual time, `sleep()` registers a timer, and
 * `advance()`/`runAll()` fire the timers that come due, in order, letting the code each one wakes run before the
 * next fires. Pacing and retry tests then assert exact instants, and take no wall-clock time at all.
 */
import type { Clock } from '../src/shared/clock.js';

interface Timer {
  readonly at: number;
  readonly seq: number;
  readonly resolve: () => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** Lets every promise chain that is ready run to its next real wait: microtasks all run before a macrotask. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

export class ManualClock implements Clock {
  private time: number;
  private seq = 0;
  private timers: Timer[] = [];

  /** `start`: the virtual epoch milliseconds (default: a fixed instant, so runs are alike). */
  constructor(start = 1_700_000_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const onAbort = () => {
        this.timers = this.timers.filter((t) => t !== timer);
        reject(signal?.reason as Error);
      };
      const timer: Timer = { at: this.time + Math.max(0, ms), seq: this.seq++, resolve, signal, onAbort };
      this.timers.push(timer);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.timers.length;
  }

  /** Moves time forward by `ms`, firing every timer due by then in order (and those they set that come due). */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    await settle();
    for (let next = this.due(end); next; next = this.due(end)) {
      this.fire(next);
      await settle();
    }
    this.time = end;
  }

  /** Fires timers in order until none is left; throws after `limit` firings (a loop that never ends). */
  async runAll(limit = 100_000): Promise<void> {
    await settle();
    for (let fired = 0; this.timers.length > 0; fired++) {
      if (fired >= limit) throw new Error(`ManualClock.runAll: still ${this.timers.length} timers after ${limit} firings`);
      this.fire(this.due(Infinity) as Timer);
      await settle();
    }
  }

  /** The earliest timer due at or before `end` (first set first, at the same instant). */
  private due(end: number): Timer | undefined {
    let first: Timer | undefined;
    for (const t of this.timers) if (t.at <= end && (!first || t.at < first.at || (t.at === first.at && t.seq < first.seq))) first = t;
    return first;
  }

  private fire(timer: Timer): void {
    this.timers = this.timers.filter((t) => t !== timer);
    timer.signal?.removeEventListener('abort', timer.onAbort);
    this.time = Math.max(this.time, timer.at);
    timer.resolve();
  }
}
