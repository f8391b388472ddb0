/** What the operator sees while a run works: a live line on a terminal, plain lines in CI, JSON logs, or quiet. */
import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { progressLine } from '../src/commands/progress.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { FIXTURES, runCli, runInPty, tempDir } from './helpers.js';

const KEY = 'sk-progress-test-SENTINEL-0001';
let api: StandIn;
before(async () => {
  // Slow enough that a run of 16 files takes about 1.5 s: several redraws and ticks.
  api = await startStandIn({ apiKey: KEY, latencyMs: 150 });
});
after(() => api.close());
const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

async function textFolder(n: number): Promise<{ dir: string; args: string[] }> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (let i = 0; i < n; i++) await writeFile(path.join(dir, 'media', `${i}.txt`), `text ${i}`);
  await writeFile(path.join(dir, 'media', 'bad.txt'), 'forbidden words');
  return { dir, args: ['run', '--input', path.join(dir, 'media'), '--prompt', 'Read', '--concurrency', '2', '--out', path.join(dir, 'out.csv')] };
}


describe('live progress', () => {
  test('the status line shows done/total with a + and a least ETA while discovery goes on, then done/total, rate, ETA, tokens, cost and failures by code', () => {
    const counts = { discovered: 40, discoveryDone: false, alreadyDone: 2, rowsWritten: 10, apiRequests: 11, inFlight: 3 };
    const tally = { tokens: 12_345, cost: 0.01234, failures: new Map([['timeout', 1], ['rate_limited', 2]]) };
    assert.equal(progressLine(counts, tally, 5_000, 'CNY'), '12/40+ files  2.0/s  ETA 14s+ (still finding files)  3 in flight  tokens 12.3k  cost 0.0123 CNY  failed: rate_limited 2, timeout 1');
    assert.equal(progressLine({ ...counts, pacedBy: '--rpm 60' }, tally, 5_000, null), '12/40+ files  2.0/s (paced by --rpm 60)  ETA 14s+ (still finding files)  3 in flight  tokens 12.3k  failed: rate_limited 2, timeout 1');
    assert.equal(progressLine({ ...counts, discoveryDone: true }, tally, 5_000, null), '12/40 files  2.0/s  ETA 14s  3 in flight  tokens 12.3k  failed: rate_limited 2, timeout 1');
  });

  test('"in flight" counts API requests only; files being preprocessed show as "preparing N"; a distributed run shows jobs on its workers', () => {
    const counts = { discovered: 40, discoveryDone: true, alreadyDone: 0, rowsWritten: 10, apiRequests: 11 };
    const tally = { tokens: 0, cost: 0, failures: new Map<string, number>() };
    assert.equal(progressLine({ ...counts, inFlight: 4, preparing: 2 }, tally, 5_000, null), '10/40 files  2.0/s  ETA 15s  4 in flight  preparing 2  tokens 0');
    assert.equal(progressLine({ ...counts, inFlight: 4, preparing: 0 }, tally, 5_000, null), '10/40 files  2.0/s  ETA 15s  4 in flight  tokens 0');
    assert.equal(progressLine({ ...counts, running: 8, workers: 3 }, tally, 5_000, null), '10/40 files  2.0/s  ETA 15s  8 running on 3 workers  tokens 0');
    assert.equal(progressLine({ ...counts, running: 0, workers: 0 }, tally, 5_000, null), '10/40 files  2.0/s  ETA 15s  no worker connected  tokens 0');
  });

  test('while images are being fitted and the API is slow, "in flight" never counts more than --concurrency', async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'media'));
    for (let i = 0; i < 6; i++) await copyFile(path.join(FIXTURES, 'ok-photo.jpg'), path.join(dir, 'media', `${i}.jpg`));
    const r = await runCli(['run', '--input', path.join(dir, 'media'), '--prompt', 'Caption', '--concurrency', '1', '--cpu-concurrency', '4', '--out', path.join(dir, 'out.csv'), '--log', 'json'], {
      env: { ...env(), OMNI_BATCH_PROGRESS_MS: '50' },
    });
    assert.equal(r.code, 0, r.stderr);
    const ticks = r.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string; inFlight?: number; preparing?: number })
      .filter((e) => e.event === 'progress');
    assert.ok(ticks.length >= 3, `${ticks.length} progress events`);
    assert.ok(ticks.every((t) => typeof t.inFlight === 'number' && t.inFlight <= 1 && typeof t.preparing === 'number'), JSON.stringify(ticks));
    assert.ok(ticks.some((t) => t.inFlight === 1), 'a request was seen in flight');
  });

  test('on a terminal one line is redrawn in place with carriage returns, and the scrollback gets only failures and the summary', async () => {
    const { args } = await textFolder(16);
    api.setOptions({ faults: ({ summary }) => (summary.lastUserText.includes('forbidden') ? { type: 'moderation' } : null) });
    let r;
    try {
      r = await runInPty(args, { cols: 100, env: env() });
    } finally {
      api.setOptions({ faults: undefined });
    }
    assert.equal(r.code, 0, r.text);
    const redraws = r.text.split('\r\x1b[2K').length - 1;
    assert.ok(redraws >= 3, `redrawn ${redraws} times:\n${r.text}`);
    assert.match(r.text, /\d+\/17 files +[\d.]+\/s +ETA \S+ +\d+ in flight +tokens \d+ +cost [\d.]+ CNY/);
    assert.match(r.text, /failed: moderation_blocked 1/);
    // Lines that stay on screen: the failure, and the summary; no progress line ever ends with a newline.
    const kept = r.text.split(/\r?\n/).map((l) => l.split('\r\x1b[2K').pop() ?? '');
    assert.ok(!kept.some((l) => / files +[\d.]+\/s/.test(l)), 'no status line left in the scrollback');
    assert.ok(kept.length < 30, `${kept.length} lines:\n${r.text}`);
    const statusLines = r.text.split('\r\x1b[2K').flatMap((l) => l.split(/\r?\n/)).filter((l) => / in flight +tokens /.test(l));
    assert.ok(statusLines.every((l) => l.length < 100), 'the status line never wraps');
    assert.match(r.text, /failed \S+bad\.txt: moderation_blocked/);
    assert.match(r.text, /17 rows in .*out\.csv: 16 ok, 1 failed/);
    // The summary fits the terminal: the example line of a failure is cut to 100 columns, the estimates wrap.
    const example = kept.find((l) => /^ +moderation_blocked +1 +e\.g\. /.test(l));
    assert.ok(example && example.length <= 100 && example.endsWith('…'), `fitted to the terminal: ${example}`);
    const estimates = kept.filter((l) => /estimated vs actual|\d+ est \/ \d+ actual/.test(l));
    assert.ok(estimates.length >= 1 && estimates.every((l) => l.length <= 100), estimates.join('\n'));
  });

  test('without a terminal the progress comes as plain lines, with no carriage returns', async () => {
    const { args } = await textFolder(16);
    const r = await runCli(args, { env: { ...env(), OMNI_BATCH_PROGRESS_MS: '200' } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!r.stderr.includes('\r'));
    assert.match(r.stderr, /^omni-batch: progress: \d+\/(17 files|\d+\+ files) +[\d.]+\/s/m);
  });

  test('--log json writes one JSON object per line (pino), one row event per finished file, failed ones at warn', async () => {
    const { args } = await textFolder(5);
    api.setOptions({ faults: ({ summary }) => (summary.lastUserText.includes('forbidden') ? { type: 'moderation' } : null) });
    let r;
    try {
      r = await runCli([...args, '--log', 'json'], { env: env() });
    } finally {
      api.setOptions({ faults: undefined });
    }
    assert.equal(r.code, 0, r.stderr);
    const events = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const rows = events.filter((e) => e.event === 'row');
    assert.equal(rows.length, 6);
    assert.ok(rows.every((e) => typeof e.time === 'string' && typeof e.path === 'string' && typeof e.tokens === 'number'));
    // pino's shape: a level name per line, an ISO time; no pid or hostname noise.
    assert.ok(events.every((e) => typeof e.level === 'string' && !Number.isNaN(Date.parse(String(e.time))) && e.pid === undefined));
    const failed = rows.filter((e) => e.status === 'failed');
    assert.equal(failed.length, 1);
    assert.deepEqual([failed[0]?.level, failed[0]?.error_code], ['warn', 'moderation_blocked']);
    assert.ok(rows.filter((e) => e.status === 'ok').every((e) => e.level === 'info'));
    const bad = await runCli([...args, '--log', 'xml'], { env: env() });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /option '--log <text\|json>' argument 'xml' is invalid\. Allowed choices are text, json\./);
  });

  test('--quiet prints only the final summary', async () => {
    const { args } = await textFolder(3);
    api.setOptions({ faults: ({ summary }) => (summary.lastUserText.includes('forbidden') ? { type: 'moderation' } : null) });
    let r;
    try {
      r = await runCli([...args, '--quiet'], { env: { ...env(), OMNI_BATCH_PROGRESS_MS: '50' } });
    } finally {
      api.setOptions({ faults: undefined });
    }
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /4 rows in .*out\.csv: 3 ok, 1 failed/);
  });
});
