/**
 * Part 4, memory: peak RSS of `omni-batch run` in-process over a generated tree of small files and over a
 * manifest of as many rows, and of `collect` writing that many rows from Redis; and the time per file at 1x and
 * 10x the count (it must stay flat). Target: every peak under 300 MB; time per file at 10x within 1.15 of 1x.
 * Trees and manifests are cached under os.tmpdir() (npm run bench:clean removes them).
 * Run: npm run bench:memory -- [--files 20000,200000] [--concurrency 16]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { RunResults } from '../src/engine/bullmq/results.js';
import { emptyUsage, type Row } from '../src/shared/row.js';
import { textManifest, textTree } from './lib/datasets.js';
import { inProcess, type OmniMeasured } from './lib/engines.js';
import { runNode, requireBuild, startRedis, startStandInProcess, stopAll, type BenchRedis } from './lib/processes.js';
import { markdown, publish, ratio, verdict, type Table } from './lib/report.js';

export const DEFAULTS = { files: '1000,10000', concurrency: 16 };
const RSS_LIMIT_MB = 300;

/** Puts n ok rows of a run into Redis with the workers' own save script, then times `omni-batch collect`. */
async function collect(redis: BenchRedis, n: number): Promise<{ wallMs: number; peakRssMb: number }> {
  await redis.flush();
  const runId = `bench-collect-${n}`;
  const results = new RunResults(redis.client(), runId);
  await results.setMeta({ createdAt: new Date().toISOString(), turns: 1, model: 'qwen-omni-turbo', format: 'jsonl', producerDone: 1 });
  const usage = { ...emptyUsage(), prompt_tokens: 40, completion_tokens: 30, total_tokens: 70, text_tokens: 40 };
  const batch: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const row: Row = {
      id: `id${i}`,
      path: `/data/d${Math.floor(i / 1000)}/t${i}.txt`,
      source: '',
      kind: 'text',
      model: 'qwen-omni-turbo',
      status: 'ok',
      answers: [`Answer 1: Summarize t${i}.txt, the quick brown fox jumps over the lazy dog, note number ${i}.`],
      error_code: '',
      error_message: '',
      parsed: null,
      reasoning: '',
      audio_path: '',
      usage,
      cost: 0.0001,
      requests: 1,
      retries: 0,
      latency_ms: 12,
      ttft_ms: 5,
      preprocess: '',
      source_bytes: 100,
      sent_bytes: null,
      duration_sec: null,
      width: null,
      height: null,
      estimated_tokens: 60,
      estimated_cost: 0.0001,
    };
    batch.push(results.save(row));
    if (batch.length >= 1000) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-bench-collect-'));
  try {
    const r = await runNode(['collect', runId, '--out', path.join(dir, 'out.jsonl'), '--redis', redis.url]);
    return { wallMs: r.wallMs, peakRssMb: r.peakRssMb };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export async function memory(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { files: { type: 'string' }, concurrency: { type: 'string' } } });
  const sizes = (values.files ?? DEFAULTS.files).split(',').map(Number).sort((a, b) => a - b);
  const c = Number(values.concurrency ?? DEFAULTS.concurrency);
  requireBuild();
  const table: Table = {
    head: ['what', 'files / rows', 'peak RSS MB', 'target', 'result', 'ms per file', 'per-file ratio to smallest', 'wall s'],
    rows: [],
  };
  const api = await startStandInProcess({ latencyMs: 0 });
  const redis = await startRedis();
  try {
    for (const what of ['run, folder tree', 'run, manifest rows'] as const) {
      let first: number | undefined;
      for (const n of sizes) {
        const input = what === 'run, folder tree' ? ['--input', await textTree(n)] : ['--manifest', path.join(await textManifest(n), 'rows.csv')];
        const m: OmniMeasured = await inProcess(api, { input, concurrency: c });
        // Time per file over the processing phase (first request -> last response), as the stand-in saw it.
        const perFile = (Math.max(m.stats.lastBusyAt, m.stats.lastAt) - m.stats.firstAt) / m.jobs;
        first ??= perFile;
        const complete = m.ok === n;
        table.rows.push([
          `omni-batch ${what}`,
          n,
          m.peakRssMb.toFixed(0),
          `< ${RSS_LIMIT_MB}`,
          complete ? verdict(m.peakRssMb, RSS_LIMIT_MB, false) : `incomplete: ${m.ok} ok of ${n}`,
          perFile.toFixed(2),
          ratio(perFile / first),
          (m.wallMs / 1000).toFixed(1),
        ]);
      }
    }
    let first: number | undefined;
    for (const n of sizes) {
      const r = await collect(redis, n);
      const perFile = r.wallMs / n;
      first ??= perFile;
      table.rows.push(['omni-batch collect (rows from Redis)', n, r.peakRssMb.toFixed(0), `< ${RSS_LIMIT_MB}`, verdict(r.peakRssMb, RSS_LIMIT_MB, false), perFile.toFixed(3), ratio(perFile / first), (r.wallMs / 1000).toFixed(1)]);
    }
  } finally {
    await stopAll();
  }
  await publish(
    'memory',
    '4. Memory and time per file as the count grows',
    `Small text files in a generated tree (1,000 per folder) and a CSV manifest of text-only rows, in-process at concurrency ${c}, stand-in at 0 ms; collect writes rows seeded into Redis with the workers' own save script. Peak RSS = highest VmHWM of the omni-batch process (sampled every 50 ms). ms per file: run = processing phase as the stand-in saw it; collect = whole command. Sizes run: ${sizes.join(' and ')} (flag --files; the issue asks 20,000 and 200,000).\n\n${markdown(table)}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await memory(process.argv.slice(2));
