/**
 * The Batch engine (`--engine batch`) against the stand-in's Batch API: the same rows as the real-time engine at
 * half the cost, a run killed after submitting that resumes without uploading again, Ctrl-C that never cancels,
 * batches that expire, fail or answer only some requests, and `batch status` / `batch cancel`.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readOutputRows, runCli, runMain, tempDir, waitFor } from './helpers.js';
import { startStandIn, type StandIn } from './stand-in/server.js';

const KEY = 'sk-SENTINEL-batch-7c1d20e9a4';

let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY, answer: (s) => `label for ${/Review (r\d+)/.exec(s.lastUserText)?.[1] ?? '?'}: positive` });
});
after(() => api.close());

/** A manifest of `n` text reviews and a job file that labels them (as jobs/label-dataset.yaml does). */
async function labelJob(n: number): Promise<{ dir: string; job: string }> {
  const dir = await tempDir();
  const lines = ['id,review'];
  for (let i = 1; i <= n; i++) lines.push(`r${String(i).padStart(4, '0')},"Review number ${i}: it works${i % 3 ? ' well' : ', mostly'}"`);
  await writeFile(path.join(dir, 'reviews.csv'), `${lines.join('\n')}\n`);
  const job = [
    'manifest: reviews.csv',
    'system: You label customer reviews for a sentiment dataset.',
    'prompt: "Review {{row.id}}: {{row.review}} Answer with exactly one word: positive, negative or mixed."',
    'model: qwen3.5-omni-plus',
  ].join('\n');
  await writeFile(path.join(dir, 'label.yaml'), `${job}\n`);
  return { dir, job: path.join(dir, 'label.yaml') };
}

const env = (extra: Record<string, string> = {}) => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL, OMNI_BATCH_POLL_SEC: '0', ...extra });
const byPath = (rows: Record<string, any>[]) => new Map(rows.map((r) => [r.path as string, r]));

describe('--engine batch', () => {
  test('a 1,000-row labeling job gives the real-time rows (columns, ids, answers, tokens) at half the cost', async () => {
    const { dir, job } = await labelJob(1000);
    const rt = await runMain(['run', job, '--out', 'rt.csv', '--concurrency', '16'], { cwd: dir, env: env() });
    assert.equal(rt.code, 0, rt.stderr);
    const uploads = api.batches.uploads;
    const b = await runMain(['run', job, '--out', 'batch.csv', '--engine', 'batch'], { cwd: dir, env: env() });
    assert.equal(b.code, 0, b.stderr);
    assert.equal(api.batches.uploads - uploads, 1, 'one request file for 1,000 rows');
    const rtRows = await readOutputRows(path.join(dir, 'rt.csv'));
    const bRows = await readOutputRows(path.join(dir, 'batch.csv'));
    assert.deepEqual(Object.keys(bRows[0] ?? {}), Object.keys(rtRows[0] ?? {}), 'the same columns');
    assert.equal(bRows.length, 1000);
    const rtBy = byPath(rtRows);
    for (const row of bRows) {
      const twin = rtBy.get(row.path);
      assert.ok(twin, `${row.path} has a real-time row`);
      for (const col of ['id', 'source', 'kind', 'status', 'answer', 'model', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'text_tokens', 'estimated_tokens', 'estimated_cost']) {
        assert.equal(row[col], twin[col], `${row.path}: ${col}`);
      }
      assert.equal(row.status, 'ok');
      assert.ok(Math.abs(Number(row.cost) - Number(twin.cost) / 2) < 1e-8, `${row.path}: cost ${row.cost} is half of ${twin.cost}`);
    }
    const totals = JSON.parse(await readFile(path.join(dir, 'batch.csv.totals.json'), 'utf8'));
    const rtTotals = JSON.parse(await readFile(path.join(dir, 'rt.csv.totals.json'), 'utf8'));
    assert.ok(Math.abs(totals.cost - rtTotals.cost / 2) < 1e-6, `totals cost ${totals.cost} is half of ${rtTotals.cost}`);
    const state = JSON.parse(await readFile(path.join(dir, 'batch.csv.run.json'), 'utf8'));
    assert.deepEqual(state.batch.entries, [], 'a collected run leaves no open batch');
    assert.ok(!(await readFile(path.join(dir, 'batch.csv'), 'utf8')).includes(KEY));
  });

  test('a run killed after submitting resumes with zero new uploads, and Ctrl-C never cancels a batch', async () => {
    const { dir, job } = await labelJob(20);
    api.setOptions({ batch: { advance: 'manual' } });
    try {
      const uploads = api.batches.uploads;
      const created = api.batches.batches.size;
      const killed = await runCli(['run', job, '--out', 'out.jsonl', '--engine', 'batch'], {
        cwd: dir,
        env: env({ OMNI_BATCH_POLL_SEC: '3600' }),
        onSpawn: (child) => void waitFor(async () => api.batches.batches.size > created && (await readFile(path.join(dir, 'out.jsonl.run.json'), 'utf8').catch(() => '')).includes('"batchId"'), 'the batch id in the run file').then(() => child.kill('SIGKILL')),
      });
      assert.equal(killed.signal, 'SIGKILL');
      assert.equal(api.batches.uploads - uploads, 1);
      const saved = JSON.parse(await readFile(path.join(dir, 'out.jsonl.run.json'), 'utf8'));
      assert.match(saved.batch.entries[0].batchId, /^batch_/, 'the batch id is in the run file');

      // Ctrl-C while following: the process ends, the batch goes on.
      const before = api.batches.batches.size;
      const retrieves = api.batches.retrieves;
      const stopped = await runCli(['run', job, '--out', 'out.jsonl', '--engine', 'batch'], {
        cwd: dir,
        env: env({ OMNI_BATCH_POLL_SEC: '3600' }),
        onSpawn: (child) => void waitFor(() => api.batches.retrieves > retrieves, 'a retrieve of the batch').then(() => child.kill('SIGINT')),
      });
      assert.equal(stopped.code, 130, stopped.stderr);
      assert.match(stopped.stderr, /still running at DashScope \(not cancelled\)/);
      assert.equal(api.batches.batches.size, before, 'no new batch');
      assert.equal(api.batches.uploads - uploads, 1, 'no new upload');
      const batch = [...api.batches.batches.values()].at(-1);
      assert.notEqual(batch?.status, 'cancelling');
      assert.notEqual(batch?.status, 'cancelled');

      api.setOptions({ batch: { advance: 'retrieve' } });
      const resumed = await runMain(['run', job, '--out', 'out.jsonl', '--engine', 'batch'], { cwd: dir, env: env() });
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.equal(api.batches.uploads - uploads, 1, 'the resumed run uploaded nothing');
      const rows = await readOutputRows(path.join(dir, 'out.jsonl'));
      assert.equal(rows.length, 20);
      assert.ok(rows.every((r) => r.status === 'ok'));
    } finally {
      api.setOptions({ batch: undefined });
    }
  });
});
