/**
 * Part 7, start-up: the CPU of whole `omni-batch` processes that do no work (`--version`, `--help`, `run --help`, a
 * mistyped flag, and a dry run of one text file: what every run pays before its first file) next to bare `node -e 0`. Target (issue 16): <= 0.25 s of CPU for `--version` and `--help`.
 * CPU is the process's own user + system time at exit (getrusage, printed by a preload), so it counts Node's own
 * start too and no sampling interval cuts it short; the table shows the median of --runs processes.
 * Run: npm run bench:startup -- [--runs 9]
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CLI, ROOT, requireBuild } from './lib/processes.js';
import { markdown, publish, verdict, type Table } from './lib/report.js';

export const DEFAULTS = { runs: 9 };

/** Prints the process's CPU (µs) on stderr as it exits. */
const PRELOAD = `data:text/javascript,process.on("exit",()=>{const u=process.cpuUsage();process.stderr.write("\\ncpu-us:"+(u.user+u.system)+"\\n")})`;

/** The CPU, in seconds, of one process running `args` (a script and its arguments). */
function cpuOf(args: string[]): number {
  const r = spawnSync(process.execPath, [`--import=${PRELOAD}`, ...args], { cwd: ROOT, encoding: 'utf8' });
  const m = /cpu-us:(\d+)/.exec(r.stderr);
  if (!m?.[1]) throw new Error(`no CPU figure from node ${args.join(' ')}: ${r.stderr}`);
  return Number(m[1]) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] ?? NaN;
}

export async function startup(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { runs: { type: 'string' } } });
  const runs = Math.max(1, Math.floor(Number(values.runs ?? DEFAULTS.runs)) || 1);
  requireBuild();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-bench-startup-'));
  await writeFile(path.join(dir, 'note.txt'), 'a short note\n');
  const cases: [string, string[], number | undefined][] = [
    ['node -e 0 (bare Node)', ['-e', '0'], undefined],
    ['omni-batch --version', [CLI, '--version'], 0.25],
    ['omni-batch --help', [CLI, '--help'], 0.25],
    ['omni-batch run --help', [CLI, 'run', '--help'], undefined],
    ['omni-batch run --nope (a mistyped flag)', [CLI, 'run', '--nope'], undefined],
    // The fixed cost of a real run (the modules a text run loads, the output opened and finished), without the API.
    ['omni-batch run --dry-run, 1 text file', [CLI, 'run', '--input', path.join(dir, 'note.txt'), '--prompt', 'Summarize', '--out', path.join(dir, 'out.jsonl'), '--dry-run', '--quiet'], undefined],
  ];
  const table: Table = { head: ['process', 'CPU s (median)', 'min', 'max', 'target', 'result'], rows: [] };
  for (const [name, args, target] of cases) {
    const cpu = Array.from({ length: runs }, () => cpuOf(args));
    const m = median(cpu);
    table.rows.push([name, m.toFixed(3), Math.min(...cpu).toFixed(3), Math.max(...cpu).toFixed(3), target === undefined ? '' : `<= ${target.toFixed(2)}`, target === undefined ? '' : verdict(m, target, false)]);
  }
  await rm(dir, { recursive: true, force: true });
  await publish('startup', '7. Start-up: CPU of a process that does no work', `${runs} processes each, one after another; CPU = user + system time of the process, from its own getrusage at exit.\n\n${markdown(table)}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await startup(process.argv.slice(2));
