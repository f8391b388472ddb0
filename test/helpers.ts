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
/**
 * The CLI as `npm run typecheck` compiled it into build/ (with the same compiler settings as dist/, which
 * `npm run build` and npm ci's prepare make): the tests run the code just checked, with no second compile.
 */
export const CLI = path.join(ROOT, 'build', 'src', 'cli.js');

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

/** The environment a CLI run gets: clean of DASHSCOPE_* unless given, and no pacing unless a test asks for it. */
function cliEnv(extra: CliOptions['env']): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('DASHSCOPE_') && k !== 'OMNI_API_KEY') env[k] = v;
  // The stand-in has no account limit unless a test gives it one.
  env.OMNI_BATCH_RPM = '0';
  env.OMNI_BATCH_TPM = '0';
  for (const [k, v] of Object.entries(extra ?? {})) if (v !== undefined) env[k] = v;
  return env;
}

/**
 * Runs the compiled CLI (`node build/src/cli.js ...args`) and collects its output. For what needs a process of
 * its own: signals, a terminal, a crash, a variable read from the process environment (FFMPEG_PATH); otherwise
 * use runMain.
 */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  const env = cliEnv(opts.env);
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

/**
 * Runs omni-batch's `main` in this process with what the binary would get: the same arguments, the environment
 * runCli gives, stdout and stderr collected (stderr as a terminal that is not a TTY, as when piped). The whole
 * command runs, from flag parsing to the exit code; only Node's start-up (about 0.7 s of CPU) is not paid again.
 */
export async function runMain(args: string[], opts: Omit<CliOptions, 'onSpawn'> = {}): Promise<CliResult> {
  const { main } = await import('../src/cli.js');
  let stdout = '';
  let stderr = '';
  const io = {
    out: (t: string) => void (stdout += `${t}\n`),
    err: (t: string) => void (stderr += `${t}\n`),
    env: cliEnv(opts.env),
    cwd: opts.cwd ?? ROOT,
    terminal: { write: (t: string) => void (stderr += t), isTTY: false, columns: undefined },
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    const ms = opts.timeoutMs ?? 60_000;
    timer = setTimeout(() => reject(new Error(`omni-batch ${args.join(' ')} did not finish in ${ms} ms\nstdout: ${stdout}\nstderr: ${stderr}`)), ms);
  });
  try {
    const code = await Promise.race([main(args, io), timeout]);
    return { code, signal: null, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `cond` every 25 ms until it holds; fails naming `what` after `ms`. */
export async function waitFor(cond: () => Promise<boolean> | boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A word quoted for sh. */
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs the compiled CLI in a pseudo-terminal (util-linux `script`) `cols` wide, in `cwd`; returns everything the
 * terminal got. Pacing is off unless `env` asks for it, as for runCli.
 */
export function runInPty(args: string[], opts: { cols: number; cwd?: string; env?: Record<string, string> }): Promise<{ code: number | null; text: string }> {
  const cd = opts.cwd ? `cd ${shellQuote(opts.cwd)}; ` : '';
  const cmd = `${cd}stty cols ${opts.cols} rows 30 2>/dev/null; exec ${shellQuote(process.execPath)} ${shellQuote(CLI)} ${args.map(shellQuote).join(' ')}`;
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qfec', cmd, '/dev/null'], { env: { ...process.env, OMNI_BATCH_RPM: '0', OMNI_BATCH_TPM: '0', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, text });
    });
  });
}
