/** `omni-batch retry OUTPUT`: only the failed rows are sent again, in place, with the settings the run recorded. */
import assert from 'node:assert/strict';
import { copyFile, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { FIXTURES, readOutputRows, runMain, tempDir } from './helpers.js';

const KEY = 'sk-retry-test-SENTINEL-1234567';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());
const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });


/** ok files, one that moderation blocks (final), one the server fails (transient), one unreadable image. */
async function failingRun(): Promise<{ dir: string; out: string; first: Awaited<ReturnType<typeof runMain>> }> {
  const dir = await tempDir();
  const media = path.join(dir, 'media');
  await mkdir(media);
  for (const f of ['ok-photo.jpg', 'note.txt', 'truncated.jpg']) await copyFile(path.join(FIXTURES, f), path.join(media, f));
  await writeFile(path.join(media, 'bad.txt'), 'forbidden words');
  await writeFile(path.join(media, 'flaky.txt'), 'the server fails on this one');
  await writeFile(path.join(dir, 'job.yaml'), 'inputs: [media]\nprompt: Describe {{file.name}}\noutput: out/res.csv\nretries: 1\nretryBaseMs: 5\nretryMaxMs: 10\n');
  api.setOptions({
    faults: ({ summary }) => (summary.lastUserText.includes('forbidden') ? { type: 'moderation' } : summary.lastUserText.includes('server fails') ? { type: 'http500' } : null),
  });
  try {
    const first = await runMain(['run', 'job.yaml'], { env: env(), cwd: dir });
    assert.equal(first.code, 0, first.stderr);
    return { dir, out: path.join(dir, 'out', 'res.csv'), first };
  } finally {
    api.setOptions({ faults: undefined });
  }
}

describe('omni-batch retry', () => {
  test('the run records its settings beside the output, without the key, and the summary prints the retry commands', async () => {
    const { out, first } = await failingRun();
    const saved = JSON.parse(await readFile(`${out}.run.json`, 'utf8')) as { config: Record<string, unknown> };
    assert.equal(saved.config.prompt, 'Describe {{file.name}}');
    assert.equal(saved.config.out, out);
    assert.ok(!JSON.stringify(saved).includes(KEY));
    // Relative to where the run was started, so it can be pasted as is.
    assert.match(first.stdout, /re-run only the failures \(ok rows are kept\): omni-batch retry out\/res\.csv\n/);
    assert.match(first.stdout, /only the transient ones: +omni-batch retry out\/res\.csv --codes server_error/);
  });

  test('--codes re-runs only the rows failed with those codes, in place, and keeps every other row untouched', async () => {
    const { dir, out } = await failingRun();
    const before = await readOutputRows(out);
    const from = api.requests.length;
    // From another folder, as an operator might: the recorded settings say where everything is.
    const r = await runMain(['retry', out, '--codes', 'server_error'], { env: env(), cwd: path.dirname(dir) });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /retrying 1 failed rows of .*res\.csv \(server_error 1\)/);
    assert.equal(api.requests.length - from, 1, 'one request: the flaky file only');
    const after = await readOutputRows(out);
    assert.equal(after.length, before.length);
    const byPath = (list: Record<string, string>[], p: string) => list.find((x) => x.path === p);
    assert.equal(byPath(after, 'media/flaky.txt')?.status, 'ok');
    for (const p of ['media/ok-photo.jpg', 'media/note.txt', 'media/bad.txt', 'media/truncated.jpg']) assert.deepEqual(byPath(after, p), byPath(before, p), p);
    assert.match(r.stdout, /5 rows in .*res\.csv: 3 ok, 2 failed, 0 skipped/);
  });

  test('without --codes every failed row is sent again; nothing failed means nothing to do', async () => {
    const { out } = await failingRun();
    const from = api.requests.length;
    const r = await runMain(['retry', out], { env: env() });
    assert.equal(r.code, 0, r.stderr);
    // bad.txt and flaky.txt reach the API (the stand-in no longer refuses them); truncated.jpg fails again before any call.
    assert.equal(api.requests.length - from, 2);
    const after = await readOutputRows(out);
    assert.deepEqual(after.filter((x) => x.status === 'failed').map((x) => x.path), ['media/truncated.jpg']);
    const again = await runMain(['retry', out, '--codes', 'rate_limited,timeout'], { env: env() });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /nothing to retry in .*res\.csv: no failed rows with rate_limited, timeout/);
  });

  test('an unknown code or an output without recorded settings is one line saying what to do, exit 2', async () => {
    const { out } = await failingRun();
    const bad = await runMain(['retry', out, '--codes', 'rate_limit'], { env: env() });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /option '--codes <list>' argument 'rate_limit' is invalid\. expected error codes separated by commas .*unknown: rate_limit/);
    await rm(`${out}.run.json`);
    const none = await runMain(['retry', out], { env: env() });
    assert.equal(none.code, 2);
    assert.equal(none.stderr.trim().split('\n').length, 1);
    assert.match(none.stderr, /res\.csv\.run\.json not found: .*rerun the original command instead/);
  });
});
