/**
 * The Batch engine from the command line: `run --engine batch` (and `auto` when it picks batch), `batch status OUT`
 * and `batch cancel OUT`; and the dry run's comparison of the engines. Thin: the engine does the work.
 */
import path from 'node:path';
import { cancelBatches } from '../engine/batch/cancel.js';
import { startBatchRun, type BatchRunResult } from '../engine/batch/index.js';
import { readBatchState } from '../engine/batch/state.js';
import { batchSupport, describeSupport } from '../engine/batch/support.js';
import type { RunEstimate } from '../engine/in-process/estimate.js';
import { createClient } from '../worker/qwen-omni.js';
import { BATCH_PRICE_FACTOR } from '../shared/batch.js';
import { ConfigError, EXIT } from '../shared/errors.js';
import type { RunConfig } from '../shared/config.js';
import { readRunRecord } from '../shared/output/run-file.js';
import { ledgerPathFor, SidecarWriter } from '../shared/output/sidecar.js';
import { emptyPassExit, finishOutput, type Io } from './io.js';

/** The engine `auto` picks: batch when Batch serves the model here and the deadline leaves room for its window. */
export function chooseEngine(cfg: RunConfig): { engine: 'in-process' | 'batch'; why: string } {
  if (cfg.engine !== 'auto') return { engine: cfg.engine === 'batch' ? 'batch' : 'in-process', why: `--engine ${cfg.engine}` };
  if (cfg.api !== 'dashscope') return { engine: 'in-process', why: `auto: DashScope Batch does not exist for the ${cfg.api} dialect` };
  const s = batchSupport(cfg);
  if (s.supported !== true) return { engine: 'in-process', why: `auto: ${describeSupport(cfg)}` };
  if (cfg.deadlineHours === undefined) return { engine: 'in-process', why: 'auto: no deadline given, so the answers are wanted now' };
  if (cfg.deadlineHours < cfg.completionWindowHours) return { engine: 'in-process', why: `auto: the deadline (${cfg.deadlineHours}h) is shorter than the batch completion window (${cfg.completionWindowHours}h)` };
  return { engine: 'batch', why: `auto: Batch serves ${cfg.model} here and the deadline (${cfg.deadlineHours}h) leaves room for its ${cfg.completionWindowHours}h window` };
}

const key = (io: Io) => io.env.DASHSCOPE_API_KEY?.trim() || undefined;

function needKey(io: Io): string {
  const apiKey = key(io);
  if (!apiKey) throw new ConfigError('DASHSCOPE_API_KEY is not set: export DASHSCOPE_API_KEY=sk-... (a key of the region the batches were sent to)');
  return apiKey;
}

/** How a batch run ends on the terminal: the statuses, what is still running, and the summary of the output. */
async function report(cfg: RunConfig, result: BatchRunResult, io: Io, sidecars: SidecarWriter | undefined, statuses = false): Promise<number> {
  if (statuses) for (const line of result.statuses) io.err(`omni-batch: batch ${line}`);
  await finishOutput(cfg, result.totals, sidecars, io);
  if (result.fatal) io.err(`omni-batch: ${result.fatal}`);
  const out = path.relative(io.cwd, cfg.out) || cfg.out;
  if (result.open > 0) {
    io.err(`omni-batch: ${result.open} batch${result.open === 1 ? '' : 'es'} still running at DashScope (not cancelled): \`omni-batch batch status ${out}\` or the same command again collects them; \`omni-batch batch cancel ${out}\` cancels`);
  }
  return result.exitCode;
}

/** `run` with the batch engine: submit, follow until every batch is collected (Ctrl-C stops following, never a batch). */
export async function runBatch(cfg: RunConfig, io: Io): Promise<number> {
  const sidecars = io.sidecar ? new SidecarWriter(io.sidecar, ledgerPathFor(cfg.out), cfg.cwd, cfg.inputs) : undefined;
  const note = (line: string) => io.err(`omni-batch: ${line}`);
  const { stop, done } = startBatchRun(sidecars ? { ...cfg, skip: sidecars.written } : cfg, { apiKey: needKey(io), log: note, pollMs: pollMs(io) });
  const removeSignal = io.onSignal?.(() => {
    note('stopping: the batches keep running at DashScope (they are not cancelled); their rows are written when they are collected');
    stop();
  });
  try {
    const result = await done;
    return emptyPassExit(cfg, result.discovered, await report(cfg, result, io, sidecars), io);
  } finally {
    removeSignal?.();
  }
}

/**
 * An in-process run over an output whose batches still run at DashScope would ask their requests again and pay
 * twice: refused, saying how to collect or cancel them. (A retry of failed rows is not refused: those rows were collected.)
 */
