/**
 * A file whose name is not UTF-8 (bytes 0xff 0xfe, as Latin-1 or Shift-JIS file systems leave them) gets a row
 * that says so and names it with the bad bytes escaped, not `no such file` under a U+FFFD name no file has; two
 * such names that differ only in their bad bytes get a row each. Real files created with Buffer paths.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { escapeName } from '../src/producer/scan.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runMain, tempDir } from './helpers.js';

const KEY = 'sk-SENTINEL-utf8-14cd';

let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());

const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

describe('file names that are not UTF-8', () => {
  test('each gets a skipped name_not_utf8 row naming it with \\xHH escapes, nothing is sent for it, and the other files run', async () => {
    const dir = await tempDir();
    const media = path.join(dir, 'media');
    await mkdir(media);
    await writeFile(path.join(media, 'fine.txt'), 'a fine text');
    await writeFile(path.join(media, 'café.txt'), 'UTF-8 names are fine');
    await writeFile(bytes(media, '/a', [0xff, 0xfe], '.txt'), 'latin-1 named');
    await writeFile(bytes(media, '/a', [0xfe, 0xff], '.txt'), 'the same name once decoded');
    // A folder whose own name is not UTF-8: its files get their rows too.
    await mkdir(bytes(media, '/d', [0xe9]));
    await writeFile(bytes(media, '/d', [0xe9], '/inner.txt'), 'inside a latin-1 folder');
    const out = path.join(dir, 'out.csv');
    const from = api.requests.length;
    const r = await runMain(['run', '--input', media, '--prompt', 'Read', '--out', out], { env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL }, cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const rows = new Map((await readOutputRows(out)).map((x) => [x.path as string, x]));
    assert.deepEqual([...rows.keys()].sort(), ['media/a\\xfe\\xff.txt', 'media/a\\xff\\xfe.txt', 'media/café.txt', 'media/d\\xe9/inner.txt', 'media/fine.txt']);
    for (const p of ['media/a\\xff\\xfe.txt', 'media/a\\xfe\\xff.txt', 'media/d\\xe9/inner.txt']) {
      assert.equal(rows.get(p)?.status, 'skipped', p);
      assert.equal(rows.get(p)?.error_code, 'name_not_utf8', p);
      assert.ok(!String(rows.get(p)?.error_message).includes('\uFFFD'), p);
    }
    assert.match(rows.get('media/a\\xff\\xfe.txt')?.error_message, /^media\/a\\xff\\xfe\.txt: the name is not valid UTF-8 .*rename it to UTF-8/);
    assert.equal(rows.get('media/fine.txt')?.status, 'ok');
    assert.equal(rows.get('media/café.txt')?.status, 'ok');
    assert.equal(api.requests.length - from, 2, 'only the two UTF-8 names were sent');
  });

  test('escapeName keeps valid UTF-8 and escapes every other byte, and a backslash, so distinct names stay distinct', () => {
    assert.equal(escapeName(bytes('caf', [0xc3, 0xa9], '.jpg')), 'café.jpg');
    assert.equal(escapeName(bytes('a', [0xff, 0xfe], '.txt')), 'a\\xff\\xfe.txt');
    assert.equal(escapeName(bytes([0xe9], 't', [0xe9])), '\\xe9t\\xe9');
    // An overlong encoding and a lone continuation byte are not UTF-8.
    assert.equal(escapeName(bytes([0xc0, 0xaf], [0x80])), '\\xc0\\xaf\\x80');
    assert.notEqual(escapeName(bytes('a\\xff', [0xff])), escapeName(bytes('a', [0xff], '\\xff')));
  });
});
