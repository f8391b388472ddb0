/**
 * The final summary of a run, read back from the output file itself (so it describes the whole file, resumed
 * runs included): a table by kind with tokens per modality and cost, the top failure reasons each with an example
 * path, where the files are, and the command that re-runs only the failures.
 */
import { displayPath } from '../shared/display-path.js';
import type { OutputFormat } from '../shared/config.js';
import { isRetried, type ErrorCode } from '../shared/errors.js';
import { formatFor } from '../shared/output/format.js';
import type { Totals } from '../shared/output/totals.js';
import type { ApiDialect } from '../shared/dialect.js';
import { unflatten } from '../shared/row.js';
import { table } from './table.js';
import type { MediaKind } from '../shared/job.js';

interface KindLine {
  files: number;
  ok: number;
  failed: number;
  skipped: number;
  text: number;
  image: number;
  audio: number;
  video: number;
  completion: number;
  cost: number;
}

interface Reason {
  count: number;
  /** The first path that failed (or was skipped) this way, and what it said. */
  path: string;
  message: string;
  failed: boolean;
}

export interface OutputSummary {
  byKind: Map<MediaKind, KindLine>;
  reasons: Map<string, Reason>;
}

const KIND_ORDER: readonly MediaKind[] = ['image', 'audio', 'video', 'text', 'unknown'];

/** Reads every row of an output file into the per-kind lines and failure reasons. */
export async function summarizeOutput(file: string, format: OutputFormat): Promise<OutputSummary> {
  const byKind = new Map<MediaKind, KindLine>();
  const reasons = new Map<string, Reason>();
  for await (const rec of formatFor(format).read(file)) {
    const row = unflatten(rec);
    if (!row || row.status === 'planned') continue;
    let k = byKind.get(row.kind);
    if (!k) byKind.set(row.kind, (k = { files: 0, ok: 0, failed: 0, skipped: 0, text: 0, image: 0, audio: 0, video: 0, completion: 0, cost: 0 }));
    k.files++;
    k[row.status]++;
    k.text += row.usage.text_tokens;
    k.image += row.usage.image_tokens;
    k.audio += row.usage.audio_tokens;
    k.video += row.usage.video_tokens;
    k.completion += row.usage.completion_tokens;
    k.cost += row.cost ?? 0;
    if (row.error_code) {
      const r = reasons.get(row.error_code);
      if (r) r.count++;
      else reasons.set(row.error_code, { count: 1, path: row.path, message: row.error_message, failed: row.status === 'failed' });
    }
  }
  return { byKind, reasons };
}

/** A path as a shell would take it: quoted only when it needs to be. */
export function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The command that re-runs only the failed rows of `out`; with --codes when only some failures are worth it. */
export function retryCommand(out: string, codes: readonly string[] = []): string {
  return `omni-batch retry ${shellQuote(out)}${codes.length ? ` --codes ${codes.join(',')}` : ''}`;
}

export interface SummaryWhere {
  out: string;
  totalsPath: string;
  /** Paths are shown relative to this folder when inside it, so the printed retry command can be pasted as is. */
  cwd: string;
  /** The output was collected from a distributed run: the summary also shows the retry through the queue. */
  queued?: boolean;
  /** Columns of the terminal the summary goes to; undefined when it is not one (a pipe, a file, cron mail). */
  width?: number | undefined;
  /** The endpoint's dialect: a server of your own (not DashScope) is told how to price it. Default DashScope. */
  api?: ApiDialect | undefined;
}

/** `head` then the items joined by ", ", broken into lines no wider than `width`; later lines are indented by 4. */
function wrapList(head: string, items: readonly string[], width: number): string[] {
  const lines: string[] = [];
  let cur = head;
  items.forEach((item, i) => {
    const piece = i < items.length - 1 ? `${item},` : item;
    if (cur !== head && cur.length + 1 + piece.length > width) {
      lines.push(cur);
      cur = `    ${piece}`;
    } else cur = cur === head ? `${head}${piece}` : `${cur} ${piece}`;
  });
  lines.push(cur);
  return lines;
}

/**
 * The kind table, indented by 2. On a terminal narrower than the table, the token columns of modalities that no
 * row used (0 in the total line) are left out, so that a text or image run fits 80 columns.
 */
function fittedTable(head: string[], body: string[][], width: number | undefined): string {
  const indent = (text: string) => text.replace(/^/gm, '  ');
  const full = indent(table(head, body));
  if (width === undefined || Math.max(...full.split('\n').map((l) => l.length)) <= width) return full;
  const total = body[body.length - 1] ?? [];
  const keep = head.map((h, i) => !/^(text|image|audio|video) tok$/.test(h) || total[i] !== '0');
  const pick = (cells: string[]) => cells.filter((_, i) => keep[i]);
  return indent(table(pick(head), body.map(pick)));
}

/** What the cost rests on: a GPU-hour price over the run's time, no price at all, or rows without one. */
function priceLines(t: Totals, api: ApiDialect): string[] {
  const g = t.gpu;
  if (g) return [`  GPU time (this run): ${g.wallHours.toFixed(4)} h x ${g.gpus} GPU${g.gpus === 1 ? '' : 's'} x ${g.perGpuHour} ${g.currency}/h = ${g.cost.toFixed(4)} ${g.currency} (this run's wall time at the job's GPU-hour price; earlier runs into the same output are not in it)`];
  if (!t.currency) return [`  cost unknown: no price for this model${api === 'dashscope' ? '' : ' (a server of your own: set price in the job file)'}`];
  return t.rowsWithoutPrice ? [`  +${t.rowsWithoutPrice} rows without a price`] : [];
}

