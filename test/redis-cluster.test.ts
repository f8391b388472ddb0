/**
 * Redis Cluster and the URL's credentials and db number (issue 13, case 12): a run on a real 3-node cluster started
 * here, named by `redis+cluster://`, ends with one row per file (it used to fail with MOVED unless the URL named the
 * node owning the slot); a wrong or missing password says "authentication failed"; a db number the server does not
 * have is refused before anything is enqueued.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runCli, runMain, tempDir } from './helpers.js';
import { startCluster, startRedis, type TestCluster, type TestRedis } from './redis-server.js';

const KEY = 'sk-SENTINEL-cluster-3f9a0c55';

let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());

async function textFiles(n: number, prefix: string): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (let i = 0; i < n; i++) await writeFile(path.join(dir, 'media', `${prefix}${i}.txt`), `${prefix} text ${i}`);
  return dir;
}

describe('Redis Cluster', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startCluster();
  });
  after(() => cluster.close());

  test('run --redis redis+cluster://... with a worker gives every file exactly one row', async () => {
    const dir = await textFiles(12, 'c');
    const out = path.join(dir, 'out.jsonl');
    let worker: ChildProcess | undefined;
    const done = runCli(['worker', '--redis', cluster.url, '--concurrency', '4'], { env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL }, onSpawn: (c) => (worker = c), timeoutMs: 120_000 });
    try {
      const from = api.requests.length;
      const r = await runMain(['run', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', out, '--redis', cluster.url, '--base-url', api.baseURL], {
        env: { DASHSCOPE_API_KEY: KEY },
        timeoutMs: 120_000,
      });
      assert.equal(r.code, 0, r.stderr);
      const rows = await readOutputRows(out);
      assert.equal(rows.length, 12);
      assert.equal(new Set(rows.map((x) => x.path)).size, 12);
      assert.ok(rows.every((x) => x.status === 'ok'), JSON.stringify(rows.filter((x) => x.status !== 'ok')));
      assert.equal(api.requests.length - from, 12);
      const status = await runMain(['status', (await readRunId(out)) ?? '', '--redis', cluster.url]);
      assert.match(status.stdout, /12 rows \(12 ok, 0 failed, 0 skipped\)/);
    } finally {
      worker?.kill('SIGTERM');
      const w = await done;
      assert.doesNotMatch(w.stderr, /MOVED|CROSSSLOT/, w.stderr);
    }
  });

  test('a cluster URL with a db number other than 0 is refused', async () => {
    const url = `${cluster.url}/3`;
    const r = await runMain(['status', 'x', '--redis', url]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /Redis Cluster has only db 0, received db 3/);
  });
});

async function readRunId(out: string): Promise<string | undefined> {
  const { readFile } = await import('node:fs/promises');
  return (JSON.parse(await readFile(`${out}.run.json`, 'utf8')) as { runId?: string }).runId;
}

describe('the URL of a single Redis', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis({ password: 'right-pass' });
  });
  after(() => redis.close());

  test('a wrong or missing password says authentication failed, not cannot reach, and never shows the password', async () => {
    for (const url of [`redis://:wrong-pass@127.0.0.1:${redis.port}`, `redis://127.0.0.1:${redis.port}`, `redis://someone:wrong-pass@127.0.0.1:${redis.port}`]) {
      const r = await runMain(['status', 'x', '--redis', url]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /^omni-batch: authentication failed at Redis redis:\/\/(someone:\*\*\*@|:\*\*\*@)?127\.0\.0\.1:\d+\/? \((WRONGPASS|NOAUTH)[^)]*\): fix the user and password in the URL\n$/);
      assert.ok(!r.stderr.includes('wrong-pass'));
    }
  });

  test('a db number the server does not have is refused before anything is enqueued', async () => {
    const dir = await textFiles(2, 'db');
    const r = await runMain(['enqueue', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', path.join(dir, 'o.jsonl'), '--redis', `redis://:right-pass@127.0.0.1:${redis.port}/99`]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^omni-batch: --redis: db 99 does not exist on Redis redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/99 \(it has 16: 0 to 15\)/);
    const c = redis.client();
    assert.equal(await c.dbsize(), 0, 'nothing in db 0');
  });
});
