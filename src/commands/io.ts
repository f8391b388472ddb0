/** What every command that writes an output shares: its terminal and environment (Io), and how it ends (finishOutput). */
import type { RunConfig } from '../shared/config.js';
import type { SidecarOptions, SidecarWriter } from '../shared/output/sidecar.js';
import type { Totals } from '../shared/output/totals.js';
import { sortByInput } from '../shared/output/sort.js';
import type { DisplayOptions, Terminal } from './progress.js';
import { renderSummary, summarizeOutput } from './summary.js';
import { nothingFound } from '../producer/discover.js';
import { EXIT } from '../shared/errors.js';

export interface Io {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
  readonly cwd: string;
  /** Installs Ctrl-C / SIGTERM handling; returns a function that removes it. */
  readonly onSignal?: (handler: () => void) => () => void;
  /** stderr as a terminal, for the live progress line; without it progress goes through `err` as plain lines. */
  readonly terminal?: Terminal;
  /** --log / --quiet; default text, not quiet. */
  readonly display?: DisplayOptions;
  /** --sidecar ...; undefined: no sidecars. */
  readonly sidecar?: SidecarOptions | undefined;
  /** Columns of stdout when it is a terminal: the summary's long lines are fitted to it. */
  readonly outColumns?: number | undefined;
}

/**
 * How every command that wrote an output ends (`run`, `run --redis`, `collect`, `retry`): the sidecars of the
 * output's ok rows, then the summary read back from the output file. `queued`: the output came from Redis, so the
 * summary also says how to retry through the queue.
 */
export async function finishOutput(
  cfg: Pick<RunConfig, 'out' | 'format' | 'totalsPath'> & Partial<Pick<RunConfig, 'sortInput' | 'csvRaw' | 'api'>>,
  totals: Totals,
  sidecars: SidecarWriter | undefined,
  io: Io,
  queued = false,
): Promise<void> {
  if (cfg.sortInput) await sortByInput(cfg.out, cfg.format, cfg.csvRaw ?? false);
  if (sidecars) await sidecars.fromOutput(cfg.out, cfg.format);
  const sidecarLine = await sidecars?.finish();
  io.out(renderSummary({ out: cfg.out, totalsPath: cfg.totalsPath, cwd: io.cwd, queued, width: io.outColumns, api: cfg.api }, totals, await summarizeOutput(cfg.out, cfg.format)));
  if (sidecarLine) io.out(sidecarLine);
}

/**
 * An empty pass (no file, no manifest row) of a command that ended well: the line saying so and EXIT.empty, unless
 * the run allows it (`--allow-empty`) or only re-runs some rows (`retry`). Otherwise the command's own exit code.
 */
export function emptyPassExit(cfg: RunConfig, discovered: number, code: number, io: Pick<Io, 'err'>): number {
  if (code !== EXIT.ok || discovered > 0 || cfg.allowEmpty || cfg.only) return code;
  io.err(`omni-batch: ${nothingFound(cfg)}`);
  return EXIT.empty;
}
