/**
 * The dashboard as a person meets it: a real redis-server, a run enqueued with the built CLI, a real worker
 * process against the DashScope stand-in, `omni-batch dashboard` as a process, and Debian's Chromium driven by
 * playwright-core reading the page while the run goes.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runCli, runMain, tempDir, waitFor, type CliResult } from './helpers.js';
import { launchChromium, NO_CHROMIUM } from './browser.js';
import { startRedis, type TestRedis } from './redis-server.js';

const KEY = 'sk-SENTINEL-dashboard-9c3e51f07d2b';

/** A file name that is HTML: the page must show it as text. */
const HTML_NAME = '<img src=x onerror=window.__xss=1>.txt';
const FILES = 24;

let api: StandIn;
let redis: TestRedis;
/** The answers after the first HELD_AFTER wait for this: the page is seen with the run part-way, for sure. */
const HELD_AFTER = 8;
let release: () => void = () => undefined;
const held = new Promise<void>((resolve) => (release = resolve));

before(async () => {
  api = await startStandIn({
    apiKey: KEY,
    latencyMs: 20,
    hold: (n) => (n > HELD_AFTER ? held : undefined),
    // BLOCKME: refused by moderation. ECHOKEY: a gateway that quotes the request's Authorization header in its error,
    // so the key reaches omni-batch inside an error message and must be masked before it is stored or shown.
    faults: ({ summary }) =>
      summary.lastUserText.includes('BLOCKME')
        ? { type: 'moderation' }
        : summary.lastUserText.includes('ECHOKEY')
          ? { type: 'inband-error', status: 400, code: 'InvalidParameter', message: `malformed header Authorization: Bearer ${KEY}` }
          : null,
  });
  redis = await startRedis();
});
after(async () => {
  await api.close();
  await redis.close();
});

interface Spawned {
  child: ChildProcess;
  done: Promise<CliResult>;
  stdout: () => string;
}

function spawnCli(args: string[], env: Record<string, string> = {}): Spawned {
  let child: ChildProcess | undefined;
  let out = '';
  const done = runCli(args, {
    env,
    timeoutMs: 120_000,
    onSpawn: (c) => {
      child = c;
      c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    },
  });
  if (!child) throw new Error('not spawned');
  return { child, done, stdout: () => out };
}

async function startDashboard(extra: string[] = []): Promise<Spawned & { url: string }> {
  const d = spawnCli(['dashboard', '--redis', redis.url, '--port', '0', ...extra]);
  let exited: CliResult | undefined;
  void d.done.then((r) => (exited = r));
  await waitFor(() => exited !== undefined || /http:\/\/\S+\/ /.test(d.stdout()), 'the dashboard to print its URL');
  if (exited) throw new Error(`the dashboard stopped: ${exited.stderr}`);
  const url = /(http:\/\/\S+\/) /.exec(d.stdout())?.[1] ?? '';
  return { ...d, url };
}

function get(url: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, method }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function field(page: Page, name: string): Promise<string> {
  return ((await page.locator(`[data-field="${name}"]`).first().textContent()) ?? '').trim();
}
const int = (text: string) => Number(text.replace(/,/g, ''));

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
function pngSize(buf: Buffer): { width: number; height: number } {
  assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG signature');
  assert.equal(buf.subarray(12, 16).toString('latin1'), 'IHDR');
  return { width: buf.readUInt32BE(16), height: buf.readUInt32BE(20) };
}

