/**
 * A run as a live view sees it, in plain JSON: its progress (the same numbers `status` prints), tokens by
 * modality, cost, failures by error code with an example, and the newest rows. Read from Redis only; nothing in
 * it comes from a worker's environment, so the API key cannot be in it.
 */
import type { RedisClient } from './connection.js';
import type { RowStatus } from '../../shared/row.js';
import type { MediaKind } from '../../shared/job.js';
import { RUNS_KEY } from './keys.js';
import { progress, type QueueStats } from './status.js';
import { LATEST_CAP, RunResults } from './results.js';

/** Longest answer text a latest row carries (the page shows a line of it). */
const ANSWER_PREVIEW_CHARS = 240;

export interface RunSummary {
  id: string;
  model: string;
  /** The output file the run was enqueued with. */
  out: string;
  createdAt: string;
  /** False while a producer is still enqueueing: `found` is not known yet. */
  producerDone: boolean;
  /** Files of the latest enqueue pass: found, sent to the queue, already done (an ok row with the same id). */
  found: number;
  enqueued: number;
  alreadyDone: number;
  /** Rows in the run (one per file), and how they ended. */
  rows: number;
  ok: number;
  failed: number;
  skipped: number;
  /** Jobs of the run still queued or running. */
  pending: number;
  /** Share of this pass's files that have their row, 0..100; null while enqueueing. */
  percent: number | null;
  ratePerSec: number;
  etaSec: number | null;
  tokens: { text: number; image: number; audio: number; video: number; answer: number; answerAudio: number; prompt: number; total: number };
  cost: number;
  /** null when the model has no price. */
  currency: string | null;
  /** API requests made, retries included. */
  requests: number;
  /** Failed and skipped rows by error code, most frequent first, each with the newest example. */
  failures: { code: string; count: number; path: string; message: string }[];
}

export interface LatestRow {
  path: string;
  kind: MediaKind;
  status: RowStatus;
  errorCode: string;
  errorMessage: string;
  totalTokens: number;
  cost: number | null;
  latencyMs: number | null;
  /** API requests made for the row, retries included. */
  requests: number;
  /** The first answer, cut to a preview. */
  answer: string;
}

export interface RunSnapshot extends RunSummary {
  latest: LatestRow[];
}

/** The shared queue (all runs): jobs waiting, running, and worker connections. */
export interface QueueSummary {
  waiting: number;
  active: number;
  workers: number;
}

/** One run's numbers; `latest` newest rows too (0 for none). Throws ConfigError for a run that is not in Redis. */
export async function runSnapshot(redis: RedisClient, runId: string, latest = LATEST_CAP, shared?: () => Promise<QueueStats>): Promise<{ run: RunSnapshot; queue: QueueSummary }> {
  const results = new RunResults(redis, runId);
  const [p, examples, rows] = await Promise.all([progress(redis, runId, shared), results.errorExamples(), latest > 0 ? results.latest(latest) : []]);
  const t = p.totals.tokens;
  const n = (f: string) => t[f] ?? 0;
  const run: RunSnapshot = {
    id: runId,
    model: p.meta.model ?? '',
    out: p.meta.out ?? '',
    createdAt: p.meta.createdAt ?? '',
    producerDone: p.producerDone,
    found: p.discovered,
    enqueued: Number(p.meta.enqueued ?? 0),
    alreadyDone: Number(p.meta.alreadyDone ?? 0),
    rows: p.rows,
    ok: p.ok,
    failed: p.failed,
    skipped: p.skipped,
    pending: p.pending,
    percent: p.producerDone ? (p.discovered > 0 ? Math.min(100, (100 * Math.max(0, p.discovered - p.pending)) / p.discovered) : 100) : null,
    ratePerSec: p.ratePerSec,
    etaSec: p.etaSec ?? null,
    tokens: {
      text: n('text_tokens'),
      image: n('image_tokens'),
      audio: n('audio_tokens'),
      video: n('video_tokens'),
      answer: n('completion_tokens'),
      answerAudio: n('completion_audio_tokens'),
      prompt: n('prompt_tokens'),
      total: n('total_tokens'),
    },
    cost: p.cost,
    currency: p.currency,
    requests: p.totals.spent.requests,
    failures: Object.entries(p.totals.errors)
      .map(([code, count]) => ({ code, count, path: examples[code]?.path ?? '', message: examples[code]?.message ?? '' }))
      .sort((a, b) => b.count - a.count || a.code.localeCompare(b.code)),
    latest: rows.map((r) => ({
      path: r.path,
      kind: r.kind,
      status: r.status,
      errorCode: r.error_code,
      errorMessage: r.error_message,
      totalTokens: r.usage.total_tokens,
      cost: r.cost,
      latencyMs: r.latency_ms,
      requests: r.requests,
      answer: (r.answers[0] ?? '').slice(0, ANSWER_PREVIEW_CHARS),
    })),
  };
  return { run, queue: { waiting: p.waiting, active: p.active, workers: p.workers } };
}

/** Run ids, newest first. */
export async function listRunIds(redis: RedisClient, limit: number): Promise<string[]> {
  return redis.zrevrange(RUNS_KEY, 0, limit - 1);
}
