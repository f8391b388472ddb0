/**
 * Redis restarted empty (no AOF) in the middle of `run --redis` (issue 13, case 2): every row a worker saved is
 * already in the output, the follower says the run is gone and that those rows are safe, and the rerun sends only
 * what the output lacks, so no answer is paid twice. Real redis-server without persistence, a worker process of the
 * built CLI, the real openai SDK against the stand-in.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runCli, runMain, tempDir, waitFor } from './helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';

const KEY = 'sk-SENTINEL-lost-5e0a9c13';
const FILES = 30;

let api: StandIn;
let redis: TestRedis;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
  redis = await startRedis({ persist: false });
});
after(async () => {
  await api.close();
  await redis.close();
});

/** The rows of an output that are whole so far (the follower may be appending). */
async function rowsSoFar(file: string): Promise<Record<string, unknown>[]> {
  return readOutputRows(file).catch(() => []);
}

test('run --redis appends each row as it comes, so a Redis restarted empty loses no paid answer and the rerun pays nothing twice', async () => {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (let i = 0; i < FILES; i++) await writeFile(path.join(dir, 'media', `l${String(i).padStart(2, '0')}.txt`), `lost text ${i}`);
  const out = path.join(dir, 'out.jsonl');
  const args = ['run', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--out', out, '--redis', redis.url, '--base-url', api.baseURL];
  let worker: ChildProcess | undefined;
  // A short drain: after Redis came back empty, BullMQ still counts the jobs it lost as active, and a drain waits
  // for them until its timeout (120 s by default); this test is about the rows, not the drain.
  const workerDone = runCli(['worker', '--redis', redis.url, '--concurrency', '2', '--lock-duration', '2', '--drain-timeout', '5'], {
    env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL },
    onSpawn: (c) => (worker = c),
    timeoutMs: 120_000,
  });
  // The answers after the tenth wait until Redis has been restarted: the run is certainly mid-way when it is.
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  api.setOptions({ latencyMs: 150, hold: (n) => (n > 10 ? held : undefined) });
  try {
    const first = runMain(args, { env: { DASHSCOPE_API_KEY: KEY }, timeoutMs: 60_000 });
    // Rows are in the output while the run goes on, not only when it is collected.
    await waitFor(async () => (await rowsSoFar(out)).length >= 6, 'rows in the output mid-run', 60_000);
    await redis.stop();
    await redis.start();
    release();
    const lost = await first;
    assert.equal(lost.code, 6, lost.stderr);
    assert.match(lost.stderr, /run \S+ is gone from Redis \(Redis restarted without its data: .*\); the ok rows already in \S+out\.jsonl are safe: run the same/);
    const kept = await readOutputRows(out);
    assert.ok(kept.length >= 6 && kept.length < FILES, `${kept.length} rows kept`);
    assert.equal(new Set(kept.map((r) => r.path)).size, kept.length, 'one row per file in the output left behind');

    api.setOptions({ latencyMs: 0 });
    const again = await runMain(args, { env: { DASHSCOPE_API_KEY: KEY }, timeoutMs: 60_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /ok rows of \S+out\.jsonl that Redis did not have \(it lost them\) were saved to Redis, not sent again/);
    const rows = await readOutputRows(out);
    assert.equal(rows.length, FILES);
    assert.equal(new Set(rows.map((r) => r.path)).size, FILES);
    assert.ok(rows.every((r) => r.status === 'ok'));
    // No answer the output kept was asked again. (Rows saved to Redis in the last poll interval, under 250 ms,
    // before it vanished were not in the output yet and are asked again: AOF closes that window.)
    const sentFor = (p: unknown) => {
      const i = Number(/l(\d+)\.txt$/.exec(String(p))?.[1]);
      return api.requests.filter((q) => new RegExp(`lost text ${i}(?!\\d)`).test(JSON.stringify(q.body))).length;
    };
    for (const row of kept) assert.equal(sentFor(row.path), 1, `${String(row.path)} was sent again`);
  } finally {
    release();
    api.setOptions({ latencyMs: 0, hold: undefined });
    worker?.kill('SIGTERM');
    await workerDone;
  }
});
