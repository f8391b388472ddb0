/**
 * `--concurrency auto`: against a server of your own nothing but concurrency bounds a run, and the best level is
 * where the server is full: raising it further only makes every request slower. This unit decides, from the
 * turns that came back, when to raise the level and where to stop: it starts at 1, doubles while the latency per
 * token of the turns sent at the new level stays within `tolerance` of the best level's, and at the first level
 * that is clearly slower (the knee) goes back to the level before it and stays there.
 *
 * It is pure: times come from the caller's Clock (the turn's start and end), so a test drives it with numbers.
 * Only turns that started after the current level took effect count for it (a turn sent at the old level says
 * nothing about the new one).
 */

export interface AutoConcurrencyOptions {
  /** The highest level tried (default 64). */
  readonly max?: number;
  /** How much slower per token a level may be than the best one before it counts as the knee (default 0.5: 50 %). */
  readonly tolerance?: number;
  /** Turns measured at a level before it is judged (default: twice the level, at least 4). */
  readonly samplesAt?: (level: number) => number;
}

/** One level as it was measured: its median latency per token (ms) over `samples` turns. */
export interface LevelMeasure {
  readonly level: number;
  readonly msPerToken: number;
  readonly samples: number;
}

/** What the unit decided after a turn: raise to `level`, or settle there (the knee was found, or the cap reached). */
export type AutoDecision =
  | { readonly kind: 'raise'; readonly from: number; readonly level: number; readonly measured: LevelMeasure }
  | { readonly kind: 'settle'; readonly level: number; readonly why: 'knee' | 'max'; readonly measured: LevelMeasure; readonly best: LevelMeasure };

/** Where the run's concurrency ended, for the totals and the summary. */
export interface AutoReport {
  readonly level: number;
  readonly settled: boolean;
  readonly why: 'knee' | 'max' | 'the run ended first';
  /** Every level judged, in order. */
  readonly levels: readonly LevelMeasure[];
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

export class AutoConcurrency {
  #level = 1;
  /** When the current level took effect (the caller's clock, ms). */
  #since: number;
  #settled: AutoReport['why'] | undefined;
  #samples: number[] = [];
  readonly #levels: LevelMeasure[] = [];
  readonly #max: number;
  readonly #tolerance: number;
  readonly #samplesAt: (level: number) => number;

  /** `now`: the caller's clock when the run starts. */
  constructor(now: number, opts: AutoConcurrencyOptions = {}) {
    this.#since = now;
    this.#max = Math.max(1, opts.max ?? 64);
    this.#tolerance = opts.tolerance ?? 0.5;
    this.#samplesAt = opts.samplesAt ?? ((level) => Math.max(4, 2 * level));
  }

  /** Requests to keep in flight now. */
  get level(): number {
    return this.#level;
  }

  /**
   * A turn that came back: sent at `startedAt`, done at `finishedAt` (the caller's clock, ms), `tokens` long
   * (prompt and answer). Returns the decision when the level changes or settles.
   */
  observe(startedAt: number, finishedAt: number, tokens: number): AutoDecision | undefined {
    if (this.#settled || startedAt < this.#since || tokens <= 0) return undefined;
    this.#samples.push(Math.max(0, finishedAt - startedAt) / tokens);
    if (this.#samples.length < this.#samplesAt(this.#level)) return undefined;
    const measured: LevelMeasure = { level: this.#level, msPerToken: median(this.#samples), samples: this.#samples.length };
    const best = this.#levels.reduce<LevelMeasure | undefined>((b, m) => (b === undefined || m.msPerToken < b.msPerToken ? m : b), undefined);
    this.#levels.push(measured);
    this.#samples = [];
    if (best && measured.msPerToken > best.msPerToken * (1 + this.#tolerance)) {
      // The knee: this level made every token slower. Back to the level before it, for good.
      const back = this.#levels[this.#levels.length - 2] ?? best;
      return this.#settle(back.level, 'knee', finishedAt, measured, best);
    }
    if (this.#level >= this.#max) return this.#settle(this.#level, 'max', finishedAt, measured, best ?? measured);
    const from = this.#level;
    this.#level = Math.min(this.#max, this.#level * 2);
    this.#since = finishedAt;
    return { kind: 'raise', from, level: this.#level, measured };
  }

  #settle(level: number, why: 'knee' | 'max', now: number, measured: LevelMeasure, best: LevelMeasure): AutoDecision {
    this.#level = level;
    this.#since = now;
    this.#settled = why;
    return { kind: 'settle', level, why, measured, best };
  }

  report(): AutoReport {
    return { level: this.#level, settled: this.#settled !== undefined, why: this.#settled ?? 'the run ended first', levels: [...this.#levels] };
  }
}

/** One line for the log: what was decided and why. */
export function describeDecision(d: AutoDecision): string {
  const ms = (m: LevelMeasure) => `${m.msPerToken.toFixed(3)} ms per token at ${m.level}`;
  if (d.kind === 'raise') return `concurrency auto: ${d.from} -> ${d.level} (${ms(d.measured)}, flat)`;
  if (d.why === 'max') return `concurrency auto: settled at ${d.level}, the highest it tries (${ms(d.measured)})`;
  return `concurrency auto: settled at ${d.level}, the knee (${ms(d.measured)} against ${ms(d.best)})`;
}
