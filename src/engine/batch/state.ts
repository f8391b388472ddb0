/**
 * A batch run's state, kept in its run file (`<out>.run.json`, key `batch`) so that a run killed after it has
 * submitted finds its batches again: one entry per request file, with the file id once uploaded and the batch id
 * once created, each written as soon as it exists. The request files and what their rows need (`.meta.jsonl`)
 * live in a hidden folder beside the output, `.<out name>.batch/`, until their batch has been collected.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import type { RunConfig } from '../../shared/config.js';
import { readRunRecord, writeRunFile } from '../../shared/output/run-file.js';

const EntrySchema = z.object({
  /** Request file number (1, 2, ...), the name of its files in the batch folder. */
  n: z.number().int().min(1),
  lines: z.number().int().min(0),
  bytes: z.number().int().min(0),
  fileId: z.string().optional(),
  batchId: z.string().optional(),
  /** The batch's last known status. */
  status: z.string().optional(),
  /** Its rows are in the output: nothing more to do. */
  collected: z.boolean().optional(),
});

const StateSchema = z.object({ model: z.string(), entries: z.array(EntrySchema) });

export type BatchEntry = z.infer<typeof EntrySchema>;
export type BatchState = z.infer<typeof StateSchema>;

/** `out/labels.csv` -> `out/.labels.csv.batch/` (hidden: never an input). */
export function batchDirFor(out: string): string {
  return path.join(path.dirname(out), `.${path.basename(out)}.batch`);
}

export function requestFileOf(out: string, n: number): string {
  return path.join(batchDirFor(out), `requests-${n}.jsonl`);
}

export function metaFileOf(out: string, n: number): string {
  return path.join(batchDirFor(out), `requests-${n}.meta.jsonl`);
}

/** The batches the output's run file holds (none when it has no run file, or one of another output). */
export async function readBatchState(out: string): Promise<BatchState | undefined> {
  let record;
  try {
    record = await readRunRecord(out);
  } catch {
    return undefined;
  }
  if (path.resolve(record.config.out) !== path.resolve(out) || record.origin.batch === undefined) return undefined;
  const parsed = StateSchema.safeParse(record.origin.batch);
  return parsed.success ? parsed.data : undefined;
}

/** The run file with these batches; written whole, at once, each time an id arrives. */
export class StateFile {
  constructor(
    private readonly cfg: RunConfig,
    readonly state: BatchState,
  ) {}

  get open(): BatchEntry[] {
    return this.state.entries.filter((e) => !e.collected);
  }

  async save(): Promise<void> {
    await writeRunFile(this.cfg, { batch: this.state });
  }

  /** Every batch collected: the entries and the batch folder go. */
  async clearIfDone(): Promise<void> {
    if (this.open.length > 0) return;
    this.state.entries = [];
    await this.save();
    await rm(batchDirFor(this.cfg.out), { recursive: true, force: true });
  }
}
