/**
 * A manifest cell too big for the model's input window is a `skipped` / `too_large` row before any call, as a text
 * file too big is: it is never sent (once or six times), and the item does not carry it while it waits to be
 * planned. The real CLI, the real `openai` SDK, the stand-in, a generated manifest with an 8 MB cell.
 */
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Item } from '../src/producer/item.js';
import { CELL_MAX_CHARS, manifestItems } from '../src/producer/manifest.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runMain, tempDir } from './helpers.js';

const KEY = 'sk-SENTINEL-big-cell-13ab';
const MB = 1024 * 1024;

let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());

const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

/** rows.csv: id,title,body; row 2's body is `bigChars` characters, streamed to disk (never one string in the test). */
async function bigManifest(dir: string, bigChars: number): Promise<string> {
  const file = path.join(dir, 'rows.csv');
  const out = createWriteStream(file);
  out.write('id,title,body\nr1,small,a short body\nr2,huge,');
  const chunk = 'lorem ipsum '.repeat(8192);
  for (let left = bigChars; left > 0; left -= chunk.length) {
    if (!out.write(left >= chunk.length ? chunk : chunk.slice(0, left))) await once(out, 'drain');
  }
  out.end('\nr3,last,another short body\n');
  await once(out, 'finish');
  return file;
}

const byId = (rows: Record<string, any>[]) => new Map(rows.map((r) => [String(r.path).replace(/^.*#/, ''), r]));

describe('a text too big for the input window is skipped before any call', () => {
  test('an 8 MB manifest cell used by the prompt gives one skipped too_large row and no request; the other rows are answered', async () => {
    const dir = await tempDir();
    const manifest = await bigManifest(dir, 8 * MB);
    const out = path.join(dir, 'out.csv');
    const from = api.requests.length;
    const r = await runMain(['run', '--manifest', manifest, '--prompt', 'Summarize {{row.title}}: {{row.body}}', '--model', 'qwen-omni-turbo', '--out', out, '--retries', '5'], { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const rows = byId(await readOutputRows(out));
    assert.equal(rows.size, 3);
    assert.equal(rows.get('2')?.status, 'skipped');
    assert.equal(rows.get('2')?.error_code, 'too_large');
    assert.match(rows.get('2')?.error_message, /rows\.csv#2: column "body" holds 8388608 characters, about 2097152 tokens, over qwen-omni-turbo's 30720-token input window/);
    assert.equal(rows.get('1')?.status, 'ok');
    assert.equal(rows.get('3')?.status, 'ok');
    const sent = api.requests.slice(from);
    assert.equal(sent.length, 2, 'one request per small row, none for the big one');
    assert.ok(sent.every((q) => JSON.stringify(q.body).length < 10_000));
  });

  test('a prompt rendered over the window from a cell a larger model would take is skipped too; the same row fits qwen3-omni-flash', async () => {
    const dir = await tempDir();
    // 150,000 characters: about 37,500 tokens, over turbo's 30,720 and under qwen3-omni-flash's 49,152.
    const manifest = await bigManifest(dir, 150_000);
    const from = api.requests.length;
    const turbo = await runMain(['run', '--manifest', manifest, '--prompt', '{{row.body}}', '--model', 'qwen-omni-turbo', '--out', 'turbo.csv'], { env: env(), cwd: dir });
    assert.equal(turbo.code, 0, turbo.stderr);
    const t = byId(await readOutputRows(path.join(dir, 'turbo.csv')));
    assert.equal(t.get('2')?.error_code, 'too_large');
    assert.match(t.get('2')?.error_message, /rows\.csv#2: the prompt is about 37500 tokens of text, over qwen-omni-turbo's 30720-token input window/);
    assert.equal(api.requests.length - from, 2);
    const flash = await runMain(['run', '--manifest', manifest, '--prompt', '{{row.body}}', '--model', 'qwen3-omni-flash', '--out', 'flash.csv'], { env: env(), cwd: dir });
    assert.equal(flash.code, 0, flash.stderr);
    assert.equal(byId(await readOutputRows(path.join(dir, 'flash.csv'))).get('2')?.status, 'ok');
  });

  test('a big cell the prompt does not use does not stop its row', async () => {
    const dir = await tempDir();
    const manifest = await bigManifest(dir, 2 * MB);
    const r = await runMain(['run', '--manifest', manifest, '--prompt', 'Title: {{row.title}}', '--out', 'out.csv'], { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const rows = byId(await readOutputRows(path.join(dir, 'out.csv')));
    assert.deepEqual([...rows.values()].map((x) => x.status), ['ok', 'ok', 'ok']);
  });

  test('the item of a row with a cell too long for any model does not hold the cell, only its length', async () => {
    const dir = await tempDir();
    const manifest = await bigManifest(dir, 8 * MB);
    const items: Item[] = [];
    for await (const item of manifestItems(manifest, dir)) items.push(item);
    const big = items[1];
    assert.equal(big?.row?.body, '');
    assert.deepEqual(big?.oversized, { body: 8 * MB });
    assert.equal(big?.row?.title, 'huge');
    assert.ok(CELL_MAX_CHARS < 8 * MB && CELL_MAX_CHARS >= 4 * 49_152);
    assert.equal(items[0]?.oversized, undefined);
  });
});
