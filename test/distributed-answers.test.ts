/**
 * Structured answers on the distributed engine: the same labeling and schema jobs as test/answers.test.ts, run
 * through Redis and a worker process, must end with the same columns, labels, retries and counts as in-process.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { LABELER_COUNTS, labeler } from './stand-in/scripted-answers.js';
import { ROOT, readOutputRows, runCli, runMain, tempDir, waitFor, type CliResult } from './helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';

const KEY = 'sk-distributed-answers-test';
let api: StandIn;
let redis: TestRedis;
let worker: { child?: ChildProcess; done: Promise<CliResult> };
before(async () => {
  api = await startStandIn({ apiKey: KEY });
  redis = await startRedis();
  const w: { child?: ChildProcess; done?: Promise<CliResult> } = {};
  w.done = runCli(['worker', '--redis', redis.url, '--concurrency', '4'], {
    env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL },
    onSpawn: (c) => (w.child = c),
    timeoutMs: 120_000,
  });
  worker = w as typeof worker;
});
after(async () => {
  worker.child?.kill('SIGTERM');
  const r = await worker.done;
  assert.equal(r.code, 130, r.stderr); // drained after SIGTERM
  await api.close();
  await redis.close();
});

type Rec = Record<string, any>;

describe('structured answers on BullMQ workers', () => {
  test('a labeling job gives the same labels, retries in the same conversation, and counts as in-process', async () => {
    api.setOptions({ answer: labeler });
    const dir = await tempDir();
    const out = path.join(dir, 'labels.csv');
    const from = api.requests.length;
    const r = await runMain(['run', path.join(ROOT, 'jobs', 'label-dataset-schema.yaml'), '--out', out, '--redis', redis.url, '--base-url', api.baseURL], {
      timeoutMs: 90_000,
    });
    api.setOptions({ answer: undefined });
    assert.equal(r.code, 0, r.stderr);
    const rows = await readOutputRows(out);
    assert.equal(rows.length, 8);
    const byId = new Map(rows.map((x) => [x.path.split('#')[1], x]));
    assert.equal(byId.get('3')?.label, 'negative', 'fixed when asked again');
    assert.equal(byId.get('3')?.requests, '2');
    assert.equal(byId.get('3')?.retries, '0');
    assert.equal(byId.get('6')?.status, 'failed');
    assert.equal(byId.get('6')?.error_code, 'invalid_answer');
    assert.equal(byId.get('6')?.answer, '{"label": "still livid"}', 'the raw answer is kept');
    assert.equal(api.requests.length - from, 8 + 2, 'one request per row plus the two asked again');
    const totals = JSON.parse(await readFile(path.join(dir, 'labels.csv.totals.json'), 'utf8')) as Rec;
    assert.deepEqual(totals.labels, { label: LABELER_COUNTS });
    assert.equal(totals.errors.invalid_answer, 1);
  });

  test('a JSON Schema job gets one column per field, and collect writes them as CSV columns or parsed JSONL', async () => {
    api.setOptions({ answer: () => '```json\n{"sentiment": "mixed", "topics": ["price"], "language": "de", "stars": 3}\n```' });
    const dir = await tempDir();
    const csv = path.join(dir, 'tags.csv');
    let runId = '';
    try {
      const enq = await runMain(['enqueue', path.join(ROOT, 'jobs', 'tag-reviews-schema.yaml'), '--out', csv, '--max-files', '3', '--redis', redis.url, '--base-url', api.baseURL]);
      assert.equal(enq.code, 0, enq.stderr);
      runId = enq.stdout.trim();
      const c = redis.client();
      await waitFor(async () => (await c.scard(`{omni-batch}:run:${runId}:pending`)) === 0, 'the 3 jobs to be done', 60_000);
      const col = await runMain(['collect', runId, '--redis', redis.url]);
      assert.equal(col.code, 0, col.stderr);
    } finally {
      api.setOptions({ answer: undefined });
    }
    assert.match((await readFile(csv, 'utf8')).split('\n')[0] ?? '', /^id,path,source,kind,status,answer,sentiment,topics,language,stars,parsed,error_code,/);
    const rows = await readOutputRows(csv);
    assert.equal(rows.length, 3);
    for (const row of rows) assert.deepEqual([row.status, row.sentiment, row.topics, row.stars], ['ok', 'mixed', 'price', '3']);
    // The same run collected again as JSONL: the column layout travels with the run in Redis.
    const jsonl = path.join(dir, 'tags.jsonl');
    const col2 = await runMain(['collect', runId, '--out', jsonl, '--redis', redis.url]);
    assert.equal(col2.code, 0, col2.stderr);
    const lines = await readOutputRows(jsonl);
    assert.equal(lines.length, 3);
    for (const line of lines) assert.deepEqual(line.parsed, { sentiment: 'mixed', topics: ['price'], language: 'de', stars: 3 });
    const totals = JSON.parse(await readFile(path.join(dir, 'tags.jsonl.totals.json'), 'utf8')) as Rec;
    assert.equal(totals.labels.sentiment.mixed, 3);
  });
});
