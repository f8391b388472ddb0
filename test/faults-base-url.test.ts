/**
 * Where the API key goes (issue 13, case 6). A base URL with credentials is refused before anything runs, from
 * the flag, the job file or the environment, with one line that masks the password. A worker sends its key only
 * where its own configuration says: a job in Redis naming another host gets a failed row, base_url_not_allowed,
 * and not one request reaches that host.
 */
import assert from 'node:assert/strict';
import { access, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readOutputRows, runCli, runMain, tempDir, type CliResult } from './helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';
import { startStandIn, type StandIn } from './stand-in/server.js';

const KEY = 'sk-SENTINEL-base-url-5e0c7a92d4f1';
const PASSWORD = 'hunter2-gateway-pw';

let api: StandIn;
let redis: TestRedis;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
  redis = await startRedis();
});
after(async () => {
  await api.close();
  await redis.close();
});

async function textFiles(n: number): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (let i = 0; i < n; i++) await writeFile(path.join(dir, 'media', `f${i}.txt`), `text ${i}`);
  return dir;
}

/** The stand-in's base URL with a user name and password in it. */
const withCredentials = () => api.baseURL.replace('http://', `http://gateway-user:${PASSWORD}@`);

function refused(r: CliResult, source: string): void {
  assert.equal(r.code, 2, r.stderr);
  const lines = r.stderr.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0]?.includes(source), r.stderr);
  assert.match(lines[0] ?? '', /gateway-user:\*\*\*@127\.0\.0\.1.*user name or password.*proxy or a header/);
  assert.ok(!r.stderr.includes(PASSWORD) && !r.stdout.includes(PASSWORD), 'the password is shown');
}

describe('a base URL with credentials', () => {
  test('is refused before anything runs, from --base-url, the job file and DASHSCOPE_BASE_URL, with the password masked', async () => {
    const dir = await textFiles(2);
    const out = path.join(dir, 'out.csv');
    const common = ['--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', out];
    refused(await runMain(['run', ...common, '--base-url', withCredentials()], { env: { DASHSCOPE_API_KEY: KEY } }), '--base-url');
    const job = path.join(dir, 'job.json');
    await writeFile(job, JSON.stringify({ inputs: [path.join(dir, 'media')], prompt: 'Read', output: out, baseUrl: withCredentials() }));
    refused(await runMain(['run', job], { env: { DASHSCOPE_API_KEY: KEY } }), 'baseUrl in the job file');
    refused(await runMain(['run', ...common], { env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: withCredentials() } }), 'DASHSCOPE_BASE_URL');
    await assert.rejects(access(out), 'no output was started');
    assert.equal(api.requests.length, 0);
  });

  test('is refused by enqueue before anything is in Redis, and by a worker told to allow it', async () => {
    const dir = await textFiles(2);
    const c = redis.client();
    const before = await c.dbsize();
    const enq = await runMain(['enqueue', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', path.join(dir, 'out.csv'), '--redis', redis.url, '--base-url', withCredentials()]);
    refused(enq, '--base-url');
    assert.equal(await c.dbsize(), before, 'something was written to Redis');
    refused(await runMain(['worker', '--redis', redis.url, '--allow-base-url', withCredentials()], { env: { DASHSCOPE_API_KEY: KEY } }), '--allow-base-url');
  });
});

describe("a worker's key goes only where the worker's own configuration says", () => {
  test('a job naming a host the worker does not allow gets a failed row, base_url_not_allowed, and no request reaches it', async () => {
    const dir = await textFiles(3);
    const out = path.join(dir, 'out.csv');
    // A worker with no base URL of its own: DashScope's documented endpoints only.
    let child: import('node:child_process').ChildProcess | undefined;
    const worker = runCli(['worker', '--redis', redis.url, '--concurrency', '2'], { env: { DASHSCOPE_API_KEY: KEY }, onSpawn: (c) => (child = c), timeoutMs: 90_000 });
    const from = api.requests.length;
    const r = await runMain(['run', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', out, '--redis', redis.url, '--base-url', api.baseURL], { timeoutMs: 60_000 });
    child?.kill('SIGTERM');
    const w = await worker;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(api.requests.length - from, 0, 'the worker sent its key to the stand-in');
    const rows = await readOutputRows(out);
    assert.equal(rows.length, 3);
    const host = new URL(api.baseURL).host;
    for (const row of rows) {
      assert.equal(row.status, 'failed');
      assert.equal(row.error_code, 'base_url_not_allowed');
      assert.ok(row.error_message.includes(host), row.error_message);
      assert.ok(row.error_message.includes(`--allow-base-url ${new URL(api.baseURL).origin}`), row.error_message);
    }
    assert.ok(!(w.stdout + w.stderr + JSON.stringify(rows)).includes(KEY));

    // Allowed by the worker's own flag: the same files, sent there, are answered.
    const out2 = path.join(dir, 'allowed.csv');
    let allowed: import('node:child_process').ChildProcess | undefined;
    const second = runCli(['worker', '--redis', redis.url, '--allow-base-url', api.baseURL], { env: { DASHSCOPE_API_KEY: KEY }, onSpawn: (c) => (allowed = c), timeoutMs: 90_000 });
    const again = await runMain(['run', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', out2, '--redis', redis.url, '--base-url', api.baseURL], { timeoutMs: 60_000 });
    allowed?.kill('SIGTERM');
    await second;
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((await readOutputRows(out2)).map((row) => row.status), ['ok', 'ok', 'ok']);
    assert.equal(api.requests.length - from, 3);
  });
});
