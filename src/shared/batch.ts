/**
 * DashScope Batch facts a run asks: which models Batch serves in which region, its limits, and its price (half
 * the real-time price, failures free; MODELS-2026.md section 4). Which models Batch serves, and where, is the
 * catalogue's `batch` field (models.ts).
 */
import type { Prices } from './models.js';

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

/** A price table scaled by `factor` (the batch price); undefined stays undefined (no price known). */
export function scaledPrices(prices: Prices | undefined, factor: number): Prices | undefined {
  if (!prices || factor === 1) return prices;
  const { currency, inputText, inputAudio, inputImageVideo, inputCached, outputText, outputTextAfterMedia, outputAudio } = prices;
  const s = (n: number) => n * factor;
  const n = (v: number | null) => (v === null ? null : v * factor);
  return { currency, inputText: s(inputText), inputAudio: s(inputAudio), inputImageVideo: s(inputImageVideo), inputCached: n(inputCached), outputText: s(outputText), outputTextAfterMedia: s(outputTextAfterMedia), outputAudio: n(outputAudio) };
}

/** `24h`, `36h`, `7d` -> hours; undefined for anything else. */
export function parseHours(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*(h|d)$/i.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return m[2]?.toLowerCase() === 'd' ? n * 24 : n;
}
