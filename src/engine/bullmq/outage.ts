/**
 * Redis going away under a command that keeps running (a follower, a worker): one line when it goes, one when it
 * is back (not an error per reconnect attempt), and a give-up time after which the command stops, naming the URL
 * with its password masked.
 */
import { systemClock, type Clock } from '../../shared/clock.js';
import { IncompleteError } from '../../shared/errors.js';
import { describeRedisUrl, type RedisClient } from './connection.js';

export interface OutageOptions {
  /** How long Redis may stay away before `gaveUp` rejects. */
  readonly giveUpMs: number;
  readonly note: (line: string) => void;
  /** What the operator should know when the command gives up (what is safe, what to run). */
  readonly afterGiveUp: string;
  readonly clock?: Clock;
}

/** Connection errors are the outage's to report, once; anything else is worth a line of its own. */
export function isConnectionError(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  return /^E(CONNREFUSED|CONNRESET|PIPE|TIMEDOUT|HOSTUNREACH|NETUNREACH|NOTFOUND|AI_AGAIN)$/.test(code) || /Connection is closed|connect ETIMEDOUT|Stream isn't writeable|Failed to refresh slots cache|None of startup nodes is available/i.test(err.message);
}

export class RedisOutage {
  private lostAt: number | undefined;
  private reason = 'connection closed';
  private timer: AbortController | undefined;
  private rejectGiveUp: (err: Error) => void = () => undefined;
  private readonly clock: Clock;
  /** Rejects with IncompleteError (exit 6) once Redis has been away longer than the give-up time; never resolves. */
  readonly gaveUp: Promise<never>;

  constructor(
    private readonly url: string,
    private readonly opts: OutageOptions,
  ) {
    this.clock = opts.clock ?? systemClock;
    this.gaveUp = new Promise<never>((_, reject) => (this.rejectGiveUp = reject));
    this.gaveUp.catch(() => undefined);
  }

  /** True while the connection is down. */
  get gone(): boolean {
    return this.lostAt !== undefined;
  }

  /** Follows a connection's events; returns what stops following it. */
  watch(client: RedisClient): () => void {
    const onError = (err: Error) => void (this.reason = err.message);
    const onLost = () => this.lost();
    const onBack = () => this.back();
    client.on('error', onError);
    client.on('close', onLost);
    client.on('ready', onBack);
    return () => {
      client.off('error', onError);
      client.off('close', onLost);
      client.off('ready', onBack);
    };
  }

  /** Ends the give-up timer (the command is finishing). */
  stop(): void {
    this.timer?.abort();
  }

  private lost(): void {
    if (this.lostAt !== undefined) return;
    this.lostAt = this.clock.now();
    const where = describeRedisUrl(this.url);
    const s = Math.round(this.opts.giveUpMs / 1000);
    this.opts.note(`lost Redis at ${where}; waiting for it to come back (giving up after ${s} s, OMNI_BATCH_REDIS_GIVE_UP)`);
    const timer = (this.timer = new AbortController());
    this.clock.sleep(this.opts.giveUpMs, timer.signal).then(
      () => this.rejectGiveUp(new IncompleteError(`Redis at ${where} has been gone for ${s} s (${this.reason}): giving up; ${this.opts.afterGiveUp}`)),
      () => undefined,
    );
  }

  private back(): void {
    if (this.lostAt === undefined) return;
    const secs = Math.round((this.clock.now() - this.lostAt) / 1000);
    this.lostAt = undefined;
    this.timer?.abort();
    this.opts.note(`Redis at ${describeRedisUrl(this.url)} is back (gone ${secs} s)`);
  }
}
