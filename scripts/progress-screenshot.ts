/**
 * Makes the README's picture of the progress display, docs/progress.png: a real in-process run over examples/
 * (a copy) in a real terminal (tmux, 118x34) against the DashScope stand-in (slowed down so the run can be watched, one
 * file refused by moderation, one failing with a 500), captured once while it runs and once when it has ended,
 * and drawn as two terminal windows by Debian's Chromium.
 *
 *   npm run docs:screenshots          (builds first; needs tmux, ffmpeg and chromium)
 */
import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { launchChromium } from '../test/browser.js';
import { waitFor } from '../test/helpers.js';
import { startStandIn } from '../test/stand-in/server.js';
import { projectRoot } from './project-root.js';

const ROOT = projectRoot(import.meta.url);
const until = (what: string, cond: () => Promise<boolean> | boolean) => waitFor(cond, what, 120_000);
const OUT = path.join(ROOT, 'docs', 'progress.png');
const KEY = 'sk-docs-screenshot';
const SESSION = `omni-batch-docs-${process.pid}`;
const COMMAND = 'npx omni-batch run --input examples --prompt "Caption {{file.name}}." --out out/captions.csv -c 3';

const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', SESSION).replace(/\s+$/, '');
const sh = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

const api = await startStandIn({
  apiKey: KEY,
  latencyMs: 900,
  faults: ({ summary }) =>
    summary.lastUserText.includes('Caption review.txt') ? { type: 'moderation' } : summary.lastUserText.includes('Caption 005.jpg') ? { type: 'http500' } : null,
});
// A copy of examples/ in a temp folder, run from there: the paths on screen are the short relative ones a user sees.
const tmp = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-docs-'));
await cp(path.join(ROOT, 'examples'), path.join(tmp, 'examples'), { recursive: true });
const out = path.join(tmp, 'out', 'captions.csv');
try {
  // The pane shows the command as a user would type it; the key and the stand-in's URL stay in the environment.
  const run = [
    `printf '%s\\n' ${sh(`$ ${COMMAND}`)}`,
    `node ${sh(path.join(ROOT, 'dist', 'cli.js'))} run --input examples --prompt ${sh('Caption {{file.name}}.')} --out out/captions.csv --retries 0 -c 3`,
    'echo "[done]"',
    'sleep 600',
  ].join('; ');
  tmux('new-session', '-d', '-s', SESSION, '-x', '118', '-y', '34', '-c', tmp,
    '-e', `DASHSCOPE_API_KEY=${KEY}`, '-e', `DASHSCOPE_BASE_URL=${api.baseURL}`, '-e', 'OMNI_BATCH_RPM=0', '-e', 'OMNI_BATCH_TPM=0', run);
  const rows = async () => (await readFile(out, 'utf8').catch(() => '')).split('\n').length - 2;
  // Mid-run, once a failure is counted in the line (or, failing that, two thirds of the way).
  await until('the middle of the run', async () => /files .* ETA/.test(screen()) && ((await rows()) >= 14 || ((await rows()) >= 8 && / failed: /.test(screen()))));
  const running = screen();
  await until('the end of the run', () => screen().includes('[done]'));
  const ended = screen().replace(/\n?\[done\]$/, '');
  if (ended.includes(KEY) || running.includes(KEY)) throw new Error('the key is on the screen');

  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const pane = (title: string, text: string) => `<section><h2>${esc(title)}</h2><pre>${esc(text)}</pre></section>`;
  const html = `<!doctype html><meta charset="utf-8"><style>
    body { margin: 0; padding: 16px; background: #f4f5f7; font: 14px system-ui, sans-serif; }
    section { background: #1e1f22; border-radius: 8px; margin: 0 0 16px; padding: 10px 14px 12px; width: max-content; }
    h2 { margin: 0 0 8px; color: #9da3ad; font: 12px system-ui, sans-serif; }
    pre { margin: 0; color: #e6e6e6; font: 13px/1.35 "DejaVu Sans Mono", monospace; }
  </style>${pane('while it runs: one line, redrawn in place (failures are printed above it)', running)}${pane('when it ends: the summary on stdout', ended)}`;
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 600 } });
    await page.setContent(html);
    await page.screenshot({ path: OUT, fullPage: true });
    process.stdout.write(`wrote ${path.relative(ROOT, OUT)}\n`);
  } finally {
    await browser.close();
  }
} finally {
  try {
    tmux('kill-session', '-t', SESSION);
  } catch {
    // already gone
  }
  await api.close();
  await rm(tmp, { recursive: true, force: true });
}
