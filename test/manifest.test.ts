import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import type { Item } from '../src/producer/item.js';
import { manifestColumns, manifestItems } from '../src/producer/manifest.js';
import { tempDir } from './helpers.js';

async function items(file: string, cwd: string): Promise<Item[]> {
  const out: Item[] = [];
  for await (const i of manifestItems(file, cwd)) out.push(i);
  return out;
}

describe('manifests', () => {
  test('CSV rows name a path, a URL, a ;-separated frame list, or nothing (text only), and keep every column', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'm.csv');
    await writeFile(
      file,
      [
        'path,url,frames,label',
        'img/a b.jpg,,,"cat, maybe"',
        ',https://example.com/x/dog.png?sig=1,,dog',
        ',,f/1.jpg; f/2.jpg;f/3.jpg;https://example.com/4.jpg,clip',
        ',,,just text',
        'img/c.jpg,https://example.com/c.jpg,,both',
        ',ftp://example.com/x.jpg,,bad url',
      ].join('\n'),
    );
    assert.deepEqual(await manifestColumns(file), ['path', 'url', 'frames', 'label']);
    const got = await items(file, dir);
    assert.equal(got.length, 6);
    const [a, b, c, d, e, f] = got;
    assert.equal(a?.path, 'm.csv#1');
    assert.equal(a?.source, 'img/a b.jpg');
    assert.deepEqual(a?.media, { type: 'single', source: { file: path.join(dir, 'img', 'a b.jpg') } });
    assert.equal(a?.row?.label, 'cat, maybe');
    assert.equal(a?.file.name, 'a b.jpg');
    assert.deepEqual(b?.media, { type: 'single', source: { url: 'https://example.com/x/dog.png?sig=1' } });
    assert.equal(b?.file.name, 'dog.png');
    assert.equal(b?.source, 'https://example.com/x/dog.png?sig=1');
    assert.equal(c?.path, 'm.csv#3');
    assert.equal(c?.source, 'f/1.jpg;f/2.jpg;f/3.jpg;https://example.com/4.jpg');
    assert.deepEqual(c?.media, {
      type: 'frames',
      frames: [{ file: path.join(dir, 'f/1.jpg') }, { file: path.join(dir, 'f/2.jpg') }, { file: path.join(dir, 'f/3.jpg') }, { url: 'https://example.com/4.jpg' }],
    });
    assert.equal(d?.path, 'm.csv#4');
    assert.equal(d?.media, undefined);
    assert.equal(d?.row?.label, 'just text');
    assert.equal(e?.skip?.code, 'manifest_row_invalid');
    assert.match(e?.skip?.message ?? '', /m\.csv#5: give one of path, url, frames or media, not path and url/);
    assert.match(f?.skip?.message ?? '', /is not an http\(s\) URL/);
  });

  test('JSONL rows take frames as a JSON array, and a broken line becomes a row with the reason', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'm.jsonl');
    await writeFile(file, ['{"frames":["a.jpg","b.jpg"],"n":3,"tags":["x"]}', '{not json', '[1,2]', '', '{"review":"ok"}'].join('\n'));
    const got = await items(file, dir);
    assert.equal(got.length, 4);
    assert.deepEqual(got[0]?.media, { type: 'frames', frames: [{ file: path.join(dir, 'a.jpg') }, { file: path.join(dir, 'b.jpg') }] });
    assert.equal(got[0]?.row?.n, '3');
    assert.equal(got[0]?.row?.tags, '["x"]');
    assert.match(got[1]?.skip?.message ?? '', /m\.jsonl#2: not valid JSON/);
    assert.match(got[2]?.skip?.message ?? '', /m\.jsonl#3: expected a JSON object/);
    assert.equal(got[3]?.row?.review, 'ok');
  });

  test('a manifest that is neither CSV nor JSONL, or missing, is a config error', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'm.txt'), 'x');
    await assert.rejects(manifestColumns(path.join(dir, 'm.txt')), /cannot tell the format from "\.txt"/);
    await assert.rejects(manifestColumns(path.join(dir, 'nope.csv')), /no such file/);
  });
});

describe('manifest problems stay with their rows', () => {
  test('a stray quote in one CSV row does not stop the others', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'm.csv');
    await writeFile(file, 'id,review\nr1,fine\nr2,He said "hi" there\nr3,"unclosed\n');
    const got = await items(file, dir);
    assert.ok(got.length >= 2);
    assert.equal(got[0]?.row?.review, 'fine');
    assert.equal(got[1]?.row?.review, 'He said "hi" there');
    const broken = got.filter((i) => i.skip);
    assert.ok(broken.every((i) => i.skip?.code === 'manifest_row_invalid'));
    assert.equal(got.length, 2 + broken.length);
  });

  test('JSONL columns are learned from the rows, so a misspelt {{row.x}} is refused before any call', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'm.jsonl');
    await writeFile(file, '{"review":"a"}\n{"review":"b","extra":1}\n');
    assert.deepEqual((await manifestColumns(file))?.sort(), ['extra', 'review']);
    const { compileTemplate } = await import('../src/producer/template.js');
    assert.throws(() => compileTemplate('{{row.reveiw}}', { where: 'prompt', rowColumns: ['extra', 'review'] }), /no column "reveiw"/);
  });
});
