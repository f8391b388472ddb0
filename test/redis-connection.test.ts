// Connecting to Redis: a Redis that is not there is said at once, with the reason, and leaves nothing behind that
// keeps the process alive (it used to wait out ioredis' reconnect and disconnect timers: 3 s per command).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectRedis } from '../src/engine/bullmq/connection.js';
import { ConfigError } from '../src/shared/errors.js';

const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('a refused first connection is one ConfigError naming the reason, and leaves no timer running', async () => {
  const before = timers();
  await assert.rejects(connectRedis('redis://user:hunter2@127.0.0.1:1'), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^cannot reach Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:1 \(connect ECONNREFUSED 127\.0\.0\.1:1\); start one/);
    assert.ok(!err.message.includes('hunter2'));
    return true;
  });
  // Let ioredis finish what it does on close; then nothing of it may be left to wait for.
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(timers(), before, `timers still armed: ${process.getActiveResourcesInfo().join(', ')}`);
});
