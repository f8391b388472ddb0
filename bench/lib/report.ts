/**
 * Markdown tables for the benchmark results: printed to stdout, and kept in bench/results/LATEST.md one section
 * per part, so that running one part alone replaces its own section and leaves the others as they were.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from './processes.js';

export const LATEST = path.join(ROOT, 'bench', 'results', 'LATEST.md');

export const PARTS = ['overhead', 'concurrency', 'ratelimit', 'memory', 'preprocess', 'cost', 'startup'] as const;
export type Part = (typeof PARTS)[number];

export interface Table {
  head: string[];
  rows: (string | number)[][];
}

export function markdown(t: Table): string {
  const line = (cells: (string | number)[]) => `| ${cells.map(String).join(' | ')} |`;
  return [line(t.head), line(t.head.map(() => '---')), ...t.rows.map(line)].join('\n');
}

export const ratio = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
export const verdict = (value: number, target: number, atLeast = true) => (atLeast ? value >= target : value <= target) ? 'met' : '**missed**';

const BEGIN = (p: Part) => `<!-- bench:${p} -->`;
const END = (p: Part) => `<!-- /bench:${p} -->`;

/** Prints the section and puts it into LATEST.md in place of the part's previous one. */
export async function publish(part: Part, title: string, body: string): Promise<void> {
  // The load average at the end of the part: other work on the machine moves every number here.
  const load = os.loadavg().map((l) => l.toFixed(2)).join(' / ');
  const stamp = `${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, ${os.cpus().length} cores, load average ${load} (1 / 5 / 15 min), Node ${process.version}`;
  const section = `## ${title}\n\n_${stamp}_\n\n${body.trim()}\n`;
  console.log(`\n${section}`);
  if (process.env.BENCH_CLI) {
    // A patched build's numbers are not the project's: print them, leave LATEST.md alone.
    console.log(`(BENCH_CLI=${process.env.BENCH_CLI}: not written to ${LATEST})`);
    return;
  }
  await mkdir(path.dirname(LATEST), { recursive: true });
  const old = await readFile(LATEST, 'utf8').catch(() => '');
  const sections = new Map<Part, string>();
  for (const p of PARTS) {
    const m = new RegExp(`${BEGIN(p)}\\n([\\s\\S]*?)${END(p)}`).exec(old);
    if (m?.[1]) sections.set(p, m[1]);
  }
  sections.set(part, section);
  const head = [
    '# omni-batch benchmarks: latest results',
    '',
    'Written by `npm run bench` (or one part: `npm run bench:<part>`); every number is a ratio measured in one run,',
    'side by side, on a noisy 2-core machine. Sizes are in each table. How each is measured: bench/README.md.',
    '',
  ].join('\n');
  const text = head + PARTS.filter((p) => sections.has(p)).map((p) => `\n${BEGIN(p)}\n${sections.get(p)}${END(p)}\n`).join('');
  await writeFile(LATEST, text);
}
