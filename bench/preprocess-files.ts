/**
 * Where preprocessing time goes, per file: the probe (planItem) and preprocess() of each audio and video file of
 * the preprocess part, with the ffmpeg/ffprobe processes each started (counted through FFMPEG_PATH/FFPROBE_PATH
 * wrappers that log their start and end), next to the plain command. Not a benchmark: one pass, for reading.
 * Run: npx tsx bench/preprocess-files.ts [--kind audio,video] [--rounds 3]
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, chmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { kind: { type: 'string', default: 'audio,video' }, rounds: { type: 'string', default: '1' } } });
const work = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-prof-'));
const log = path.join(work, 'tools.log');
for (const tool of ['ffmpeg', 'ffprobe']) {
  const w = path.join(work, tool);
  await writeFile(w, `#!/bin/sh\ns=$(date +%s%N)\n/usr/bin/${tool} "$@"\nrc=$?\necho "$(( ($(date +%s%N) - s) / 1000000 )) ms ${tool} $*" >> ${log}\nexit $rc\n`);
  await chmod(w, 0o755);
}
process.env.FFMPEG_PATH = path.join(work, 'ffmpeg');
process.env.FFPROBE_PATH = path.join(work, 'ffprobe');
// Imported after the environment is set: tools.ts reads it when it loads.
const { omni, byHand } = await import('./lib/preprocess-steps.js');
const { bigCorpus } = await import('../test/corpus.js');
const { FIXTURES } = await import('../test/helpers.js');
const kinds = new Set(values.kind.split(','));
try {
  for (const e of byHand(FIXTURES, await bigCorpus(), work).filter((x) => kinds.has(x.kind))) {
    for (let r = 0; r < Number(values.rounds); r++) {
      await writeFile(log, '');
      const t0 = performance.now();
      const p = spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...e.args]);
      if (p.status !== 0) throw new Error(String(p.stderr));
      const handMs = performance.now() - t0;
      const o = await omni(e.file, work);
      const tools = (await readFile(log, 'utf8')).trim().split('\n').filter(Boolean);
      console.log(`${path.basename(e.file)}: plain ${handMs.toFixed(0)} ms | probe ${o.probeMs.toFixed(0)} ms + prep ${o.prepMs.toFixed(0)} ms | ${o.note}`);
      for (const t of tools) console.log(`    ${t.slice(0, 220)}`);
    }
  }
} finally {
  await rm(work, { recursive: true, force: true });
}
