/**
 * Redis going away under a follower (`run --redis`) or a worker (issue 13, case 8): one line when it goes, one when
 * it is back, no stack trace, the password masked; a give-up time after which they exit 6 naming the URL; and a
 * worker told to stop while Redis is gone exits within its drain timeout. Processes of the built CLI (what they
 * print outside our own logging matters), a real password-protected redis-server, the stand-in.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { runCli, runMain, tempDir, waitFor, type CliResult } from './helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';

const KEY = 'sk-SENTINEL-outage-0b7d33e1';
const PASSWORD = 'hunter2-outage';

let api: StandIn;
let redis: TestRedis;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
  redis = await startRedis({ password: PASSWORD });
});
after(async () => {
  await api.close();
  await redis.close();
});

async function textFiles(n: number, prefix: string): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (let i = 0; i < n; i++) await writeFile(path.join(dir, 'media', `${prefix}${i}.txt`), `${prefix} text ${i}`);
  return dir;
}

/** A CLI process whose stderr can be watched while it runs. */
function start(args: string[], env: Record<string, string>): { stderr: () => string; child: () => ChildProcess; done: Promise<CliResult> } {
  let err = '';
  let proc: ChildProcess | undefined;
  const done = runCli(args, {
    // A worker sends its key only where its own configuration allows: here, the stand-in.
    env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL, ...env },
    timeoutMs: 60_000,
    onSpawn: (c) => {
      proc = c;
      c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    },
  });
  return { stderr: () => err, child: () => proc as ChildProcess, done };
}

const count = (text: string, re: RegExp) => text.split('\n').filter((l) => re.test(l)).length;
const masked = () => new RegExp(`redis://:\\*\\*\\*@127\\.0\\.0\\.1:${redis.port}`);

/** No stack trace, no password: the output a person reads. */
function assertClean(text: string): void {
  assert.doesNotMatch(text, /^\s+at /m, 'no stack trace');
  assert.ok(!text.includes(PASSWORD), 'the password is masked');
}

describe('a follower whose Redis goes away', () => {
  test('says so once, and gives up after OMNI_BATCH_REDIS_GIVE_UP with exit 6 naming the URL, password masked', async () => {
    const dir = await textFiles(3, 'gone');
    const run = start(['run', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', path.join(dir, 'out.jsonl'), '--redis', redis.url, '--base-url', api.baseURL], { OMNI_BATCH_REDIS_GIVE_UP: '2' });
    try {
      await waitFor(() => /following it/.test(run.stderr()), 'the follower to start', 30_000);
      await redis.stop();
      const r = await run.done;
      assert.equal(r.code, 6, r.stderr);
      assert.equal(count(r.stderr, /lost Redis at/), 1, r.stderr);
      assert.match(r.stderr, new RegExp(`lost Redis at ${masked().source}`));
      assert.match(r.stderr, new RegExp(`omni-batch: Redis at ${masked().source}\\S* has been gone for 2 s \\(.*\\): giving up; the rows saved so far are in \\S+out\\.jsonl; run the same command again`));
      assertClean(r.stderr + r.stdout);
    } finally {
      await redis.start();
    }
  });

  test('says once that it went and once that it is back, then finishes the run', async () => {
    const dir = await textFiles(3, 'back');
    const run = start(['run', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', path.join(dir, 'out.jsonl'), '--redis', redis.url, '--base-url', api.baseURL], {});
    await waitFor(() => /following it/.test(run.stderr()), 'the follower to start', 30_000);
    await redis.stop();
    await waitFor(() => /lost Redis at/.test(run.stderr()), 'the follower to say Redis is gone', 30_000);
    await redis.start();
    await waitFor(() => /is back/.test(run.stderr()), 'the follower to say Redis is back', 30_000);
    const worker = start(['worker', '--redis', redis.url], {});
    try {
      const r = await run.done;
      assert.equal(r.code, 0, r.stderr);
      assert.equal(count(r.stderr, /lost Redis at/), 1, r.stderr);
      assert.equal(count(r.stderr, new RegExp(`Redis at ${masked().source}\\S* is back`)), 1, r.stderr);
      assertClean(r.stderr + r.stdout);
    } finally {
      worker.child().kill('SIGTERM');
      await worker.done;
    }
  });
});

describe('a worker whose Redis goes away', () => {
  test('told to stop while Redis is gone, exits within its drain timeout', async () => {
    const dir = await textFiles(2, 'drain');
    api.setOptions({ latencyMs: 3_000 });
    const worker = start(['worker', '--redis', redis.url, '--drain-timeout', '1'], {});
    try {
      await waitFor(() => /ready/.test(worker.stderr()), 'the worker to start', 30_000);
      const enq = await runMain(['enqueue', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', path.join(dir, 'out.jsonl'), '--redis', redis.url, '--base-url', api.baseURL]);
      assert.equal(enq.code, 0, enq.stderr);
      await waitFor(() => api.inFlight >= 1, 'a job in hand', 30_000);
      await redis.stop();
      await waitFor(() => /lost Redis at/.test(worker.stderr()), 'the worker to say Redis is gone', 30_000);
      worker.child().kill('SIGTERM');
      // runCli's own timeout bounds the hang this used to be (11 minutes past a 120-s drain).
      const r = await worker.done;
      assert.equal(r.code, 130, r.stderr);
      assert.equal(count(r.stderr, /lost Redis at/), 1, r.stderr);
      assert.doesNotMatch(r.stderr, /ECONNREFUSED.*\n.*ECONNREFUSED/, 'not a line per reconnect attempt');
      assertClean(r.stderr + r.stdout);
    } finally {
      api.setOptions({ latencyMs: 0 });
      await redis.start();
    }
  });

  test('gives up after OMNI_BATCH_REDIS_GIVE_UP with exit 6 naming the URL, password masked', async () => {
    // Giving up drains the jobs in hand for min(--drain-timeout, 10 s) first; this worker holds none.
    const worker = start(['worker', '--redis', redis.url, '--drain-timeout', '1'], { OMNI_BATCH_REDIS_GIVE_UP: '2' });
    try {
      await waitFor(() => /ready/.test(worker.stderr()), 'the worker to start', 30_000);
      await redis.stop();
      const r = await worker.done;
      assert.equal(r.code, 6, r.stderr);
      assert.equal(count(r.stderr, /lost Redis at/), 1, r.stderr);
      assert.match(r.stderr, new RegExp(`omni-batch: Redis at ${masked().source}\\S* has been gone for 2 s .*giving up; its jobs go back to the queue`));
      assertClean(r.stderr + r.stdout);
    } finally {
      await redis.start();
    }
  });
});
