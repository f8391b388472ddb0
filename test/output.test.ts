import assert from 'node:assert/strict';
import { appendFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { ResultFile } from '../src/shared/output/result-file.js';
import { TotalsAccumulator, writeTotals } from '../src/shared/output/totals.js';
import { OutputError } from '../src/shared/errors.js';
import { emptyUsage, noMedia, textLayout, type Row } from '../src/shared/row.js';
import { tempDir } from './helpers.js';

function row(p: string, status: Row['status'], answers: string[] = [], id = `id-${p}`): Row {
  const usage = emptyUsage();
  if (status === 'ok') Object.assign(usage, { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, text_tokens: 4, image_tokens: 6 });
  return {
    id,
    path: p,
    source: '',
    kind: 'image',
    status,
    answers,
    parsed: null,
    reasoning: '',
    audio_path: '',
    error_code: status === 'ok' ? '' : 'rate_limited',
    error_message: status === 'ok' ? '' : 'HTTP 429',
    model: 'qwen-omni-turbo',
    usage,
    cost: status === 'ok' ? 0.001 : null,
    requests: 1,
    retries: 0,
    latency_ms: 12,
    ttft_ms: 3,
    ...noMedia(),
    preprocess: 'resized 6000x4000->1232x812, jpeg->jpeg q88',
    source_bytes: 5_000_000,
    sent_bytes: 120_000,
    width: 1232,
    height: 812,
    estimated_tokens: 10,
  };
}

describe('output files', () => {
  test('CSV rows survive quotes, commas, newlines and unicode exactly (RFC 4180)', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'o.csv');
    const rf = await ResultFile.open(file, 'csv', textLayout(2));
    const tricky = 'He said "hi", then\nleft; café ☕';
    rf.append(row('dir/"q", name.jpg', 'ok', [tricky, 'second']));
    await rf.finish();
    const recs = parse<Record<string, string>>(await readFile(file), { columns: true });
    assert.equal(recs.length, 1);
    assert.equal(recs[0]?.path, 'dir/"q", name.jpg');
    assert.equal(recs[0]?.answer, tricky);
    assert.equal(recs[0]?.answer_2, 'second');
    assert.deepEqual(Object.keys(recs[0] ?? {}).slice(0, 7), ['id', 'path', 'source', 'kind', 'status', 'answer', 'answer_2']);
  });

  test('reopening keeps one row per path, the newest, and gives resume the prior status', async () => {
    for (const format of ['csv', 'jsonl'] as const) {
      const dir = await tempDir();
      const file = path.join(dir, `o.${format}`);
      let rf = await ResultFile.open(file, format, textLayout(1));
      rf.append(row('a.jpg', 'failed'));
      rf.append(row('b.jpg', 'ok', ['B']));
      rf.append(row('a.jpg', 'ok', ['A']));
      const totals = (await rf.finish()).result(file, 'CNY');
      assert.equal(totals.rows, 2, format);
      assert.deepEqual(totals.byStatus, { ok: 2, failed: 0, skipped: 0, planned: 0 });
      assert.deepEqual(totals.byKind.image, { files: 2, ok: 2, failed: 0, skipped: 0, planned: 0, estimated_tokens: 20, prompt_tokens: 20 }, 'estimated vs actual prompt tokens per kind');
      assert.equal(totals.tokens.total_tokens, 30);
      rf = await ResultFile.open(file, format, textLayout(1));
      assert.deepEqual(rf.prior.get('a.jpg'), { id: 'id-a.jpg', status: 'ok' });
      rf.closeNow();
    }
  });

  test('a JSONL output written from empty is finished without a second read, to the same totals a read gives', async () => {
    const layout = { turns: 1, fields: ['label'], counted: [{ field: 'label', values: ['cat', 'dog'] }], reasoning: false, audio: false };
    const rows: Row[] = [
      { ...row('a.jpg', 'ok', ['{"label":"cat"}']), parsed: { label: 'cat' } },
      { ...row('b.jpg', 'ok', ['{"label":"dog"}']), parsed: { label: 'dog' }, cost: null },
      { ...row('c.mp3', 'failed'), kind: 'audio' },
      { ...row('d.txt', 'skipped'), kind: 'text', error_code: 'too_large' },
    ];
    for (const fresh of [false, true]) {
      const dir = await tempDir();
      const file = path.join(dir, 'o.jsonl');
      const rf = await ResultFile.open(file, 'jsonl', layout, { fresh });
      for (const r of rows) rf.append(r);
      const kept = (await rf.finish()).result(file, 'CNY');
      const read = new TotalsAccumulator(layout.counted);
      for await (const r of ResultFile.readRows(file, 'jsonl')) read.add(r);
      assert.deepEqual(kept, read.result(file, 'CNY'), `fresh: ${fresh}`);
      assert.deepEqual(kept.labels, { label: { cat: 1, dog: 1 } });
      assert.equal(kept.rows, 4);
      assert.deepEqual((await readdir(dir)).sort(), ['o.jsonl'], 'no pending or lock file left');
    }
  });

  test('a line cut short by a crash is dropped and the next append starts on a fresh line', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'o.jsonl');
    const rf = await ResultFile.open(file, 'jsonl', textLayout(1));
    rf.append(row('a.jpg', 'ok', ['A']));
    rf.closeNow();
    await appendFile(file, '{"id":"id-b.jpg","path":"b.jpg","sta');
    const again = await ResultFile.open(file, 'jsonl', textLayout(1));
    assert.equal(again.prior.size, 1);
    again.append(row('c.jpg', 'ok', ['C']));
    await again.finish();
    const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { path: string });
    assert.deepEqual(lines.map((l) => l.path), ['a.jpg', 'c.jpg']);
  });

  test('a CSV written with fewer answer columns is rewritten to the new header', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'o.csv');
    const one = await ResultFile.open(file, 'csv', textLayout(1));
    one.append(row('a.jpg', 'ok', ['A']));
    await one.finish();
    const two = await ResultFile.open(file, 'csv', textLayout(2));
    two.append(row('b.jpg', 'ok', ['B', 'B2']));
    await two.finish();
    const recs = parse<Record<string, string>>(await readFile(file), { columns: true });
    assert.deepEqual(recs.map((r) => [r.path, r.answer, r.answer_2]), [['a.jpg', 'A', ''], ['b.jpg', 'B', 'B2']]);
  });
});

