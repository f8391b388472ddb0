/**
 * The Batch engine (`--engine batch`) against the stand-in's Batch API: the same rows as the real-time engine at
 * half the cost, a run killed after submitting that resumes without uploading again, Ctrl-C that never cancels,
 * batches that expire, fail or answer only some requests, and `batch status` / `batch cancel`.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startRun } from '../src/engine/in-process/index.js';
import { BATCH_CHAT_URL, resolveConfig } from '../src/shared/config.js';
import { createClient } from '../src/worker/qwen-omni.js';
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
      const twice = await runMain(['run', job, '--out', 'out.jsonl'], { cwd: dir, env: env() });
      assert.equal(twice.code, 2, 'an in-process run would pay for the batch requests again');
      assert.match(twice.stderr, /out\.jsonl has 1 batch still running at DashScope: sending their requests now would pay twice/);

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

describe('batches that do not answer every request', () => {
  test('an expired batch leaves every row failed with batch_expired, and retry --engine in-process answers them', async () => {
    const { dir, job } = await labelJob(6);
    api.setOptions({ batch: { expire: () => true } });
    try {
      const r = await runMain(['run', job, '--out', 'out.csv', '--engine', 'batch'], { cwd: dir, env: env() });
      assert.equal(r.code, 0, r.stderr);
      const rows = await readOutputRows(path.join(dir, 'out.csv'));
      assert.equal(rows.length, 6);
      for (const row of rows) {
        assert.equal(row.status, 'failed');
        assert.equal(row.error_code, 'batch_expired');
        assert.match(row.error_message, /batch batch_\S+ expired before this request was answered/);
        assert.equal(row.cost, '', 'failed requests are free');
      }
    } finally {
      api.setOptions({ batch: undefined });
    }
    const retried = await runMain(['retry', path.join(dir, 'out.csv'), '--engine', 'in-process'], { cwd: dir, env: env() });
    assert.equal(retried.code, 0, retried.stderr);
    const after = await readOutputRows(path.join(dir, 'out.csv'));
    assert.deepEqual(after.map((r) => r.status), Array(6).fill('ok'));
  });

  test('a batch that fails whole leaves its rows failed with batch_failed and the reason', async () => {
    const { dir, job } = await labelJob(3);
    api.setOptions({ batch: { failWhole: () => true } });
    try {
      const r = await runMain(['run', job, '--out', 'out.jsonl', '--engine', 'batch'], { cwd: dir, env: env() });
      assert.equal(r.code, 0, r.stderr);
      const rows = await readOutputRows(path.join(dir, 'out.jsonl'));
      assert.deepEqual(rows.map((x) => x.error_code), ['batch_failed', 'batch_failed', 'batch_failed']);
      assert.match(rows[0]?.error_message ?? '', /failed: internal_error The batch failed/);
    } finally {
      api.setOptions({ batch: undefined });
    }
  });

  test('an output that holds lines for only some requests: answered rows ok, a 500 line failed, missing lines batch_incomplete', async () => {
    const { dir, job } = await labelJob(9);
    const rows0 = async () => readOutputRows(path.join(dir, 'out.jsonl'));
    // custom_id is the row id: the switches pick requests by the review number their id stands for, found after the run.
    const dropped = new Set<string>();
    const failed = new Set<string>();
    let n = 0;
    api.setOptions({ batch: { dropLine: (id) => (++n % 3 === 0 ? (dropped.add(id), true) : false), failLine: (id) => (n % 3 === 1 && n < 4 ? (failed.add(id), true) : false) } });
    try {
      const r = await runMain(['run', job, '--out', 'out.jsonl', '--engine', 'batch'], { cwd: dir, env: env() });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      api.setOptions({ batch: undefined });
    }
    const rows = await rows0();
    assert.equal(rows.length, 9, 'one row per request, answered or not');
    const byId = new Map(rows.map((r) => [r.id as string, r]));
    assert.equal(dropped.size, 3);
    for (const id of dropped) assert.equal(byId.get(id)?.error_code, 'batch_incomplete');
    assert.equal(failed.size, 1);
    for (const id of failed) {
      assert.equal(byId.get(id)?.error_code, 'server_error');
      assert.match(byId.get(id)?.error_message ?? '', /HTTP 500 internal_error/);
    }
    assert.equal(rows.filter((r) => r.status === 'ok').length, 5);
  });
});

describe('batch status and batch cancel', () => {
  test('status shows a running batch and writes nothing; cancel cancels it; status then writes its rows as batch_cancelled', async () => {
    const { dir, job } = await labelJob(4);
    api.setOptions({ batch: { advance: 'manual' } });
    try {
      const created = api.batches.batches.size;
      const first = await runCli(['run', job, '--out', 'out.csv', '--engine', 'batch'], {
        cwd: dir,
        env: env({ OMNI_BATCH_POLL_SEC: '3600' }),
        onSpawn: (child) => void waitFor(() => api.batches.batches.size > created && api.batches.retrieves > 0, 'the batch').then(() => child.kill('SIGINT')),
      });
      assert.equal(first.code, 130, first.stderr);
      const status = await runMain(['batch', 'status', 'out.csv'], { cwd: dir, env: env() });
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stderr, /batch batch_\S+: validating/);
      assert.match(status.stderr, /1 batch still running at DashScope/);
      const cancel = await runMain(['batch', 'cancel', 'out.csv'], { cwd: dir, env: env() });
      assert.equal(cancel.code, 0, cancel.stderr);
      assert.match(cancel.stdout, /batch batch_\S+: cancelling/);
      await api.batches.step();
      const after = await runMain(['batch', 'status', 'out.csv'], { cwd: dir, env: env() });
      assert.equal(after.code, 0, after.stderr);
      assert.match(after.stderr, /cancelled: 0 ok and 4 failed rows written/);
      const rows = await readOutputRows(path.join(dir, 'out.csv'));
      assert.deepEqual(rows.map((r) => r.error_code), Array(4).fill('batch_cancelled'));
    } finally {
      api.setOptions({ batch: undefined });
    }
  });
});

describe('choosing an engine', () => {
  test('--dry-run shows the real-time cost and duration at the limits next to the batch cost, and what auto picks', async () => {
    const { dir, job } = await labelJob(120);
    const r = await runMain(['run', job, '--dry-run', '--rpm', '60', '--engine', 'auto', '--deadline', '2d', '--region', 'cn'], { cwd: dir, env: {} });
    assert.equal(r.code, 0, r.stderr);
    const inProcess = /in-process {2}cost ([\d.]+) CNY {3}about 2 min at the account's limits \(60 requests\/min/.exec(r.stdout);
    const batch = /batch {7}cost ([\d.]+) CNY {3}within 24h/.exec(r.stdout);
    assert.ok(inProcess && batch, r.stdout);
    assert.ok(Math.abs(Number(batch[1]) - Number(inProcess[1]) / 2) < 1e-4);
    assert.match(r.stdout, /Batch serves qwen3\.5-omni-plus in cn: supported here/);
    assert.match(r.stdout, /--engine auto runs it as a batch \(auto: Batch serves qwen3\.5-omni-plus here and the deadline \(48h\) leaves room for its 24h window\)/);
    const soon = await runMain(['run', job, '--dry-run', '--engine', 'auto', '--deadline', '12h', '--region', 'cn'], { cwd: dir, env: {} });
    assert.match(soon.stdout, /runs it in-process \(auto: the deadline \(12h\) is shorter than the batch completion window \(24h\)\)/);
    const flash = await runMain(['run', job, '--dry-run', '--engine', 'auto', '--deadline', '3d', '--model', 'qwen3.5-omni-flash', '--region', 'cn'], { cwd: dir, env: {} });
    assert.match(flash.stdout, /Batch does not serve qwen3\.5-omni-flash \(it serves qwen3\.5-omni-plus\)/);
    assert.match(flash.stdout, /runs it in-process/);
  });

  test('--engine batch refuses a model Batch does not serve in the region, and what a batch cannot do', async () => {
    const { dir, job } = await labelJob(2);
    const intl = await runMain(['run', job, '--engine', 'batch', '--region', 'intl'], { cwd: dir, env: { DASHSCOPE_API_KEY: KEY } });
    assert.equal(intl.code, 2);
    assert.match(intl.stderr, /--engine batch: Batch serves qwen3\.5-omni-plus in cn: not in intl/);
    const followUp = await runMain(['run', job, '--engine', 'batch', '--follow-up', 'Why?'], { cwd: dir, env: env() });
    assert.equal(followUp.code, 2);
    assert.match(followUp.stderr, /followUps need the answer of the turn before/);
    const media = path.join(dir, 'calls');
    await mkdir(media);
    await writeFile(path.join(media, 'note.txt'), 'a call');
    const segments = await runMain(['run', '--input', media, '--prompt', 'Summarize', '--out', path.join(dir, 'seg.csv'), '--model', 'qwen3.5-omni-plus', '--engine', 'batch', '--audio-mode', 'segments'], { cwd: dir, env: env() });
    assert.equal(segments.code, 2, segments.stderr);
    assert.match(segments.stderr, /--engine batch: audio\.mode segments asks the parts of a file one by one/);
  });
});

describe('Batch Chat', () => {
  test('--batch-chat sends to Beijing Batch Chat and prices the answers at half; it cannot be combined with a base URL', async () => {
    const { dir, job } = await labelJob(3);
    const cfg = await resolveConfig(job, { batchChat: true, out: 'chat.csv', rpm: 0, tpm: 0 }, {}, dir);
    assert.equal(cfg.baseURL, BATCH_CHAT_URL);
    assert.equal(cfg.priceRegion, 'cn');
    assert.deepEqual(cfg.warnings, []);
    const turbo = await resolveConfig(job, { batchChat: true, model: 'qwen-omni-turbo' }, {}, dir);
    assert.match(turbo.warnings.join('\n'), /--batch-chat: the catalogue lists no Beijing Batch support for qwen-omni-turbo/);
    await assert.rejects(resolveConfig(job, { batchChat: true, baseUrl: api.baseURL }, {}, dir), /--batch-chat names its own base URL/);
    // The stand-in plays the Batch Chat host (the client is handed in); the run prices by the configured endpoint.
    const run = async (c: typeof cfg) => (await startRun(c, { apiKey: KEY, client: createClient(KEY, api.baseURL), log: () => undefined }).done).totals;
    const half = await run(cfg);
    const full = await run({ ...cfg, baseURL: api.baseURL, out: path.join(dir, 'rt.csv'), totalsPath: path.join(dir, 'rt.csv.totals.json') });
    assert.ok(half && full && full.cost > 0);
    assert.ok(Math.abs(half.cost - full.cost / 2) < 1e-6, `${half.cost} is half of ${full.cost}`);
  });
});

describe('the same job under two paths', () => {
  test('is one request (custom_id is unique in a file), and both paths get the row', async () => {
    const { dir, job } = await labelJob(0);
    await writeFile(path.join(dir, 'reviews.csv'), 'id,review\nr1,"same words"\nr1,"same words"\nr2,"other words"\n');
    const r = await runMain(['run', job, '--out', 'out.csv', '--engine', 'batch'], { cwd: dir, env: env() });
    assert.equal(r.code, 0, r.stderr);
    const batch = [...api.batches.batches.values()].at(-1);
    assert.equal(batch?.request_counts.total, 2, 'two distinct jobs, two requests');
    const rows = await readOutputRows(path.join(dir, 'out.csv'));
    assert.deepEqual(rows.map((x) => `${x.path} ${x.status}`).sort(), ['reviews.csv#1 ok', 'reviews.csv#2 ok', 'reviews.csv#3 ok']);
    assert.equal(rows[0]?.id, rows[1]?.id);
  });
});

