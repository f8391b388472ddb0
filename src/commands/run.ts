/** `omni-batch run`: resolve the config, run the in-process engine, print what happened. Thin on purpose. */
import { resolveConfig, type Flags, type RunConfig } from '../shared/config.js';
import { EXIT } from '../shared/errors.js';
import type { Job } from '../shared/job.js';
import { startRun, type RunResult } from '../engine/in-process/index.js';
import type { RunEstimate } from '../engine/in-process/estimate.js';
import type { Row } from '../shared/row.js';
import { displayOptions, ProgressDisplay, type Terminal } from './progress.js';
import { table } from './table.js';
import { sidecarRun } from '../shared/output/sidecar.js';
import { STDOUT_OUT, stdoutOutput } from './stdout-output.js';
import { chooseEngine, engineComparison, refuseWhileBatchesRun, runBatch } from './batch.js';
import { emptyPassExit, finishOutput, type Io } from './io.js';
import { apiKeyFor } from '../shared/dialect.js';

export { emptyPassExit, finishOutput, type Io } from './io.js';

const kb = (n: number | undefined) => (n === undefined ? '' : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`);

function describeJob(job: Job): string {
  const f = job.facts;
  const facts = [kb(f.bytes), f.width && f.height ? `${f.width}x${f.height}` : '', f.durationSec !== undefined ? `${f.durationSec.toFixed(1)} s` : '']
    .filter(Boolean)
    .join(', ');
  const media = job.media ? (job.media.type === 'frames' ? `video (${job.media.frames.length} frames)` : job.media.type.replace('_file', '')) : 'text';
  const prompts = job.prompts.map((p) => JSON.stringify(p.length > 80 ? `${p.slice(0, 77)}...` : p)).join(' -> ');
  return `would send  ${media.padEnd(18)} ${job.path}${facts ? `  [${facts}]` : ''}\n            prompt: ${prompts}`;
}

function describeRow(row: Row): string {
  return `${row.status === 'skipped' ? 'would skip' : 'would fail'}  ${row.kind.padEnd(18)} ${row.path}\n            ${row.error_code}: ${row.error_message}`;
}

/** The dry run's per-kind table: files, files to send, estimated prompt tokens by modality, cost. */
export function estimateTable(e: RunEstimate): string {
  const head = ['kind', 'files', 'send', 'text', 'image', 'audio', 'video', 'tokens', `cost${e.currency ? ` (${e.currency})` : ''}`];
  const rows: string[][] = [];
  const sum = { files: 0, send: 0, text: 0, image: 0, audio: 0, video: 0 };
  for (const [kind, k] of Object.entries(e.byKind)) {
    const t = k.tokens;
    rows.push([kind, String(k.files), String(k.send), String(t.text), String(t.image), String(t.audio), String(t.video), String(t.text + t.image + t.audio + t.video), e.currency ? k.cost.toFixed(4) : '-']);
    sum.files += k.files;
    sum.send += k.send;
    for (const key of ['text', 'image', 'audio', 'video'] as const) sum[key] += t[key];
  }
  rows.push(['total', String(sum.files), String(sum.send), String(sum.text), String(sum.image), String(sum.audio), String(sum.video), String(e.tokens), e.currency ? e.cost.toFixed(4) : '-']);
  return table(head, rows);
}

export async function runCommand(jobFile: string | undefined, flags: Flags, io: Io): Promise<number> {
  if (flags.out !== STDOUT_OUT) return runResolved(await resolveConfig(jobFile, flags, io.env, io.cwd), io);
  const stdout = await stdoutOutput(flags, io.err);
  try {
    // The rows own stdout: the summary and the dry run's lines go to stderr.
    return await runResolved(await resolveConfig(jobFile, stdout.flags, io.env, io.cwd), { ...io, out: stdout.err, err: stdout.err, outColumns: undefined });
  } finally {
    await stdout.finish(io.out);
  }
}

/** Runs a resolved configuration in this process and prints what happened (`run`, and `retry` with `cfg.only`). */
/** The estimate's warning for a run that thinks: the reasoning is billed as answer tokens and is not in the guess. */
function thinkingNote(cfg: RunConfig): string | undefined {
  if (cfg.answer.thinking === 'off') return undefined;
  const bound = cfg.generation.max_tokens === undefined ? '; --max-tokens bounds it (thinking included)' : ` (at most ${cfg.generation.max_tokens} per turn with --max-tokens)`;
  return `warning: ${cfg.model} thinks (${cfg.answer.thinking}): its reasoning is billed as answer tokens and can multiply the answer cost over this estimate${bound}; --thinking off asks without it`;
}

export async function runResolved(resolved: RunConfig, io: Io): Promise<number> {
  const engine = resolved.engine === undefined || resolved.dryRun ? undefined : chooseEngine(resolved);
  if (resolved.engine === 'auto' && engine) io.err(`omni-batch: engine ${engine.engine} (${engine.why})`);
  if (engine?.engine === 'batch') return runBatch(resolved, io);
  if (engine) await refuseWhileBatchesRun(resolved, io);
  const { sidecars, cfg } = sidecarRun(io.sidecar, resolved);
  const apiKey = apiKeyFor(cfg.api, io.env);
  for (const warning of cfg.warnings) io.err(`omni-batch: ${warning}`);
  const term: Terminal = io.terminal ?? { write: (t) => io.err(t.replace(/\n$/, '')), isTTY: false, columns: undefined };
  const display = cfg.dryRun ? undefined : new ProgressDisplay(term, io.display ?? displayOptions({}, io.env), cfg.prices?.currency ?? null);
  const note = (line: string) => (display ? display.note(line) : io.err(`omni-batch: ${line}`));
  const { control, done } = startRun(cfg, {
    apiKey: cfg.dryRun ? undefined : apiKey,
    log: note,
    onRow: (row) => {
      if (!display) return io.out(describeRow(row));
      display.row(row);
    },
    onPlanned: (job) => io.out(describeJob(job)),
  });
  display?.start(() => control.counts());
  let signals = 0;
  const removeSignal = io.onSignal?.(() => {
    signals++;
    if (signals === 1) {
      note('stopping: finishing the files in flight and writing them (Ctrl-C again to stop at once)');
      control.drain();
    } else {
      note('stopping now; rerun the same command to finish');
      control.abortNow();
    }
  });
  let result: RunResult;
  try {
    result = await done;
  } finally {
    removeSignal?.();
    display?.stop();
  }
  if (cfg.dryRun) {
    io.out(`\nestimated prompt tokens (documented rules, before preprocessing is run; ${cfg.estimateAnswerTokens}-token answers assumed for the cost):\n${estimateTable(result.estimate)}`);
    const thinking = thinkingNote(cfg);
    if (thinking) io.out(thinking);
    io.out(engineComparison(cfg, result.estimate));
    io.out(
      `\nomni-batch: dry run: ${result.planned} files planned for ${cfg.model} at ${cfg.baseURL}${result.alreadyDone ? `, ${result.alreadyDone} already done in ${cfg.out}` : ''}; nothing was sent; estimate rows in ${cfg.estimatePath}`,
    );
    return emptyPassExit(cfg, result.discovered, EXIT.ok, io);
  }
  if (result.totals) await finishOutput(cfg, result.totals, sidecars, io);
  else await sidecars?.finish();
  if (result.fatal) io.err(`omni-batch: ${result.fatal}`);
  if (result.interrupted) io.err('omni-batch: interrupted; rerun the same command to finish the remaining files');
  return emptyPassExit(cfg, result.discovered, result.exitCode, io);
}
