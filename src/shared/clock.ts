/**
 * Time as the pipeline sees it. Waiting code (the pause gate, the pacer, retries, polling loops) asks a Clock
 * instead of calling Date.now() and setTimeout itself, so that a test can drive time by hand: no test depends on
 * how busy the machine is.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`; rejects with the signal's reason when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** setTimeout as a promise that an AbortSignal can cut short (it then rejects with the signal's reason). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal?.reason as Error);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The real clock: Date.now() and setTimeout. */
export const systemClock: Clock = { now: () => Date.now(), sleep };
