/**
 * 429 storms (issue 13, case 9), on the manual clock: a rate limit is waited out for the time the server asked
 * (Retry-After), the rows it stopped come back spread by jitter rather than at one instant, one row's own backoff
 * never stretches the pause of the whole run, and the first Ctrl-C (a drain) ends the waits of files not sending.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import { startRun } from '../src/engine/in-process/index.js';
import { resolveConfig } from '../src/shared/config.js';
import { OmniError } from '../src/shared/errors.js';
import { PauseGate } from '../src/shared/rate-limit.js';
import { createClient } from '../src/worker/qwen-omni.js';
import { GaveUp, withRetries, type RetryOptions } from '../src/worker/retry.js';
import { readOutputRows, tempDir, waitFor } from './helpers.js';
import { ManualClock } from './manual-clock.js';
import { startStandIn, type StandIn } from './stand-in/server.js';

const KEY = 'sk-SENTINEL-rate-limit-7c2e91d04b5a';
/** The defaults a run retries with: a 1 s base step, 60 s at most. */
const policy = { retries: 5, baseMs: 1000, maxMs: 60_000 };
const RETRY_AFTER = 2000;
const tooMany = (retryAfterMs: number | undefined) => new OmniError('rate_limited', 'HTTP 429', { retryAfterMs });

/** A seeded source of randomness (mulberry32), so a storm plays out the same every time. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** A row that is refused `refusals` times (429, `retryAfterMs`), then answered; the instant of every attempt. */
function refusedRow(clock: ManualClock, refusals: number, retryAfterMs?: number) {
  const at: number[] = [];
  const fn = async () => {
    at.push(clock.now());
    if (at.length <= refusals) throw tooMany(retryAfterMs);
    return 'ok';
  };
  return { fn, at };
}

/** Settles `p` or says it is still pending after `ms` of wall time (bounds a hang; the clock does not move). */
async function settledWithin<T>(p: Promise<T>, ms: number): Promise<{ value?: T; error?: unknown } | 'pending'> {
  return Promise.race([p.then((value) => ({ value }), (error: unknown) => ({ error })), delay(ms).then(() => 'pending' as const)]);
}

