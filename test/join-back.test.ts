// A labeled CSV joins back to its source: the manifest's own columns are carried into the output (prefixed
// row_), and `index` gives the input order, whatever order the files finished in.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runMain, tempDir } from './helpers.js';

const KEY = 'sk-join-back-SENTINEL-77';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());
const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

const SOURCE = [
  { id: 'a17', split: 'train', text: 'Great battery' },
  { id: 'b02', split: 'test', text: 'Arrived broken' },
  { id: 'c33', split: 'train', text: 'Fine, nothing special' },
  { id: 'd40', split: 'val', text: 'Support never answered' },
];

async function dataset(): Promise<string> {
  const dir = await tempDir();
  await writeFile(path.join(dir, 'reviews.csv'), ['id,split,text', ...SOURCE.map((r) => `${r.id},${r.split},${r.text.includes(',') ? `"${r.text}"` : r.text}`)].join('\n'));
  return dir;
}

test('keep: [id, split] puts row_id and row_split in every row, and index is the row of the manifest: the output joins back on row_id', async () => {
  const dir = await dataset();
  await writeFile(path.join(dir, 'job.yaml'), 'manifest: reviews.csv\nprompt: "Sentiment of: {{row.text}}"\nkeep: [id, split]\noutput: labels.csv\nconcurrency: 4\n');
  const r = await runMain(['run', path.join(dir, 'job.yaml')], { env: env(), cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const rows = await readOutputRows(path.join(dir, 'labels.csv'));
  assert.equal(rows.length, SOURCE.length);
  // As pandas would: labels.merge(reviews, left_on="row_id", right_on="id").
  for (const row of rows) {
    const src = SOURCE.find((s) => s.id === row.row_id);
    assert.ok(src, `row_id ${row.row_id} is an id of the source`);
    assert.equal(row.row_split, src.split);
    assert.equal(Number(row.index), SOURCE.indexOf(src) + 1, 'index is the input order');
    assert.equal(row.path, `reviews.csv#${row.index}`);
    assert.match(String(row.answer), new RegExp(src.text.slice(0, 10)));
    assert.equal(row.row_text, undefined, 'only the kept columns');
  }
});

test('--keep "*" keeps every column, also in JSONL; a column the manifest lacks stops the run naming the columns it has', async () => {
  const dir = await dataset();
  const args = ['run', '--manifest', 'reviews.csv', '--prompt', 'Label {{row.text}}', '--out', 'labels.jsonl'];
  const r = await runMain([...args, '--keep', '*'], { env: env(), cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  const rows = await readOutputRows(path.join(dir, 'labels.jsonl'));
  assert.deepEqual(rows.map((x) => [x.index, x.row_id, x.row_split, x.row_text]).sort((a, b) => Number(a[0]) - Number(b[0])), SOURCE.map((s, i) => [i + 1, s.id, s.split, s.text]));
  const bad = await runMain([...args, '--keep', 'label'], { env: env(), cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /keep \(--keep\): "label" not among the columns of .*reviews\.csv \(id, split, text\)/);
});

test('--sort input rewrites the finished output in input order: a row redone by a rerun is written last otherwise', async () => {
  const dir = await dataset();
  const args = ['run', '--manifest', 'reviews.csv', '--prompt', 'Label {{row.text}}', '--keep', 'id', '--out', 'labels.csv'];
  // The first row fails (a final error) and is redone by the rerun: its new row comes after the others.
  api.setOptions({ faults: ({ summary }) => (summary.lastUserText.includes('Great battery') ? { type: 'moderation' } : null) });
  try {
    assert.equal((await runMain(args, { env: env(), cwd: dir })).code, 0);
  } finally {
    api.setOptions({ faults: undefined });
  }
  assert.equal((await runMain(args, { env: env(), cwd: dir })).code, 0);
  const order = async () => (await readOutputRows(path.join(dir, 'labels.csv'))).map((x) => x.row_id);
  assert.equal((await order()).at(-1), 'a17', 'in completion order the redone first row is last');
  const sorted = await runMain([...args, '--sort', 'input'], { env: env(), cwd: dir });
  assert.equal(sorted.code, 0, sorted.stderr);
  assert.deepEqual(await order(), ['a17', 'b02', 'c33', 'd40'], 'input order');
  assert.ok((await readOutputRows(path.join(dir, 'labels.csv'))).every((x) => x.status === 'ok'));
});
