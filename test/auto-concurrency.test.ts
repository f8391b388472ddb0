/**
 * `--concurrency auto`: the decision unit on numbers (no timing), then a whole run against the stand-in set up as a
 * server that fills up at 4 requests in flight (StandInOptions.perTokenLatency), which must settle there.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AutoConcurrency } from '../src/engine/in-process/auto-concurrency.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runMain, tempDir } from './helpers.js';

/** Feeds `n` turns at the unit's current level, each `msPerToken` long per token, on a clock of our own. */
function feed(auto: AutoConcurrency, clock: { t: number }, n: number, msPerToken: (level: number) => number) {
  const decisions = [];
  for (let i = 0; i < n; i++) {
    const start = clock.t;
    clock.t += 100 * msPerToken(auto.level);
    const d = auto.observe(start, clock.t, 100);
    if (d) decisions.push(d);
  }
  return decisions;
}

describe('the decision of --concurrency auto', () => {
  test('doubles while the latency per token stays flat, and at the knee goes back to the level before it for good', () => {
    const clock = { t: 0 };
    const auto = new AutoConcurrency(clock.t, { max: 64 });
    // A server that is full at 8: flat up to it, three times slower per token at 16.
    const decisions = feed(auto, clock, 200, (level) => (level <= 8 ? 1 : 3));
    assert.deepEqual(
      decisions.map((d) => (d.kind === 'raise' ? `${d.from}->${d.level}` : `settle ${d.level} ${d.why}`)),
      ['1->2', '2->4', '4->8', '8->16', 'settle 8 knee'],
    );
    assert.equal(auto.level, 8);
    const report = auto.report();
    assert.deepEqual(report.levels.map((l) => [l.level, l.msPerToken, l.samples]), [[1, 1, 4], [2, 1, 4], [4, 1, 8], [8, 1, 16], [16, 3, 32]]);
    assert.equal(report.why, 'knee');
    assert.equal(feed(auto, clock, 100, () => 1).length, 0, 'settled: no further decision');
  });

  test('turns sent before the level took effect do not count for it', () => {
    const auto = new AutoConcurrency(0, { max: 4, samplesAt: () => 2 });
    assert.equal(auto.observe(0, 10, 10), undefined);
    assert.equal(auto.observe(10, 20, 10)?.kind, 'raise');
    // Sent at 15, before the raise at 20: a turn of level 1, however slow, says nothing about level 2.
    assert.equal(auto.observe(15, 1_000, 10), undefined);
    assert.equal(auto.observe(15, 1_000, 10), undefined);
    assert.equal(auto.level, 2);
    assert.equal(auto.report().levels.length, 1);
  });

  test('within the tolerance it keeps rising; at the highest level it settles there', () => {
    const clock = { t: 0 };
    const auto = new AutoConcurrency(clock.t, { max: 8, tolerance: 0.5 });
    // 40 % slower per token at each step: the best level stays level 1, and 1.4 < 1.5, then 1.96 > 1.5.
    const decisions = feed(auto, clock, 100, (level) => 1.4 ** Math.log2(level));
    assert.deepEqual(decisions.map((d) => `${d.kind} ${d.level}`), ['raise 2', 'raise 4', 'settle 2']);
    const flat = new AutoConcurrency(0, { max: 8 });
    const last = feed(flat, { t: 0 }, 100, () => 1).at(-1);
    assert.deepEqual([last?.kind, last?.level, last?.kind === 'settle' ? last.why : ''], ['settle', 8, 'max']);
  });

  test('a run that ends before a level is judged reports it as still rising', () => {
    const auto = new AutoConcurrency(0);
    auto.observe(0, 5, 10);
    assert.deepEqual(auto.report(), { level: 1, settled: false, why: 'the run ended first', levels: [] });
  });
});

describe('--concurrency auto against a server that fills up', () => {
  const KEY = 'sk-test-auto';
  let api: StandIn;
  before(async () => {
    // 1 ms per token up to 4 requests in flight; at 8 in flight, 9 times that.
    api = await startStandIn({ apiKey: KEY, perTokenLatency: { ms: 1, flatUpTo: 4 } });
  });
  after(() => api.close());

  test('raises 1, 2, 4, 8 and settles at 4, the knee, and says so in the log, the totals and the summary', async () => {
    const dir = await tempDir();
    const inputs = path.join(dir, 'notes');
    await import('node:fs/promises').then((fs) => fs.mkdir(inputs));
    for (let i = 0; i < 48; i++) await writeFile(path.join(inputs, `note-${String(i).padStart(2, '0')}.txt`), `Note ${i}: the same length of text in every file.\n`);
    const out = path.join(dir, 'auto.jsonl');
    const r = await runMain(['run', '--input', inputs, '--prompt', 'Title?', '--model', 'qwen2.5-omni-7b', '--base-url', api.vllmBaseURL, '--concurrency', 'auto', '--out', out], { env: { OMNI_API_KEY: KEY } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await readOutputRows(out)).filter((x) => x.status === 'ok').length, 48);
    const totals = JSON.parse(await readFile(`${out}.totals.json`, 'utf8'));
    const c = totals.run.concurrency;
    assert.deepEqual([c.level, c.settled, c.why], [4, true, 'knee'], JSON.stringify(c));
    assert.deepEqual(c.levels.map((l: { level: number }) => l.level), [1, 2, 4, 8]);
    assert.match(r.stderr, /concurrency auto: 1 -> 2 .*\n(.*\n)*.*concurrency auto: settled at 4, the knee/);
    assert.match(r.stdout, /concurrency auto: settled at 4 \(the knee/);
  });
});
