// Injected failures: what a flaky DashScope does to a request that was valid.
import type { ChatRequestSummary } from './types.js';

export type Fault =
  | { type: 'http429'; retryAfterSec?: number; code?: string }
  | { type: 'http500' }
  | { type: 'http503' }
  /** 200 stream that ends cleanly after N content chunks: no finish_reason, no usage, no [DONE]. */
  | { type: 'cut'; afterChunks?: number }
  /** Socket destroyed after N content chunks. */
  | { type: 'destroy'; afterChunks?: number }
  /** Headers (+N chunks), then silence until the client goes away. */
  | { type: 'stall'; afterChunks?: number }
  /** 200 stream carrying only DashScope's native `event:error` frame. */
  | { type: 'inband-error'; status?: number; code?: string; message?: string }
  /** finish_reason and [DONE] arrive, the usage chunk does not. */
  | { type: 'no-usage' }
  | { type: 'moderation' };

export type FaultType = Fault['type'];

export type FaultPlan = (ctx: { n: number; body: unknown; summary: ChatRequestSummary }) => Fault | null | undefined;

export const DEFAULT_AFTER_CHUNKS = 1;
export const INBAND_DEFAULTS = {
  status: 429,
  code: 'Throttling.AllocationQuota',
  message: 'Allocated quota exceeded, please increase your quota limit.',
} as const;

/** Fixed order so a seed maps to the same faults whatever order `rates` was written in. */
export const FAULT_TYPES: readonly FaultType[] = [
  'http429', 'http500', 'http503', 'cut', 'destroy', 'stall', 'inband-error', 'no-usage', 'moderation',
];

/**
 * A plan that fails each request with the given probabilities. The draw depends only on the seed
 * and the request number n, so a run is reproducible even when requests arrive concurrently.
 */
export function randomFaults(
  seed: number,
  rates: Partial<Record<FaultType, number>>,
  extra: { retryAfterSec?: number } = {},
): FaultPlan {
  let total = 0;
  for (const t of FAULT_TYPES) {
    const r = rates[t] ?? 0;
    if (!(r >= 0)) throw new RangeError(`fault rate for ${t} must be >= 0, got ${r}`);
    total += r;
  }
  if (total > 1 + 1e-9) throw new RangeError(`fault rates add up to ${total}, more than 1`);

  return ({ n }) => {
    const u = unitHash(seed, n);
    let acc = 0;
    for (const type of FAULT_TYPES) {
      acc += rates[type] ?? 0;
      if (u < acc) return makeFault(type, extra.retryAfterSec);
    }
    return null;
  };
}

function makeFault(type: FaultType, retryAfterSec: number | undefined): Fault {
  switch (type) {
    case 'http429':
      return retryAfterSec === undefined ? { type } : { type, retryAfterSec };
    case 'cut':
    case 'destroy':
    case 'stall':
      return { type, afterChunks: DEFAULT_AFTER_CHUNKS };
    default:
      return { type };
  }
}

/** Deterministic value in [0, 1) from (seed, n): a murmur3-style 32-bit finalizer. */
function unitHash(seed: number, n: number): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(n | 0, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}
