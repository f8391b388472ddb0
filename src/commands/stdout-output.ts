/**
 * `--out -`: the rows go to stdout as JSONL (for `| jq`), and everything else (progress, notes, the summary) to
 * stderr. The run writes its output to a private temporary folder as usual (so a Ctrl-C still leaves whole rows),
 * and that file is copied to stdout when the run ends. Nothing is resumed: each `--out -` run starts fresh.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import os from 'node:os';
import path from 'node:path';
import type { Flags } from '../shared/config.js';

export const STDOUT_OUT = '-';

/** The temporary output standing in for stdout, and how to hand its rows over and clean up. */
export interface StdoutOutput {
  readonly flags: Flags;
  /** stderr, with the temporary file's path shown as `stdout` (it is gone when the run ends). */
  readonly err: (text: string) => void;
  /** Writes every row line of the output to `out`, then removes the temporary folder. */
  readonly finish: (out: (line: string) => void) => Promise<void>;
}

/** Flags with `--out -` replaced by a temporary JSONL file (CSV with `--format csv`). */
export async function stdoutOutput(flags: Flags, err: (text: string) => void): Promise<StdoutOutput> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-stdout-'));
  const format = flags.format ?? 'jsonl';
  const file = path.join(dir, `rows.${format}`);
  return {
    flags: { ...flags, out: file, format },
    err: (text) => err(text.replaceAll(file, 'stdout').replaceAll(dir, '(stdout)')),
    finish: async (out) => {
      try {
        const lines = createInterface({ input: createReadStream(file, { encoding: 'utf8' }), crlfDelay: Infinity });
        for await (const line of lines) if (line !== '') out(line);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}
