/**
 * A pass that finds nothing (a folder with no matching file, a manifest without rows) says so in one line on
 * stderr, naming the inputs and the globs, and exits 5, so a nightly job notices; `--allow-empty` (or
 * `allowEmpty: true`) makes it 0. In process, `run --redis` and `enqueue` alike; a scheduled firing that finds
 * nothing is logged by the worker, which keeps running. Real redis-server, the real CLI, the stand-in.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectRedis } from '../src/engine/bullmq/connection.js';
import { startWorker } from '../src/engine/bullmq/worker-host.js';
import { EXIT } from '../src/shared/errors.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runMain, tempDir, waitFor } from './helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';

const KEY = 'sk-SENTINEL-empty-15ef';

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

const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

/** A folder of .txt files only: `--include '*.jpg'` matches none of them. */
async function textsOnly(): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'photos'));
  await writeFile(path.join(dir, 'photos', 'notes.txt'), 'not a photo');
  return dir;
}

const EMPTY_LINE = /^omni-batch: no input: photos matched no file \(include \*\.jpg; exclude \*\*\/tmp\/\*\*\); nothing was sent \(.*--allow-empty.*\)$/m;

describe('an empty pass is said and fails unless allowed', () => {
  test('in process: one line naming the input and the globs, exit 5; --allow-empty exits 0', async () => {
    const dir = await textsOnly();
    const args = ['run', '--input', 'photos', '--include', '*.jpg', '--exclude', '**/tmp/**', '--prompt', 'Caption', '--out', 'out.csv'];
    const r = await runMain(args, { env: env(), cwd: dir });
    assert.equal(r.code, EXIT.empty, r.stderr);
    assert.equal(EXIT.empty, 5);
    assert.match(r.stderr, EMPTY_LINE);
    assert.equal(r.stderr.match(/no input/g)?.length, 1, 'said once');
    const allowed = await runMain([...args, '--allow-empty'], { env: env(), cwd: dir });
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.doesNotMatch(allowed.stderr, /no input/);
    assert.deepEqual(await readOutputRows(path.join(dir, 'out.csv')), []);
  });

  test('a manifest without rows, and the job-file field allowEmpty', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'rows.csv'), 'id,q\n');
    await writeFile(path.join(dir, 'job.yaml'), 'manifest: rows.csv\nprompt: "{{row.q}}"\noutput: out.csv\n');
    const r = await runMain(['run', path.join(dir, 'job.yaml')], { env: env(), cwd: dir });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /omni-batch: no input: the manifest rows\.csv has no row; nothing was sent/);
    await writeFile(path.join(dir, 'job.yaml'), 'manifest: rows.csv\nprompt: "{{row.q}}"\noutput: out.csv\nallowEmpty: true\n');
    assert.equal((await runMain(['run', path.join(dir, 'job.yaml')], { env: env(), cwd: dir })).code, 0);
    // A dry run says it too: it is how a job file is checked.
    assert.equal((await runMain(['run', '--manifest', 'rows.csv', '--prompt', '{{row.q}}', '--out', 'dry.csv', '--dry-run'], { env: {}, cwd: dir })).code, 5);
  });

  test('enqueue and run --redis exit 5 with the same line; with --allow-empty 0', async () => {
    const dir = await textsOnly();
    const args = ['--input', 'photos', '--include', '*.jpg', '--exclude', '**/tmp/**', '--prompt', 'Caption', '--redis', redis.url];
    const enqueued = await runMain(['enqueue', ...args, '--out', 'q.csv'], { env: env(), cwd: dir });
    assert.equal(enqueued.code, 5, enqueued.stderr);
    assert.match(enqueued.stderr, EMPTY_LINE);
    assert.equal((await runMain(['enqueue', ...args, '--out', 'q.csv', '--allow-empty'], { env: env(), cwd: dir })).code, 0);
    const followed = await runMain(['run', ...args, '--out', 'f.csv'], { env: env(), cwd: dir });
    assert.equal(followed.code, 5, followed.stderr);
    assert.match(followed.stderr, EMPTY_LINE);
    assert.equal((await runMain(['run', ...args, '--out', 'f.csv', '--allow-empty'], { env: env(), cwd: dir })).code, 0);
  });

  test('a scheduled firing over an empty folder is logged by the worker, which keeps running', async () => {
    const dir = await textsOnly();
    const job = path.join(dir, 'job.yaml');
    await writeFile(job, `inputs: [photos]\ninclude: ["*.jpg"]\nexclude: ["**/tmp/**"]\nprompt: Caption\noutput: out.csv\nbaseUrl: ${api.baseURL}\n`);
    const lines: string[] = [];
    const conn = await connectRedis(redis.url);
    const worker = await startWorker({ redis: conn, connect: () => connectRedis(redis.url), apiKeys: { dashscope: KEY }, concurrency: 2, lockDurationMs: 5_000, allowedBaseURLs: [api.baseURL], log: (l) => lines.push(l) });
    let runId = '';
    try {
      const s = await runMain(['schedule', job, '--every', '1', '--redis', redis.url], { cwd: dir });
      assert.equal(s.code, 0, s.stderr);
      runId = s.stdout.trim();
      await waitFor(() => lines.filter((l) => l.includes('no input')).length >= 2, 'two empty firings logged', 30_000);
      const said = lines.find((l) => l.includes('no input')) ?? '';
      assert.match(said, new RegExp(`^scheduled run ${runId}: no input: photos matched no file \\(include \\*\\.jpg; exclude \\*\\*/tmp/\\*\\*\\)`));
      assert.ok(lines.every((l) => !/\n\s+at /.test(l)), 'no stack trace');
    } finally {
      if (runId) await runMain(['schedule', job, '--remove', '--redis', redis.url], { cwd: dir });
      await worker.drain(5_000);
      conn.disconnect();
    }
  });
});
