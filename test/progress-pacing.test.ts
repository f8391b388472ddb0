// Seeing why a run is as fast as it is: the pacer names the flag that holds requests back, and the summary fits
// an 80-column terminal.
import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { LocalPacer } from '../src/shared/rate-limit.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { ManualClock } from './manual-clock.js';
import { FIXTURES, runInPty, tempDir } from './helpers.js';

const KEY = 'sk-progress-pacing-SENTINEL-9';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());

test('while a request waits for the pacer it says "--rpm 60" (or "--tpm N" when tokens hold it), and nothing once none waits', async () => {
  const clock = new ManualClock();
  const rpm = new LocalPacer({ rpm: 60, tpm: undefined }, clock);
  await rpm.acquire(100);
  assert.equal(rpm.pacedBy(), undefined, 'the first request did not wait');
  const second = rpm.acquire(100);
  await clock.advance(10);
  assert.equal(rpm.pacedBy(), '--rpm 60');
  await clock.runAll();
  await second;
  assert.equal(rpm.pacedBy(), undefined);

  const tpm = new LocalPacer({ rpm: 600, tpm: 1000 }, clock);
  await tpm.acquire(900);
  const big = tpm.acquire(900);
  await clock.advance(10);
  assert.equal(tpm.pacedBy(), '--tpm 1000');
  await clock.runAll();
  await big;
});


test('in an 80-column terminal every line of the summary fits, a failure and images included', async () => {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  await copyFile(path.join(FIXTURES, 'ok-photo.jpg'), path.join(dir, 'media', 'photo.jpg'));
  await writeFile(path.join(dir, 'media', 'note.txt'), 'fine words');
  await writeFile(path.join(dir, 'media', 'bad.txt'), 'forbidden words');
  api.setOptions({ faults: ({ summary }) => (summary.lastUserText.includes('forbidden') ? { type: 'moderation' } : null) });
  let r: { code: number | null; text: string };
  try {
    // As a user runs it: from the dataset's folder.
    r = await runInPty(['run', '--input', 'media', '--prompt', 'Describe', '--out', 'out.csv'], { cols: 80, cwd: dir, env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL } });
  } finally {
    api.setOptions({ faults: undefined });
  }
  assert.equal(r.code, 0, r.text);
  // The summary: from its first line to the end, without the terminal's control sequences.
  const text = r.text
    .split('\x1b[2K')
    .join('')
    .replace(/\r/g, '');
  const summary = text.slice(text.indexOf('omni-batch: 3 rows in'));
  assert.match(summary, /kind +files +ok +failed +skipped/);
  assert.match(summary, /top failure reasons/);
  const wide = summary.split('\n').filter((l) => [...l].length > 80);
  assert.deepEqual(wide, [], 'lines over 80 columns');
});
