/**
 * What a run keeps in Redis for a live view, on a real redis-server: the newest rows in order and an example of
 * each error code, kept by the same atomic step that saves the row.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RUNS_KEY } from '../src/engine/bullmq/keys.js';
import { LATEST_CAP, RunResults } from '../src/engine/bullmq/results.js';
import { listRunIds } from '../src/engine/bullmq/snapshot.js';
import { rowWithoutAnswer, type Row } from '../src/shared/row.js';
import { startRedis, type TestRedis } from './redis-server.js';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(() => redis.close());

const failed = (path: string, message = `${path}: bad`): Row => rowWithoutAnswer({ id: `id-${path}`, path, kind: 'text', model: 'qwen-omni-turbo' }, 'failed', 'server_error', message, 1);
const ok = (path: string): Row => ({ ...failed(path), status: 'ok', error_code: '', error_message: '', answers: [`answer for ${path}`] });

describe('a run in Redis, for the dashboard', () => {
  test(`the latest rows are the ${LATEST_CAP} newest distinct files, newest first, each as its row now`, async () => {
    const results = new RunResults(redis.client(), 'latest-cap');
    for (let i = 0; i < LATEST_CAP + 10; i++) await results.save(ok(`f${i}.txt`));
    await results.save(failed('f5.txt'));
    const latest = await results.latest();
    assert.equal(latest.length, LATEST_CAP);
    assert.deepEqual(
      latest.slice(0, 3).map((r) => r.path),
      ['f5.txt', `f${LATEST_CAP + 9}.txt`, `f${LATEST_CAP + 8}.txt`],
    );
    assert.equal(latest[0]?.status, 'failed', 'the row as it is now, not as it was when listed');
    assert.equal(new Set(latest.map((r) => r.path)).size, LATEST_CAP, 'a file saved twice is listed once');
    assert.equal(await redis.client().llen(results.keys.latest), LATEST_CAP);
  });

  test('each error code keeps its newest example, which goes when that file gets another row', async () => {
    const results = new RunResults(redis.client(), 'examples');
    await results.save(failed('a.txt', 'a went wrong'));
    await results.save(failed('b.txt', 'b went wrong'));
    assert.deepEqual(await results.errorExamples(), { server_error: { path: 'b.txt', message: 'b went wrong' } });
    await results.save(ok('a.txt'));
    assert.deepEqual(await results.errorExamples(), { server_error: { path: 'b.txt', message: 'b went wrong' } }, 'another file fixed: the example stays');
    await results.save(ok('b.txt'));
    assert.deepEqual(await results.errorExamples(), {}, 'the example file is ok now: no stale example');
    assert.deepEqual((await results.totals()).errors, {});
  });

  test('runs are listed newest first, by their latest enqueue', async () => {
    const c = redis.client();
    await c.del(RUNS_KEY);
    await new RunResults(c, 'older').register(Date.parse('2025-01-01T00:00:00.000Z'));
    await new RunResults(c, 'newer').register(Date.parse('2025-06-01T00:00:00.000Z'));
    assert.deepEqual(await listRunIds(c, 10), ['newer', 'older']);
    assert.deepEqual(await listRunIds(c, 1), ['newer']);
    // Enqueued again later (a schedule firing): first in the list; an earlier time never moves it back.
    await new RunResults(c, 'older').register(Date.parse('2025-07-01T00:00:00.000Z'));
    await new RunResults(c, 'older').register(Date.parse('2025-02-01T00:00:00.000Z'));
    assert.deepEqual(await listRunIds(c, 10), ['older', 'newer']);
  });
});
