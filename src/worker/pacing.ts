/**
 * How many tokens to reserve with the pacer before one request: the planning estimate (documented token rules,
 * over every turn) spread over the turns, plus a typical answer. Settled with the real usage afterwards, so it
 * only needs to be in the right range.
 */
import { promptTotal, requestsPerTurn } from '../shared/estimate.js';
import type { Job } from '../shared/job.js';
import { jobModel } from '../shared/model-overrides.js';

/** Typical answer length reserved before the real completion size is known. */
const COMPLETION_RESERVE = 256;

export function reservationTokens(job: Job): number {
  // Segments mode: each part is a request of its own, with its share of the estimate.
  const requests = Math.max(1, job.prompts.length) * requestsPerTurn(job, jobModel(job));
  return Math.ceil(promptTotal(job.estimate) / requests) + COMPLETION_RESERVE;
}
