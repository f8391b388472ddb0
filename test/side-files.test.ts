/** Files beside an output (totals, run settings) are named after the whole output name: two outputs never share one. */
import assert from 'node:assert/strict';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runMain, tempDir } from './helpers.js';

const KEY = 'sk-side-files-SENTINEL-8c1d2e';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());
const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

/** A folder with two texts, one of which the server fails (so that retry has something to do). */
async function inputs(): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'texts'));
  await writeFile(path.join(dir, 'texts', 'a.txt'), 'alpha');
  await writeFile(path.join(dir, 'texts', 'b.txt'), 'the server fails on this one');
  return dir;
}

const json = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as Record<string, any>;

describe('side files of two outputs in one folder', () => {
  test('out.csv and out.jsonl keep their own totals and run settings, and retry of each uses its own', async () => {
    const dir = await inputs();
    api.setOptions({ faults: ({ summary }) => (summary.lastUserText.includes('server fails') ? { type: 'http500' } : null) });
    try {
      const csv = await runMain(['run', '--input', 'texts', '--prompt', 'CSV: {{file.name}}', '--out', 'out.csv', '--retries', '0'], { env: env(), cwd: dir });
      assert.equal(csv.code, 0, csv.stderr);
      const jsonl = await runMain(['run', '--input', 'texts', '--prompt', 'JSONL: {{file.name}}', '--out', 'out.jsonl', '--max-files', '1', '--retries', '0'], { env: env(), cwd: dir });
      assert.equal(jsonl.code, 0, jsonl.stderr);
    } finally {
      api.setOptions({ faults: undefined });
    }
    assert.equal((await json(path.join(dir, 'out.csv.totals.json'))).rows, 2);
    assert.equal((await json(path.join(dir, 'out.jsonl.totals.json'))).rows, 1);
    assert.equal((await json(path.join(dir, 'out.csv.run.json'))).config.prompt, 'CSV: {{file.name}}');
    assert.equal((await json(path.join(dir, 'out.jsonl.run.json'))).config.prompt, 'JSONL: {{file.name}}');
    assert.match(await readFile(path.join(dir, 'out.csv'), 'utf8'), /CSV: a\.txt/);

    const retry = await runMain(['retry', 'out.csv'], { env: env(), cwd: dir });
    assert.equal(retry.code, 0, retry.stderr);
    const rows = await readOutputRows(path.join(dir, 'out.csv'));
    assert.deepEqual(rows.map((r) => [r.path, r.status]).sort(), [['texts/a.txt', 'ok'], ['texts/b.txt', 'ok']]);
    assert.match(rows.find((r) => r.path === 'texts/b.txt')?.answer ?? '', /CSV: b\.txt/, 'retried with the CSV run\'s prompt');
    assert.equal((await json(path.join(dir, 'out.jsonl.totals.json'))).rows, 1, 'the other output\'s totals are untouched');
  });

  test('an output made by an earlier version (out.run.json) can still be retried, and another output cannot take its settings', async () => {
    const dir = await inputs();
    api.setOptions({ faults: ({ summary }) => (summary.lastUserText.includes('server fails') ? { type: 'http500' } : null) });
    try {
      const r = await runMain(['run', '--input', 'texts', '--prompt', 'Old: {{file.name}}', '--out', 'out.csv', '--retries', '0'], { env: env(), cwd: dir });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      api.setOptions({ faults: undefined });
    }
    await rename(path.join(dir, 'out.csv.run.json'), path.join(dir, 'out.run.json'));
    await writeFile(path.join(dir, 'out.jsonl'), '');
    const other = await runMain(['retry', 'out.jsonl'], { env: env(), cwd: dir });
    assert.equal(other.code, 2);
    assert.match(other.stderr, /out\.jsonl: its run settings name another output/);
    const retry = await runMain(['retry', 'out.csv'], { env: env(), cwd: dir });
    assert.equal(retry.code, 0, retry.stderr);
    assert.ok((await readOutputRows(path.join(dir, 'out.csv'))).every((x) => x.status === 'ok'));
  });
});
