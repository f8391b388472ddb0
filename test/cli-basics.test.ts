// The first minutes with the command: its version, rows on stdout for a pipe, and errors that point to the help
// of the subcommand that was mistyped.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { EXAMPLES, ROOT, runCli, runMain, tempDir } from './helpers.js';

const KEY = 'sk-SENTINEL-cli-basics-4b1d';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());

test('omni-batch --version prints the version of package.json', async () => {
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const r = await runCli(['--version']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), version);
});

test('--out - writes one JSON row per file to stdout and the summary to stderr, leaving no file behind', async () => {
  const cwd = await tempDir();
  const before = (await readdir(os.tmpdir())).filter((n) => n.startsWith('omni-batch-stdout-')).length;
  const r = await runMain(['run', '--input', path.join(EXAMPLES, 'texts'), '--prompt', 'Summarize {{file.name}}', '--out', '-'], {
    env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL },
    cwd,
  });
  assert.equal(r.code, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(rows.map((row) => path.basename(String(row.path))).sort(), ['paragraph.txt', 'review.txt']);
  for (const row of rows) assert.equal(row.status, 'ok');
  assert.match(r.stderr, /omni-batch: 2 rows in stdout: 2 ok/);
  assert.doesNotMatch(r.stderr, /omni-batch-stdout-/, 'the temporary file is not named: it is gone');
  assert.deepEqual(await readdir(cwd), [], 'nothing is written in the working folder');
  assert.equal((await readdir(os.tmpdir())).filter((n) => n.startsWith('omni-batch-stdout-')).length, before);
});

test('a mistake in a subcommand points to that subcommand\'s own --help', async () => {
  const status = await runMain(['status']);
  assert.equal(status.code, 2);
  assert.match(status.stderr, /missing required argument 'run-id'\n\(run omni-batch status --help for its flags\)/);
  const worker = await runMain(['worker', '--bogus']);
  assert.match(worker.stderr, /unknown option '--bogus'\n\(run omni-batch worker --help for its flags\)/);
  const run = await runMain(['run', '--concurrency', '0']);
  assert.match(run.stderr, /expected a whole number from 1 to 256\n\(run omni-batch run --help for its flags and examples\)/);
  const retry = await runMain(['retry']);
  assert.match(retry.stderr, /\(run omni-batch retry --help for its flags\)/);
});
