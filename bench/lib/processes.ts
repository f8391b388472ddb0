/**
 * The processes a benchmark starts, and stops again whatever happens: the stand-in (its own process), a
 * redis-server on a free port (never the machine's 6379), and the built CLI with its peak RSS sampled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from '../../test/redis-server.js';
import type { StandInOptions } from '../../test/stand-in/server.js';
import type { Stats } from '../stand-in-process.js';
import { projectRoot } from '../../scripts/project-root.js';

export const ROOT = projectRoot(import.meta.url);
/** The built CLI; BENCH_CLI points a benchmark at another build (a patched copy, to measure a fix before it lands). */
export const CLI = process.env.BENCH_CLI ? path.resolve(process.env.BENCH_CLI) : path.join(ROOT, 'dist', 'cli.js');
export const KEY = 'sk-bench-0000';
export const MODEL = 'qwen-omni-turbo';

const children = new Set<ChildProcess>();
const cleanups = new Set<() => Promise<void>>();

/** Stops every process this benchmark started (also on Ctrl-C), each by its own pid. */
export async function stopAll(): Promise<void> {
  for (const c of cleanups) await c().catch(() => undefined);
  cleanups.clear();
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  children.clear();
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void stopAll().then(() => process.exit(130));
  });
}

function track(c: ChildProcess): ChildProcess {
  children.add(c);
  c.once('exit', () => children.delete(c));
  return c;
}

export function requireBuild(): void {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
}

export interface StandInProcess {
  baseURL: string;
  stats(): Promise<Stats>;
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/** The stand-in in its own node process (bench/stand-in-process.ts), talked to over IPC. */
export async function startStandInProcess(opts: Partial<StandInOptions> = {}): Promise<StandInProcess> {
  const child = track(
    spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'stand-in-process.ts'), JSON.stringify({ apiKey: KEY, ...opts })], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    }),
  );
  const next = <T>(): Promise<T> => once(child, 'message').then(([m]) => m as T);
  const ready = await Promise.race([
    next<{ ready: string }>(),
    once(child, 'exit').then(() => {
      throw new Error('the stand-in process exited before it was ready');
    }),
  ]);
  const stop = async () => {
    cleanups.delete(stop);
    if (child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.disconnect();
    const t = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exited;
    clearTimeout(t);
  };
  cleanups.add(stop);
  return {
    baseURL: ready.ready,
    async stats() {
      const p = next<Stats>();
      child.send({ cmd: 'stats' });
      return p;
    },
    async reset() {
      const p = next<unknown>();
      child.send({ cmd: 'reset' });
      await p;
    },
    stop,
  };
}

export { freePort };

export interface BenchRedis {
  url: string;
  flush(): Promise<void>;
  client(): Redis;
  stop(): Promise<void>;
}

/**
 * Debian's redis-server on a free port in its own folder, configured as the compose file recommends (AOF,
 * fsync every second, noeviction).
 */
export async function startRedis(): Promise<BenchRedis> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-bench-redis-'));
  const port = await freePort();
  const proc = track(
    spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction'], {
      stdio: 'ignore',
    }),
  );
  const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: null });
  client.on('error', () => undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch {
      client.disconnect();
      if (Date.now() > deadline) throw new Error(`redis-server did not start on ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const stop = async () => {
    cleanups.delete(stop);
    client.disconnect();
    if (proc.exitCode === null) {
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  cleanups.add(stop);
  return {
    url: `redis://127.0.0.1:${port}`,
    flush: async () => void (await client.flushall()),
    client: () => client,
    stop,
  };
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  /** Highest VmHWM (peak resident set) seen, in MB; sampled every 50 ms from /proc. */
  peakRssMb: number;
  /** CPU time (user + system) of the process, ms, as last sampled from /proc (every 50 ms, so up to 50 ms short). */
  cpuMs: number;
}

export interface Spawned {
  child: ChildProcess;
  done: Promise<Finished>;
}

const TICK_MS = 10; // USER_HZ is 100 on Linux

async function cpuTimeMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11] ?? 0) + Number(f[12] ?? 0)) * TICK_MS;
}

async function vmHwmKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const m = /^VmHWM:\s+(\d+) kB/m.exec(status);
  return m ? Number(m[1]) : 0;
}

/**
 * Runs a node script (the CLI by default) with a clean environment (key, pacing off unless given). With
 * BENCH_CPU_PROF=DIR set, every such process writes a .cpuprofile there (open it in Chrome DevTools or speedscope).
 */
export function spawnNode(args: string[], env: Record<string, string> = {}, script = CLI): Spawned {
  const e: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('DASHSCOPE_') && !k.startsWith('OMNI_BATCH_')) e[k] = v;
  Object.assign(e, { DASHSCOPE_API_KEY: KEY, OMNI_BATCH_RPM: '0', OMNI_BATCH_TPM: '0' }, env);
  const prof = process.env.BENCH_CPU_PROF;
  const nodeArgs = prof ? ['--cpu-prof', '--cpu-prof-dir', path.resolve(prof)] : [];
  if (script.endsWith('.ts')) nodeArgs.push('--import', 'tsx');
  const t0 = performance.now();
  const child = track(spawn(process.execPath, [...nodeArgs, script, ...args], { cwd: ROOT, env: e, stdio: ['ignore', 'pipe', 'pipe'] }));
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let peak = 0;
  let cpu = 0;
  const pid = child.pid ?? 0;
  const sampler = setInterval(() => {
    void vmHwmKb(pid).then((kb) => (peak = Math.max(peak, kb)));
    void cpuTimeMs(pid).then((ms) => (cpu = Math.max(cpu, ms)));
  }, 50);
  const done = new Promise<Finished>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(sampler);
      // stdout/stderr may still be draining; 'close' follows.
      child.on('close', () => resolve({ code, stdout, stderr, wallMs: performance.now() - t0, peakRssMb: peak / 1024, cpuMs: cpu }));
    });
  });
  return { child, done };
}

/** Runs to the end; throws with its stderr when it fails. */
export async function runNode(args: string[], env: Record<string, string> = {}, script = CLI): Promise<Finished> {
  const r = await spawnNode(args, env, script).done;
  if (r.code !== 0) throw new Error(`${path.basename(script)} ${args.slice(0, 3).join(' ')} ... exited ${r.code}:\n${r.stderr.slice(-3000)}`);
  return r;
}

export interface WorkerPool {
  /** Stops the workers (SIGTERM: they drain) and returns their CPU time, ms, summed. */
  stop(): Promise<number>;
}

/** `omni-batch worker` processes, ready once each has said so on stderr. */
export async function startWorkers(n: number, redisUrl: string, concurrency: number, env: Record<string, string> = {}): Promise<WorkerPool> {
  const spawned = Array.from({ length: n }, () => spawnNode(['worker', '--redis', redisUrl, '--concurrency', String(concurrency)], env));
  await Promise.all(
    spawned.map(
      (s) =>
        new Promise<void>((resolve, reject) => {
          const onData = (d: Buffer) => {
            if (d.toString().includes('ready')) {
              s.child.stderr?.off('data', onData);
              resolve();
            }
          };
          s.child.stderr?.on('data', onData);
          void s.done.then((r) => reject(new Error(`a worker exited before it was ready: ${r.stderr}`)));
        }),
    ),
  );
  const cleanup = async () => void (await stop());
  const stop = async () => {
    cleanups.delete(cleanup);
    for (const s of spawned) s.child.kill('SIGTERM');
    const done = await Promise.all(spawned.map((s) => s.done));
    return done.reduce((sum, d) => sum + d.cpuMs, 0);
  };
  cleanups.add(cleanup);
  return { stop };
}
