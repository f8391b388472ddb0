/**
 * DashScope Batch facts a run asks: which models Batch serves in which region, its limits, and its price (half
 * the real-time price, failures free; MODELS-2026.md section 4). The supported models are data, not code: this
 * entry moves into the model catalogue (models.ts) once it has a batch field.
 */
import type { Prices } from './models.js';

/** Models Batch serves (a dated snapshot of one too), and the regions it serves them in. */
export const BATCH_MODELS: Readonly<Record<string, readonly string[]>> = {
  'qwen3.5-omni-plus': ['cn'],
};

/** Batch and Batch Chat answers cost this share of the real-time price; failed requests cost nothing. */
export const BATCH_PRICE_FACTOR = 0.5;

/** One request file: at most this many lines, bytes, and bytes per line (MODELS-2026.md section 4). */
export const BATCH_LIMITS = {
  linesPerFile: 50_000,
  bytesPerFile: 500 * 1024 * 1024,
  bytesPerLine: 6 * 1024 * 1024,
} as const;

/** `completion_window` values Batch takes: 24 hours to 14 days. */
export const COMPLETION_WINDOW = { minHours: 24, maxHours: 14 * 24 } as const;

/** The regions Batch serves `model` in (by its family name or a dated snapshot of it); empty when none. */
export function batchRegions(model: string): readonly string[] {
  for (const [family, regions] of Object.entries(BATCH_MODELS)) {
    if (model === family || model.startsWith(`${family}-`)) return regions;
  }
  return [];
}

/** A price table scaled by `factor` (the batch price); undefined stays undefined (no price known). */
export function scaledPrices(prices: Prices | undefined, factor: number): Prices | undefined {
  if (!prices || factor === 1) return prices;
  const { currency, inputText, inputAudio, inputImageVideo, outputText, outputTextAfterMedia, outputAudio } = prices;
  const s = (n: number) => n * factor;
  return { currency, inputText: s(inputText), inputAudio: s(inputAudio), inputImageVideo: s(inputImageVideo), outputText: s(outputText), outputTextAfterMedia: s(outputTextAfterMedia), outputAudio: s(outputAudio) };
}

/** `24h`, `36h`, `7d` -> hours; undefined for anything else. */
export function parseHours(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(h|d)$/i.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2]?.toLowerCase() === 'd' ? n * 24 : n;
}
