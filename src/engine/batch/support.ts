/** Whether DashScope Batch serves a run's model where the run sends it, and what a batch run cannot do. */
import { regionOfUrl, type RunConfig } from '../../shared/config.js';
import { KNOWN_MODELS, modelInfo } from '../../shared/models.js';
import { ConfigError } from '../../shared/errors.js';

export interface BatchSupport {
  /** true / false for a DashScope region preset; undefined for another base URL (a gateway, a stand-in). */
  readonly supported: boolean | undefined;
  readonly region: string | undefined;
  /** The regions the catalogue lists the model's Batch support for. */
  readonly regions: readonly string[];
}

type Asked = Pick<RunConfig, 'model' | 'baseURL' | 'modelInfo'>;

/** The models the catalogue lists Batch support for. */
function batchModels(): string[] {
  return KNOWN_MODELS.filter((m) => modelInfo(m)?.batch !== undefined);
}

export function batchSupport(cfg: Asked): BatchSupport {
  const region = regionOfUrl(cfg.baseURL);
  const regions = cfg.modelInfo.batch?.regions ?? [];
  return { supported: region === undefined ? undefined : regions.includes(region), region, regions };
}

/** One phrase for the dry run and the notes: whether (and where) Batch serves the model. */
export function describeSupport(cfg: Asked): string {
  const s = batchSupport(cfg);
  if (s.regions.length === 0) return `Batch does not serve ${cfg.model} (it serves ${batchModels().join(', ')})`;
  const where = `Batch serves ${cfg.model} in ${s.regions.join(', ')}`;
  if (s.supported === undefined) return `${where}; ${cfg.baseURL} is no region preset, so it is not checked`;
  return s.supported ? `${where}: supported here` : `${where}: not in ${s.region}`;
}

/** Refuses what a batch run cannot do, before anything is read; a note when support cannot be checked. */
export function checkBatchable(cfg: RunConfig, log: (line: string) => void): void {
  if (cfg.followUps.length > 0) {
    throw new ConfigError('--engine batch: followUps need the answer of the turn before, and a batch request is one turn; run this job with --engine in-process');
  }
  if (cfg.answer.audio) throw new ConfigError('--engine batch: Batch gives no speech output (audio.out / --audio-out); run this job with --engine in-process');
  const segments = cfg.preprocess.audio.mode === 'segments' ? 'audio.mode' : cfg.preprocess.video.mode === 'segments' ? 'video.mode' : undefined;
  if (segments) throw new ConfigError(`--engine batch: ${segments} segments asks the parts of a file one by one and joins them into one row, and a batch request is one request; run this job with --engine in-process`);
  const s = batchSupport(cfg);
  if (s.supported === false) throw new ConfigError(`--engine batch: ${describeSupport(cfg)}; use --engine in-process, or a region Batch serves it in`);
  if (s.supported === undefined) log(describeSupport(cfg));
}
