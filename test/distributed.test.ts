/**
 * The distributed engine end to end: real redis-server on a free port, worker processes of the built CLI,
 * the real openai SDK against the DashScope stand-in.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { connectRedis } from '../src/engine/bullmq/connection.js';
import { jobsQueue } from '../src/engine/bullmq/queues.js';
import { RunResults } from '../src/engine/bullmq/results.js';
import { startWorker } from '../src/engine/bullmq/worker-host.js';
import { rowWithoutAnswer } from '../src/shared/row.js';
import { LIMIT_KEYS } from '../src/engine/bullmq/keys.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { FIXTURES, readOutputRows, runCli, runMain, tempDir, waitFor, type CliResult } from './helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';

const KEY = 'sk-SENTINEL-distributed-4b1d9e7f0a2c';

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

interface SpawnedWorker {
  child: () => ChildProcess;
  done: Promise<CliResult>;
}

function spawnWorker(extra: string[] = [], key = KEY, url = redis.url): SpawnedWorker {
  let child: ChildProcess | undefined;
  // A long lock by default: a job whose lock lapsed on a busy machine would be run again by another worker (and
  // paid twice); the test of a killed worker shortens it to see its job move on.
  const done = runCli(['worker', '--redis', url, '--concurrency', '4', '--lock-duration', '30', ...extra], {
    // The worker's own configuration allows the stand-in: a job's base URL alone would not.
    env: { DASHSCOPE_API_KEY: key, DASHSCOPE_BASE_URL: api.baseURL },
    onSpawn: (c) => (child = c),
    timeoutMs: 120_000,
  });
  return {
    child: () => {
      if (!child) throw new Error('worker not started');
      return child;
    },
    done,
  };
}

async function stopWorker(w: SpawnedWorker): Promise<CliResult> {
  w.child().kill('SIGTERM');
  return w.done;
}

async function textFiles(n: number, prefix = 'f'): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (let i = 0; i < n; i++) await writeFile(path.join(dir, 'media', `${prefix}${String(i).padStart(3, '0')}.txt`), `text ${prefix} ${i}`);
  return dir;
}

/** Every value of every key in Redis, as text, to search for a secret. */
async function dumpRedis(c: Redis): Promise<string> {
  const parts: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await c.scan(cursor, 'COUNT', 500);
    cursor = next;
    for (const key of keys) {
      parts.push(key);
      const type = await c.type(key);
      if (type === 'string') parts.push((await c.get(key)) ?? '');
      else if (type === 'hash') parts.push(JSON.stringify(await c.hgetall(key)));
      else if (type === 'list') parts.push(JSON.stringify(await c.lrange(key, 0, -1)));
      else if (type === 'set') parts.push(JSON.stringify(await c.smembers(key)));
      else if (type === 'zset') parts.push(JSON.stringify(await c.zrange(key, '0', '-1')));
      else if (type === 'stream') parts.push(JSON.stringify(await c.xrange(key, '-', '+')));
    }
  } while (cursor !== '0');
  return parts.join('\n');
}

const base = () => ['--base-url', api.baseURL];

