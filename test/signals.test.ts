/** Ctrl-C: once drains and flushes, twice stops at once; either way the output stays parseable and a rerun completes it. */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { parse } from 'csv-parse/sync';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { runCli, tempDir, waitFor } from './helpers.js';

const KEY = 'sk-signals-test-key-000000000000';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());

async function rows(file: string): Promise<Record<string, string>[]> {
  return parse<Record<string, string>>(await readFile(file, 'utf8').catch(() => ''), { columns: true });
}

async function setup(n: number): Promise<{ dir: string; job: string; out: string }> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (let i = 0; i < n; i++) await writeFile(path.join(dir, 'media', `${String(i).padStart(2, '0')}.txt`), `text ${i}`);
  const job = path.join(dir, 'job.yaml');
  await writeFile(job, 'inputs: [media]\nprompt: Title\nconcurrency: 2\noutput: out.csv\n');
  return { dir, job, out: path.join(dir, 'out.csv') };
}

describe('stopping a run', () => {
  test('one Ctrl-C finishes the files in flight, writes them, exits 130, and the rerun completes the rest', async () => {
    const { dir, job, out } = await setup(12);
    api.setOptions({ latencyMs: 300 });
    let child: ChildProcess | undefined;
    try {
      const running = runCli(['run', job], { env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL }, cwd: dir, onSpawn: (c) => (child = c) });
      await waitFor(async () => (await rows(out)).length >= 1, 'the first row');
      child?.kill('SIGINT');
      const r = await running;
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /stopping: finishing the files in flight/);
    } finally {
      api.setOptions({ latencyMs: 0 });
    }
    const first = await rows(out);
    assert.ok(first.length >= 1 && first.length < 12, `${first.length} rows after the first Ctrl-C`);
    assert.ok(first.every((x) => x.status === 'ok'), 'in-flight files finished and were written');
    const totals = JSON.parse(await readFile(path.join(dir, 'out.totals.json'), 'utf8'));
    assert.equal(totals.run.interrupted, true);
    const from = api.requests.length;
    const r2 = await runCli(['run', job], { env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL }, cwd: dir });
    assert.equal(r2.code, 0, r2.stderr);
    const all = await rows(out);
    assert.equal(all.length, 12);
    assert.equal(new Set(all.map((x) => x.path)).size, 12);
    assert.equal(api.requests.length - from, 12 - first.length, 'the rerun sent only the files without a row');
  });

  test('a second Ctrl-C stops at once even while streams hang, and the output stays parseable', async () => {
    const { dir, job, out } = await setup(6);
    api.setOptions({ faults: () => ({ type: 'stall', afterChunks: 1 }) });
    let child: ChildProcess | undefined;
    let r;
    try {
      const running = runCli(['run', job], { env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL }, cwd: dir, onSpawn: (c) => (child = c) });
      await waitFor(() => api.inFlight >= 2, 'two hanging streams');
      child?.kill('SIGINT');
      await delay(100);
      const stoppedAt = Date.now();
      child?.kill('SIGINT');
      r = await running;
      assert.ok(Date.now() - stoppedAt < 5000, 'stopped promptly');
    } finally {
      api.setOptions({ faults: undefined });
    }
    assert.equal(r.code, 130, r.stderr);
    assert.match(r.stderr, /stopping now/);
    assert.deepEqual(await rows(out), [], 'no row for the files that were cut off; the header is intact');
    const r2 = await runCli(['run', job], { env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL }, cwd: dir });
    assert.equal(r2.code, 0, r2.stderr);
    const all = await rows(out);
    assert.equal(all.length, 6);
    assert.ok(all.every((x) => x.status === 'ok'));
  });

  test('a run killed with SIGKILL leaves its temp folder behind; the next run removes it, and its own', async () => {
    const { dir, job, out } = await setup(8);
    const tmp = path.join(dir, 'tmp');
    await mkdir(tmp);
    const env = { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL, TMPDIR: tmp };
    // A folder of a live process of this host is not touched.
    const liveName = `omni-batch-worker-${os.hostname().replace(/[^A-Za-z0-9.]/g, '_')}-${process.pid}-abcdef`;
    await mkdir(path.join(tmp, liveName));
    api.setOptions({ latencyMs: 300 });
    let child: ChildProcess | undefined;
    try {
      const running = runCli(['run', job], { env, cwd: dir, onSpawn: (c) => (child = c) });
      await waitFor(async () => (await rows(out)).length >= 1, 'the first row');
      child?.kill('SIGKILL');
      const r = await running;
      assert.equal(r.signal, 'SIGKILL');
    } finally {
      api.setOptions({ latencyMs: 0 });
    }
    const left = (await readdir(tmp)).filter((n) => n.startsWith('omni-batch-run-'));
    assert.equal(left.length, 1, `the killed run's folder: ${left.join(', ')}`);
    assert.ok(left[0]?.includes(`-${child?.pid}-`), 'named with the pid');
    const r2 = await runCli(['run', job], { env, cwd: dir });
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal((await rows(out)).length, 8);
    assert.deepEqual((await readdir(tmp)).sort(), [liveName], 'the dead run\'s folder and the rerun\'s own are gone');
  });
});
