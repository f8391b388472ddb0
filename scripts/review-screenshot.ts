/**
 * Makes the README's picture of the review page, docs/review.png: a real in-process run over a copy of examples/
 * (images, audio, videos, texts, and the mixed manifest with its frame list) against the DashScope stand-in, one
 * file refused by moderation, sidecars on; then `omni-batch review` from dist/, one answer edited and saved on the
 * page, photographed by Debian's Chromium.
 *
 *   npm run docs:screenshots          (builds first; needs ffmpeg and chromium)
 */
import { spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { launchChromium } from '../test/browser.js';
import { waitFor } from '../test/helpers.js';
import { startStandIn } from '../test/stand-in/server.js';
import { projectRoot } from './project-root.js';

const ROOT = projectRoot(import.meta.url);
const CLI = path.join(ROOT, 'dist', 'cli.js');
const OUT = path.join(ROOT, 'docs', 'review.png');
const KEY = 'sk-docs-screenshot';

const api = await startStandIn({ apiKey: KEY, faults: ({ summary }) => (summary.lastUserText.includes('Describe review.txt') ? { type: 'moderation' } : null) });
const tmp = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-docs-'));
await cp(path.join(ROOT, 'examples'), path.join(tmp, 'examples'), { recursive: true });
const env = { ...process.env, DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL, OMNI_BATCH_RPM: '0', OMNI_BATCH_TPM: '0' };
try {
  const run = spawn(process.execPath, [CLI, 'run', '--input', 'examples', '--exclude', 'manifests/**', '--exclude', 'frames/**', '--exclude', '*.{md,sh}', '--manifest', 'examples/manifests/mixed.jsonl', '--manifest-root', 'examples', '--prompt', 'Describe {{file.name}} in one sentence.', '--out', 'captions.csv', '--retries', '0', '--sidecar', 'txt', '-q'], { cwd: tmp, env, stdio: 'inherit' });
  await new Promise((resolve) => run.on('close', resolve));
  const review = spawn(process.execPath, [CLI, 'review', 'captions.csv', '--port', '0'], { cwd: tmp, env, stdio: ['ignore', 'pipe', 'inherit'] });
  let said = '';
  review.stdout.on('data', (d: Buffer) => (said += d.toString()));
  try {
    await waitFor(() => /http:\/\/\S+\/ /.test(said), 'the review URL', 60_000);
    const url = /(http:\/\/\S+\/) /.exec(said)?.[1] ?? '';
    const browser = await launchChromium();
    try {
      const page = await browser.newPage({ viewport: { width: 1366, height: 1100 } });
      await page.goto(url);
      await page.locator('article.card').nth(5).waitFor();
      const first = page.locator('article.card[data-path="examples/images/astronaut.jpg"]');
      await first.locator('textarea').fill('An astronaut floats above the Earth, the blue planet filling the frame behind.');
      await first.locator('button[data-field="save"]').click();
      await page.locator('article.card.reviewed').waitFor();
      await waitFor(() => page.locator('img').evaluateAll((imgs) => imgs.every((i) => (i as unknown as { complete: boolean }).complete)), 'the thumbnails', 60_000);
      await mkdir(path.dirname(OUT), { recursive: true });
      await page.screenshot({ path: OUT });
      process.stdout.write(`wrote ${path.relative(ROOT, OUT)}\n`);
    } finally {
      await browser.close();
    }
  } finally {
    review.kill('SIGTERM');
    await new Promise((resolve) => review.on('close', resolve));
  }
} finally {
  await api.close();
  await rm(tmp, { recursive: true, force: true });
}
