/**
 * The job file's `modelLimits` block: any catalogue fact, for a model the table does not know (or knows wrong).
 * It is plain data, so it travels with each job (a queue worker resolves the same facts as the producer).
 */
import { z } from 'zod';
import { KNOWN_MODELS, lookupModel, MODELS, THINKING_EFFORTS, type ModelInfo, type ModelName, type RegionId } from './models.js';

const REGION_IDS = ['cn', 'intl', 'us', 'hk', 'tokyo', 'frankfurt', 'virginia'] as const satisfies readonly RegionId[];
const count = z.number().int().nonnegative();
const amount = z.number().nonnegative();
const partial = <T extends z.ZodRawShape>(shape: T) => z.object(shape).partial().strict();

const PricesSchema = z
  .object({
    currency: z.enum(['CNY', 'USD']),
    inputText: amount,
    inputAudio: amount,
    inputImageVideo: amount,
    inputCached: amount.nullable().default(null),
    outputText: amount,
    outputTextAfterMedia: amount,
    outputAudio: amount.nullable().default(null),
  })
  .strict();

/** Every field optional; what is given replaces the fact of the entry it starts from. */
export const ModelLimitsSchema = z
  .object({
    like: z.enum(KNOWN_MODELS as [ModelName, ...ModelName[]]).optional(),
    limits: partial({
      imageMinSidePx: count,
      imageMaxAspect: z.number().positive(),
      imageMaxBytes: count,
      audioMaxBytes: count,
      audioMaxSec: z.number().positive(),
      videoMaxBytes: count,
      videoMinSec: amount,
      videoMaxSec: z.number().positive(),
      framesMin: count.min(1),
      framesMax: count.min(1),
      urlFramesMin: count.min(1),
      urlFramesMax: count.min(1),
      dataUrlMaxChars: count,
      urlAudioMaxBytes: count,
      urlVideoMaxBytes: count,
      uploadMaxBytes: count,
      mixedMedia: z.boolean(),
      inputs: z.array(z.enum(['image', 'audio', 'video'])),
      contextTokens: count.min(1),
      inputTokens: count.min(1),
      inputTokensThinking: count.min(1),
      outputTokens: count.min(1),
    }).optional(),
    tokens: partial({
      patchPx: count.min(1),
      audioTokensPerSec: z.number().positive(),
      videoFps: z.number().positive(),
      imageMinPatches: count.min(1),
      imageMaxPatches: count.min(1),
      frameMinPatches: count.min(1),
      frameMaxPatches: count.min(1),
      videoTotalPatches: count.min(1),
    }).optional(),
    output: partial({ audio: z.boolean(), voices: z.array(z.string().min(1)), voicesComplete: z.boolean() }).optional(),
    thinking: partial({
      param: z.enum(['enable_thinking', 'reasoning_effort']).nullable(),
      defaultOn: z.boolean(),
      efforts: z.array(z.enum(THINKING_EFFORTS)),
      withSpeech: z.boolean(),
    }).optional(),
    streamOnly: z.boolean().optional(),
    prices: z.partialRecord(z.enum(REGION_IDS), PricesSchema).optional(),
    rateLimits: partial({ rpm: count, tpm: count }).optional(),
  })
  .strict()
  .refine((b) => (b.limits?.framesMin ?? 1) <= (b.limits?.framesMax ?? Infinity), { message: 'limits.framesMin must not be over limits.framesMax' });

export type ModelLimitsBlock = z.infer<typeof ModelLimitsSchema>;

/**
 * The facts a model runs on: its catalogue entry (or its family's, or `like`'s), with the block's fields over
 * them. `sources` marks every overridden field `job file`, so the README's documented/assumed split stays honest.
 */
export function resolveModelInfo(model: string, block: ModelLimitsBlock | undefined): ModelInfo {
  const found = lookupModel(model);
  const listed = MODELS[block?.like ?? found.name];
  // Prices and Batch support are not guessed for a new name: a dated snapshot of a listed model keeps its alias's
  // (DashScope prices every snapshot alike), any other name has none unless the block gives them.
  const snapshotOfListed = found.match.kind === 'listed' || (found.match.kind === 'family' && Object.hasOwn(MODELS, found.match.prefix.slice(0, -1)));
  const base: ModelInfo = snapshotOfListed ? listed : { ...listed, prices: {}, batch: undefined };
  if (!block) return base;
  const marked: Record<string, string> = {};
  for (const [group, fields] of Object.entries(block)) {
    if (group === 'like') continue;
    if (fields !== null && typeof fields === 'object' && !Array.isArray(fields)) for (const k of Object.keys(fields)) marked[`${group}.${k}`] = 'job file (modelLimits)';
    else marked[group] = 'job file (modelLimits)';
  }
  const { param, ...thinking } = block.thinking ?? {};
  return {
    ...base,
    limits: merge(base.limits, block.limits),
    tokens: merge(base.tokens, block.tokens),
    output: merge(base.output, block.output),
    // `param: null` in the block: the model has no thinking mode.
    thinking: { ...merge(base.thinking, thinking), param: param === null ? undefined : (param ?? base.thinking.param) },
    streamOnly: block.streamOnly ?? base.streamOnly,
    prices: block.prices ? { ...base.prices, ...block.prices } : base.prices,
    rateLimits: merge(base.rateLimits, block.rateLimits),
    sources: { ...base.sources, ...marked },
  };
}

/** `base` with the fields `over` sets (an absent or undefined field keeps the base's). */
function merge<T extends object>(base: T, over: { [K in keyof T]?: T[K] | undefined } | undefined): T {
  const set = Object.entries(over ?? {}).filter(([, v]) => v !== undefined);
  return { ...base, ...Object.fromEntries(set) };
}

/** The facts a job runs on (the block travels with it). */
export function jobModel(job: { readonly model: string; readonly modelLimits?: ModelLimitsBlock | undefined }): ModelInfo {
  return resolveModelInfo(job.model, job.modelLimits);
}
