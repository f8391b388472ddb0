/**
 * The one temp folder a run or a worker keeps its transcoded media in. It is removed when the process ends
 * normally; a process killed with SIGKILL (or by the OOM killer) cannot, so each new one sweeps the folders
 * left by processes that are gone. A pid means something only in its own host and pid namespace (two
 * containers may share /tmp and a hostname), so the folder's name carries all three:
 * `omni-batch-worker-<host>~<pid namespace>-<pid>-XXXXXX`, and only folders of this host and namespace are swept.
 */
import { readlinkSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { alive } from './pid.js';

export type TempKind = 'run' | 'worker';

/** This process's pid namespace (Linux: the inode in /proc/self/ns/pid), or `0` where there is none to read. */
function pidNamespace(): string {
  try {
    return /\[(\d+)\]/.exec(readlinkSync('/proc/self/ns/pid'))?.[1] ?? '0';
  } catch {
    return '0';
  }
}

const safeHost = () => `${os.hostname().replace(/[^A-Za-z0-9.]/g, '_')}~${pidNamespace()}`;

/** Creates this process's temp folder after removing those of dead processes of this host and pid namespace. */
export async function makeTempDir(kind: TempKind, base = os.tmpdir()): Promise<string> {
  const host = safeHost();
  await sweepStale(base, host);
  return mkdtemp(path.join(base, `omni-batch-${kind}-${host}-${process.pid}-`));
}

/** Removes the temp folders of omni-batch processes of `host` (this one) that no longer run. */
async function sweepStale(base: string, host: string): Promise<void> {
  const pattern = /^omni-batch-(?:run|worker)-(.+)-(\d+)-[A-Za-z0-9]{6}$/;
  for (const name of await readdir(base).catch(() => [] as string[])) {
    const m = pattern.exec(name);
    if (!m || m[1] !== host) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || alive(pid)) continue;
    await rm(path.join(base, name), { recursive: true, force: true }).catch(() => undefined);
  }
}
