// JSONL as jq reads it: `select(.error_code)` picks the failed rows only, and resume reads its own typed rows back.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runMain, tempDir } from './helpers.js';

const KEY = 'sk-typed-jsonl-SENTINEL-51';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());
const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

test('ok rows have error_code null, so select(.error_code) finds only the failures; a follow-up is a request, not a retry; a rerun reads the typed rows back', async () => {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  await writeFile(path.join(dir, 'media', 'bad.txt'), 'forbidden words');
  await writeFile(path.join(dir, 'media', 'good.txt'), 'fine words');
  await writeFile(path.join(dir, 'media', 'also-good.txt'), 'more fine words');
  const args = ['run', '--input', 'media', '--prompt', 'Summarize', '--follow-up', 'Shorter.', '--out', 'out.jsonl'];
  api.setOptions({ faults: ({ summary }) => (summary.lastUserText.includes('forbidden') ? { type: 'moderation' } : null) });
  try {
    const r = await runMain(args, { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
  } finally {
    api.setOptions({ faults: undefined });
  }
  const rows = await readOutputRows(path.join(dir, 'out.jsonl'));
  // What `jq 'select(.error_code)'` keeps: a truthy error_code.
  assert.deepEqual(rows.filter((x) => x.error_code).map((x) => x.path), ['media/bad.txt']);
  const good = rows.find((x) => x.path === 'media/good.txt');
  assert.deepEqual([good?.error_code, good?.error_message, good?.source, good?.preprocess, good?.requests, good?.retries], [null, null, null, null, 2, 0]);
  const bad = rows.find((x) => x.path === 'media/bad.txt');
  assert.deepEqual([bad?.answer, bad?.answer_2, bad?.requests], [null, null, 1], 'turns never reached are null');

  const from = api.requests.length;
  const again = await runMain(args, { env: env(), cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(api.requests.length - from, 2, 'only bad.txt is sent again (two turns): the ok rows were read back');
  assert.equal((await readOutputRows(path.join(dir, 'out.jsonl'))).length, 3);
});
