import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OmniError } from '../src/shared/errors.js';
import { PauseGate } from '../src/shared/rate-limit.js';
import { backoffMs, GaveUp, withRetries, type RetryOptions } from '../src/worker/retry.js';
import { retryAfterMs } from '../src/worker/qwen-omni.js';
import { ManualClock } from './manual-clock.js';

const policy = { retries: 3, baseMs: 100, maxMs: 1000 };

/** Retries on a manual clock: the gate shares it, and every wait is virtual. */
function onClock(clock: ManualClock, opts: Partial<RetryOptions> & Pick<RetryOptions, 'policy'>): RetryOptions {
  return { gate: new PauseGate(clock), clock, ...opts };
}

/** A call that fails with `errors` in turn, then answers 'done'; records the virtual instant of every attempt. */
function failing(clock: ManualClock, errors: OmniError[]) {
  const at: number[] = [];
  const fn = async () => {
    at.push(clock.now());
    const error = errors[at.length - 1];
    if (error) throw error;
    return 'done';
  };
  return { fn, at };
}

describe('retries', () => {
  test('backoff doubles per retry with full jitter, is capped, and never undercuts Retry-After', () => {
    assert.equal(backoffMs(1, policy, undefined, () => 1), 100);
    assert.equal(backoffMs(3, policy, undefined, () => 1), 400);
    assert.equal(backoffMs(10, policy, undefined, () => 1), 1000);
    assert.equal(backoffMs(3, policy, undefined, () => 0), 0);
    assert.equal(backoffMs(1, policy, 5000, () => 0.5), 5000);
  });

  test('Retry-After is read as milliseconds, seconds or an HTTP date', () => {
    assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '250' })), 250);
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '2' })), 2000);
    const date = retryAfterMs(new Headers({ 'retry-after': new Date(Date.now() + 3000).toUTCString() })) ?? 0;
    assert.ok(date > 1000 && date <= 3000, String(date));
    assert.equal(retryAfterMs(new Headers({})), undefined);
  });

  test('retried errors are retried up to the limit; final errors are not retried at all', async () => {
    const clock = new ManualClock();
    const fast = { retries: 2, baseMs: 1, maxMs: 2 };
    let calls = 0;
    const boom = assert.rejects(
      withRetries(async () => { calls++; throw new OmniError('server_error', 'boom'); }, onClock(clock, { policy: fast })),
      (err: unknown) => err instanceof GaveUp && err.attempts === 3 && err.error.code === 'server_error',
    );
    await clock.runAll();
    await boom;
    assert.equal(calls, 3);
    calls = 0;
    const no = assert.rejects(
      withRetries(async () => { calls++; throw new OmniError('bad_request', 'no'); }, onClock(clock, { policy: fast })),
      (err: unknown) => err instanceof GaveUp && err.attempts === 1,
    );
    await clock.runAll();
    await no;
    assert.equal(calls, 1);
  });

  test('the waits between retries double from the base with full jitter, and never undercut Retry-After', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const boom = () => new OmniError('server_error', 'boom');
    const { fn, at } = failing(clock, [boom(), boom(), new OmniError('server_error', 'busy', { retryAfterMs: 5000 })]);
    const done = withRetries(fn, onClock(clock, { policy, random: () => 0.5 }));
    await clock.runAll();
    assert.deepEqual(await done, { value: 'done', attempts: 4 });
    // Half of 100, half of 200, then the server's 5 s rather than half of 400.
    assert.deepEqual(at.map((t) => t - t0), [0, 50, 150, 5150]);
  });

  test('every attempt is counted before it starts', async () => {
    const clock = new ManualClock();
    let counted = 0;
    const { fn } = failing(clock, [new OmniError('timeout', 'slow')]);
    const done = withRetries(fn, onClock(clock, { policy, onAttempt: () => counted++ }));
    await clock.runAll();
    assert.equal((await done).attempts, 2);
    assert.equal(counted, 2);
  });

  test('a hard stop during the wait gives up with interrupted', async () => {
    const clock = new ManualClock();
    const ac = new AbortController();
    const { fn } = failing(clock, [new OmniError('server_error', 'boom')]);
    const stopped = assert.rejects(
      withRetries(fn, onClock(clock, { policy, signal: ac.signal, random: () => 1 })),
      (err: unknown) => err instanceof GaveUp && err.error.code === 'interrupted' && err.attempts === 1,
    );
    await clock.advance(10);
    ac.abort();
    await stopped;
  });

  test('a rate limit pauses every request of the run, not just the one refused', async () => {
    const clock = new ManualClock();
    const gate = new PauseGate(clock);
    const started = clock.now();
    const { fn } = failing(clock, [new OmniError('rate_limited', '429', { retryAfterMs: 300 })]);
    const limited = withRetries(fn, { policy: { retries: 1, baseMs: 1, maxMs: 1 }, gate, clock });
    await clock.advance(20);
    let otherStartedAt = 0;
    // (random 0: no spread after the pause, which faults-api-429 proves apart.)
    const other = withRetries(async () => (otherStartedAt = clock.now()), { policy, gate, clock, random: () => 0 });
    await clock.runAll();
    await Promise.all([limited, other]);
    // The pause runs from the 429, 300 ms; the other request, started 20 ms in, waits out the rest of it.
    assert.equal(otherStartedAt - started, 300);
  });
});

describe('rate limits', () => {
  test('429s are waited out without using up the retries, until the patience runs out', async () => {
    const clock = new ManualClock();
    let calls = 0;
    const policy = { retries: 0, baseMs: 5, maxMs: 10, rateLimitPatienceMs: 60 };
    const limited = assert.rejects(
      withRetries(async () => { calls++; throw new OmniError('rate_limited', '429'); }, onClock(clock, { policy, random: () => 1 })),
      (err: unknown) => err instanceof GaveUp && err.error.code === 'rate_limited',
    );
    await clock.runAll();
    await limited;
    // retries: 0 would allow one attempt; rate limits were retried until 60 ms of waiting: 5 + 10 x 6 = 65 ms.
    assert.equal(calls, 8);
    const { fn } = failing(clock, [1, 2, 3].map(() => new OmniError('rate_limited', '429')));
    const value = withRetries(fn, onClock(clock, { policy }));
    await clock.runAll();
    assert.equal((await value).value, 'done');
    assert.equal((await value).attempts, 4);
  });

  test('a rate limit waits at least one base step, even when the jitter says zero', async () => {
    const clock = new ManualClock();
    const t0 = clock.now();
    const { fn, at } = failing(clock, [new OmniError('rate_limited', '429'), new OmniError('rate_limited', '429')]);
    const done = withRetries(fn, onClock(clock, { policy, random: () => 0 }));
    await clock.runAll();
    await done;
    assert.deepEqual(at.map((t) => t - t0), [0, 100, 200]);
  });
});
