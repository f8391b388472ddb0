// Sliding 60-second window for requests-per-minute and tokens-per-minute, like DashScope's
// per-account limits. Only admitted requests count: a rejected call consumes no quota.

export type LimitVerdict = { ok: true } | { ok: false; kind: 'rpm' | 'tpm'; retryAfterSec: number };

interface Entry {
  at: number;
  tokens: number;
}

export class SlidingWindow {
  private entries: Entry[] = [];
  private head = 0;
  private tokens = 0;

  constructor(private readonly windowMs = 60_000) {}

  /** Checks the limits and, when they allow it, admits the request. */
  admit(now: number, tokens: number, rpm: number | undefined, tpm: number | undefined): LimitVerdict {
    this.prune(now);
    const live = this.entries.length - this.head;
    if (rpm !== undefined && live >= rpm) {
      // A slot frees when enough of the oldest requests leave the window.
      const freeing = this.entries[this.head + live - rpm];
      return { ok: false, kind: 'rpm', retryAfterSec: this.secondsUntil(freeing, now) };
    }
    if (tpm !== undefined && this.tokens + tokens > tpm) {
      return { ok: false, kind: 'tpm', retryAfterSec: this.tokensFreeIn(now, tokens, tpm) };
    }
    this.entries.push({ at: now, tokens });
    this.tokens += tokens;
    return { ok: true };
  }

  private tokensFreeIn(now: number, tokens: number, tpm: number): number {
    if (tokens > tpm) return Math.ceil(this.windowMs / 1000); // never fits; tell the client the window
    let used = this.tokens;
    for (let i = this.head; i < this.entries.length; i++) {
      const e = this.entries[i];
      if (!e) break;
      used -= e.tokens;
      if (used + tokens <= tpm) return this.secondsUntil(e, now);
    }
    return Math.ceil(this.windowMs / 1000);
  }

  private secondsUntil(e: Entry | undefined, now: number): number {
    if (!e) return 1;
    return Math.max(1, Math.ceil((e.at + this.windowMs - now) / 1000));
  }

  private prune(now: number): void {
    const cutoff = now - this.windowMs;
    for (let e = this.entries[this.head]; e && e.at <= cutoff; e = this.entries[this.head]) {
      this.tokens -= e.tokens;
      this.head++;
    }
    // Compact now and then so the array does not grow for the life of a long benchmark.
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
