/** Shared test helpers: temporary folders and running the built CLI as a user would. */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { parse } from 'csv-parse/sync';
import { projectRoot } from '../scripts/project-root.js';

export const ROOT = projectRoot(import.meta.url);
export const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'media');
export const EXAMPLES = path.join(ROOT, 'examples');
export const CLI = path.join(ROOT, 'dist', 'cli.js');

/** The rows of an output file as the CLI wrote them: CSV records (by the .csv extension) or JSONL objects. */
export async function readOutputRows(file: string): Promise<Record<string, any>[]> {
  const text = await readFile(file, 'utf8');
  if (file.endsWith('.csv')) return parse(text, { columns: true });
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** A fresh folder, removed when the test file ends. */
export async function tempDir(prefix = 'omni-batch-test-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Called once the process has started (to send it signals). */
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
  timeoutMs?: number;
}

/** Runs `node dist/cli.js ...args` and collects its output. The environment is clean of DASHSCOPE_* unless given. */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('DASHSCOPE_')) env[k] = v;
  // The stand-in has no account limit unless a test gives it one: no pacing unless a test asks for it.
  env.OMNI_BATCH_RPM = '0';
  env.OMNI_BATCH_TPM = '0';
  for (const [k, v] of Object.entries(opts.env ?? {})) if (v !== undefined) env[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`omni-batch ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 60_000} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    opts.onSpawn?.(child);
  });
}

/** Polls `cond` every 25 ms until it holds; fails naming `what` after `ms`. */
export async function waitFor(cond: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
