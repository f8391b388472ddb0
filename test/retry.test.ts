import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OmniError } from '../src/shared/errors.js';
import { LocalPacer, PauseGate } from '../src/shared/rate-limit.js';
import { backoffMs, GaveUp, withRetries } from '../src/worker/retry.js';
import { retryAfterMs } from '../src/worker/qwen-omni.js';

const policy = { retries: 3, baseMs: 100, maxMs: 1000 };

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
    const fast = { retries: 2, baseMs: 1, maxMs: 2 };
    let calls = 0;
    await assert.rejects(
      withRetries(async () => { calls++; throw new OmniError('server_error', 'boom'); }, fast, new PauseGate(), undefined, () => {}),
      (err: unknown) => err instanceof GaveUp && err.attempts === 3 && err.error.code === 'server_error',
    );
    assert.equal(calls, 3);
    calls = 0;
    await assert.rejects(
      withRetries(async () => { calls++; throw new OmniError('bad_request', 'no'); }, fast, new PauseGate(), undefined, () => {}),
      (err: unknown) => err instanceof GaveUp && err.attempts === 1,
    );
    assert.equal(calls, 1);
  });

  test('a rate limit pauses every request of the run, not just the one refused', async () => {
    const gate = new PauseGate();
    let first = true;
    const started = Date.now();
    const limited = withRetries(
      async () => {
        if (first) {
          first = false;
          throw new OmniError('rate_limited', '429', { retryAfterMs: 300 });
        }
        return 'ok';
      },
      { retries: 1, baseMs: 1, maxMs: 1 },
      gate,
      undefined,
      () => {},
    );
    await new Promise((r) => setTimeout(r, 20));
    let otherStartedAt = 0;
    const other = withRetries(async () => (otherStartedAt = Date.now()), policy, gate, undefined, () => {});
    await Promise.all([limited, other]);
    assert.ok(otherStartedAt - started >= 280, `the other request waited ${otherStartedAt - started} ms`);
  });
});

describe('pacing', () => {
  test('requests per minute are spaced evenly, never faster than the limit', async () => {
    const pacer = new LocalPacer({ rpm: 1200, tpm: undefined });
    const at: number[] = [];
    for (let i = 0; i < 12; i++) {
      await pacer.acquire(0);
      at.push(performance.now());
    }
    const gaps = at.slice(1).map((t, i) => t - (at[i] ?? 0));
    // 1200 per minute is one every 50 ms; the pacer keeps a 2% margin under it. Timers may fire 1 ms early.
    assert.ok(Math.min(...gaps) >= 50 - 1, `gaps ${gaps.map((g) => g.toFixed(1)).join(',')}`);
  });

  test('tokens are reserved before a call and settled with the real usage after it', async () => {
    const pacer = new LocalPacer({ rpm: undefined, tpm: 60_000 });
    await pacer.acquire(500);
    // 500 tokens at 1,000 per second hold the next request back about half a second...
    const t0 = performance.now();
    pacer.settle(500, 50);
    // ...but the call used only 50: most of that wait is given back.
    await pacer.acquire(10);
    assert.ok(performance.now() - t0 < 200, `waited ${performance.now() - t0} ms`);
  });
});

describe('rate limits', () => {
  test('429s are waited out without using up the retries, until the patience runs out', async () => {
    let calls = 0;
    const policy = { retries: 0, baseMs: 5, maxMs: 10, rateLimitPatienceMs: 60 };
    await assert.rejects(
      withRetries(async () => { calls++; throw new OmniError('rate_limited', '429'); }, policy, new PauseGate(), undefined, () => {}),
      (err: unknown) => err instanceof GaveUp && err.error.code === 'rate_limited',
    );
    // retries: 0 would allow one attempt; rate limits were retried until about 60 ms of waiting.
    assert.ok(calls >= 4, `${calls} attempts`);
    let ok = 0;
    const value = await withRetries(async () => { if (ok++ < 3) throw new OmniError('rate_limited', '429'); return 'done'; }, policy, new PauseGate(), undefined, () => {});
    assert.equal(value.value, 'done');
    assert.equal(value.attempts, 4);
  });
});
