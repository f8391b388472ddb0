/**
 * How many tokens to reserve with the pacer before one request: the planning estimate (documented token rules,
 * over every turn) spread over the turns, plus a typical answer. Settled with the real usage afterwards, so it
 * only needs to be in the right range.
 */
import { promptTotal } from '../shared/estimate.js';
import type { Job } from '../shared/job.js';

/** Typical answer length reserved before the real completion size is known. */
const COMPLETION_RESERVE = 256;

export function reservationTokens(job: Job): number {
  return Math.ceil(promptTotal(job.estimate) / Math.max(1, job.prompts.length)) + COMPLETION_RESERVE;
}
