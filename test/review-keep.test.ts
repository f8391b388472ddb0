/**
 * A reviewed answer (edited on the review page: `reviewed` true) is never lost to what runs after the edit: the
 * `--sort input` rewrite, rows planning makes without a call under another model or prompt, a batch collected
 * later, an alias copy, a crash-cut last line. The reviewed rows are written as the review page writes them (the
 * answer replaced, `reviewed` true); test/review.test.ts drives the page itself.
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { RunResults } from '../src/engine/bullmq/results.js';
import { releaseLock, takeLock } from '../src/shared/output/result-file.js';
import { sortByInput } from '../src/shared/output/sort.js';
import { csvFormat } from '../src/shared/output/csv.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runCli, runMain, tempDir, waitFor } from './helpers.js';
import { startRedis } from './redis-server.js';

const KEY = 'sk-review-keep-SENTINEL-9031';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());
const env = (extra: Record<string, string> = {}) => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL, OMNI_BATCH_POLL_SEC: '0', ...extra });

/** Three text files answered into out.jsonl. */
async function answered(prompt = 'Read {{file.name}}'): Promise<{ dir: string; out: string }> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (const n of ['a', 'b', 'c']) await writeFile(path.join(dir, 'media', `${n}.txt`), `text ${n}`);
  const out = path.join(dir, 'out.jsonl');
  const r = await runMain(['run', '--input', 'media', '--prompt', prompt, '--out', out], { env: env(), cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  return { dir, out };
}

/** The row of `rowPath` in a JSONL output as the review page saves it: the answer replaced, reviewed true. */
async function review(out: string, rowPath: string, answer: string): Promise<void> {
  const lines = (await readFile(out, 'utf8')).split('\n').filter(Boolean);
  const edited = lines.map((l) => {
    const rec = JSON.parse(l) as Record<string, unknown>;
    return JSON.stringify(rec.path === rowPath ? { ...rec, answer, reviewed: true } : rec);
  });
  await writeFile(out, `${edited.join('\n')}\n`);
}

/** A prompt over every model's input window: planning gives each file a skipped too_large row, with no call. */
const HUGE_PROMPT = `Read {{file.name}} ${'word '.repeat(250_000)}`;

describe('--sort input', () => {
  test('sorts under the output lock: while the review page holds it (saving an edit), the sort refuses and leaves the file as it was', async () => {
    const { out } = await answered();
    // Out of input order, so that a sort would rewrite the file.
    const reversed = `${(await readFile(out, 'utf8')).split('\n').filter(Boolean).reverse().join('\n')}\n`;
    await writeFile(out, reversed);
    const lock = await takeLock(out);
    try {
      await assert.rejects(sortByInput(out, 'jsonl', false), /another omni-batch \(pid \d+\) is writing this output.*not sorted in input order: run the same command again/);
    } finally {
      releaseLock(lock);
    }
    assert.equal(await readFile(out, 'utf8'), reversed, 'nothing replaced while the lock was held');
    await sortByInput(out, 'jsonl', false);
    assert.deepEqual((await readOutputRows(out)).map((r) => r.index), [1, 2, 3], 'sorted once the lock is free');
  });
});

describe('a rerun that makes a reviewed file a row without a call keeps the reviewed row', () => {
  /** After the rerun: the reviewed row as it was, the others the rerun's skipped rows. */
  async function kept(out: string): Promise<void> {
    const rows = await readOutputRows(out);
    assert.equal(rows.length, 3);
    const b = rows.find((r) => r.path === 'media/b.txt');
    assert.equal(b?.answer, 'checked by hand');
    assert.equal(b?.reviewed, true);
    assert.equal(b?.status, 'ok');
    assert.deepEqual(rows.filter((r) => r.path !== 'media/b.txt').map((r) => [r.status, r.error_code]), [['skipped', 'too_large'], ['skipped', 'too_large']], 'the files not reviewed get the rerun\'s rows');
  }

  test('in process', async () => {
    const { dir, out } = await answered();
    await review(out, 'media/b.txt', 'checked by hand');
    const from = api.requests.length;
    const r = await runMain(['run', '--input', 'media', '--prompt', HUGE_PROMPT, '--out', out], { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(api.requests.length, from, 'nothing sent');
    await kept(out);
  });

  test('--engine batch, with another model', async () => {
    const { dir, out } = await answered();
    await review(out, 'media/b.txt', 'checked by hand');
    const r = await runMain(['run', '--input', 'media', '--prompt', HUGE_PROMPT, '--model', 'qwen3.5-omni-plus', '--out', out, '--engine', 'batch'], { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    await kept(out);
  });

  test('enqueue and collect (Redis)', async () => {
    const redis = await startRedis();
    after(() => redis.close());
    const { dir, out } = await answered();
    await review(out, 'media/b.txt', 'checked by hand');
    const e = await runMain(['enqueue', '--input', 'media', '--prompt', HUGE_PROMPT, '--out', out, '--redis', redis.url, '--base-url', api.baseURL], { cwd: dir });
    assert.equal(e.code, 0, e.stderr);
    const runId = e.stdout.trim();
    assert.match(e.stderr, /3 files, 0 enqueued, 1 already done, 2 rows written without a call/);
    const inRedis = await new RunResults(redis.client(), runId).get('media/b.txt');
    assert.deepEqual([inRedis?.answers[0], inRedis?.reviewed], ['checked by hand', true], 'Redis holds the reviewed row, not a skipped one');
    const col = await runMain(['collect', runId, '--redis', redis.url], { cwd: dir });
    assert.equal(col.code, 0, col.stderr);
    await kept(out);
  });
});

describe('--engine batch: a batch collected after the review', () => {
  test('a row reviewed while its batch ran is kept when the batch is collected; the other rows are the batch\'s', async () => {
    const { dir, out } = await answered();
    const args = ['run', '--input', 'media', '--prompt', 'Summarize {{file.name}}', '--model', 'qwen3.5-omni-plus', '--out', out, '--engine', 'batch'];
    api.setOptions({ batch: { advance: 'manual' } });
    try {
      const created = api.batches.batches.size;
      const stopped = await runCli(args, {
        cwd: dir,
        env: env({ OMNI_BATCH_POLL_SEC: '3600' }),
        onSpawn: (child) => void waitFor(() => api.batches.batches.size > created && api.batches.retrieves > 0, 'the batch').then(() => child.kill('SIGINT')),
      });
      assert.equal(stopped.code, 130, stopped.stderr);
      // The run let go of the output: the review page saves an edit of a file the batch answers.
      await review(out, 'media/b.txt', 'checked by hand');
      api.setOptions({ batch: { advance: 'retrieve' } });
      const resumed = await runMain(args, { cwd: dir, env: env() });
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.match(resumed.stderr, /2 ok and 0 failed rows written; 1 reviewed rows kept as they were/);
    } finally {
      api.setOptions({ batch: undefined });
    }
    const rows = await readOutputRows(out);
    const b = rows.find((r) => r.path === 'media/b.txt');
    assert.deepEqual([b?.answer, b?.reviewed, b?.status], ['checked by hand', true, 'ok']);
    const others = rows.filter((r) => r.path !== 'media/b.txt');
    assert.equal(others.length, 2);
    assert.ok(others.every((r) => r.model === 'qwen3.5-omni-plus' && r.reviewed === null), 'the other files have the batch\'s rows');
  });
});

describe('a copy of a reviewed answer (a file copied: the same job under another path)', () => {
  /** b.txt reviewed, then copied to d.txt: the rerun copies b's answer to d without asking. */
  async function copied(): Promise<{ dir: string; out: string }> {
    const { dir, out } = await answered('Read this');
    await review(out, 'media/b.txt', 'checked by hand');
    await copyFile(path.join(dir, 'media', 'b.txt'), path.join(dir, 'media', 'd.txt'));
    return { dir, out };
  }
  async function copyNotReviewed(out: string): Promise<void> {
    const rows = await readOutputRows(out);
    const b = rows.find((r) => r.path === 'media/b.txt');
    const d = rows.find((r) => r.path === 'media/d.txt');
    assert.deepEqual([b?.answer, b?.reviewed], ['checked by hand', true]);
    assert.deepEqual([d?.answer, d?.status, d?.id], ['checked by hand', 'ok', b?.id], 'the answer copied');
    assert.equal(d?.reviewed, null, 'nobody reviewed the copy');
  }

  test('in process (compaction writes the copy)', async () => {
    const { dir, out } = await copied();
    const from = api.requests.length;
    const r = await runMain(['run', '--input', 'media', '--prompt', 'Read this', '--out', out], { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(api.requests.length, from, 'nothing asked');
    await copyNotReviewed(out);
  });

  test('enqueue and collect (Redis has the copy)', async () => {
    const redis = await startRedis();
    after(() => redis.close());
    const { dir, out } = await copied();
    const e = await runMain(['enqueue', '--input', 'media', '--prompt', 'Read this', '--out', out, '--redis', redis.url, '--base-url', api.baseURL], { cwd: dir });
    assert.equal(e.code, 0, e.stderr);
    assert.match(e.stderr, /4 files, 0 enqueued, 4 already done/);
    const col = await runMain(['collect', e.stdout.trim(), '--redis', redis.url], { cwd: dir });
    assert.equal(col.code, 0, col.stderr);
    await copyNotReviewed(out);
  });
});

describe('a crash-cut last line of a CSV output', () => {
  test('is not offered for an edit even when its column count adds up: located() leaves out a record at EOF without its newline', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'media'));
    for (const n of ['a', 'b']) await writeFile(path.join(dir, 'media', `${n}.txt`), `text ${n}`);
    const out = path.join(dir, 'out.csv');
    const r = await runMain(['run', '--input', 'media', '--prompt', 'Read {{file.name}}', '--out', out], { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    // A run that crashed while writing the last row: every column there (its index perhaps cut short), no newline.
    const text = await readFile(out, 'utf8');
    assert.ok(text.endsWith('\n'));
    await writeFile(out, text.slice(0, -1));
    const fmt = csvFormat();
    const read: string[] = [];
    for await (const rec of fmt.read(out)) read.push(String(rec.path));
    assert.equal(read.length, 2, 'the cut record parses (compaction cuts the file at its last newline before reading)');
    const located: string[] = [];
    for await (const { rec } of fmt.located(out)) located.push(String(rec.path));
    assert.deepEqual(located, read.slice(0, 1), 'only the whole record');
  });
});

describe('an output written before the reviewed column', () => {
  /** The output as an omni-batch before `reviewed` wrote it: the column gone from the header and every row. */
  async function withoutReviewed(out: string): Promise<void> {
    const text = await readFile(out, 'utf8');
    if (out.endsWith('.jsonl')) {
      const lines = text.split('\n').filter(Boolean).map((l) => {
        const { reviewed: _, ...rest } = JSON.parse(l) as Record<string, unknown>;
        return JSON.stringify(rest);
      });
      await writeFile(out, `${lines.join('\n')}\n`);
      return;
    }
    const rows: string[][] = parse(text);
    const at = rows[0]?.indexOf('reviewed') ?? -1;
    assert.ok(at >= 0);
    await writeFile(out, stringify(rows.map((r) => r.filter((_, i) => i !== at)), { record_delimiter: '\n', quoted_match: /[\r\n]/ }));
  }

  for (const format of ['csv', 'jsonl'] as const) {
    test(`${format}: the same run command sends nothing and brings it up to date; retry answers only the failed row`, async () => {
      const dir = await tempDir();
      await mkdir(path.join(dir, 'media'));
      for (const n of ['a', 'b', 'c']) await writeFile(path.join(dir, 'media', `${n}.txt`), `text ${n}`);
      const out = path.join(dir, `out.${format}`);
      const args = ['run', '--input', 'media', '--prompt', 'Read {{file.name}}', '--out', out, '--retries', '0'];
      api.setOptions({ faults: ({ summary }) => (summary.lastUserText.includes('Read b.txt') ? { type: 'moderation' } : null) });
      try {
        assert.equal((await runMain(args, { env: env(), cwd: dir })).code, 0);
      } finally {
        api.setOptions({ faults: undefined });
      }
      await withoutReviewed(out);
      const old = await readOutputRows(out);
      assert.ok(old.every((r) => !('reviewed' in r)), 'no reviewed column');
      const from = api.requests.length;
      const rerun = await runMain(args.filter((a) => a !== '--retries' && a !== '0'), { env: env(), cwd: dir });
      assert.equal(rerun.code, 0, rerun.stderr);
      const resumed = await readOutputRows(out);
      assert.equal(api.requests.length - from, 1, 'only the failed b.txt asked again');
      assert.ok(resumed.every((r) => 'reviewed' in r && (r.reviewed === null || r.reviewed === '')), 'the column is there, empty');
      for (const p of ['media/a.txt', 'media/c.txt']) assert.equal(resumed.find((r) => r.path === p)?.answer, old.find((r) => r.path === p)?.answer, `${p} kept`);
      assert.equal(resumed.find((r) => r.path === 'media/b.txt')?.status, 'ok');

      // retry over an old output: the failed row answered, the others kept.
      api.setOptions({ faults: ({ summary }) => (summary.lastUserText.includes('Read c.txt') ? { type: 'moderation' } : null) });
      try {
        await writeFile(path.join(dir, 'media', 'c.txt'), 'text c, changed');
        assert.equal((await runMain(args, { env: env(), cwd: dir })).code, 0);
      } finally {
        api.setOptions({ faults: undefined });
      }
      await withoutReviewed(out);
      const retried = await runMain(['retry', out], { env: env(), cwd: dir });
      assert.equal(retried.code, 0, retried.stderr);
      const after = await readOutputRows(out);
      assert.deepEqual(after.map((r) => [r.path, r.status]).sort(), [['media/a.txt', 'ok'], ['media/b.txt', 'ok'], ['media/c.txt', 'ok']]);
      assert.equal(after.find((r) => r.path === 'media/a.txt')?.answer, old.find((r) => r.path === 'media/a.txt')?.answer);
    });
  }
});
