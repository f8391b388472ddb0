/** Ctrl-C: once drains and flushes, twice stops at once; either way the output stays parseable and a rerun completes it. */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { parse } from 'csv-parse/sync';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { CLI, runCli, tempDir, waitFor } from './helpers.js';
import { bigCorpus } from './corpus.js';

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
    const totals = JSON.parse(await readFile(path.join(dir, 'out.csv.totals.json'), 'utf8'));
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
    const host = `${os.hostname().replace(/[^A-Za-z0-9.]/g, '_')}~${/\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1]}`;
    const liveName = `omni-batch-worker-${host}-${process.pid}-abcdef`;
    await mkdir(path.join(tmp, liveName));
    // One of a process in another pid namespace (a container sharing this /tmp): its pid says nothing here.
    const otherNamespace = `omni-batch-worker-${host.replace(/~\d+$/, '~1')}-999999-abcdef`;
    await mkdir(path.join(tmp, otherNamespace));
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
    assert.deepEqual((await readdir(tmp)).sort(), [liveName, otherNamespace].sort(), 'the dead run\'s folder and the rerun\'s own are gone');
  });

  test('a Ctrl-C in the terminal reaches omni-batch, not its ffmpeg: the video being fitted still finishes', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'media'));
    await copyFile(path.join(await bigCorpus(), 'video-2min-1080p.mp4'), path.join(dir, 'media', 'long.mp4'));
    const out = path.join(dir, 'out.csv');
    // Started as a shell starts a job: a process group of its own, which a terminal's Ctrl-C is sent to whole.
    const child = spawn(process.execPath, [CLI, 'run', '--input', 'media', '--prompt', 'Describe', '--video-mode', 'frames', '--out', out], {
      cwd: dir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL, OMNI_BATCH_RPM: '0', OMNI_BATCH_TPM: '0' },
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    const fitting = () => {
      try {
        return execFileSync('pgrep', ['-af', 'ffmpeg'], { encoding: 'utf8' }).split('\n').some((l) => l.includes('-hide_banner') && l.includes(path.join(dir, 'media', 'long.mp4')));
      } catch {
        return false; // pgrep exits 1 when nothing matches
      }
    };
    await waitFor(fitting, 'ffmpeg to be taking the frames of the video', 60_000);
    process.kill(-(child.pid ?? 0), 'SIGINT');
    assert.equal(await closed, 130, stderr);
    assert.match(stderr, /stopping: finishing the files in flight/);
    const [row] = await rows(out);
    assert.equal(row?.status, 'ok', `${row?.error_code}: ${row?.error_message}`);
    assert.match(row?.preprocess ?? '', /frames/);
  });
});
