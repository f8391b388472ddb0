/**
 * A Redis that may lose a run's keys is refused, a run that lacks rows is not collected as complete, and a run Redis
 * lost is told apart from a mistyped run id (issue 13, case 1). Real redis-server on free ports, the real openai SDK
 * against the stand-in.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { runCli, runMain, tempDir } from './helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';

const KEY = 'sk-SENTINEL-eviction-77c1d0e2';

let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());

async function textFiles(n: number): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (let i = 0; i < n; i++) await writeFile(path.join(dir, 'media', `e${i}.txt`), `text ${i}`);
  return dir;
}

const enqueueArgs = (dir: string, url: string) => ['enqueue', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', path.join(dir, 'out.jsonl'), '--redis', url, '--base-url', api.baseURL];

describe('a Redis that may evict keys', () => {
  let lru: TestRedis;
  let hidden: TestRedis;
  before(async () => {
    lru = await startRedis({ args: ['--maxmemory', '4mb', '--maxmemory-policy', 'allkeys-lru'] });
    // A managed Redis that refuses CONFIG: the policy is read from INFO memory.
    hidden = await startRedis({ args: ['--maxmemory-policy', 'volatile-lru', '--rename-command', 'CONFIG', '""'] });
  });
  after(async () => {
    await lru.close();
    await hidden.close();
  });

  test('is refused by the producer, the worker and the collector, with one line that says how to fix it', async () => {
    const dir = await textFiles(3);
    const refused = /^omni-batch: Redis redis:\/\/127\.0\.0\.1:\d+ may evict keys \(maxmemory-policy allkeys-lru\): .* set maxmemory-policy noeviction \(redis-cli CONFIG SET maxmemory-policy noeviction/;
    const enq = await runMain(enqueueArgs(dir, lru.url));
    assert.equal(enq.code, 2, enq.stderr);
    assert.match(enq.stderr, refused);
    assert.equal(enq.stderr.trim().split('\n').length, 1, enq.stderr);
    assert.equal(await lru.client().dbsize(), 0, 'nothing was enqueued');
    const worker = await runMain(['worker', '--redis', lru.url], { env: { DASHSCOPE_API_KEY: KEY } });
    assert.equal(worker.code, 2, worker.stderr);
    assert.match(worker.stderr, refused);
    const col = await runMain(['collect', 'any-run', '--redis', lru.url]);
    assert.equal(col.code, 2, col.stderr);
    assert.match(col.stderr, refused);
    const run = await runMain(['run', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', path.join(dir, 'o.csv'), '--redis', lru.url], { env: { DASHSCOPE_API_KEY: KEY } });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, refused);
  });

  test('is refused when CONFIG is not allowed: the policy is read from INFO memory', async () => {
    const dir = await textFiles(1);
    const enq = await runMain(enqueueArgs(dir, hidden.url));
    assert.equal(enq.code, 2, enq.stderr);
    assert.match(enq.stderr, /may evict keys \(maxmemory-policy volatile-lru\)/);
  });

  test('is not refused by status, which only reads', async () => {
    const st = await runMain(['status', 'nope', '--redis', lru.url]);
    assert.doesNotMatch(st.stderr, /may evict keys/);
  });
});

describe('collect and a run that lacks rows', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.close());

  test('collect of a run whose jobs are still queued writes what there is and exits 6 naming what is missing', async () => {
    const dir = await textFiles(4);
    const enq = await runMain(enqueueArgs(dir, redis.url));
    assert.equal(enq.code, 0, enq.stderr);
    const runId = enq.stdout.trim();
    const col = await runMain(['collect', runId, '--redis', redis.url]);
    assert.equal(col.code, 6, col.stderr);
    assert.match(col.stderr, new RegExp(`^omni-batch: run ${runId} is not complete: 0 rows for 4 files, 4 jobs still queued or running; \\S+out\\.jsonl has the 0 rows there are`, 'm'));
  });

  test('collect of a run that lost rows in Redis exits 6 naming how many are missing', async () => {
    const dir = await textFiles(5);
    const job = path.join(dir, 'job.yaml');
    await writeFile(job, `inputs: [media]\nprompt: Read\noutput: out.jsonl\nbaseUrl: ${api.baseURL}\n`);
    let worker: ChildProcess | undefined;
    const done = runCli(['worker', '--redis', redis.url], { env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL }, onSpawn: (c) => (worker = c) });
    const run = await runMain(['run', job, '--redis', redis.url], { env: { DASHSCOPE_API_KEY: KEY } });
    worker?.kill('SIGTERM');
    await done;
    assert.equal(run.code, 0, run.stderr);
    const runId = (JSON.parse(await readFile(path.join(dir, 'out.jsonl.run.json'), 'utf8')) as { runId: string }).runId;
    // What eviction does to a finished run: two rows gone.
    const removed = await redis.client().hdel(`{omni-batch}:run:${runId}:rows`, path.join(dir, 'media/e0.txt'), path.join(dir, 'media/e1.txt'));
    assert.equal(removed, 2, JSON.stringify(await redis.client().hkeys(`{omni-batch}:run:${runId}:rows`)));
    // Into another output: collecting over out.jsonl would take the two rows back from it (see redis-lost.test.ts).
    const col = await runMain(['collect', runId, '--out', path.join(dir, 'other.jsonl'), '--redis', redis.url]);
    assert.equal(col.code, 6, col.stderr);
    assert.match(col.stderr, new RegExp(`run ${runId} is not complete: 3 rows for 5 files, 2 rows missing from Redis \\(lost: evicted or flushed\\)`));
  });

  test('a mistyped run id names the runs Redis has; a run Redis lost says the output\'s ok rows are safe', async () => {
    const dir = await textFiles(2);
    const job = path.join(dir, 'job.yaml');
    await writeFile(job, `inputs: [media]\nprompt: Read\noutput: out.jsonl\nbaseUrl: ${api.baseURL}\n`);
    const enq = await runMain(['enqueue', job, '--redis', redis.url]);
    const runId = enq.stdout.trim();
    const typo = await runMain(['collect', `${runId}x`, '--redis', redis.url]);
    assert.equal(typo.code, 2, typo.stderr);
    assert.match(typo.stderr, new RegExp(`^omni-batch: no run ${runId}x in this Redis \\(runs in it: [^)]*${runId}[^)]*\\); check the run id`));
    // The output names its run (.run.json): a collect with --out after Redis lost everything knows it was lost.
    await writeFile(path.join(dir, 'out.jsonl.run.json'), JSON.stringify({ version: 1, runId, config: {} }));
    await redis.client().flushall();
    const lost = await runMain(['collect', runId, '--out', path.join(dir, 'out.jsonl'), '--redis', redis.url]);
    assert.equal(lost.code, 6, lost.stderr);
    assert.match(lost.stderr, new RegExp(`^omni-batch: run ${runId} is gone from Redis \\(\\S+out\\.jsonl was written by it: flushed, restarted without AOF, or keys evicted\\); the ok rows already in \\S+out\\.jsonl are safe`));
    // Without the output: a Redis with no run at all was flushed or restarted, not given a wrong id.
    const empty = await runMain(['status', runId, '--redis', redis.url]);
    assert.equal(empty.code, 6, empty.stderr);
    assert.match(empty.stderr, /is gone from Redis \(this Redis has no omni-batch run at all: .*the ok rows in the run's output file are safe/);
  });
});