describe('omni-batch dashboard', { skip: NO_CHROMIUM }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  test('the runs page follows a live run to its end: done rises to the total, and tokens, cost and failures match collect', { timeout: 120_000 }, async () => {
    const dir = await tempDir();
    const media = path.join(dir, 'media');
    await mkdir(media);
    for (let i = 0; i < FILES - 3; i++) await writeFile(path.join(media, `f${String(i).padStart(2, '0')}.txt`), `text ${i}`);
    await writeFile(path.join(media, 'blocked.txt'), 'BLOCKME please');
    await writeFile(path.join(media, 'echo.txt'), 'ECHOKEY please');
    await writeFile(path.join(media, HTML_NAME), 'a file named like markup');
    const out = path.join(dir, 'out.jsonl');
    const enq = await runMain(['enqueue', '--input', media, '--prompt', 'Read {{file.name}}', '--out', out, '--redis', redis.url, '--base-url', api.baseURL]);
    assert.equal(enq.code, 0, enq.stderr);
    const runId = enq.stdout.trim();

    const dash = await startDashboard();
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    let worker: Spawned | undefined;
    try {
      await page.goto(dash.url);
      // Enqueued, no worker yet: nothing done, everything pending.
      await page.locator(`tr.run[data-run="${runId}"]`).waitFor();
      assert.equal(await field(page, 'run-id'), runId);
      assert.equal(await field(page, 'done'), `0 / ${FILES}`);
      assert.equal(await field(page, 'pending'), String(FILES));
      assert.equal(await field(page, 'state'), 'waiting for a worker');

      worker = spawnCli(['worker', '--redis', redis.url, '--concurrency', '2'], { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });
      const seen: number[] = [];
      const done = async () => int((await field(page, 'done')).split(' / ')[0] ?? '');
      // The run stops after HELD_AFTER answers (the rest are held): the page must show it there.
      await waitFor(async () => (await done()) === HELD_AFTER, `the page to show ${HELD_AFTER} files done`, 60_000);
      seen.push(HELD_AFTER);
      release();
      await waitFor(
        async () => {
          const n = await done();
          if (seen.at(-1) !== n) seen.push(n);
          return n === FILES && (await field(page, 'state')) === 'done';
        },
        'the page to show the run done',
        60_000,
      );
      assert.deepEqual([...seen].sort((a, b) => a - b), seen, `done only rises: ${seen.join(', ')}`);
      assert.ok(seen.some((n) => n > 0 && n < FILES), `the page showed the run between start and end: ${seen.join(', ')}`);

      const col = await runMain(['collect', runId, '--redis', redis.url]);
      assert.equal(col.code, 0, col.stderr);
      const totals = JSON.parse(await readFile(path.join(dir, 'out.jsonl.totals.json'), 'utf8'));
      assert.equal(totals.rows, FILES);
      assert.equal(await field(page, 'done'), `${FILES} / ${FILES}`);
      assert.equal(await field(page, 'percent'), '100%');
      assert.equal(await field(page, 'pending'), '0');
      assert.equal(int(await field(page, 'ok')), totals.byStatus.ok);
      assert.equal(int(await field(page, 'failed')), totals.byStatus.failed);
      assert.equal(totals.byStatus.failed, 2);
      assert.ok(totals.tokens.total_tokens > 0);
      assert.equal(int(await field(page, 'tokens')), totals.tokens.total_tokens);
      assert.equal(int(await field(page, 'tokens-total')), totals.tokens.total_tokens);
      assert.equal(int(await field(page, 'tokens-text')), totals.tokens.text_tokens);
      assert.equal(int(await field(page, 'tokens-answer')), totals.tokens.completion_tokens);
      assert.equal(await field(page, 'cost'), `${totals.cost.toFixed(6)} ${totals.currency}`);
      assert.equal(int(await field(page, 'requests')), totals.run.apiRequests);

      // Failures by code, with the example file.
      const failure = page.locator('[data-field="failures"] tr[data-code="moderation_blocked"]');
      assert.equal(await failure.count(), 1);
      const cells = await failure.locator('td').allTextContents();
      assert.equal(cells[1], '1');
      assert.match(cells[2] ?? '', /media\/blocked\.txt$/);
      assert.match(cells[3] ?? '', /inappropriate content/);
      // The echoed key arrived in an error message: the page shows it masked.
      const echoed = (await page.locator('[data-field="failures"]').textContent()) ?? '';
      assert.match(echoed, /malformed header Authorization: Bearer \*\*\*/);

      // The latest rows are the run's rows, and a file named like HTML is shown as text, never run.
      const latest = await page.locator('[data-field="latest-row"] td:first-child').allTextContents();
      const rows = await readOutputRows(out);
      assert.deepEqual([...latest].sort(), rows.map((r) => r.path as string).sort());
      assert.ok(latest.some((p) => p.endsWith(HTML_NAME)), 'the HTML-named file is listed by its name');
      assert.equal(await page.locator('#run img, #runs img').count(), 0);
      assert.equal(await page.evaluate(() => (globalThis as { __xss?: unknown }).__xss), undefined);

      const shot = path.join(await tempDir(), 'dashboard.png');
      await page.screenshot({ path: shot, fullPage: true });
      const png = await readFile(shot);
      const size = pngSize(png);
      assert.ok(size.width >= 1366 && size.height >= 900, `${size.width}x${size.height}`);
      assert.ok((await stat(shot)).size > 30_000, `a screenshot of a page with content, not a blank one (${png.length} bytes)`);

      // Nothing the dashboard serves or prints holds the key.
      const served = [await get(dash.url), await get(`${dash.url}api/runs`), await get(`${dash.url}api/runs/${encodeURIComponent(runId)}`)];
      for (const r of served) assert.equal(r.status, 200);
      const stopped = dash.child.kill('SIGTERM') && (await dash.done);
      assert.ok(stopped);
      assert.equal(stopped.code, 0, stopped.stderr);
      for (const text of [...served.map((r) => r.body), stopped.stdout, stopped.stderr]) assert.ok(!text.includes(KEY) && !text.includes(KEY.slice(3, 20)), 'the key leaked');
    } finally {
      release();
      await page.close();
      if (dash.child.exitCode === null) dash.child.kill('SIGTERM');
      if (worker) {
        worker.child.kill('SIGTERM');
        await worker.done;
      }
    }
  });

  test('Bull Board is served under /queues and lists the omni-batch queues, read-only: actions are refused', { timeout: 60_000 }, async () => {
    const dash = await startDashboard();
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    try {
      await page.goto(`${dash.url}queues/`);
      await page.getByText('omni-batch queues').first().waitFor();
      await page.getByRole('link', { name: /^jobs/ }).first().waitFor();
      await page.getByRole('link', { name: /^control/ }).first().waitFor();
      const api = JSON.parse((await get(`${dash.url}queues/api/queues`)).body);
      const jobs = api.queues.find((q: { name: string }) => q.name === 'jobs');
      assert.ok(jobs, JSON.stringify(api.queues.map((q: { name: string }) => q.name)));
      assert.equal(jobs.readOnlyMode, true);
      // Removing or pausing by hand would leave runs waiting for rows no worker writes: refused.
      for (const action of ['jobs/pause', 'jobs/empty', 'jobs/clean/completed']) {
        assert.equal((await get(`${dash.url}queues/api/queues/${action}`, {}, 'PUT')).status, 405, action);
      }
    } finally {
      await page.close();
      dash.child.kill('SIGTERM');
      await dash.done;
    }
  });
});

