/**
 * An API host that cannot be reached (issue 13, case 11): nothing listening, a name that does not resolve. The
 * run stops after the first few connection failures with one line naming the host and the reason, exit 3, no row
 * for the files it did not do, and the next run (the host back) does them all. A worker that cannot reach the
 * host stops taking jobs (exit 3) and leaves them queued, instead of burning every job's retries.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readOutputRows, runCli, runMain, tempDir } from './helpers.js';
import { freePort, startRedis, type TestRedis } from './redis-server.js';
import { startStandIn } from './stand-in/server.js';

const KEY = 'sk-SENTINEL-unreachable-0d93b7e2c1a4';

async function textFiles(n: number): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (let i = 0; i < n; i++) await writeFile(path.join(dir, 'media', `f${String(i).padStart(2, '0')}.txt`), `text ${i}`);
  return dir;
}

/** The lines of stderr that are not progress lines. */
const notes = (stderr: string) => stderr.split('\n').filter((l) => l && !l.includes('progress:'));

describe('an API host that cannot be reached', () => {
  test('nothing listening: the run stops with one line naming the host and ECONNREFUSED, exit 3, and the next run does every file', async () => {
    const dir = await textFiles(20);
    const port = await freePort();
    const baseURL = `http://127.0.0.1:${port}/compatible-mode/v1`;
    const out = path.join(dir, 'out.jsonl');
    const args = ['run', '--input', path.join(dir, 'media'), '--prompt', 'Read {{file.name}}', '--out', out, '--concurrency', '2', '--base-url', baseURL];
    const r = await runMain(args, { env: { DASHSCOPE_API_KEY: KEY }, timeoutMs: 90_000 });
    assert.equal(r.code, 3, r.stderr);
    const unreachable = notes(r.stderr).filter((l) => l.includes(`127.0.0.1:${port}`));
    assert.equal(unreachable.length, 1, r.stderr);
    assert.match(unreachable[0] ?? '', /ECONNREFUSED.*api_unreachable.*--base-url/);
    assert.ok(!r.stderr.includes('    at '), 'no stack trace');
    // Not a row per file with six tries each: no file has a row, so the next run does them all.
    assert.deepEqual(await readOutputRows(out), []);
    const api = await startStandIn({ apiKey: KEY, port });
    try {
      const again = await runMain(args, { env: { DASHSCOPE_API_KEY: KEY }, timeoutMs: 60_000 });
      assert.equal(again.code, 0, again.stderr);
      const rows = await readOutputRows(out);
      assert.equal(rows.length, 20);
      assert.ok(rows.every((x) => x.status === 'ok'));
      assert.equal(api.requests.length, 20);
    } finally {
      await api.close();
    }
  });

  test('a host name that does not resolve: the run stops naming the host and ENOTFOUND, exit 3', async () => {
    const dir = await textFiles(8);
    const out = path.join(dir, 'out.csv');
    const r = await runMain(['run', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', out, '--base-url', 'https://omni-batch-test.invalid/compatible-mode/v1'], {
      env: { DASHSCOPE_API_KEY: KEY },
      timeoutMs: 90_000,
    });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /omni-batch-test\.invalid \((ENOTFOUND|EAI_AGAIN)\)/);
    assert.deepEqual(await readOutputRows(out), []);
  });
});

describe('a worker that cannot reach the API host', () => {
  let redis: TestRedis;
  before(async () => {
    redis = await startRedis();
  });
  after(() => redis.close());

  test('stops taking jobs with one line naming the host (exit 3), and its jobs stay queued with no row', async () => {
    const dir = await textFiles(12);
    const port = await freePort();
    const baseURL = `http://127.0.0.1:${port}/compatible-mode/v1`;
    const enq = await runMain(['enqueue', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', path.join(dir, 'out.csv'), '--redis', redis.url, '--base-url', baseURL]);
    assert.equal(enq.code, 0, enq.stderr);
    const runId = enq.stdout.trim();
    const w = await runCli(['worker', '--redis', redis.url, '--concurrency', '4', '--allow-base-url', baseURL], { env: { DASHSCOPE_API_KEY: KEY }, timeoutMs: 90_000 });
    assert.equal(w.code, 3, w.stderr);
    assert.match(w.stderr, new RegExp(`cannot reach the API .*127\\.0\\.0\\.1:${port} \\(ECONNREFUSED\\).*worker stopping`));
    assert.ok(!w.stderr.includes('    at '), 'no stack trace');
    const c = redis.client();
    assert.equal(await c.scard(`{omni-batch}:run:${runId}:pending`), 12, 'every job is still to do');
    assert.equal(await c.hlen(`{omni-batch}:run:${runId}:rows`).catch(() => 0), 0);
  });
});
