/**
 * The three ways a benchmark sends a folder through the stand-in: the bare SDK loop, `omni-batch run`
 * in-process, and `omni-batch run --redis` with N worker processes. Each returns the stand-in's view of the run
 * (request arrivals, in-flight samples) and the client's wall time.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Stats } from '../stand-in-process.js';
import { ROOT, runNode, startWorkers, type BenchRedis, type StandInProcess } from './processes.js';

export interface Measured {
  engine: string;
  jobs: number;
  stats: Stats;
  /** The whole command, process start to exit (scan, enqueue, collect included). */
  wallMs: number;
  peakRssMb: number;
  /** CPU time of every client process (the run, and the workers), ms. */
  cpuMs: number;
  /** Of which the worker processes' (BullMQ), ms; undefined for a single process. */
  workerCpuMs?: number;
  /** Rows with status ok (omni-batch) or streams with usage (bare loop). */
  ok: number;
}

/**
 * Jobs per second as the stand-in saw them: requests / (first arrival -> last moment one was in flight, or the
 * last arrival when that is later: at 0 ms latency a request is answered within the event-loop turn it arrives
 * in, so the in-flight sampler never sees it).
 */
export function apiRate(m: Measured): number {
  const span = Math.max(m.stats.lastBusyAt, m.stats.lastAt) - m.stats.firstAt;
  return span > 0 ? (m.stats.requests / span) * 1000 : NaN;
}

export function wallRate(m: Measured): number {
  return (m.jobs / m.wallMs) * 1000;
}

export const PROMPT = 'Summarize {{file.name}}';

export async function bare(api: StandInProcess, dir: string, kind: 'text' | 'image', concurrency: number, max?: number): Promise<Measured> {
  await api.reset();
  const limit = max === undefined ? [] : ['--max', String(max)];
  const r = await runNode(['--dir', dir, '--base-url', api.baseURL, '--concurrency', String(concurrency), '--kind', kind, ...limit], {}, path.join(ROOT, 'bench', 'bare-loop.ts'));
  const out = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as { jobs: number; ok: number };
  return { engine: 'bare SDK loop', jobs: out.jobs, ok: out.ok, stats: await api.stats(), wallMs: r.wallMs, peakRssMb: r.peakRssMb, cpuMs: r.cpuMs };
}

async function okRows(file: string): Promise<{ rows: number; ok: number; tokens: number }> {
  const lines = (await readFile(file, 'utf8')).split('\n').filter(Boolean);
  let ok = 0;
  let tokens = 0;
  for (const l of lines) {
    const row = JSON.parse(l) as { status: string; total_tokens?: number | null };
    if (row.status === 'ok') ok++;
    tokens += row.total_tokens ?? 0;
  }
  return { rows: lines.length, ok, tokens };
}

export interface RunOptions {
  /** Input flags: ['--input', DIR] or ['--manifest', CSV]. */
  input: string[];
  concurrency: number;
  extra?: string[];
  env?: Record<string, string>;
}

export interface OmniMeasured extends Measured {
  rows: number;
  /** Sum of total_tokens over the rows. */
  tokens: number;
}

export async function inProcess(api: StandInProcess, o: RunOptions, label = 'omni-batch in-process'): Promise<OmniMeasured> {
  await api.reset();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-bench-out-'));
  try {
    const out = path.join(dir, 'out.jsonl');
    const r = await runNode(['run', ...o.input, '--prompt', PROMPT, '--out', out, '--concurrency', String(o.concurrency), '--base-url', api.baseURL, ...(o.extra ?? [])], o.env);
    const rows = await okRows(out);
    return { engine: label, jobs: rows.rows, ok: rows.ok, rows: rows.rows, tokens: rows.tokens, stats: await api.stats(), wallMs: r.wallMs, peakRssMb: r.peakRssMb, cpuMs: r.cpuMs };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function distributed(api: StandInProcess, redis: BenchRedis, workers: number, workerConcurrency: number, o: RunOptions, label?: string): Promise<OmniMeasured> {
  await api.reset();
  await redis.flush();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-bench-out-'));
  // A worker sends its key only where its own configuration allows: here, the stand-in.
  const pool = await startWorkers(workers, redis.url, workerConcurrency, { DASHSCOPE_BASE_URL: api.baseURL, ...o.env });
  let stopped = false;
  try {
    const out = path.join(dir, 'out.jsonl');
    const r = await runNode(['run', ...o.input, '--prompt', PROMPT, '--out', out, '--redis', redis.url, '--base-url', api.baseURL, ...(o.extra ?? [])], o.env);
    const rows = await okRows(out);
    const stats = await api.stats();
    const workerCpu = await pool.stop();
    stopped = true;
    return {
      engine: label ?? `omni-batch BullMQ, ${workers} worker${workers === 1 ? '' : 's'} x ${workerConcurrency}`,
      jobs: rows.rows,
      ok: rows.ok,
      rows: rows.rows,
      tokens: rows.tokens,
      stats,
      wallMs: r.wallMs,
      peakRssMb: r.peakRssMb,
      cpuMs: r.cpuMs + workerCpu,
      workerCpuMs: workerCpu,
    };
  } finally {
    if (!stopped) await pool.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Status counts as one short cell: `200: 5000` or `200: 170, 429: 3`. */
export function statuses(s: Stats): string {
  return Object.entries(s.byStatus)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
}