describe('omni-batch dashboard without a browser', () => {
  test('an unknown run is a 404 naming it, and a request with a foreign Host is refused', async () => {
    const dash = await startDashboard();
    try {
      const missing = await get(`${dash.url}api/runs/no-such-run`);
      assert.equal(missing.status, 404);
      assert.match(JSON.parse(missing.body).error, /no run no-such-run in this Redis/);
      const port = new URL(dash.url).port;
      const rebound = await get(dash.url, { Host: `attacker.example:${port}` });
      assert.equal(rebound.status, 403);
      assert.equal((await get(dash.url, { Host: `localhost:${port}` })).status, 200);
      assert.equal((await get(dash.url, { Host: 'localhost:8022' })).status, 200, 'a tunnel from another local port');
    } finally {
      dash.child.kill('SIGTERM');
      await dash.done;
    }
  });

  test('listening on every address, a rebound name is still refused; this machine\'s name and --allow-host names work', async () => {
    const dash = await startDashboard(['--host', '0.0.0.0', '--allow-host', 'omni.internal']);
    try {
      const port = new URL(dash.url).port;
      assert.equal((await get(dash.url, { Host: `attacker.example:${port}` })).status, 403);
      assert.equal((await get(dash.url, { Host: `${os.hostname()}:${port}` })).status, 200);
      assert.equal((await get(dash.url, { Host: `omni.internal:${port}` })).status, 200);
    } finally {
      dash.child.kill('SIGTERM');
    }
    assert.match((await dash.done).stderr, /listening on 0\.0\.0\.0: the page has no login/);
  });

  test('while Redis is away the JSON is a 503 at once, and the numbers come back with Redis', async () => {
    const dash = await startDashboard();
    try {
      assert.equal((await get(`${dash.url}api/runs`)).status, 200);
      await redis.stop();
      await waitFor(async () => (await get(`${dash.url}api/runs`)).status === 503, 'a 503 while Redis is stopped');
      assert.match(JSON.parse((await get(`${dash.url}api/runs`)).body).error, /Redis is not connected/);
      await redis.start();
      await waitFor(async () => (await get(`${dash.url}api/runs`)).status === 200, 'the page to work again', 30_000);
    } finally {
      dash.child.kill('SIGTERM');
      await dash.done;
    }
  });

  test('a port already in use is one line naming it, exit 2', async () => {
    const first = await startDashboard();
    try {
      const port = new URL(first.url).port;
      const second = await runCli(['dashboard', '--redis', redis.url, '--port', port]);
      assert.equal(second.code, 2, second.stderr);
      assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
      assert.match(second.stderr, new RegExp(`--port ${port}: 127\\.0\\.0\\.1:${port} is in use; pick another port`));
    } finally {
      first.child.kill('SIGTERM');
      await first.done;
    }
  });
});
