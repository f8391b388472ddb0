import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GATE_RECHECK_MS, RedisGate } from '../src/engine/bullmq/gate.js';
import { LIMIT_KEYS } from '../src/engine/bullmq/keys.js';
import { PACED_TTL_MS, pacedByNow, RedisPacer } from '../src/engine/bullmq/pacer.js';
import { ManualClock } from './manual-clock.js';
import { startRedis, type TestRedis } from './redis-server.js';

describe('the shared pause gate of distributed workers (a real redis-server)', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    await redis.close();
  });

  test("one worker's 429 holds another worker's next requests back, within the gate's recheck time", async () => {
    const a = new RedisGate(redis.client());
    const b = new RedisGate(redis.client());
    // b has just seen the gate open: it may take it as open for up to GATE_RECHECK_MS without asking.
    await b.ready();
    await new Promise((r) => setTimeout(r, GATE_RECHECK_MS + 20));
    const t0 = Date.now();
    a.pause(400);
    await new Promise((r) => setTimeout(r, 30)); // the pause reaches Redis
    await b.ready();
    const waited = Date.now() - t0;
    assert.ok(waited >= 400 - 15, `b started after ${waited} ms of a 400 ms pause`);
    // a holds its own requests back at once, without asking Redis.
    a.pause(200);
    const t1 = Date.now();
    await a.ready();
    assert.ok(Date.now() - t1 >= 190, `a waited ${Date.now() - t1} ms`);
  });

  test('the scripts are called by their SHA, and loaded again after the server forgot them (SCRIPT FLUSH)', async () => {
    const c = redis.client();
    const gate = new RedisGate(c);
    const other = new RedisGate(redis.client());
    // Both connections have used their script once (ioredis sends a script's text on a connection's first call).
    gate.pause(1);
    await new Promise((r) => setTimeout(r, 10));
    await other.ready();
    await new Promise((r) => setTimeout(r, GATE_RECHECK_MS + 20));
    await c.script('FLUSH');
    await c.config('RESETSTAT');
    gate.pause(150);
    await new Promise((r) => setTimeout(r, 20));
    const t0 = Date.now();
    await other.ready();
    assert.ok(Date.now() - t0 >= 100, `the pause set after SCRIPT FLUSH held for ${Date.now() - t0} ms`);
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, GATE_RECHECK_MS + 5));
      await other.ready();
    }
    const stats = await c.info('commandstats');
    const calls = (cmd: string) => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
    // Each script text is sent once (after NOSCRIPT), every other call is by SHA.
    assert.ok(calls('eval') <= 2, `EVAL calls: ${calls('eval')}`);
    assert.ok(calls('evalsha') >= 7, `EVALSHA calls: ${calls('evalsha')}`);
  });

  test('a worker whose requests wait for the shared pacer says so in Redis ("--rpm 60"), for the run that follows the queue', async () => {
    const c = redis.client();
    await c.del(LIMIT_KEYS.requestTat, LIMIT_KEYS.tokenTat, LIMIT_KEYS.pacedBy);
    const clock = new ManualClock();
    const pacer = new RedisPacer(c, { rpm: 60, tpm: undefined }, clock);
    await pacer.acquire(10);
    assert.equal(await pacedByNow(c), undefined, 'nothing waited yet');
    const stop = new AbortController();
    const second = pacer.acquire(10, stop.signal);
    // The wait starts once Redis has answered the reservation (event order, not time).
    while (pacer.pacedBy() === undefined) await new Promise((r) => setImmediate(r));
    // Asked on the same connection, after the pacer's SET.
    assert.equal(await pacedByNow(c), '--rpm 60');
    const ttl = await c.pttl(LIMIT_KEYS.pacedBy);
    assert.ok(ttl > 0 && ttl <= PACED_TTL_MS, `the mark lives ${ttl} ms: it goes by itself when no worker waits any more`);
    // (Its wait is Redis' own second; the request is given up instead of waited for.)
    stop.abort(new Error('given up'));
    await assert.rejects(second, /given up/);
    assert.equal(pacer.pacedBy(), undefined, 'no request waits any more');
    await c.del(LIMIT_KEYS.requestTat, LIMIT_KEYS.tokenTat, LIMIT_KEYS.pacedBy);
  });
});
