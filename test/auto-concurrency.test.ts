/**
 * `--concurrency auto`: the decision unit on numbers (no timing), then a whole run against the stand-in playing a
 * server that fills up at 4 requests in flight, on virtual time, which must settle there.
 */
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AutoConcurrency } from '../src/engine/in-process/auto-concurrency.js';
import { startRun } from '../src/engine/in-process/index.js';
import { sleep, type Clock } from '../src/shared/clock.js';
import { resolveConfig } from '../src/shared/config.js';
import { createClient } from '../src/worker/qwen-omni.js';
import { renderSummary, summarizeOutput } from '../src/commands/summary.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { tempDir } from './helpers.js';

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

/**
 * A server that fills up, on virtual time: the stand-in holds every request (StandInOptions.hold), and the test plays
 * the GPU server. A request that arrives while `c` requests are held takes 100 virtual ms if c <= 4 and
 * 100 x (1 + 2 x (c - 4)) beyond: flat up to the knee at 4, slower after it. The run's Clock reads the virtual time,
 * which moves only while every request the run has in flight is held (the run can do nothing else then), to the end
 * of the request due first, which is then released. So what the unit measures comes from the curve, not from how
 * busy the machine is.
 */
describe('--concurrency auto against a server that fills up', () => {
  const KEY = 'sk-test-auto';
  const vt = { now: 1_000_000 };
  const held = new Map<number, { doneAt: number; release: () => void }>();
  let api: StandIn;
  before(async () => {
    api = await startStandIn({
      apiKey: KEY,
      hold: (n) =>
        new Promise<void>((release) => {
          const c = held.size + 1;
          held.set(n, { doneAt: vt.now + 100 * (c <= 4 ? 1 : 1 + 2 * (c - 4)), release });
        }),
    });
  });
  after(() => api.close());

  test('raises 1, 2, 4, 8 and settles at 4, the knee, and says so in the log and the totals', async () => {
    const dir = await tempDir();
    const inputs = path.join(dir, 'notes');
    await mkdir(inputs);
    for (let i = 0; i < 48; i++) await writeFile(path.join(inputs, `note-${String(i).padStart(2, '0')}.txt`), `Note ${i}: the same length of text in every file.\n`);
    const flags = { input: [inputs], prompt: 'Title?', model: 'qwen2.5-omni-7b', baseUrl: api.vllmBaseURL, api: 'vllm-omni' as const, concurrency: 'auto' as const, out: path.join(dir, 'auto.jsonl') };
    const cfg = await resolveConfig(undefined, flags, {}, dir);
    const clock: Clock = { now: () => vt.now, sleep };
    const logs: string[] = [];
    const { control, done } = startRun(cfg, { apiKey: KEY, client: createClient(KEY, cfg.baseURL), clock, log: (l) => logs.push(l) });
    let finished = false;
    const result = done.finally(() => (finished = true));
    while (!finished) {
      // Every request in flight is held and no file is being prepared: nothing can happen until the server answers
      // one, so how many requests are in flight at each release never depends on how fast this machine prepares.
      const counts = control.counts();
      const quiet = held.size > 0 && held.size === counts.inFlight && counts.preparing === 0;
      if (!quiet) {
        await new Promise((r) => setTimeout(r, 2));
        continue;
      }
      const [n, next] = [...held.entries()].reduce((a, b) => (b[1].doneAt < a[1].doneAt ? b : a));
      vt.now = Math.max(vt.now, next.doneAt);
      held.delete(n);
      next.release();
      await new Promise((r) => setTimeout(r, 2));
    }
    const { totals, exitCode } = await result;
    assert.equal(exitCode, 0, logs.join('\n'));
    assert.equal(totals?.byStatus.ok, 48);
    const c = totals?.run?.concurrency;
    assert.deepEqual([c?.level, c?.settled, c?.why], [4, true, 'knee'], JSON.stringify(c));
    assert.deepEqual(c?.levels.map((l) => l.level), [1, 2, 4, 8]);
    assert.deepEqual(
      logs.filter((l) => l.startsWith('concurrency auto')).map((l) => l.replace(/ \(.*/, '')),
      ['concurrency auto: 1 -> 2', 'concurrency auto: 2 -> 4', 'concurrency auto: 4 -> 8', 'concurrency auto: settled at 4, the knee'],
    );
    // The summary says it too.
    assert.match(renderSummary({ out: cfg.out, totalsPath: cfg.totalsPath, cwd: dir }, totals, await summarizeOutput(cfg.out, cfg.format)), /concurrency auto: settled at 4 \(the knee/);
  });
});
