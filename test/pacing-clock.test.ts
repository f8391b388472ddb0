/**
 * The pacer and the pause gate on a manual clock: exact instants from the GCRA formula, minutes of virtual time
 * in milliseconds of real time, and nothing that depends on how busy the machine is.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { costMs, LocalPacer, PACING_MARGIN, PauseGate, RECHECK_MS } from '../src/shared/rate-limit.js';
import { ManualClock } from './manual-clock.js';

/**
 * `workers` loops that each acquire, note the instant and go again, as a run's API slots do, for `ms` of
 * virtual time; returns the instants (relative to the start), in order.
 */
async function admitted(pacer: LocalPacer, clock: ManualClock, workers: number, ms: number, tokens = 0): Promise<number[]> {
  const t0 = clock.now();
  const at: number[] = [];
  const ac = new AbortController();
  const loop = async () => {
    for (;;) {
      await pacer.acquire(tokens, ac.signal);
      at.push(clock.now() - t0);
    }
  };
  const loops = Array.from({ length: workers }, () => loop().catch(() => undefined));
  await clock.advance(ms);
  ac.abort();
  await Promise.all(loops);
  return at.filter((t) => t <= ms);
}

const TPM = { rpm: undefined, tpm: 60_000 };

/**
 * A 60,000-tokens-per-minute pacer after one request reserved 500 tokens and `then` ran; `next`: when a
 * second request of 10 tokens starts (ms after the first).
 */
async function afterReserving500(then: (pacer: LocalPacer) => void) {
  const clock = new ManualClock();
  const pacer = new LocalPacer(TPM, clock);
  const t0 = clock.now();
  await pacer.acquire(500);
  then(pacer);
  const next = pacer.acquire(10).then(() => clock.now() - t0);
  return { clock, pacer, next };
}

describe('pacing on a manual clock', () => {
  test('60 requests per minute over 3 minutes admit exactly what the GCRA allows, never 61 in a minute', async () => {
    const clock = new ManualClock();
    const pacer = new LocalPacer({ rpm: 60, tpm: undefined }, clock);
    const at = await admitted(pacer, clock, 4, 180_000);
    const spacing = costMs({ rpm: 60, tpm: undefined }, 0).request;
    assert.equal(spacing, 60_000 / (60 * PACING_MARGIN));
    // One at once, then one every 60 s / (60 x margin): request k starts at k x spacing (give or take the float rounding of epoch-sized sums).
    assert.equal(at.length, Math.floor(180_000 / spacing) + 1);
    at.forEach((t, k) => assert.ok(Math.abs(t - k * spacing) < 0.1, `request ${k} at ${t} ms, expected ${k * spacing}`));
    // A server counting any sliding 60-second window sees at most 60 (here: 59, the margin's doing).
    for (const start of at) {
      const inWindow = at.filter((t) => t >= start && t < start + 60_000).length;
      assert.ok(inWindow <= 60, `${inWindow} requests in the minute from ${start} ms`);
    }
  });

  test('requests per minute are spaced evenly, never faster than the limit', async () => {
    const clock = new ManualClock();
    const pacer = new LocalPacer({ rpm: 1200, tpm: undefined }, clock);
    const at = (await admitted(pacer, clock, 1, 600)).slice(0, 12);
    assert.equal(at.length, 12);
    const gaps = at.slice(1).map((t, i) => t - (at[i] ?? 0));
    // 1200 per minute is one every 50 ms; the pacer keeps a 2% margin under it.
    assert.ok(Math.min(...gaps) >= 50, `gaps ${gaps.map((g) => g.toFixed(1)).join(',')}`);
  });

  test('tokens per minute hold the next request back by the tokens reserved', async () => {
    const { clock, next } = await afterReserving500(() => undefined);
    await clock.runAll();
    // 500 tokens at 1,000 per second (less the margin) are half a second and a bit.
    assert.ok(Math.abs((await next) - costMs(TPM, 500).tokens) < 1e-3);
  });

  test('tokens are reserved before a call and settled with the real usage after it', async () => {
    // The call used only 50: most of the half-second wait is given back.
    const { clock, next } = await afterReserving500((pacer) => pacer.settle(500, 50));
    await clock.runAll();
    assert.ok(Math.abs((await next) - costMs(TPM, 50).tokens) < 1e-3, `waited ${await next} ms`);
  });

  test('a request already waiting takes the capacity a settle gives back at its next look', async () => {
    const { clock, pacer, next } = await afterReserving500(() => undefined);
    await clock.advance(10);
    pacer.settle(500, 50);
    await clock.runAll();
    // It slept until its recheck, not the half second its first look said.
    assert.equal(await next, RECHECK_MS);
  });

  test('no limit means no waiting at all', async () => {
    const clock = new ManualClock();
    const pacer = new LocalPacer({ rpm: undefined, tpm: undefined }, clock);
    for (let i = 0; i < 1000; i++) await pacer.acquire(1_000_000);
    assert.equal(clock.pending, 0);
  });

  test('a hard stop ends a wait for the pacer', async () => {
    const clock = new ManualClock();
    const pacer = new LocalPacer({ rpm: 1, tpm: undefined }, clock);
    await pacer.acquire(0);
    const ac = new AbortController();
    const waiting = assert.rejects(pacer.acquire(0, ac.signal), { name: 'AbortError' });
    await clock.advance(1000);
    ac.abort();
    await waiting;
  });
});

describe('the pause gate on a manual clock', () => {
  test('holds requests until its pause has passed, and the longest pause wins', async () => {
    const clock = new ManualClock();
    const gate = new PauseGate(clock);
    const t0 = clock.now();
    gate.pause(3000);
    gate.pause(1000);
    const first = gate.ready().then(() => clock.now() - t0);
    await clock.advance(2000);
    // A later pause moves the end further out for those already waiting, too.
    gate.pause(2500);
    const second = gate.ready().then(() => clock.now() - t0);
    await clock.runAll();
    assert.equal(await first, 4500);
    assert.equal(await second, 4500);
    // Once it has passed, nothing waits.
    await gate.ready();
    assert.equal(clock.now() - t0, 4500);
  });

  test('a hard stop ends a wait at the gate', async () => {
    const clock = new ManualClock();
    const gate = new PauseGate(clock);
    gate.pause(60_000);
    const ac = new AbortController();
    const waiting = assert.rejects(gate.ready(ac.signal), { name: 'AbortError' });
    await clock.advance(100);
    ac.abort();
    await waiting;
    assert.equal(clock.pending, 0);
  });
});
