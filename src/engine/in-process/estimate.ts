/** What a run's jobs are estimated at before any call: per media kind and in all (dry run, --max-cost). */
import { promptTotal } from '../../shared/estimate.js';
import type { Job, MediaKind, TokenEstimate } from '../../shared/job.js';
import { noMedia, rowWithoutAnswer, type Row } from '../../shared/row.js';

export interface KindEstimate {
  /** Files planned, and of those the ones that would be sent. */
  files: number;
  send: number;
  tokens: TokenEstimate;
  cost: number;
}

export interface RunEstimate {
  byKind: Partial<Record<MediaKind, KindEstimate>>;
  tokens: number;
  /** In the price table's currency; 0 when the model has no price. */
  cost: number;
  currency: string | null;
}

export function emptyEstimate(currency: string | null): RunEstimate {
  return { byKind: {}, tokens: 0, cost: 0, currency };
}

/** Counts a planned file of `kind`; `job` is the job to send, undefined for a file that gets a row without a call. */
export function addEstimate(e: RunEstimate, kind: MediaKind, job: Job | undefined): void {
  const k = (e.byKind[kind] ??= { files: 0, send: 0, tokens: { text: 0, image: 0, audio: 0, video: 0 }, cost: 0 });
  k.files++;
  if (!job) return;
  k.send++;
  for (const key of ['text', 'image', 'audio', 'video'] as const) k.tokens[key] += job.estimate[key];
  k.cost += job.estimatedCost ?? 0;
  e.tokens += promptTotal(job.estimate);
  e.cost += job.estimatedCost ?? 0;
}

/** The row a dry run writes for a job it would send: status `planned`, with the estimate and the probe facts. */
export function plannedRow(job: Job): Row {
  return {
    ...rowWithoutAnswer(job, 'skipped', 'internal_error', ''),
    status: 'planned',
    error_code: '',
    ...noMedia(),
    source_bytes: job.facts.bytes ?? null,
    duration_sec: job.facts.durationSec ?? null,
    width: job.facts.width ?? null,
    height: job.facts.height ?? null,
    estimated_tokens: promptTotal(job.estimate),
    estimated_cost: job.estimatedCost,
  };
}
