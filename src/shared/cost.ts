/** Cost of a row from its usage and the model's price table. */
import type { Prices } from './models.js';
import type { Usage } from './row.js';

/**
 * @param afterMedia whether the request carried image, audio or video (output text is priced higher then)
 * @returns cost in `prices.currency`, or null when the model has no price
 */
export function costOf(usage: Usage, prices: Prices | undefined, afterMedia: boolean): number | null {
  if (!prices) return null;
  // Cached prompt tokens (text, as the cache serves them) cost the cached-input price where the model has one.
  const cacheSaving = prices.inputCached === null ? 0 : Math.min(usage.cached_tokens, usage.text_tokens) * (prices.inputText - prices.inputCached);
  // Prompt tokens no modality claims (a server that reports no breakdown, as vLLM) cost the text price: a job's own
  // price (run-price.ts) has one input price for every modality.
  const unclaimed = Math.max(0, usage.prompt_tokens - (usage.text_tokens + usage.audio_tokens + usage.image_tokens + usage.video_tokens));
  const input =
    (usage.text_tokens + unclaimed) * prices.inputText + usage.audio_tokens * prices.inputAudio + (usage.image_tokens + usage.video_tokens) * prices.inputImageVideo - cacheSaving;
  // Generated speech has its own price; the rest of the completion (reasoning included) is text.
  const speech = usage.completion_audio_tokens;
  const output = (usage.completion_tokens - speech) * (afterMedia ? prices.outputTextAfterMedia : prices.outputText) + speech * (prices.outputAudio ?? 0);
  // Prices are per 1,000,000 tokens; round away float noise below a millionth of a fen.
  return Math.round(((input + output) / 1_000_000) * 1e8) / 1e8;
}
