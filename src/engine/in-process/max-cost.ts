/**
 * --max-cost: every file is estimated first (probes only, no decoding) and the run is refused before any call or
 * any write when the files not yet done would cost more. The plans are kept for the run, so nothing is probed
 * twice, up to keepPlanned files; a bigger run keeps none and probes again as it goes, so memory stays flat at
 * any size.
 */
import pLimit from 'p-limit';
import { discover, eachDiscovered } from '../../producer/discover.js';
import type { Item } from '../../producer/item.js';
import { planItem, withoutInlineText, type PlanContext, type Planned } from '../../producer/plan.js';
import { misfitRow } from '../../worker/process.js';
import type { RunConfig } from '../../shared/config.js';
import { ConfigError } from '../../shared/errors.js';
import type { Prices } from '../../shared/models.js';
import type { PriorRow } from '../../shared/output/result-file.js';
import { alreadyDone, FirstFailure } from '../common.js';
import { addEstimate, emptyEstimate, type RunEstimate } from './estimate.js';

/** A discovered item and its plan, made once. */
export interface Preplanned {
  readonly item: Item;
  readonly planned: Planned | undefined;
}

/** --max-cost keeps the plans of at most this many files for the run (env OMNI_BATCH_KEEP_PLANNED; default 20,000). */
function keepPlannedLimit(): number {
  const raw = process.env.OMNI_BATCH_KEEP_PLANNED;
  const n = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : 20_000;
}

/**
 * Estimates the files not yet done in `prior` and throws ConfigError over `maxCost` (when the model has `prices`).
 * Returns the plans kept for the run, or undefined when there were too many to keep.
 */
export async function checkMaxCost(
  cfg: RunConfig & { maxCost: number },
  ctx: PlanContext,
  prior: ReadonlyMap<string, PriorRow>,
  prices: Prices | undefined,
): Promise<Preplanned[] | undefined> {
  const currency = prices?.currency ?? null;
  const { check, kept } = await estimateAll(cfg, ctx, prior, currency);
  if (prices && check.cost > cfg.maxCost) {
    throw new ConfigError(
      `--max-cost: the run is estimated at ${check.cost.toFixed(4)} ${currency} (${check.tokens} prompt tokens) for the files not yet done, over the limit of ${cfg.maxCost} ${currency}; nothing was sent (see --dry-run for the per-kind estimate)`,
    );
  }
  return kept;
}

async function estimateAll(cfg: RunConfig, ctx: PlanContext, prior: ReadonlyMap<string, PriorRow>, currency: string | null): Promise<{ check: RunEstimate; kept: Preplanned[] | undefined }> {
  const keepPlanned = keepPlannedLimit();
  let kept: Preplanned[] | undefined = [];
  const check = emptyEstimate(currency);
  const probeLimit = pLimit(cfg.cpuConcurrency);
  const failure = new FirstFailure();
  const estimateOne = async (item: Item) => {
    const planned = await planItem(item, ctx);
    if ('job' in planned && !alreadyDone(prior.get(planned.job.path), planned.job) && !misfitRow(planned.job)) addEstimate(check, planned.job.kind, planned.job);
    if (kept && kept.length < keepPlanned) kept.push({ item, planned: 'job' in planned ? { job: withoutInlineText(planned.job) } : planned }); // not the text files' content
    else kept = undefined;
  };
  await eachDiscovered(discover(cfg), { key: (item) => item.path, window: cfg.cpuConcurrency * 4, stop: () => failure.failed }, (item) =>
    probeLimit(() => estimateOne(item).catch((err: unknown) => failure.capture(err))),
  );
  failure.throwIfAny();
  return { check, kept };
}
