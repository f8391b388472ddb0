/** Compiles every template of a run up front, so an unknown variable stops the run before any API call. */
import type { RunConfig } from '../shared/config.js';
import { manifestColumns } from './manifest.js';
import type { PlanContext } from './plan.js';
import { compileTemplate } from './template.js';
import { ConfigError } from '../shared/errors.js';

/**
 * The manifest columns a run keeps in its output (`keep`): the list as given, or for "*" every column of the
 * manifest (a CSV's header; the columns of a JSONL's first rows). A named column the manifest lacks stops the run.
 */
export async function keptColumns(cfg: Pick<RunConfig, 'keep' | 'manifest'>): Promise<string[]> {
  // Settings recorded before `keep` existed (a run's .run.json, a schedule in Redis) keep nothing.
  const keep = (cfg.keep as RunConfig['keep'] | undefined) ?? [];
  if (keep !== '*' && keep.length === 0) return [];
  if (!cfg.manifest) throw new ConfigError('keep (--keep): only manifest rows have columns to keep; give --manifest');
  const columns = (await manifestColumns(cfg.manifest)) ?? [];
  if (keep === '*') return columns;
  const missing = keep.filter((c) => !columns.includes(c));
  if (missing.length) throw new ConfigError(`keep (--keep): ${missing.map((c) => JSON.stringify(c)).join(', ')} not among the columns of ${cfg.manifest} (${columns.join(', ')})`);
  return [...keep];
}

export async function planContext(cfg: RunConfig): Promise<PlanContext> {
  // Scanned files have no row columns; a JSONL manifest's columns are only known row by row (undefined).
  const rowColumns = cfg.manifest ? await manifestColumns(cfg.manifest) : null;
  const prompts = [cfg.prompt, ...cfg.followUps].map((source, i) => compileTemplate(source, { where: i === 0 ? 'prompt' : `follow-up ${i}`, rowColumns }));
  const system = cfg.system === undefined ? undefined : compileTemplate(cfg.system, { where: 'system', rowColumns });
  return { model: cfg.model, info: cfg.modelInfo, modelLimits: cfg.modelLimits, priceRegion: cfg.priceRegion, api: cfg.api, price: cfg.price, generation: cfg.generation, prompts, system, options: cfg.preprocess, answer: cfg.answer, answerTokens: cfg.estimateAnswerTokens, keep: await keptColumns(cfg) };
}
