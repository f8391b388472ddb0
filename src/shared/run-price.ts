/**
 * What a run's answers cost. At DashScope: the model's list price in the price region (models.ts). At a server we
 * do not know (your own GPUs, a hosted provider) there is no list price, so the cost stays empty unless the job sets
 * one: per 1M tokens (then every row has a cost), or per GPU-hour (then the run's wall time times the rate, shown in
 * the totals and the summary; rows stay empty, since a GPU-hour is shared by every request in flight).
 */
import { z } from 'zod';
import { DIALECTS, type ApiDialect } from './dialect.js';
import { pricesIn, type ModelInfo, type Prices, type RegionId } from './models.js';

export const PriceSchema = z
  .object({
    currency: z.enum(['USD', 'CNY']).optional(),
    /** Per 1,000,000 prompt tokens (every modality alike: a server of your own counts tokens, not kinds). */
    inputPerMillion: z.number().nonnegative().optional(),
    /** Per 1,000,000 answer tokens (reasoning included). */
    outputPerMillion: z.number().nonnegative().optional(),
    /** Per GPU and hour, spread over the run's wall time. */
    gpuHour: z.number().nonnegative().optional(),
    /** GPUs the server runs on (default 1). */
    gpus: z.number().int().min(1).max(100_000).optional(),
  })
  .strict()
  .refine((p) => (p.inputPerMillion === undefined) === (p.outputPerMillion === undefined), { message: 'give inputPerMillion and outputPerMillion together' })
  .refine((p) => p.gpuHour !== undefined || p.inputPerMillion !== undefined, { message: 'give inputPerMillion and outputPerMillion, or gpuHour' })
  .refine((p) => p.gpuHour === undefined || p.inputPerMillion === undefined, { message: 'give a token price or a GPU-hour price, not both' });

export type RunPrice = z.infer<typeof PriceSchema>;

/** The token prices of a `price` block; undefined for a GPU-hour price. */
function tokenPrices(price: RunPrice): Prices | undefined {
  if (price.inputPerMillion === undefined || price.outputPerMillion === undefined) return undefined;
  const input = price.inputPerMillion;
  const output = price.outputPerMillion;
  return { currency: price.currency ?? 'USD', inputText: input, inputAudio: input, inputImageVideo: input, inputCached: null, outputText: output, outputTextAfterMedia: output, outputAudio: null };
}

/**
 * The per-token prices rows are costed with: the job's own price, else the list price where the dialect has one
 * (DashScope), else none (an empty cost column).
 */
export function runPrices(info: ModelInfo, region: RegionId, api: ApiDialect | undefined, price: RunPrice | undefined): Prices | undefined {
  if (price) return tokenPrices(price);
  return DIALECTS[api ?? 'dashscope'].listPrices ? pricesIn(info, region) : undefined;
}

/** The currency the run's costs are in: the job's price's, else the list price's; null without a price. */
export function runCurrency(prices: Prices | undefined, price: RunPrice | undefined): string | null {
  if (price) return price.currency ?? 'USD';
  return prices?.currency ?? null;
}

export interface GpuCost {
  /** What the wall time covers: this run only (a resumed output's earlier runs are not in it). */
  readonly scope: 'this run';
  readonly perGpuHour: number;
  readonly gpus: number;
  readonly wallHours: number;
  readonly cost: number;
  readonly currency: string;
}

/** A GPU-hour price over `wallMs` of run time; undefined without one. */
export function gpuCostOf(price: RunPrice | undefined, wallMs: number): GpuCost | undefined {
  if (price?.gpuHour === undefined) return undefined;
  const gpus = price.gpus ?? 1;
  // Rounded to a millionth of an hour (3.6 ms), and the cost taken from what is shown, so the two agree.
  const wallHours = Math.round((wallMs / 3_600_000) * 1e6) / 1e6;
  return { scope: 'this run', perGpuHour: price.gpuHour, gpus, wallHours, cost: Math.round(price.gpuHour * gpus * wallHours * 1e6) / 1e6, currency: price.currency ?? 'USD' };
}
