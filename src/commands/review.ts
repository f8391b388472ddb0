/**
 * `omni-batch review OUT`: serves the review page over an output file (CSV or JSONL, from run, retry or collect)
 * until Ctrl-C / SIGTERM. Thin: it opens the output (one clear line and exit 2 when it is missing or not an
 * output of ours), starts the server, prints the URL.
 */
import path from 'node:path';
import { EXIT } from '../shared/errors.js';
import { displayPath } from '../shared/display-path.js';
import type { SidecarOptions } from '../shared/output/sidecar.js';
import { REVIEW_DEFAULTS } from './review/defaults.js';
import { ReviewStore } from './review/store.js';
import { startReview } from './review/server.js';
import { serveUntilStopped } from './http-server.js';
import type { Io } from './run.js';

export interface ReviewFlags {
  /** Default 7071; 0 picks a free port. Checked by commander. */
  port?: number;
  /** Default 127.0.0.1 (this machine only). */
  host?: string;
  allowHost?: string[];
  /** Replace the edited row's sidecar even when omni-batch did not write it. */
  overwrite?: boolean;
}

/** The sidecar settings of an edit: the --sidecar flags given to review, else the ones the run recorded; --overwrite on top. */
function sidecarsFor(store: ReviewStore, flags: ReviewFlags, io: Io): SidecarOptions | undefined {
  const opts = io.sidecar ?? store.run.sidecars;
  if (!opts) return undefined;
  return flags.overwrite ? { ...opts, overwrite: true, skipExisting: false } : opts;
}

export async function reviewCommand(output: string, flags: ReviewFlags, io: Io): Promise<number> {
  const file = path.resolve(io.cwd, output);
  const store = await ReviewStore.open(file, io.cwd);
  const host = flags.host ?? REVIEW_DEFAULTS.host;
  const review = await startReview({ store, host, port: flags.port ?? REVIEW_DEFAULTS.port, allowHosts: flags.allowHost ?? [], sidecars: sidecarsFor(store, flags, io), label: displayPath(file, io.cwd) });
  await serveUntilStopped(io, 'review', host, `${review.url} (${store.entries.length} rows of ${displayPath(file, io.cwd)})`);
  await review.close();
  return EXIT.ok;
}
