/**
 * What a worker prints for the operator reading its logs: failed files and a totals line (text), or pino JSON
 * lines with one row event per finished job (json). A real worker process, redis-server and the stand-in.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { runCli, runMain, tempDir, waitFor, type CliResult } from './helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';

const KEY = 'sk-worker-log-test-7f3a';
let api: StandIn;
let redis: TestRedis;
before(async () => {
  api = await startStandIn({ apiKey: KEY, faults: ({ summary }) => (summary.lastUserText.includes('forbidden') ? { type: 'moderation' } : null) });
  redis = await startRedis();
});
after(async () => {
  await api.close();
  await redis.close();
});

/** Enqueues 3 good files and 1 the stand-in refuses, runs a worker with `--log mode` until they are done, stops it. */
async function workerRun(mode: string): Promise<{ runId: string; r: CliResult }> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (const n of ['a', 'b', 'c']) await writeFile(path.join(dir, 'media', `${n}.txt`), `text ${n}`);
  await writeFile(path.join(dir, 'media', 'bad.txt'), 'forbidden words');
  const enq = await runMain(['enqueue', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', path.join(dir, 'out.csv'), '--redis', redis.url, '--base-url', api.baseURL]);
  assert.equal(enq.code, 0, enq.stderr);
  const runId = enq.stdout.trim();
  let child: ChildProcess | undefined;
  const done = runCli(['worker', '--redis', redis.url, '--log', mode], {
    env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL, OMNI_BATCH_PROGRESS_MS: '100' },
    onSpawn: (c) => (child = c),
  });
  const c = redis.client();
  await waitFor(async () => (await c.scard(`{omni-batch}:run:${runId}:pending`)) === 0, 'the 4 jobs to be done');
  child?.kill('SIGTERM');
  const r = await done;
  assert.equal(r.code, 130, r.stderr);
  return { runId, r };
}

describe('worker logs', () => {
  test('--log json: pino lines, a row event per finished job with its run id (warn when failed), stats with the totals', async () => {
    const { runId, r } = await workerRun('json');
    const events = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);
    assert.ok(events.every((e) => typeof e.level === 'string' && typeof e.time === 'string'), 'every line is a pino object');
    const rows = events.filter((e) => e.event === 'row');
    assert.equal(rows.length, 4);
    assert.ok(rows.every((e) => e.run === runId));
    const failed = rows.filter((e) => e.status === 'failed');
    assert.deepEqual(failed.map((e) => [path.basename(String(e.path)), e.error_code, e.level]), [['bad.txt', 'moderation_blocked', 'warn']]);
    const stats = events.filter((e) => e.event === 'stats').at(-1);
    assert.deepEqual([stats?.done, stats?.ok, stats?.failed, stats?.failures], [4, 3, 1, { moderation_blocked: 1 }]);
    assert.ok(events.some((e) => e.event === 'log' && /^ready \(concurrency 4\)/.test(String(e.msg))));
    assert.ok(!r.stderr.includes(KEY));
  });

  test('--log text: the failed file with its reason, and a totals line', async () => {
    const { runId, r } = await workerRun('text');
    assert.match(r.stderr, /^omni-batch worker: ready/m);
    assert.match(r.stderr, new RegExp(`^omni-batch worker: failed \\S+bad\\.txt \\(run ${runId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): moderation_blocked: HTTP 400`, 'm'));
    assert.match(r.stderr, /^omni-batch worker: 4 jobs done since start: 3 ok, 1 failed \(moderation_blocked 1\); [\d.]+\/s$/m);
    const bad = await runMain(['worker', '--redis', redis.url, '--log', 'xml'], { env: { DASHSCOPE_API_KEY: KEY } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /option '--log <text\|json>' argument 'xml' is invalid\. Allowed choices are text, json\./);
  });
});
