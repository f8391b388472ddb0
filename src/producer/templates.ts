/** Compiles every template of a run up front, so an unknown variable stops the run before any API call. */
import type { RunConfig } from '../shared/config.js';
import { manifestColumns } from './manifest.js';
import type { PlanContext } from './plan.js';
import { compileTemplate } from './template.js';

export async function planContext(cfg: RunConfig): Promise<PlanContext> {
  // Scanned files have no row columns; a JSONL manifest's columns are only known row by row (undefined).
  const rowColumns = cfg.manifest ? await manifestColumns(cfg.manifest) : null;
  const prompts = [cfg.prompt, ...cfg.followUps].map((source, i) => compileTemplate(source, { where: i === 0 ? 'prompt' : `follow-up ${i}`, rowColumns }));
  const system = cfg.system === undefined ? undefined : compileTemplate(cfg.system, { where: 'system', rowColumns });
  return { model: cfg.model, info: cfg.modelInfo, modelLimits: cfg.modelLimits, priceRegion: cfg.priceRegion, generation: cfg.generation, prompts, system, options: cfg.preprocess, answer: cfg.answer, answerTokens: cfg.estimateAnswerTokens };
}
