/**
 * A run-wide pause: when the API answers 429 (or says Retry-After), every request of the run waits, not just
 * the one that was refused; otherwise the other workers would keep hitting the limit and all be refused.
 */
export class PauseGate {
  private until = 0;

  /** Holds new requests back for at least `ms` from now. */
  pause(ms: number): void {
    this.until = Math.max(this.until, Date.now() + ms);
  }

  /** Resolves when no pause is in force (at once, usually). Rejects when `signal` aborts. */
  async ready(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const wait = this.until - Date.now();
      if (wait <= 0) return;
      await sleep(wait, signal);
    }
  }
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
