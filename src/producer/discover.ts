/** All items of a run, in order: scanned files first, then manifest rows; at most `maxFiles` of them (of `only`, when set). */
import type { RunConfig } from '../shared/config.js';
import { runFilePathFor } from '../shared/output/run-file.js';
import type { Item } from './item.js';
import { manifestItems } from './manifest.js';
import { scan } from './scan.js';

export async function* discover(cfg: RunConfig): AsyncGenerator<Item> {
  let n = 0;
  const limit = cfg.maxFiles ?? Infinity;
  if (limit <= 0) return;
  if (cfg.inputs.length) {
    for await (const item of scan({ inputs: cfg.inputs, include: cfg.include, exclude: cfg.exclude, never: [cfg.out, cfg.totalsPath, cfg.estimatePath, runFilePathFor(cfg.out)], cwd: cfg.cwd })) {
      if ((cfg.only && !cfg.only.has(item.path)) || cfg.skip?.has(item.path)) continue;
      yield item;
      if (++n >= limit) return;
    }
  }
  if (cfg.manifest) {
    for await (const item of manifestItems(cfg.manifest, cfg.cwd)) {
      if (cfg.only && !cfg.only.has(item.path)) continue;
      yield item;
      if (++n >= limit) return;
    }
  }
}