describe('output files that are not ours, and crashes', () => {
  test('an existing file that is not an omni-batch output is refused, never overwritten', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'reviews.csv');
    const original = 'id,review\nr1,"great, really"\nr2,bad\n';
    await writeFile(file, original);
    await assert.rejects(ResultFile.open(file, 'csv', textLayout(1)), (err: unknown) => {
      assert.ok(err instanceof OutputError, String(err));
      assert.match((err as Error).message, /reviews\.csv exists and is not an omni-batch output/);
      assert.equal((err as { exitCode: number }).exitCode, 4);
      return true;
    });
    await assert.rejects(ResultFile.open(file, 'csv', textLayout(1), { fresh: true }), /is not an omni-batch output/);
    assert.equal(await readFile(file, 'utf8'), original);
  });

  test('a CSV row cut short by a crash is not taken for done, even when what is left still parses', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'o.csv');
    const rf = await ResultFile.open(file, 'csv', textLayout(1));
    rf.append(row('a.jpg', 'ok', ['A']));
    rf.append({ ...row('b.jpg', 'ok', ['B']), estimated_tokens: 120, estimated_cost: 0.0012, index: 27 });
    rf.closeNow();
    const text = await readFile(file, 'utf8');
    assert.ok(text.endsWith(',120,0.0012,,27\n')); // reviewed (empty), then index
    // Cut the last line right after its status: `...,b.jpg,image,ok,`
    const cut = text.slice(0, text.lastIndexOf('\nid-b.jpg') + 1) + 'id-b.jpg,b.jpg,image,ok,';
    await writeFile(file, cut);
    // What --dry-run and --max-cost read (without changing the file) follows the same rule, also for a line
    // cut inside its last field, which still has every column.
    assert.deepEqual([...(await ResultFile.readPrior(file, 'csv')).keys()], ['a.jpg']);
    const cutInLastField = text.slice(0, text.length - 2); // `...,0.0012,2`: every column is there
    await writeFile(file, cutInLastField);
    assert.deepEqual([...(await ResultFile.readPrior(file, 'csv')).keys()], ['a.jpg']);
    assert.equal(await readFile(file, 'utf8'), cutInLastField);
    await writeFile(file, cut);
    const again = await ResultFile.open(file, 'csv', textLayout(1));
    assert.deepEqual([...again.prior.keys()], ['a.jpg']);
    again.closeNow();
  });
});

describe('outputs that cannot be written: exit 4, one line naming the file', () => {
  test('an output that cannot be written is a clear error naming the file', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'file'), 'x');
    await assert.rejects(ResultFile.open(path.join(dir, 'file', 'o.csv'), 'csv', textLayout(1)), (err: unknown) => {
      assert.ok(err instanceof OutputError, String(err));
      assert.match((err as Error).message, /file\/o\.csv: cannot write the output file \((ENOTDIR|EEXIST)\)/);
      assert.equal((err as { exitCode: number }).exitCode, 4);
      return true;
    });
  });

  test('two runs cannot write the same output at once', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'o.jsonl');
    const first = await ResultFile.open(file, 'jsonl', textLayout(1));
    await assert.rejects(ResultFile.open(file, 'jsonl', textLayout(1)), (err: unknown) => {
      assert.ok(err instanceof OutputError, String(err));
      assert.match(err.message, /another omni-batch \(pid \d+\) is writing this output/);
      assert.equal(err.exitCode, 4);
      return true;
    });
    await first.finish();
    const second = await ResultFile.open(file, 'jsonl', textLayout(1));
    second.closeNow();
  });

  test('a totals file that cannot be written is an error naming it, and leaves no temporary file behind', async () => {
    const dir = await tempDir();
    const totals = path.join(dir, 'o.csv.totals.json');
    await mkdir(totals);
    await assert.rejects(writeTotals(totals, new TotalsAccumulator().result('o.csv', null)), (err: unknown) => {
      assert.ok(err instanceof OutputError, String(err));
      assert.match(err.message, /o\.csv\.totals\.json: cannot write the totals file \(EISDIR\)/);
      assert.equal(err.exitCode, 4);
      return true;
    });
    assert.deepEqual(await readdir(dir), ['o.csv.totals.json']);
  });
});
