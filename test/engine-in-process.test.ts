/**
 * The in-process engine as a library: a whole run through `startRun`, with the `openai` client and the clock handed
 * in, against the DashScope stand-in. No CLI process: what a command adds (flags, printing, exit) is not in the way.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startRun, type RunOptions } from '../src/engine/in-process/index.js';
import { sleep, type Clock } from '../src/shared/clock.js';
import { resolveConfig, type Flags, type RunConfig } from '../src/shared/config.js';
import type { Row } from '../src/shared/row.js';
import { createClient } from '../src/worker/qwen-omni.js';
import { readOutputRows, tempDir } from './helpers.js';
import { startStandIn, type StandIn } from './stand-in/server.js';

const KEY = 'sk-SENTINEL-in-process-4b1e9d7a03c2';

let api: StandIn;
before(async () => {
  // ECHOKEY: a gateway that quotes the request's Authorization header in its error, so the key reaches the engine
  // inside an error message and must be masked before it is written.
  api = await startStandIn({
    apiKey: KEY,
    faults: ({ summary }) =>
      summary.lastUserText.includes('ECHOKEY') ? { type: 'inband-error', status: 400, code: 'InvalidParameter', message: `malformed header Authorization: Bearer ${KEY}` } : null,
  });
});
after(() => api.close());

/** A folder of text files (name -> content) and a config that reads them, resolved as the CLI would. */
async function textRun(files: Record<string, string>, flags: Flags = {}): Promise<{ dir: string; cfg: RunConfig }> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, 'media', name), text);
  const cfg = await resolveConfig(undefined, { input: ['media'], prompt: 'Read {{file.name}}', out: 'out.jsonl', retries: 0, ...flags }, {}, dir);
  return { dir, cfg };
}

/** Runs `cfg` to its end with the stand-in's client; the rows and lines the hooks saw come back with the result. */
async function runToEnd(cfg: RunConfig, opts: Partial<RunOptions> = {}) {
  const rows: Row[] = [];
  const lines: string[] = [];
  const { done } = startRun(cfg, { apiKey: KEY, client: createClient(KEY, api.baseURL), log: (l) => lines.push(l), onRow: (r) => rows.push(r), ...opts });
  return { result: await done, rows, lines };
}

describe('startRun: the in-process engine driven as a library', () => {
  test('runs a folder against the stand-in and writes one row per file, the totals, and no API key anywhere', async () => {
    const { dir, cfg } = await textRun({ 'a.txt': 'alpha', 'b.txt': 'beta', 'c.txt': 'ECHOKEY gamma' });
    const from = api.requests.length;
    const { result, rows, lines } = await runToEnd(cfg);
    assert.equal(result.exitCode, 0);
    assert.equal(result.fatal, undefined);
    assert.equal(result.interrupted, false);
    assert.equal(api.requests.length - from, 3, 'one request per file, none repeated (retries: 0)');

    const written = await readOutputRows(cfg.out);
    assert.deepEqual(written.map((r) => `${r.path} ${r.status}`).sort(), ['media/a.txt ok', 'media/b.txt ok', 'media/c.txt failed']);
    assert.match(written.find((r) => r.path === 'media/a.txt')?.answer ?? '', /^Answer 1: Read a\.txt/);
    const failed = written.find((r) => r.status === 'failed');
    assert.equal(failed?.error_code, 'bad_request');
    assert.match(failed?.error_message ?? '', /Bearer \*\*\*/, 'the key in the message is masked');
    assert.deepEqual(rows.map((r) => r.path).sort(), written.map((r) => r.path).sort(), 'onRow saw every row written');

    const totals = result.totals;
    assert.ok(totals);
    assert.equal(totals.rows, 3);
    assert.deepEqual({ ok: totals.byStatus.ok, failed: totals.byStatus.failed }, { ok: 2, failed: 1 });
    assert.equal(totals.errors.bad_request, 1);
    assert.ok(totals.tokens.total_tokens > 0);
    assert.deepEqual(
      { discovered: totals.run?.discovered, alreadyDone: totals.run?.alreadyDone, rowsWritten: totals.run?.rowsWritten, apiRequests: totals.run?.apiRequests },
      { discovered: 3, alreadyDone: 0, rowsWritten: 3, apiRequests: 3 },
    );
    assert.deepEqual(JSON.parse(await readFile(cfg.totalsPath, 'utf8')), totals, 'the totals file holds what the run returned');

    for (const file of await readdir(dir)) {
      const text = await readFile(path.join(dir, file), 'utf8').catch(() => '');
      assert.ok(!text.includes(KEY), `${file} holds the key`);
    }
    assert.ok(!lines.join('\n').includes(KEY) && !JSON.stringify(rows).includes(KEY));
  });

  test('a second run over the same output leaves the ok rows alone and asks only for the failed file', async () => {
    const { cfg } = await textRun({ 'a.txt': 'alpha', 'b.txt': 'ECHOKEY beta' });
    await runToEnd(cfg);
    const from = api.requests.length;
    const { result } = await runToEnd(cfg);
    assert.equal(api.requests.length - from, 1);
    assert.equal(result.alreadyDone, 1);
    assert.equal(result.totals?.rows, 2, 'still one row per file');
    assert.equal(result.totals?.run?.alreadyDone, 1);
  });

});

describe('startRun: what a run is handed from outside', () => {
  test('the run is timed by the clock it is given', async () => {
    const { cfg } = await textRun({ 'a.txt': 'alpha' });
    const start = Date.parse('2030-01-01T00:00:00.000Z');
    let now = start;
    // Each look at the clock moves it a second on: the run's times come from this clock, not from the machine's.
    const clock: Clock = { now: () => (now += 1_000) - 1_000, sleep };
    const { result } = await runToEnd(cfg, { clock });
    const run = result.totals?.run;
    assert.equal(run?.startedAt, '2030-01-01T00:00:00.000Z');
    assert.ok(run && run.wallMs >= 1_000, `wallMs ${run?.wallMs}`);
    assert.equal(Date.parse(run.finishedAt) - Date.parse(run.startedAt), run.wallMs);
  });

  test('a dry run needs no key and no client, and sends nothing', async () => {
    const { cfg } = await textRun({ 'a.txt': 'alpha', 'b.txt': 'beta' }, { dryRun: true });
    const from = api.requests.length;
    const planned: string[] = [];
    const { done } = startRun(cfg, { apiKey: undefined, log: () => undefined, onPlanned: (job) => planned.push(job.path) });
    const result = await done;
    assert.equal(api.requests.length, from);
    assert.equal(result.planned, 2);
    assert.deepEqual(planned.sort(), ['media/a.txt', 'media/b.txt']);
    assert.equal(result.totals, undefined);
    assert.equal(result.estimate.byKind.text?.send, 2);
  });
});