describe('429 storms on the manual clock', () => {
  test('8 requests refused again and again with Retry-After 2 s come back after 2 s, spread by jitter, never doubling', async () => {
    const clock = new ManualClock();
    const gate = new PauseGate(clock);
    const t0 = clock.now();
    const opts: RetryOptions = { policy, gate, clock, random: seeded(13) };
    const rows = Array.from({ length: 8 }, () => refusedRow(clock, 5, RETRY_AFTER));
    const done = Promise.all(rows.map((r) => withRetries(r.fn, opts)));
    await clock.runAll();
    assert.ok((await done).every((r) => r.value === 'ok' && r.attempts === 6));
    // The first restarts: the earliest after the server's 2 s and one jitter step at most, none sooner, and not all
    // at one instant (a row that wakes while an earlier one's new 429 pauses the run waits that pause out).
    const restarts = rows.map((r) => (r.at[1] ?? 0) - t0);
    assert.ok(Math.min(...restarts) >= RETRY_AFTER && Math.min(...restarts) <= RETRY_AFTER + policy.baseMs, `restarts at ${restarts.join(', ')} ms`);
    assert.ok(new Set(restarts).size >= 6, `restarts at ${restarts.join(', ')} ms: the rows came back together`);
    // Every later attempt: within the server's 2 s and one jitter step of the latest 429 before it, never a
    // doubled backoff (today's rows waited up to 16 s and paused every other row with it).
    const refusals = rows.flatMap((r) => r.at.slice(0, 5)).sort((a, b) => a - b);
    for (const attempt of rows.flatMap((r) => r.at.slice(1))) {
      const latest = refusals.filter((t) => t < attempt).at(-1) ?? t0;
      assert.ok(attempt - latest <= RETRY_AFTER + policy.baseMs, `an attempt ${attempt - latest} ms after the latest 429`);
    }
  });

  for (const retryAfterMs of [RETRY_AFTER, undefined]) {
    const said = retryAfterMs === undefined ? 'no Retry-After' : 'Retry-After 2 s';
    test(`one row's fifth 429 (${said}) pauses the run for the server's time, not for the row's own growing backoff`, async () => {
      const clock = new ManualClock();
      const gate = new PauseGate(clock);
      // Jitter at its top: the row's own backoff would be 16 s by its fifth refusal.
      const row = refusedRow(clock, 5, retryAfterMs);
      const limited = withRetries(row.fn, { policy, gate, clock, random: () => 0.99 });
      while (row.at.length < 5) await clock.advance(10);
      const fifth = row.at[4] ?? 0;
      let otherAt = 0;
      const other = withRetries(async () => (otherAt = clock.now()), { policy, gate, clock, random: () => 0.99 });
      await clock.runAll();
      await Promise.all([limited, other]);
      // The run's pause: the server's 2 s (or one base step when it did not say), then one jitter step at most.
      const pause = retryAfterMs ?? policy.baseMs;
      assert.ok(otherAt - fifth <= pause + policy.baseMs, `another file waited ${otherAt - fifth} ms after the fifth 429`);
      // The row itself still backs off on its own when the server did not say how long.
      if (retryAfterMs === undefined) assert.ok((row.at[5] ?? 0) - fifth > 10_000);
    });
  }

  test('a Retry-After beyond the cap is waited only up to the cap, then asked again', async () => {
    const clock = new ManualClock();
    const row = refusedRow(clock, 1, 24 * 3600_000);
    const done = withRetries(row.fn, { policy, gate: new PauseGate(clock), clock, random: () => 0 });
    await clock.runAll();
    await done;
    assert.equal((row.at[1] ?? 0) - (row.at[0] ?? 0), 5 * 60_000);
  });

  test('a drain during a rate-limit wait ends the waiting file at once with interrupted, without a request', async () => {
    const clock = new ManualClock();
    const gate = new PauseGate(clock);
    const drain = new AbortController();
    const row = refusedRow(clock, 10, 60_000);
    const waiting = withRetries(row.fn, { policy, gate, clock, drain: drain.signal });
    await clock.advance(5_000);
    assert.equal(row.at.length, 1);
    // Another file, not sent yet, held at the gate by the same 429.
    let sent = 0;
    const held = withRetries(async () => ++sent, { policy, gate, clock, drain: drain.signal });
    await clock.advance(10);
    drain.abort();
    for (const p of [waiting, held] as Promise<unknown>[]) {
      const outcome = await settledWithin(p, 5_000);
      assert.notEqual(outcome, 'pending', 'the file still waits out the rate limit after the drain');
      const error = outcome !== 'pending' ? outcome.error : undefined;
      assert.ok(error instanceof GaveUp && error.error.code === 'interrupted', String(error));
    }
    assert.equal(row.at.length, 1);
    assert.equal(sent, 0);
  });
});

describe('a drained run during a 429 storm', () => {
  let api: StandIn;
  before(async () => {
    api = await startStandIn({ apiKey: KEY, faults: () => ({ type: 'http429', retryAfterSec: 60 }) });
  });
  after(() => api.close());

  test('the first Ctrl-C ends the run at once: files waiting out a rate limit get no row, and the next run does them', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'media'));
    for (let i = 0; i < 6; i++) await writeFile(path.join(dir, 'media', `f${i}.txt`), `text ${i}`);
    const cfg = await resolveConfig(undefined, { input: ['media'], prompt: 'Read {{file.name}}', out: 'out.jsonl', concurrency: 4, rpm: 0, tpm: 0 }, {}, dir);
    const clock = new ManualClock();
    const client = createClient(KEY, api.baseURL);
    const { control, done } = startRun(cfg, { apiKey: KEY, client, clock, log: () => undefined });
    // Four files sent and refused (Retry-After 60 s), each now waiting on the clock; two more queued behind them.
    await waitFor(() => api.requests.length === 4 && clock.pending === 4, 'four files waiting out a 429');
    control.drain();
    const outcome = await settledWithin(done, 10_000);
    assert.notEqual(outcome, 'pending', 'the drained run still waits out the rate limit (60 s of it)');
    const result = outcome !== 'pending' ? outcome.value : undefined;
    assert.equal(result?.exitCode, 130);
    assert.equal(result?.interrupted, true);
    assert.equal(api.requests.length, 4, 'no file was sent after the drain');
    assert.deepEqual(await readOutputRows(cfg.out), []);
    // The limit is gone: the next run does all six.
    api.setOptions({ faults: undefined });
    const again = await startRun(cfg, { apiKey: KEY, client, log: () => undefined }).done;
    assert.equal(again.exitCode, 0);
    const rows = await readOutputRows(cfg.out);
    assert.deepEqual(rows.map((r) => `${r.path} ${r.status}`).sort(), [0, 1, 2, 3, 4, 5].map((i) => `media/f${i}.txt ok`));
  });
});
