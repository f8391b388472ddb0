/** `omni-batch run`: resolve the config, run the in-process engine, print what happened. Thin on purpose. */
import { resolveConfig, type Flags, type RunConfig } from '../shared/config.js';
import { EXIT } from '../shared/errors.js';
import type { Job } from '../shared/job.js';
import type { Totals } from '../shared/output/totals.js';
import { startRun, type RunEstimate, type RunResult } from '../shared/queue/in-process.js';
import type { Row } from '../shared/row.js';

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Installs Ctrl-C / SIGTERM handling; returns a function that removes it. */
  readonly onSignal?: (handler: () => void) => () => void;
}

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
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

function summary(cfg: RunConfig, totals: Totals): string {
  const t = totals;
  const lines = [
    '',
    `omni-batch: ${t.rows} rows in ${cfg.out}: ${t.byStatus.ok} ok, ${t.byStatus.failed} failed, ${t.byStatus.skipped} skipped`,
  ];
  if (t.run) {
    lines.push(
      `  this run: ${t.run.discovered} files found, ${t.run.rowsWritten} rows written, ${t.run.alreadyDone} already done, ${t.run.apiRequests} API requests, ${(t.run.wallMs / 1000).toFixed(1)} s`,
    );
  }
  const tk = t.tokens;
  lines.push(
    `  tokens: ${tk.total_tokens} (prompt ${tk.prompt_tokens}: text ${tk.text_tokens}, image ${tk.image_tokens}, audio ${tk.audio_tokens}, video ${tk.video_tokens}; completion ${tk.completion_tokens})`,
  );
  const est = Object.entries(t.byKind)
    .filter(([, k]) => k.ok > 0)
    .map(([kind, k]) => `${kind} ${k.estimated_tokens} est / ${k.prompt_tokens} actual`);
  if (est.length) lines.push(`  prompt tokens of ok rows, estimated vs actual: ${est.join(', ')}`);
  lines.push(`  cost: ${t.currency ? `${t.cost.toFixed(6)} ${t.currency}` : 'unknown (no price for this model)'}${t.rowsWithoutPrice ? ` (+${t.rowsWithoutPrice} rows without a price)` : ''}`);
  const errors = Object.entries(t.errors).sort((a, b) => b[1] - a[1]);
  if (errors.length) lines.push(`  reasons: ${errors.map(([code, n]) => `${code} ${n}`).join(', ')}`);
  for (const [field, counts] of Object.entries(t.labels ?? {})) {
    lines.push(`  ${field}: ${Object.entries(counts).map(([value, n]) => `${value} ${n}`).join(', ')}`);
  }
  lines.push(`  totals: ${cfg.totalsPath}`);
  if (t.byStatus.failed > 0) lines.push('  rerun the same command to retry the failed rows (ok rows are kept and not paid for again)');
  return lines.join('\n');
}

export async function runCommand(jobFile: string | undefined, flags: Flags, io: Io): Promise<number> {
  const cfg = await resolveConfig(jobFile, flags, io.env, io.cwd);
  const apiKey = io.env.DASHSCOPE_API_KEY?.trim() || undefined;
  const { control, done } = startRun(cfg, cfg.dryRun ? undefined : apiKey, {
    log: (line) => io.err(`omni-batch: ${line}`),
    onRow: (row) => {
      if (cfg.dryRun) io.out(describeRow(row));
      else if (row.status === 'failed') io.err(`omni-batch: failed ${row.path}: ${row.error_code}: ${row.error_message}`);
    },
    onPlanned: (job) => io.out(describeJob(job)),
  });
  let signals = 0;
  const removeSignal = io.onSignal?.(() => {
    signals++;
    if (signals === 1) {
      io.err('omni-batch: stopping: finishing the files in flight and writing them (Ctrl-C again to stop at once)');
      control.drain();
    } else {
      io.err('omni-batch: stopping now; rerun the same command to finish');
      control.abortNow();
    }
  });
  let result: RunResult;
  try {
    result = await done;
  } finally {
    removeSignal?.();
  }
  if (cfg.dryRun) {
    io.out(`\nestimated prompt tokens (documented rules, before preprocessing is run; ${cfg.estimateAnswerTokens}-token answers assumed for the cost):\n${estimateTable(result.estimate)}`);
    io.out(
      `\nomni-batch: dry run: ${result.planned} files planned for ${cfg.model} at ${cfg.baseURL}${result.alreadyDone ? `, ${result.alreadyDone} already done in ${cfg.out}` : ''}; nothing was sent; estimate rows in ${cfg.estimatePath}`,
    );
    return EXIT.ok;
  }
  if (result.totals) io.out(summary(cfg, result.totals));
  if (result.fatal) io.err(`omni-batch: ${result.fatal}`);
  if (result.interrupted) io.err('omni-batch: interrupted; rerun the same command to finish the remaining files');
  return result.exitCode;
}