describe('distributed runs on BullMQ', () => {
  test('a producer and two worker processes give every file exactly one row, and the key is nowhere in Redis, rows or logs', async () => {
    const dir = await textFiles(40);
    const out = path.join(dir, 'out.jsonl');
    const w1 = spawnWorker();
    const w2 = spawnWorker();
    const from = api.requests.length;
    const r = await runMain(['run', '--input', path.join(dir, 'media'), '--prompt', 'Title for {{file.name}}', '--out', out, '--redis', redis.url, ...base()], {
      env: { DASHSCOPE_API_KEY: KEY },
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const rows = await readOutputRows(out);
    assert.equal(rows.length, 40);
    assert.equal(new Set(rows.map((x) => x.path)).size, 40);
    assert.ok(rows.every((x) => x.status === 'ok'));
    assert.equal(api.requests.length - from, 40);
    const totals = JSON.parse(await readFile(path.join(dir, 'out.jsonl.totals.json'), 'utf8'));
    assert.equal(totals.rows, 40);
    assert.equal(totals.tokens.total_tokens, rows.reduce((s, x) => s + x.total_tokens, 0));
    const [l1, l2] = await Promise.all([stopWorker(w1), stopWorker(w2)]);
    const everything = await dumpRedis(redis.client());
    assert.ok(everything.length > 1000, 'Redis holds the run');
    for (const [what, text] of [
      ['redis', everything],
      ['rows', await readFile(out, 'utf8')],
      ['totals', await readFile(path.join(dir, 'out.jsonl.totals.json'), 'utf8')],
      ['run output', r.stdout + r.stderr],
      ['worker 1 log', l1.stdout + l1.stderr],
      ['worker 2 log', l2.stdout + l2.stderr],
    ] as const) {
      assert.ok(!text.includes(KEY) && !text.includes(KEY.slice(3, 20)), `the key leaked into ${what}`);
    }
  });

  test('a worker killed with SIGKILL mid-stream loses its job to the other worker, which ends it with one ok row', async () => {
    const dir = await textFiles(1, 'kill');
    const out = path.join(dir, 'out.jsonl');
    let stalled = 0;
    api.setOptions({ faults: ({ summary }) => (summary.lastUserText.includes('kill') && stalled++ === 0 ? { type: 'stall', afterChunks: 1 } : null) });
    // A Redis of its own: BullMQ runs its stalled-job check at most once per interval per queue, guarded by a key
    // that lives as long as the interval of the worker that last ran it. The other tests' workers (30-s lock, so a
    // 15-s interval) would hold off this test's 1-s checks for up to 15 s.
    const own = await startRedis();
    const first = spawnWorker(['--lock-duration', '2'], KEY, own.url);
    try {
      const enq = await runMain(['enqueue', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', out, '--redis', own.url, ...base()]);
      assert.equal(enq.code, 0, enq.stderr);
      const runId = enq.stdout.trim();
      await waitFor(() => stalled === 1 && api.inFlight >= 1, 'the stream to stall', 60_000);
      first.child().kill('SIGKILL');
      await first.done;
      const second = spawnWorker(['--lock-duration', '2'], KEY, own.url);
      const c = own.client();
      await waitFor(async () => (await c.scard(`{omni-batch}:run:${runId}:pending`)) === 0, 'the job to be recovered', 60_000);
      await stopWorker(second);
      const col = await runMain(['collect', runId, '--redis', own.url]);
      assert.equal(col.code, 0, col.stderr);
      const rows = await readOutputRows(out);
      assert.equal(rows.length, 1);
      assert.equal(rows[0]?.status, 'ok');
    } finally {
      api.setOptions({ faults: undefined });
      await own.close();
    }
  });

  test('Redis stopped and restarted mid-run: workers reconnect and the run completes', async () => {
    const dir = await textFiles(24, 'restart');
    const out = path.join(dir, 'out.jsonl');
    api.setOptions({ latencyMs: 150 });
    const w = spawnWorker();
    try {
      const enq = await runMain(['enqueue', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', out, '--redis', redis.url, ...base()]);
      assert.equal(enq.code, 0, enq.stderr);
      const runId = enq.stdout.trim();
      const c = redis.client();
      await waitFor(async () => (await c.hlen(`{omni-batch}:run:${runId}:rows`)) >= 4, 'some rows', 60_000);
      await redis.stop();
      await delay(1500);
      await redis.start();
      const c2 = redis.client();
      await waitFor(async () => (await c2.scard(`{omni-batch}:run:${runId}:pending`)) === 0, 'the run to finish after the restart', 90_000);
      const col = await runMain(['collect', runId, '--redis', redis.url]);
      assert.equal(col.code, 0, col.stderr);
      const rows = await readOutputRows(out);
      assert.equal(rows.length, 24);
      assert.ok(rows.every((x) => x.status === 'ok'), JSON.stringify(rows.filter((x) => x.status !== 'ok')));
    } finally {
      api.setOptions({ latencyMs: 0 });
      await stopWorker(w);
    }
  });

  test('enqueueing the same job file twice adds nothing; a changed prompt re-runs only the jobs it changes', async () => {
    const dir = await tempDir();
    const manifest = path.join(dir, 'rows.csv');
    await writeFile(manifest, 'id,q\n1,first question\n2,second question\n3,third question\n');
    const job = path.join(dir, 'job.yaml');
    await writeFile(job, `manifest: rows.csv\nprompt: "Answer: {{row.q}}"\noutput: out.jsonl\nbaseUrl: ${api.baseURL}\n`);
    const w = spawnWorker();
    try {
      const from = api.requests.length;
      const first = await runMain(['run', job, '--redis', redis.url], { env: { DASHSCOPE_API_KEY: KEY } });
      assert.equal(first.code, 0, first.stderr);
      assert.equal(api.requests.length - from, 3);
      const again = await runMain(['enqueue', job, '--redis', redis.url]);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /3 files, 0 enqueued, 3 already done/);
      const c = redis.client();
      const counts = await c.zcard('{omni-batch}:jobs:wait').catch(() => 0);
      assert.equal(counts, 0);
      await writeFile(manifest, 'id,q\n1,first question\n2,second question CHANGED\n3,third question\n');
      const changed = await runMain(['run', job, '--redis', redis.url], { env: { DASHSCOPE_API_KEY: KEY } });
      assert.equal(changed.code, 0, changed.stderr);
      assert.match(changed.stderr, /3 files, 1 enqueued, 2 already done/);
      assert.equal(api.requests.length - from, 4);
      const rows = await readOutputRows(path.join(dir, 'out.jsonl'));
      assert.equal(rows.length, 3);
      assert.match(rows.find((x) => x.path.endsWith('#2'))?.answer ?? '', /CHANGED/);
    } finally {
      await stopWorker(w);
    }
  });

  test('a file copied under another name after a run is answered from the row it already has, with no request', async () => {
    const dir = await textFiles(2, 'copy');
    const job = path.join(dir, 'job.yaml');
    await writeFile(job, `inputs: [media]\nprompt: Read\noutput: out.jsonl\nbaseUrl: ${api.baseURL}\n`);
    const w = spawnWorker();
    try {
      const first = await runMain(['run', job, '--redis', redis.url], { env: { DASHSCOPE_API_KEY: KEY } });
      assert.equal(first.code, 0, first.stderr);
      await copyFile(path.join(dir, 'media', 'copy000.txt'), path.join(dir, 'media', 'renamed.txt'));
      const from = api.requests.length;
      const again = await runMain(['run', job, '--redis', redis.url], { env: { DASHSCOPE_API_KEY: KEY } });
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stderr, /3 files, 0 enqueued, 3 already done/);
      assert.equal(api.requests.length - from, 0);
      const rows = await readOutputRows(path.join(dir, 'out.jsonl'));
      assert.equal(rows.length, 3);
      const byPath = (p: string) => rows.find((x) => String(x.path).endsWith(p));
      assert.equal(byPath('media/renamed.txt')?.status, 'ok');
      assert.equal(byPath('media/renamed.txt')?.answer, byPath('media/copy000.txt')?.answer);
    } finally {
      await stopWorker(w);
    }
  });

  test('a schedule that fires twice over an unchanged folder makes API calls only the first time, and each firing writes the output file', async () => {
    const dir = await textFiles(5, 'sched');
    const job = path.join(dir, 'job.yaml');
    await writeFile(job, `inputs: [media]\nprompt: Read\noutput: out.jsonl\nbaseUrl: ${api.baseURL}\n`);
    const w = spawnWorker();
    try {
      const from = api.requests.length;
      const s = await runMain(['schedule', job, '--every', '2', '--redis', redis.url]);
      assert.equal(s.code, 0, s.stderr);
      const runId = s.stdout.trim();
      const c = redis.client();
      const meta = `{omni-batch}:run:${runId}:meta`;
      // A firing that comes while the first one's jobs are still running finds only some done (how many depends on
      // how busy the machine is), so wait for a firing that finds all five done: the schedule fires every 2 s.
      await waitFor(async () => Number(await c.hget(meta, 'enqueuePasses')) >= 2 && (await c.hget(meta, 'alreadyDone')) === '5', 'a firing that finds all five done', 60_000);
      await waitFor(async () => (await c.scard(`{omni-batch}:run:${runId}:pending`)) === 0, 'the jobs to finish', 60_000);
      // Each firing brings the output file up to date once its jobs are done: no collect needed.
      const out = path.join(dir, 'out.jsonl');
      await waitFor(async () => (await readOutputRows(out).catch(() => [])).filter((x) => x.status === 'ok').length === 5, 'the output written by the firing', 60_000);
      const rm = await runMain(['schedule', job, '--remove', '--redis', redis.url]);
      assert.match(rm.stdout, /removed the schedule/);
      assert.equal(api.requests.length - from, 5, 'no later firing sent anything');
    } finally {
      await stopWorker(w);
    }
  });

  test('a job added again just after its row was saved (an enqueue pass that read the rows before) is not asked again', async () => {
    const dir = await textFiles(1, 'again');
    const enq = await runMain(['enqueue', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', path.join(dir, 'out.jsonl'), '--redis', redis.url, ...base()]);
    assert.equal(enq.code, 0, enq.stderr);
    const runId = enq.stdout.trim();
    const c = redis.client();
    const results = new RunResults(c, runId);
    // The producer's own queue, with its job options (a finished job leaves the queue).
    const queue = jobsQueue(c);
    const queued = (await queue.getJobs(['wait'])).find((j) => j.data.runId === runId);
    assert.ok(queued?.id, 'the enqueued job');
    const conn = await connectRedis(redis.url);
    const worker = await startWorker({ redis: conn, connect: () => connectRedis(redis.url), apiKeys: { dashscope: KEY }, concurrency: 2, lockDurationMs: 30_000, allowedBaseURLs: [api.baseURL], log: () => undefined });
    try {
      const gone = async () => (await queue.getJob(queued.id!)) === undefined;
      await waitFor(gone, 'the first delivery to leave the queue', 30_000);
      const from = api.requests.length;
      // What a pass that found no row yet does a moment later, once the first delivery has left the queue.
      await queue.add(queued.name, queued.data, { jobId: queued.id });
      await waitFor(gone, 'the second delivery to leave the queue', 30_000);
      assert.equal(api.requests.length - from, 0, 'the second delivery sent nothing');
      assert.equal(await results.pendingCount(), 0);
      const totals = await c.hgetall(results.keys.totals);
      assert.equal(totals['spent:requests'], '1');
      assert.equal(totals['status:ok'], '1');
    } finally {
      await worker.drain(5_000);
      conn.disconnect();
      await queue.close();
    }
  });

  test('a job whose row is already that job, answered, is not marked pending: a delivery that saved it meanwhile left nothing to wait for', async () => {
    const results = new RunResults(redis.client(), 'pending-check');
    const row = (p: string, id: string) => rowWithoutAnswer({ id, path: p, kind: 'text', model: 'qwen-omni-turbo' }, 'failed', 'server_error', 'HTTP 500');
    await results.save({ ...row('a.txt', 'job-a'), status: 'ok', error_code: '', error_message: '' });
    await results.save(row('c.txt', 'job-c'));
    await results.addPending([
      { path: 'a.txt', jobId: 'job-a', bullId: 'q-a' },
      { path: 'b.txt', jobId: 'job-b', bullId: 'q-b' },
      { path: 'c.txt', jobId: 'job-c', bullId: 'q-c' },
      { path: 'a.txt', jobId: 'job-a2', bullId: 'q-a2' },
    ]);
    assert.deepEqual((await redis.client().smembers(results.keys.pending)).sort(), ['q-a2', 'q-b', 'q-c']);
  });

  test('three workers share one request budget: none of them is refused under an account limit their sum would break', async () => {
    // The 60-per-minute case in seconds: the stand-in counts a 3-s window (20 requests in it, 400 a minute), and the
    // run paces at 240 a minute (12 in a window). Three workers that each paced on their own would send the 24 files
    // in about 2 s and be refused; sharing the pace in Redis, they take about 6 s and never are.
    // How close pacing comes to the limit is measured by npm run bench:ratelimit and, on a manual clock, by
    // test/pacing-clock.test.ts: a fraction of the limit reached in wall time depends on how busy the machine is.
    const limited = await startStandIn({ apiKey: KEY, rpm: 20, limitWindowMs: 3_000 });
    const dir = await textFiles(24, 'rpm');
    const job = path.join(dir, 'job.yaml');
    await writeFile(job, `inputs: [media]\nprompt: Read\noutput: out.jsonl\nbaseUrl: ${limited.baseURL}\nrpm: 240\ntpm: 0\n`);
    // This stand-in is not the one the workers allow by default: they are told to send their key to it too.
    const allow = ['--allow-base-url', limited.baseURL];
    const workers = [spawnWorker(allow), spawnWorker(allow), spawnWorker(allow)];
    try {
      const r = await runMain(['run', job, '--redis', redis.url], { env: { DASHSCOPE_API_KEY: KEY }, timeoutMs: 200_000 });
      assert.equal(r.code, 0, r.stderr);
      const reqs = limited.requests;
      assert.equal(reqs.filter((q) => q.status === 429).length, 0, 'no request was refused');
      assert.equal(reqs.length, 24);
      assert.equal((await readOutputRows(path.join(dir, 'out.jsonl'))).filter((row) => row.status === 'ok').length, 24);
    } finally {
      await Promise.all(workers.map(stopWorker));
      await limited.close();
    }
  });
});

/** Two text files, an image, and one text file the stand-in refuses (moderation) until the faults are cleared. */
async function mixedFiles(): Promise<string> {
  const dir = await textFiles(2, 'mix');
  await copyFile(path.join(FIXTURES, 'ok-photo.jpg'), path.join(dir, 'media', 'photo.jpg'));
  await writeFile(path.join(dir, 'media', 'bad.txt'), 'forbidden words');
  return dir;
}

async function withModeration<T>(fn: () => Promise<T>): Promise<T> {
  api.setOptions({ latencyMs: 100, faults: ({ summary }) => (summary.lastUserText.includes('forbidden') ? { type: 'moderation' } : null) });
  try {
    return await fn();
  } finally {
    api.setOptions({ latencyMs: 0, faults: undefined });
  }
}

describe('distributed runs end as in-process runs do', () => {
  test('run --redis shows progress from Redis, ends with the summary table, writes .run.json and sidecars, and retry OUT then works in process', async () => {
    const dir = await mixedFiles();
    // One job at a time, so the progress lines see the run between its start and its end.
    const w = spawnWorker(['--concurrency', '1']);
    try {
      const args = ['run', '--input', 'media', '--prompt', 'Describe {{file.name}}', '--out', 'out/res.csv', '--redis', redis.url, '--sidecar', 'txt', ...base()];
      // As a worker whose requests wait for the shared pacer marks it (redis-gate.test.ts): the progress line says so.
      await redis.client().set(LIMIT_KEYS.pacedBy, '--rpm 60', 'PX', 120_000);
      const r = await withModeration(() => runMain(args, { cwd: dir, env: { DASHSCOPE_API_KEY: KEY, OMNI_BATCH_PROGRESS_MS: '100' }, timeoutMs: 120_000 })).finally(() => redis.client().del(LIMIT_KEYS.pacedBy));
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /^omni-batch: progress: .*\/s \(paced by --rpm 60\) /m);
      // Plain progress lines without a terminal: done/total once enqueued, jobs on the workers, failures by code.
      assert.match(r.stderr, /^omni-batch: progress: \d+\/(4 files|\d+\+ files) +[\d.]+\/s .*(running on 1 worker|no worker connected) +tokens \d+/m);
      // Failures by code in the line: mid-run when bad.txt is not the last job, and in the final line in any case.
      assert.match(r.stderr, /omni-batch: progress: [0-4]\/4 files .*running on 1 worker .*failed: moderation_blocked 1\n/);
      // The same summary as in process, with this run's counts.
      assert.match(r.stdout, /4 rows in out\/res\.csv: 3 ok, 1 failed, 0 skipped/);
      assert.match(r.stdout, /this run: 4 files found, 4 rows written, 0 already done, 4 API requests/);
      const cells = (kind: string) => r.stdout.split('\n').find((l) => l.trimStart().startsWith(`${kind} `))?.trim().split(/ +/) ?? [];
      assert.deepEqual(cells('text').slice(0, 5), ['text', '3', '2', '1', '0']);
      assert.deepEqual(cells('image').slice(0, 5), ['image', '1', '1', '0', '0']);
      assert.ok(Number(cells('image')[6]) > 0, 'image tokens');
      assert.match(r.stdout, /moderation_blocked +1 +e\.g\. media\/bad\.txt/);
      assert.match(r.stdout, /re-run only the failures \(ok rows are kept\): omni-batch retry out\/res\.csv\n/);
      assert.match(r.stdout, /through the queue, on the workers: +omni-batch retry out\/res\.csv --redis URL/);
      assert.match(r.stdout, /sidecars \(\.txt\): 3 written next to the files/);
      const rows = await readOutputRows(path.join(dir, 'out', 'res.csv'));
      assert.equal(await readFile(path.join(dir, 'media', 'photo.txt'), 'utf8'), `${rows.find((x) => x.path === 'media/photo.jpg')?.answer}\n`);
      // A text input's sidecar would be the input itself: it gets a name of its own instead.
      assert.equal(await readFile(path.join(dir, 'media', 'mix000.txt'), 'utf8'), 'text mix 0');
      assert.equal(await readFile(path.join(dir, 'media', 'mix000.txt.txt'), 'utf8'), `${rows.find((x) => x.path === 'media/mix000.txt')?.answer}\n`);
      const saved = await readFile(path.join(dir, 'out', 'res.csv.run.json'), 'utf8');
      assert.ok(!saved.includes(KEY) && !saved.includes(redis.url), 'neither the key nor the Redis URL is recorded');
      assert.equal((JSON.parse(saved) as { runId: string }).runId.length > 0, true);

      // Plain retry runs in process on the distributed output: one request, the failed row replaced in place.
      const from = api.requests.length;
      const again = await runMain(['retry', 'out/res.csv'], { cwd: dir, env: { DASHSCOPE_API_KEY: KEY } });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(api.requests.length - from, 1);
      assert.match(again.stdout, /4 rows in out\/res\.csv: 4 ok, 0 failed/);
      // Collecting again does not throw the answer the in-process retry paid for away: it goes to Redis first.
      const runId = (JSON.parse(saved) as { runId: string }).runId;
      const before = api.requests.length;
      const col = await runMain(['collect', runId, '--redis', redis.url], { cwd: dir });
      assert.equal(col.code, 0, col.stderr);
      assert.match(col.stderr, /1 ok rows of \S+res\.csv that Redis had as not done \(fixed by an in-process retry\) were kept/);
      assert.match(col.stdout, /4 rows in out\/res\.csv: 4 ok, 0 failed/);
      const status = await runMain(['status', runId, '--redis', redis.url]);
      assert.match(status.stdout, /4 ok, 0 failed/);
      assert.equal(api.requests.length, before);
    } finally {
      await stopWorker(w);
    }
  });

  test('retry OUT --redis re-enqueues only the failed rows into the run and collects them; a stale Redis run is refused', async () => {
    const dir = await mixedFiles();
    const w = spawnWorker();
    try {
      const args = ['run', '--input', 'media', '--prompt', 'Describe {{file.name}}', '--out', 'res.jsonl', '--redis', redis.url, '--quiet', ...base()];
      const r = await withModeration(() => runMain(args, { cwd: dir, env: { DASHSCOPE_API_KEY: KEY }, timeoutMs: 120_000 }));
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, '', '--quiet prints only the summary');
      assert.match(r.stdout, /4 rows in res\.jsonl: 3 ok, 1 failed/);
      // Rows that differ from Redis's with the same counts (a job id changed: an output from elsewhere) are refused too.
      const collected = await readFile(path.join(dir, 'res.jsonl'), 'utf8');
      await writeFile(path.join(dir, 'res.jsonl'), collected.replace(/"id":"(.)/, (_m, c: string) => `"id":"${c === 'a' ? 'b' : 'a'}`));
      const swapped = await runMain(['retry', 'res.jsonl', '--redis', redis.url], { cwd: dir, env: { DASHSCOPE_API_KEY: KEY } });
      assert.equal(swapped.code, 2, swapped.stderr);
      assert.match(swapped.stderr, /res\.jsonl \(3 ok, 1 failed, 0 skipped\) differs from its run \S+ in Redis \(3 ok, 1 failed, 0 skipped\)/);
      await writeFile(path.join(dir, 'res.jsonl'), collected);
      const from = api.requests.length;
      const q = await runMain(['retry', 'res.jsonl', '--redis', redis.url], { cwd: dir, env: { DASHSCOPE_API_KEY: KEY }, timeoutMs: 120_000 });
      assert.equal(q.code, 0, q.stderr);
      assert.equal(api.requests.length - from, 1, 'only the failed row went through the queue');
      assert.match(q.stdout, /4 rows in res\.jsonl: 4 ok, 0 failed/);
      assert.match(q.stdout, /this run: 1 files found, 1 rows written, 0 already done, 1 API requests/);
      const rows = await readOutputRows(path.join(dir, 'res.jsonl'));
      assert.equal(rows.length, 4);
      assert.ok(rows.every((x) => x.status === 'ok'));
      // The output changed behind Redis's back: a retry through the queue would overwrite it, and says so.
      await writeFile(path.join(dir, 'res.jsonl'), (await readFile(path.join(dir, 'res.jsonl'), 'utf8')).replace('"status":"ok"', '"status":"failed","error_code":"timeout"'));
      const stale = await runMain(['retry', 'res.jsonl', '--redis', redis.url], { cwd: dir, env: { DASHSCOPE_API_KEY: KEY } });
      assert.equal(stale.code, 2);
      assert.match(stale.stderr, /res\.jsonl \(3 ok, 1 failed, 0 skipped\) differs from its run \S+ in Redis \(4 ok, 0 failed, 0 skipped\).*leave out --redis/);
    } finally {
      await stopWorker(w);
    }
  });

  test('collect writes the summary, .run.json and sidecars too, so retry works on a collected output', async () => {
    const dir = await mixedFiles();
    const w = spawnWorker();
    try {
      const enq = await withModeration(async () => {
        const e = await runMain(['enqueue', '--input', 'media', '--prompt', 'Describe', '--out', 'first.csv', '--redis', redis.url, ...base()], { cwd: dir });
        assert.equal(e.code, 0, e.stderr);
        const c = redis.client();
        await waitFor(async () => (await c.scard(`{omni-batch}:run:${e.stdout.trim()}:pending`)) === 0, 'the jobs to finish', 60_000);
        return e;
      });
      const runId = enq.stdout.trim();
      const col = await runMain(['collect', runId, '--out', 'other.csv', '--redis', redis.url, '--sidecar', 'json', '--sidecar-dir', 'caps'], { cwd: dir });
      assert.equal(col.code, 0, col.stderr);
      assert.match(col.stdout, /4 rows in other\.csv: 3 ok, 1 failed, 0 skipped/);
      assert.match(col.stdout, /kind +files +ok +failed +skipped/);
      assert.match(col.stdout, /omni-batch retry other\.csv\n/);
      assert.match(col.stdout, /sidecars \(\.json\): 3 written under \S+caps/);
      const photo = JSON.parse(await readFile(path.join(dir, 'caps', 'photo.json'), 'utf8')) as { path: string };
      assert.equal(photo.path, 'media/photo.jpg');
      const saved = JSON.parse(await readFile(path.join(dir, 'other.csv.run.json'), 'utf8')) as { runId: string; config: { out: string; prompt: string } };
      assert.equal(saved.runId, runId);
      assert.equal(saved.config.out, path.join(dir, 'other.csv'));
      assert.equal(saved.config.prompt, 'Describe');
      const from = api.requests.length;
      const again = await runMain(['retry', 'other.csv'], { cwd: dir, env: { DASHSCOPE_API_KEY: KEY } });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(api.requests.length - from, 1);
      assert.match(again.stdout, /4 rows in other\.csv: 4 ok, 0 failed/);
    } finally {
      await stopWorker(w);
    }
  });
});
