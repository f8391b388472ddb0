/**
 * A distributed worker sends each job with its own dialect's key: the DashScope key to DashScope only, OMNI_API_KEY
 * to a server of your own. Real redis-server, worker processes of the built CLI, the real openai SDK against the
 * stand-in, whose /v1 face (a vLLM server) accepts only its own key.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runCli, runMain, tempDir } from './helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';

const DS_KEY = 'sk-SENTINEL-dashscope-7f3a91c2';
const OMNI_KEY = 'vllm-SENTINEL-own-gpus-52be04d8';
const MODEL = 'qwen2.5-omni-7b';

let api: StandIn;
let redis: TestRedis;
before(async () => {
  api = await startStandIn({ apiKey: DS_KEY, dialectKeys: { 'vllm-omni': OMNI_KEY } });
  redis = await startRedis();
});
after(async () => {
  await api.close();
  await redis.close();
});

function spawnWorker(env: Record<string, string>) {
  let child: import('node:child_process').ChildProcess | undefined;
  const done = runCli(['worker', '--redis', redis.url, '--concurrency', '2', '--lock-duration', '30', '--allow-base-url', api.baseURL, '--allow-base-url', api.vllmBaseURL], {
    env,
    onSpawn: (c) => (child = c),
    timeoutMs: 120_000,
  });
  return { stop: () => (child?.kill('SIGTERM'), done), done };
}

async function textFiles(n: number, prefix: string): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (let i = 0; i < n; i++) await writeFile(path.join(dir, 'media', `${prefix}${i}.txt`), `text ${prefix} ${i}`);
  return dir;
}

/** Runs a folder of 3 texts through the workers in one dialect; its rows and what the stand-in got. */
async function runThrough(d: 'dashscope' | 'vllm-omni', env: Record<string, string>) {
  const dir = await textFiles(3, d);
  const out = path.join(dir, 'out.jsonl');
  const from = api.requests.length;
  const r = await runMain(['run', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--model', MODEL, '--api', d, '--base-url', d === 'dashscope' ? api.baseURL : api.vllmBaseURL, '--out', out, '--redis', redis.url], { env, timeoutMs: 100_000 });
  return { r, rows: await readOutputRows(out), sent: api.requests.slice(from) };
}

const bearer = (q: { headers: Record<string, string | string[] | undefined> }) => String(q.headers['authorization'] ?? '');

describe('a worker picks the key by the job', () => {
  test('with both keys: vLLM jobs go with OMNI_API_KEY, DashScope jobs with DASHSCOPE_API_KEY; /v1 never sees the DashScope key', async () => {
    const w = spawnWorker({ DASHSCOPE_API_KEY: DS_KEY, OMNI_API_KEY: OMNI_KEY });
    try {
      const own = await runThrough('vllm-omni', { OMNI_API_KEY: OMNI_KEY });
      assert.equal(own.r.code, 0, own.r.stderr);
      assert.deepEqual(own.rows.map((x) => x.status), ['ok', 'ok', 'ok'], JSON.stringify(own.rows));
      const ds = await runThrough('dashscope', { DASHSCOPE_API_KEY: DS_KEY });
      assert.equal(ds.r.code, 0, ds.r.stderr);
      assert.deepEqual(ds.rows.map((x) => x.status), ['ok', 'ok', 'ok'], JSON.stringify(ds.rows));
      const v1 = api.requests.filter((q) => q.path.startsWith('/v1/'));
      assert.equal(v1.length, 3);
      assert.ok(v1.every((q) => bearer(q) === `Bearer ${OMNI_KEY}`), 'the vLLM server got its own key');
      assert.ok(!api.requests.some((q) => q.path.startsWith('/v1/') && bearer(q).includes(DS_KEY)), 'the DashScope key never went to /v1');
      assert.ok(ds.sent.every((q) => q.path.startsWith('/compatible-mode/') && bearer(q) === `Bearer ${DS_KEY}`));
    } finally {
      await w.stop();
    }
  });

  test('a vLLM-only worker starts without a DashScope key; a DashScope job it gets is a failed row naming the variable, nothing sent', async () => {
    const w = spawnWorker({ OMNI_API_KEY: OMNI_KEY });
    try {
      const own = await runThrough('vllm-omni', { OMNI_API_KEY: OMNI_KEY });
      assert.equal(own.r.code, 0, own.r.stderr);
      assert.deepEqual(own.rows.map((x) => x.status), ['ok', 'ok', 'ok']);
      const ds = await runThrough('dashscope', { DASHSCOPE_API_KEY: DS_KEY });
      assert.equal(ds.sent.length, 0, 'nothing sent without the key');
      assert.equal(ds.rows.length, 3);
      for (const row of ds.rows) {
        assert.equal(row.status, 'failed');
        assert.equal(row.error_code, 'auth_failed');
        assert.match(row.error_message, /the dashscope dialect needs DASHSCOPE_API_KEY, and worker host .* has none/);
      }
    } finally {
      await w.stop();
    }
  });

  test('a worker with neither key refuses to start, naming both variables', async () => {
    const r = await runCli(['worker', '--redis', redis.url], { env: {}, timeoutMs: 30_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /neither DASHSCOPE_API_KEY nor OMNI_API_KEY is set/);
  });
});