/** `--concurrency auto`: where it ended, and the measurements that put it there. */
function autoLine(c: NonNullable<NonNullable<Totals['run']>['concurrency']>): string {
  const measured = c.levels.map((l) => `${l.level}: ${l.msPerToken.toFixed(3)}`).join(', ');
  const where = c.settled ? `settled at ${c.level} (${c.why === 'knee' ? 'the knee: one level more made every token slower' : 'the highest it tries'})` : `still rising at ${c.level} when the run ended`;
  return `  concurrency auto: ${where}; ms per token by level: ${measured || 'none measured'}`;
}

/** The text printed at the end of a run (stdout). */
export function renderSummary(where: SummaryWhere, totals: Totals, s: OutputSummary, topReasons = 5): string {
  const t = totals;
  const out = displayPath(where.out, where.cwd);
  const money = (n: number) => (t.currency ? n.toFixed(4) : '-');
  const lines = ['', `omni-batch: ${t.rows} rows in ${out}: ${t.byStatus.ok} ok, ${t.byStatus.failed} failed, ${t.byStatus.skipped} skipped`];
  // A terminal of unknown width (a pipe) is taken as 100 columns for what wraps, and not cut.
  const width = where.width !== undefined && where.width >= 40 ? where.width : undefined;
  if (t.run) {
    const r = t.run;
    const parts = [`${r.discovered} files found`, `${r.rowsWritten} rows written`, `${r.alreadyDone} already done`, `${r.apiRequests} API requests`, `${(r.wallMs / 1000).toFixed(1)} s`];
    lines.push(...wrapList('  this run: ', parts, width ?? Infinity));
    if (r.concurrency) lines.push(autoLine(r.concurrency));
  }
  const head = ['kind', 'files', 'ok', 'failed', 'skipped', 'text tok', 'image tok', 'audio tok', 'video tok', 'answer tok', `cost${t.currency ? ` (${t.currency})` : ''}`];
  const sum: KindLine = { files: 0, ok: 0, failed: 0, skipped: 0, text: 0, image: 0, audio: 0, video: 0, completion: 0, cost: 0 };
  const body: string[][] = [];
  for (const kind of KIND_ORDER) {
    const k = s.byKind.get(kind);
    if (!k) continue;
    for (const key of Object.keys(sum) as (keyof KindLine)[]) sum[key] += k[key];
    body.push([kind, ...[k.files, k.ok, k.failed, k.skipped, k.text, k.image, k.audio, k.video, k.completion].map(String), money(k.cost)]);
  }
  body.push(['total', ...[sum.files, sum.ok, sum.failed, sum.skipped, sum.text, sum.image, sum.audio, sum.video, sum.completion].map(String), money(t.cost)]);
  lines.push('', fittedTable(head, body, width));
  const est = Object.entries(t.byKind)
    .filter(([, k]) => k.ok > 0)
    .map(([kind, k]) => `${kind} ${k.estimated_tokens} est / ${k.prompt_tokens} actual`);
  if (est.length) lines.push(...wrapList('  prompt tokens of ok rows, estimated vs actual: ', est, width ?? 100));
  const reasoning = t.tokens.reasoning_tokens ?? 0;
  const cached = t.tokens.cached_tokens ?? 0;
  if (reasoning || cached) lines.push(`  of these: ${reasoning} answer tokens were reasoning (billed as answer text), ${cached} prompt tokens came from the cache`);
  lines.push(...priceLines(t, where.api ?? 'dashscope'));
  const long = t.longMedia;
  if (long?.trimmed) lines.push(`  ${long.trimmed} file${long.trimmed === 1 ? '' : 's'} trimmed to the model's maximum: the model saw only part (audio.mode / video.mode segments asks every part)`);
  if (long?.segmented || long?.uploaded) lines.push(`  long media: ${long.segmented} asked in parts (segments), ${long.uploaded} sent by temporary upload (oss://)`);
  // Structured answers: how many rows got each label / enum value.
  for (const [field, counts] of Object.entries(t.labels ?? {})) {
    lines.push(`  ${field}: ${Object.entries(counts).map(([value, n]) => `${value} ${n}`).join(', ')}`);
  }

  const reasons = [...s.reasons.entries()].sort((a, b) => b[1].count - a[1].count);
  if (reasons.length) {
    lines.push('', `  top failure reasons${reasons.length > topReasons ? ` (${topReasons} of ${reasons.length})` : ''}:`);
    for (const [code, r] of reasons.slice(0, topReasons)) {
      // Some messages start with the path already; it is said once.
      const own = r.message.startsWith(`${r.path}: `) ? r.message.slice(r.path.length + 2) : r.message;
      // On a terminal the line is fitted to its width; elsewhere the message is cut at 80 characters.
      const msg = width === undefined && own.length > 80 ? `${own.slice(0, 77)}...` : own;
      const line = `    ${code.padEnd(20)} ${String(r.count).padStart(5)}  ${r.failed ? '' : '(skipped) '}e.g. ${r.path}${msg ? `: ${msg}` : ''}`;
      lines.push(width !== undefined && line.length > width ? `${line.slice(0, width - 1)}…` : line);
    }
  }
  lines.push('', `  output: ${out}`, `  totals: ${displayPath(where.totalsPath, where.cwd)}`);
  if (t.byStatus.failed > 0) {
    const failedCodes = reasons.filter(([, r]) => r.failed).map(([code]) => code);
    const transient = failedCodes.filter((c) => isRetried(c as ErrorCode));
    lines.push(`  re-run only the failures (ok rows are kept): ${retryCommand(out)}`);
    if (transient.length && transient.length < failedCodes.length) lines.push(`  only the transient ones:                      ${retryCommand(out, transient)}`);
    // The Redis URL is not printed: it may hold a password.
    if (where.queued) lines.push(`  through the queue, on the workers:           ${retryCommand(out)} --redis URL`);
  }
  return lines.join('\n');
}
