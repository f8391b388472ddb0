/** `omni-batch batch cancel OUT`: asks DashScope to cancel every batch of the output not yet settled. */
import type OpenAI from 'openai';
import type { RunConfig } from '../../shared/config.js';
import { describeBatch, SETTLED } from './follow.js';
import { readBatchState, StateFile } from './state.js';

/** One line per batch: cancelling, or why it was left alone. Requests already answered are billed (and collected later). */
export async function cancelBatches(cfg: RunConfig, client: OpenAI): Promise<string[]> {
  const prior = await readBatchState(cfg.out);
  if (!prior) return [];
  const state = new StateFile(cfg, prior);
  const lines: string[] = [];
  for (const e of state.open) {
    if (e.batchId === undefined) continue;
    if (e.status && (SETTLED.has(e.status) || e.status === 'cancelling')) {
      lines.push(`${e.batchId}: ${e.status}, left as it is`);
      continue;
    }
    const b = await client.batches.cancel(e.batchId);
    e.status = b.status;
    lines.push(describeBatch(b));
  }
  await state.save();
  return lines;
}
