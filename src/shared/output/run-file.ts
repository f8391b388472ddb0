/**
 * `<out>.run.json` (`captions.csv.run.json`): the resolved configuration of the last run that wrote an output, beside it, so that
 * `omni-batch retry OUTPUT` can re-run its failures without the original command line. Nothing secret is in a
 * RunConfig (the key comes from the environment and is never part of it); credentials in a base URL are removed.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { resolveModelInfo } from '../model-overrides.js';
import { runPrices } from '../run-price.js';
import { RANGES, type RunConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import { replaceFile } from './replace-file.js';

const VERSION = 1;

/** `captions.csv` -> `captions.csv.run.json`: after the whole output name, so `captions.jsonl` beside it has its own. */
export function runFilePathFor(out: string): string {
  return `${out}.run.json`;
}

/** Where earlier versions wrote it (`captions.run.json`): read when the new name is missing (retry checks it names `out`). */
function legacyRunFilePathFor(out: string): string {
  const ext = path.extname(out);
  return `${out.slice(0, out.length - ext.length)}.run.json`;
}

function withoutCredentials(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

/** The settings worth recording: the configuration without this run's path filters and URL credentials. */
export function recordedSettings(cfg: RunConfig): Omit<RunConfig, 'only' | 'skip'> {
  const { only: _only, skip: _skip, ...rest } = cfg;
  return { ...rest, baseURL: withoutCredentials(cfg.baseURL) };
}

/** How the output was made, besides its settings: a distributed run names its run id (never the Redis URL). */
export interface RunOrigin {
  readonly runId?: string;
  /** A batch run's batches (engine/batch/state.ts checks their shape), kept with the settings they were sent with. */
  readonly batch?: unknown;
}

/** Written whole, like the totals file; OutputError (exit 4) when it cannot be. */
export async function writeRunFile(cfg: RunConfig, origin: RunOrigin = {}): Promise<void> {
  // A batch run's batches stay in the file when another engine writes it (an in-process retry of their failures).
  const batch = origin.batch !== undefined ? origin.batch : await readFile(runFilePathFor(cfg.out), 'utf8').then((t) => (JSON.parse(t) as { batch?: unknown }).batch).catch(() => undefined);
  const body = { version: VERSION, writtenAt: new Date().toISOString(), ...(origin.runId ? { runId: origin.runId } : {}), ...(batch !== undefined ? { batch } : {}), config: recordedSettings(cfg) };
  await replaceFile(runFilePathFor(cfg.out), `${JSON.stringify(body, null, 2)}\n`, 'run settings');
}

const RunFileSchema = z.object({
  version: z.literal(VERSION),
  runId: z.string().optional(),
  batch: z.unknown().optional(),
  config: z
    .object({
      inputs: z.array(z.string()),
      include: z.array(z.string()),
      exclude: z.array(z.string()),
      prompt: z.string(),
      followUps: z.array(z.string()),
      model: z.string(),
      baseURL: z.string(),
      // retry runs with it unless --concurrency says otherwise.
      concurrency: z.number().int().min(RANGES.concurrency.min).max(RANGES.concurrency.max),
      out: z.string(),
      format: z.enum(['csv', 'jsonl']),
      totalsPath: z.string(),
      estimatePath: z.string(),
      cwd: z.string(),
    })
    .passthrough(),
});

/** The configuration the output `out` was last written with; a ConfigError saying what to do when there is none. */
export async function readRunFile(out: string): Promise<RunConfig> {
  return (await readRunRecord(out)).config;
}

/** The configuration and origin the output `out` was last written with. */
export async function readRunRecord(out: string): Promise<{ config: RunConfig; origin: RunOrigin }> {
  let file = runFilePathFor(out);
  let text: string;
  try {
    text = await readFile(file, 'utf8').catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
      // An output made by an earlier version; `retry` checks that the settings name this very output.
      const legacy = legacyRunFilePathFor(out);
      const old = await readFile(legacy, 'utf8').catch(() => Promise.reject(err));
      file = legacy;
      return old;
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(
      code === 'ENOENT'
        ? `${file} not found: retry needs the settings file a run writes beside its output (runs before this version did not); rerun the original command instead, it retries the failed rows too`
        : `${file}: cannot read the run settings (${code ?? String(err)})`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(`${file}: not JSON; rerun the original command instead`);
  }
  const result = RunFileSchema.safeParse(parsed);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`${file}: not a run settings file of this omni-batch version (${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}); rerun the original command instead`);
  }
  // Written by writeRunFile from a validated RunConfig; the check above guards against hand edits and other versions.
  const config = withModelFacts({ ...(result.data.config as unknown as RunConfig), dryRun: false });
  const { runId, batch } = result.data;
  return { config, origin: { ...(runId ? { runId } : {}), ...(batch !== undefined ? { batch } : {}) } };
}

/**
 * The model's facts as the catalogue has them now (a fixed guess applies to a retry too); the settings file does
 * not record them.
 */
function withModelFacts(cfg: RunConfig): RunConfig {
  const modelLimits = cfg.modelLimits ?? undefined;
  const modelInfo = resolveModelInfo(cfg.model, modelLimits);
  const priceRegion = cfg.priceRegion ?? 'cn';
  return { ...cfg, modelLimits, modelInfo, priceRegion, api: cfg.api ?? 'dashscope', price: cfg.price ?? undefined, prices: runPrices(modelInfo, priceRegion, cfg.api, cfg.price ?? undefined), generation: cfg.generation ?? {}, warnings: [] };
}
