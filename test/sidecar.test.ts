/** --sidecar: each answer beside its file (or in a mirror folder), never over a file omni-batch did not write. */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { FIXTURES, runMain, tempDir } from './helpers.js';

const KEY = 'sk-sidecar-test-SENTINEL-00001';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());
const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

async function photos(): Promise<string> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'photos', 'sub'), { recursive: true });
  await copyFile(path.join(FIXTURES, 'ok-photo.jpg'), path.join(dir, 'photos', 'a.jpg'));
  await copyFile(path.join(FIXTURES, 'ok-graphic.png'), path.join(dir, 'photos', 'sub', 'b.png'));
  return dir;
}

const answers = async (out: string) => new Map(parse<Record<string, string>>(await readFile(out, 'utf8'), { columns: true }).map((r) => [r.path, r.answer]));

describe('sidecar captions', () => {
  test('--sidecar txt writes photos/a.jpg -> photos/a.txt with the answer, and a rerun neither sends nor reads them as inputs', async () => {
    const dir = await photos();
    const args = ['run', '--input', 'photos', '--prompt', 'Caption {{file.name}}', '--out', 'out.csv', '--sidecar', 'txt'];
    const r = await runMain(args, { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const rows = await answers(path.join(dir, 'out.csv'));
    assert.equal(await readFile(path.join(dir, 'photos', 'a.txt'), 'utf8'), `${rows.get('photos/a.jpg')}\n`);
    assert.equal(await readFile(path.join(dir, 'photos', 'sub', 'b.txt'), 'utf8'), `${rows.get('photos/sub/b.png')}\n`);
    assert.match(r.stdout, /sidecars \(\.txt\): 2 written next to the files/);
    const from = api.requests.length;
    const again = await runMain(args, { env: env(), cwd: dir });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(api.requests.length, from, 'no request: the images are done and the sidecars are not inputs');
    assert.equal((await answers(path.join(dir, 'out.csv'))).size, 2);
    assert.match(again.stdout, /sidecars \(\.txt\): 0 written next to the files, 2 already up to date/);
  });

  test('--sidecar-dir mirrors the input folders; an existing file omni-batch did not write is kept unless --overwrite', async () => {
    const dir = await photos();
    await mkdir(path.join(dir, 'caps', 'sub'), { recursive: true });
    await writeFile(path.join(dir, 'caps', 'sub', 'b.json'), 'hand-made\n');
    const args = ['run', '--input', 'photos', '--prompt', 'Caption', '--out', 'out.csv', '--sidecar', 'json', '--sidecar-dir', 'caps'];
    const r = await runMain(args, { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const a = JSON.parse(await readFile(path.join(dir, 'caps', 'a.json'), 'utf8')) as { path: string; answer: string };
    assert.equal(a.path, 'photos/a.jpg');
    assert.equal(a.answer, (await answers(path.join(dir, 'out.csv'))).get('photos/a.jpg'));
    assert.equal(await readFile(path.join(dir, 'caps', 'sub', 'b.json'), 'utf8'), 'hand-made\n');
    assert.match(r.stdout, /1 written under .*caps, 1 existing not written by omni-batch left alone \(--overwrite replaces them\)/);
    const from = api.requests.length;
    const forced = await runMain([...args, '--overwrite'], { env: env(), cwd: dir });
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(api.requests.length, from, 'sidecars of a finished run cost no request');
    assert.equal((JSON.parse(await readFile(path.join(dir, 'caps', 'sub', 'b.json'), 'utf8')) as { path: string }).path, 'photos/sub/b.png');
  });

  test('manifest rows get the sidecar of the file they name; two rows about one image get one each (the first keeps the stem); URL rows only under --sidecar-dir', async () => {
    const dir = await photos();
    await writeFile(
      path.join(dir, 'rows.csv'),
      ['path,url,q', 'photos/a.jpg,,What is it?', 'photos/a.jpg,,What colour?', 'photos/sub/b.png,,What is it?', ',https://cdn.example.com/img/cat.jpg?v=2,What is it?', ',,Just text'].join('\n'),
    );
    const args = ['run', '--manifest', 'rows.csv', '--prompt', '{{row.q}}', '--out', 'out.csv', '--sidecar', 'txt'];
    const r = await runMain(args, { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const rows = await answers(path.join(dir, 'out.csv'));
    assert.equal(rows.size, 5);
    assert.equal(await readFile(path.join(dir, 'photos', 'a.txt'), 'utf8'), `${rows.get('rows.csv#1')}\n`);
    assert.equal(await readFile(path.join(dir, 'photos', 'a.row2.txt'), 'utf8'), `${rows.get('rows.csv#2')}\n`);
    assert.notEqual(rows.get('rows.csv#1'), rows.get('rows.csv#2'));
    assert.equal(await readFile(path.join(dir, 'photos', 'sub', 'b.txt'), 'utf8'), `${rows.get('rows.csv#3')}\n`);
    assert.deepEqual((await readdir(dir)).sort(), ['.out.csv.sidecars.jsonl', 'out.csv', 'out.csv.run.json', 'out.csv.totals.json', 'photos', 'rows.csv'], 'nothing beside the manifest');
    assert.match(
      r.stdout,
      /sidecars \(\.txt\): 3 written next to the files, 1 without one: URL rows \(--sidecar-dir mirrors them by host and path\), 1 without one: manifest rows without a file \(text only\), warning: 1 not named after the file's stem, which another row's sidecar takes \(first: photos\/a\.jpg -> photos\/a\.row2\.txt\)/,
    );

    const mirrored = await runMain([...args.slice(0, -1), 'json', '--sidecar-dir', 'caps'], { env: env(), cwd: dir });
    assert.equal(mirrored.code, 0, mirrored.stderr);
    const cat = JSON.parse(await readFile(path.join(dir, 'caps', 'cdn.example.com', 'img', 'cat.json'), 'utf8')) as { path: string; source: string; answer: string };
    assert.deepEqual([cat.path, cat.source, cat.answer], ['rows.csv#4', 'https://cdn.example.com/img/cat.jpg?v=2', rows.get('rows.csv#4')]);
    const second = JSON.parse(await readFile(path.join(dir, 'caps', 'photos', 'a.row2.json'), 'utf8')) as { source: string; answer: string };
    assert.deepEqual([second.source, second.answer], ['photos/a.jpg', rows.get('rows.csv#2')]);
    assert.match(mirrored.stdout, /sidecars \(\.json\): 4 written under \S+caps, 1 without one: manifest rows without a file/);
  });

  test('sidecar flags say what they expect', async () => {
    const dir = await photos();
    const bad = await runMain(['run', '--input', 'photos', '--prompt', 'p', '--sidecar', 'csv'], { env: env(), cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /option '--sidecar <txt\|json>' argument 'csv' is invalid\. Allowed choices are txt, json\./);
    const alone = await runMain(['run', '--input', 'photos', '--prompt', 'p', '--overwrite'], { env: env(), cwd: dir });
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--overwrite: needs --sidecar txt\|json/);
  });
});
