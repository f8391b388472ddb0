/**
 * Makes the README's picture of the dashboard, docs/dashboard.png: a real run over examples/ on a private
 * redis-server and the DashScope stand-in (slowed down so the run is live, one file refused by moderation,
 * one failing with a 500), a real worker and `omni-batch dashboard` from dist/, photographed by Debian's
 * Chromium when about two thirds of the files are done.
 *
 *   npm run docs:screenshots          (builds first; needs redis-server, ffmpeg and chromium)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, mkdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { launchChromium } from '../test/browser.js';
import { waitFor } from '../test/helpers.js';
import { startStandIn } from '../test/stand-in/server.js';
import { startRedis } from '../test/redis-server.js';
import { projectRoot } from './project-root.js';

const ROOT = projectRoot(import.meta.url);
const until = (what: string, cond: () => Promise<boolean> | boolean) => waitFor(cond, what, 120_000);
const CLI = path.join(ROOT, 'dist', 'cli.js');
const OUT = path.join(ROOT, 'docs', 'dashboard.png');
const KEY = 'sk-docs-screenshot';

function cli(args: string[], env: Record<string, string> = {}): { child: ChildProcess; out: () => string; done: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, OMNI_BATCH_RPM: '0', OMNI_BATCH_TPM: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => process.stderr.write(d));
  const done = new Promise<number | null>((resolve) => child.on('close', resolve));
  return { child, out: () => out, done };
}

const api = await startStandIn({
  apiKey: KEY,
  latencyMs: 1_200,
  faults: ({ summary }) =>
    summary.lastUserText.includes('Describe review.txt') ? { type: 'moderation' } : summary.lastUserText.includes('Describe 005.jpg') ? { type: 'http500' } : null,
});
const redis = await startRedis();
const tmp = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-docs-'));
const children: ChildProcess[] = [];
try {
  // An earlier run, finished: the list shows more than one run.
  const first = cli(['enqueue', '--input', 'examples/texts', '--prompt', 'Summarize {{file.name}}', '--out', path.join(tmp, 'summaries.jsonl'), '--redis', redis.url, '--base-url', api.baseURL]);
  if ((await first.done) !== 0) throw new Error('enqueue failed');
  const worker = cli(['worker', '--redis', redis.url, '--concurrency', '2'], { DASHSCOPE_API_KEY: KEY });
  children.push(worker.child);
  const c = redis.client();
  await until('the first run', async () => (await c.scard(`{omni-batch}:run:${first.out().trim()}:pending`)) === 0);

  const enq = cli(['enqueue', '--input', 'examples', '--prompt', 'Describe {{file.name}} in one sentence.', '--out', path.join(tmp, 'captions.csv'), '--retries', '0', '--redis', redis.url, '--base-url', api.baseURL]);
  if ((await enq.done) !== 0) throw new Error('enqueue failed');
  const runId = enq.out().trim();
  const dash = cli(['dashboard', '--redis', redis.url, '--port', '0']);
  children.push(dash.child);
  await until('the dashboard URL', () => /http:\/\/\S+\/ /.test(dash.out()));
  const url = /(http:\/\/\S+\/) /.exec(dash.out())?.[1] ?? '';

  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1366, height: 900 } });
    await page.goto(`${url}#run=${encodeURIComponent(runId)}`);
    await until('two thirds of the run on the page', async () => {
      const [done, total] = ((await page.locator('[data-field="done"]').textContent()) ?? '').split(' / ').map(Number);
      return done !== undefined && total !== undefined && total > 0 && done / total >= 0.66 && done < total;
    });
    await mkdir(path.dirname(OUT), { recursive: true });
    await page.screenshot({ path: OUT, fullPage: true });
    process.stdout.write(`wrote ${path.relative(ROOT, OUT)}\n`);
  } finally {
    await browser.close();
  }
} finally {
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.filter((child) => child.exitCode === null).map((child) => new Promise((r) => child.on('close', r))));
  await api.close();
  await redis.close();
  await rm(tmp, { recursive: true, force: true });
}
