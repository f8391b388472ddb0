/**
 * Reads a V8 .cpuprofile (from BENCH_CPU_PROF=DIR npm run bench:<part>, or node --cpu-prof) and prints where the
 * time went: self time by function and by package/module, and the share of idle time, as plain text for a
 * terminal without a browser. For a flame graph, open the same file in Chrome DevTools or speedscope.
 * Usage: npx tsx bench/profile-top.ts FILE.cpuprofile [--top 25]
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
const top = Number(values.top);
for (const file of positionals) {
  const p = JSON.parse(await readFile(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fn = new Map<string, number>();
  const mod = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const { functionName, url, lineNumber } = n.callFrame;
    const short = url.replace(/^file:\/\//, '').replace(/.*node_modules\//, 'npm:').replace(/.*\/(dist|src|bench|test)\//, '$1/');
    fn.set(`${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`, (fn.get(`${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`) ?? 0) + us);
    const m = url === '' ? `(${functionName})` : short.startsWith('npm:') ? short.split('/').slice(0, short.startsWith('npm:@') ? 2 : 1).join('/') : short.startsWith('node:') ? 'node:internal' : short;
    mod.set(m, (mod.get(m) ?? 0) + us);
  }
  // Inclusive time of our own functions (dist/, src/, bench/): self time plus everything they called.
  const inclusive = new Map<string, number>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  for (const [id, us] of self) {
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const n = byId.get(cur);
      if (!n || !/\/(dist|src|bench)\//.test(n.callFrame.url)) continue;
      const k = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/.*\/(dist|src|bench)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  console.log(`\n${file}: ${(total / 1e6).toFixed(2)} s sampled`);
  console.log('-- by module/package (self time)');
  for (const [k, v] of [...mod].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);
  console.log('-- by function (self time)');
  for (const [k, v] of [...fn].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);
  console.log('-- our functions (inclusive time: self + callees)');
  for (const [k, v] of [...inclusive].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${pct(v)}  ${k}`);
}
