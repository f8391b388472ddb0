// A captioner preparing a kohya-style training folder: photo.txt beside photo.jpg, hand-written captions left alone
// and not paid for again, trigger words in the sidecars only.
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { FIXTURES, readOutputRows, runMain, tempDir } from './helpers.js';

const KEY = 'sk-captions-test-SENTINEL-7731';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());
const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

async function trainingFolder(): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'train'));
  await copyFile(path.join(FIXTURES, 'ok-photo.jpg'), path.join(dir, 'train', 'cat.jpg'));
  await copyFile(path.join(FIXTURES, 'ok-photo.jpg'), path.join(dir, 'train', 'dog.jpg'));
  // Two images with one stem: the first by name keeps dog.txt.
  await copyFile(path.join(FIXTURES, 'ok-graphic.png'), path.join(dir, 'train', 'dog.png'));
  await copyFile(path.join(FIXTURES, 'ok-photo.jpg'), path.join(dir, 'train', 'hubble.jpg'));
  await writeFile(path.join(dir, 'train', 'hubble.txt'), 'a hand-written caption\n');
  return dir;
}

test('stem.txt beside each image, a collision named after the whole file with a warning, hand captions skipped and unpaid, trigger words in the sidecar only', async () => {
  const dir = await trainingFolder();
  const from = api.requests.length;
  const args = ['run', '--input', 'train', '--include', '**/*.{jpg,png}', '--prompt', 'Caption {{file.name}}', '--out', 'captions.csv', '--sidecar', 'txt', '--skip-captioned', '--caption-prefix', 'ohwx, ', '--caption-suffix', ', best quality'];
  const r = await runMain(args, { env: env(), cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(api.requests.length - from, 3, 'cat.jpg, dog.jpg and dog.png are sent; hubble.jpg is not');
  assert.deepEqual((await readdir(path.join(dir, 'train'))).sort(), ['cat.jpg', 'cat.txt', 'dog.jpg', 'dog.png', 'dog.png.txt', 'dog.txt', 'hubble.jpg', 'hubble.txt']);
  const rows = new Map((await readOutputRows(path.join(dir, 'captions.csv'))).map((row) => [row.path, row]));
  assert.equal(rows.get('train/hubble.jpg')?.status, 'skipped');
  assert.equal(rows.get('train/hubble.jpg')?.error_code, 'already_captioned');
  assert.match(String(rows.get('train/hubble.jpg')?.error_message), /already captioned in train\/hubble\.txt/);
  assert.equal(await readFile(path.join(dir, 'train', 'hubble.txt'), 'utf8'), 'a hand-written caption\n');
  for (const [image, sidecar] of [['cat.jpg', 'cat.txt'], ['dog.jpg', 'dog.txt'], ['dog.png', 'dog.png.txt']] as const) {
    const answer = String(rows.get(`train/${image}`)?.answer);
    assert.ok(answer.length > 0 && !answer.includes('ohwx'), `the answer column is the model's: ${answer}`);
    assert.equal(await readFile(path.join(dir, 'train', sidecar), 'utf8'), `ohwx, ${answer}, best quality\n`);
  }
  assert.match(r.stdout, /sidecars \(\.txt\): 3 written next to the files, warning: 1 not named after the file's stem, which another row's sidecar takes \(first: train\/dog\.png -> train\/dog\.png\.txt\)/);

  // A rerun sends nothing and keeps every name: the same file keeps the stem.
  const again = await runMain(args, { env: env(), cwd: dir });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(api.requests.length - from, 3);
  assert.match(again.stdout, /0 written next to the files, 3 already up to date/);
});

test('without --skip-captioned a hand-written caption is kept and its image is sent; --skip-captioned needs --sidecar', async () => {
  const dir = await trainingFolder();
  const from = api.requests.length;
  const r = await runMain(['run', '--input', 'train', '--include', 'hubble.jpg', '--prompt', 'Caption', '--out', 'c.csv', '--sidecar', 'txt'], { env: env(), cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(api.requests.length - from, 1);
  assert.equal(await readFile(path.join(dir, 'train', 'hubble.txt'), 'utf8'), 'a hand-written caption\n');
  assert.match(r.stdout, /1 existing not written by omni-batch left alone/);
  const bad = await runMain(['run', '--input', 'train', '--prompt', 'Caption', '--skip-captioned'], { env: env(), cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--skip-captioned: needs --sidecar txt\|json/);
});

test('--skip-captioned leaves out a manifest row whose image already has a hand-written caption, and sends the others', async () => {
  const dir = await trainingFolder();
  await writeFile(path.join(dir, 'images.csv'), 'path,tag\ntrain/hubble.jpg,space\ntrain/cat.jpg,pet\n');
  const from = api.requests.length;
  const r = await runMain(['run', '--manifest', 'images.csv', '--prompt', 'Caption this {{row.tag}} photo', '--out', 'm.csv', '--sidecar', 'txt', '--skip-captioned'], { env: env(), cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(api.requests.length - from, 1, 'only cat.jpg is sent');
  const rows = new Map((await readOutputRows(path.join(dir, 'm.csv'))).map((row) => [row.path, row]));
  assert.equal(rows.get('images.csv#1')?.error_code, 'already_captioned');
  assert.match(String(rows.get('images.csv#1')?.error_message), /already captioned in train\/hubble\.txt/);
  assert.equal(rows.get('images.csv#2')?.status, 'ok');
  assert.equal(await readFile(path.join(dir, 'train', 'hubble.txt'), 'utf8'), 'a hand-written caption\n');
});

test('--skip-captioned over a folder without an include glob: a hand-written photo.txt beside photo.jpg is not sent as a text', async () => {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'train'));
  await copyFile(path.join(FIXTURES, 'ok-photo.jpg'), path.join(dir, 'train', 'hubble.jpg'));
  await writeFile(path.join(dir, 'train', 'hubble.txt'), 'a hand-written caption\n');
  await writeFile(path.join(dir, 'train', 'notes.txt'), 'a text of the dataset, with no image of its stem');
  const from = api.requests.length;
  const args = ['run', '--input', 'train', '--prompt', 'Caption {{file.name}}', '--out', 'captions.jsonl', '--sidecar', 'txt', '--skip-captioned'];
  const r = await runMain(args, { env: env(), cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(api.requests.length - from, 1, 'only notes.txt is sent');
  const rows = new Map((await readOutputRows(path.join(dir, 'captions.jsonl'))).map((row) => [row.path, row]));
  assert.deepEqual([...rows.keys()].sort(), ['train/hubble.jpg', 'train/hubble.txt', 'train/notes.txt'], 'a row for every file');
  assert.equal(rows.get('train/hubble.jpg')?.error_code, 'already_captioned');
  assert.equal(rows.get('train/hubble.txt')?.status, 'skipped');
  assert.equal(rows.get('train/hubble.txt')?.error_code, 'is_caption');
  assert.equal(rows.get('train/hubble.txt')?.error_message, 'train/hubble.txt: the caption of train/hubble.jpg beside it, not an input (--skip-captioned)');
  assert.equal(rows.get('train/notes.txt')?.status, 'ok');
  assert.equal(await readFile(path.join(dir, 'train', 'hubble.txt'), 'utf8'), 'a hand-written caption\n');
  assert.deepEqual((await readdir(path.join(dir, 'train'))).sort(), ['hubble.jpg', 'hubble.txt', 'notes.txt', 'notes.txt.txt']);
});