export async function refuseWhileBatchesRun(cfg: RunConfig, io: Pick<Io, 'cwd'>): Promise<void> {
  if (cfg.only || cfg.dryRun) return;
  const open = (await readBatchState(cfg.out))?.entries.filter((e) => !e.collected).length ?? 0;
  if (open === 0) return;
  const out = path.relative(io.cwd, cfg.out) || cfg.out;
  throw new ConfigError(
    `${out} has ${open} batch${open === 1 ? '' : 'es'} still running at DashScope: sending their requests now would pay twice; rerun with --engine batch (or \`omni-batch batch status ${out}\`) to collect them, or \`omni-batch batch cancel ${out}\` first`,
  );
}

/** OMNI_BATCH_POLL_SEC: seconds between two looks at the batches (default: the engine's 60 s). */
function pollMs(io: Io): number | undefined {
  const sec = Number(io.env.OMNI_BATCH_POLL_SEC);
  return io.env.OMNI_BATCH_POLL_SEC !== undefined && Number.isFinite(sec) && sec >= 0 ? sec * 1000 : undefined;
}

async function savedConfig(output: string, io: Io): Promise<RunConfig> {
  const out = path.resolve(io.cwd, output);
  const { config, origin } = await readRunRecord(out);
  if (origin.batch === undefined) throw new ConfigError(`${output}: its run file names no batches (it was not made with --engine batch)`);
  return config;
}

/** `omni-batch batch status OUT`: each batch's status; the rows of every batch that has settled are written. */
export async function batchStatusCommand(output: string, io: Io): Promise<number> {
  const cfg = await savedConfig(output, io);
  const { done } = startBatchRun(cfg, { apiKey: needKey(io), log: (l) => io.err(`omni-batch: ${l}`), mode: 'status' });
  const result = await done;
  if (result.statuses.length === 0) io.out(`omni-batch: no batches running for ${output}`);
  return report(cfg, result, io, undefined, true);
}

/** `omni-batch batch cancel OUT`: cancels the output's running batches; their answered requests are billed and collected later. */
export async function batchCancelCommand(output: string, io: Io): Promise<number> {
  const cfg = await savedConfig(output, io);
  const lines = await cancelBatches(cfg, createClient(needKey(io), cfg.baseURL));
  if (lines.length === 0) io.out(`omni-batch: no batches to cancel for ${output}`);
  for (const l of lines) io.out(`omni-batch: batch ${l}`);
  if (lines.length) io.out(`omni-batch: \`omni-batch batch status ${output}\` writes the rows once they are cancelled (answered requests are kept and billed)`);
  return EXIT.ok;
}

const fmtCost = (n: number, currency: string | null) => (currency ? `${n.toFixed(4)} ${currency}` : 'no price known');

function fmtDuration(minutes: number): string {
  if (minutes < 1) return `${Math.max(1, Math.round(minutes * 60))} s`;
  if (minutes < 120) return `${Math.round(minutes)} min`;
  if (minutes < 48 * 60) return `${(minutes / 60).toFixed(1)} h`;
  return `${(minutes / 60 / 24).toFixed(1)} days`;
}

/** The dry run's comparison: real-time cost and duration at the account's limits, next to the batch cost. */
export function engineComparison(cfg: RunConfig, e: RunEstimate): string {
  const send = Object.values(e.byKind).reduce((n, k) => n + k.send, 0);
  const turns = 1 + cfg.followUps.length;
  const requests = send * turns;
  const tokens = e.tokens + requests * cfg.estimateAnswerTokens;
  const minutes = Math.max(cfg.rpm ? requests / cfg.rpm : 0, cfg.tpm ? tokens / cfg.tpm : 0);
  const limits = [cfg.rpm ? `${cfg.rpm} requests/min` : '', cfg.tpm ? `${cfg.tpm} tokens/min` : ''].filter(Boolean).join(', ') || 'no pacing';
  const chosen = chooseEngine(cfg);
  return [
    `\nengines for this job (${requests} requests; the batch price is ${BATCH_PRICE_FACTOR * 100}% of the real-time price, failed requests free):`,
    `  in-process  cost ${fmtCost(e.cost, e.currency)}   about ${fmtDuration(minutes)} at the account's limits (${limits})`,
    cfg.api === 'dashscope'
      ? `  batch       cost ${fmtCost(e.cost * BATCH_PRICE_FACTOR, e.currency)}   within ${cfg.completionWindowHours}h (completion window), outside the rate limits; ${describeSupport(cfg)}`
      : `  batch       none: DashScope Batch does not exist for the ${cfg.api} dialect`,
    `  --engine ${cfg.engine} runs it ${chosen.engine === 'batch' ? 'as a batch' : 'in-process'} (${chosen.why})`,
  ].join('\n');
}
