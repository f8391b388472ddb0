/**
 * Part 3, rate limits: the stand-in enforces 60 requests per minute (429 past it) or, separately, a
 * tokens-per-minute limit; omni-batch paces itself at the same limit (--rpm 60 / --tpm N), in-process and with 3
 * workers. Target: >= 0.95 of the allowed rate over the run, zero 429s. The four runs go side by side (each with
 * its own stand-in process, and its own Redis for the distributed ones, whose pacer keys are global): together
 * they send about two requests a second, so they do not disturb each other.
 * Run: npm run bench:ratelimit -- [--minutes 3] [--rpm 60] [--tpm 6000]
 */
import { parseArgs } from 'node:util';
import { textTree } from './lib/datasets.js';
import { distributed, inProcess, statuses, type OmniMeasured } from './lib/engines.js';
import { requireBuild, startRedis, startStandInProcess, stopAll } from './lib/processes.js';
import { markdown, publish, ratio, verdict, type Table } from './lib/report.js';

export const DEFAULTS = { minutes: 3, rpm: 60, tpm: 6000 };

export async function ratelimit(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { minutes: { type: 'string' }, rpm: { type: 'string' }, tpm: { type: 'string' } } });
  const minutes = Number(values.minutes ?? DEFAULTS.minutes);
  const rpm = Number(values.rpm ?? DEFAULTS.rpm);
  const tpm = Number(values.tpm ?? DEFAULTS.tpm);
  requireBuild();
  const dir = await textTree(Math.max(2000, rpm * minutes * 4));

  // Tokens per job, as the stand-in counts them, from a short unlimited run: sizes the TPM run to `minutes`.
  const probe = await startStandInProcess();
  const calib = await inProcess(probe, { input: ['--input', dir, '--max-files', '20'], concurrency: 4 });
  await probe.stop();
  const tokensPerJob = calib.tokens / Math.max(1, calib.rows);
  const rpmJobs = Math.round(rpm * minutes) + 1;
  const tpmJobs = Math.round((tpm * minutes) / tokensPerJob) + 1;

  type Case = { limit: 'rpm' | 'tpm'; engine: 'in-process' | '3 workers' };
  const cases: Case[] = [
    { limit: 'rpm', engine: 'in-process' },
    { limit: 'rpm', engine: '3 workers' },
    { limit: 'tpm', engine: 'in-process' },
    { limit: 'tpm', engine: '3 workers' },
  ];
  const table: Table = {
    head: ['limit', 'engine', 'jobs', 'minutes', 'allowed', 'achieved', 'ratio', 'target', 'result', '429s', 'HTTP statuses'],
    rows: [],
  };
  try {
    const results = await Promise.all(
      cases.map(async (k): Promise<[Case, OmniMeasured]> => {
        const api = await startStandInProcess(k.limit === 'rpm' ? { rpm } : { tpm });
        const jobs = k.limit === 'rpm' ? rpmJobs : tpmJobs;
        const o = {
          input: ['--input', dir, '--max-files', String(jobs)],
          concurrency: 8,
          extra: k.limit === 'rpm' ? ['--rpm', String(rpm), '--tpm', '0'] : ['--rpm', '0', '--tpm', String(tpm)],
        };
        if (k.engine === 'in-process') return [k, await inProcess(api, o)];
        const redis = await startRedis();
        return [k, await distributed(api, redis, 3, 4, o)];
      }),
    );
    for (const [k, m] of results) {
      const s = m.stats;
      const spanMin = (s.lastAt - s.firstAt) / 60_000;
      // Between the first and the last arrival, every request but the last one was admitted.
      const achieved = k.limit === 'rpm' ? (s.requests - 1) / spanMin : (m.tokens * ((m.rows - 1) / m.rows)) / spanMin;
      const allowed = k.limit === 'rpm' ? rpm : tpm;
      const r = achieved / allowed;
      const refused = s.byStatus['429'] ?? 0;
      table.rows.push([
        k.limit === 'rpm' ? `${rpm} RPM` : `${tpm} TPM (~${tokensPerJob.toFixed(0)} tokens/job)`,
        k.engine,
        m.jobs,
        spanMin.toFixed(2),
        allowed,
        achieved.toFixed(1),
        ratio(r),
        '>= 0.95, 0 x 429',
        m.ok === m.jobs ? (refused === 0 ? verdict(r, 0.95) : '**missed** (429s)') : `incomplete: ${m.ok} ok`,
        refused,
        statuses(s),
      ]);
    }
  } finally {
    await stopAll();
  }
  await publish(
    'ratelimit',
    '3. Rate limits (stand-in enforces, omni-batch paces at the same limit)',
    `Achieved = requests (or tokens, prompt + completion from the rows) per minute between the first and the last request the stand-in received; the stand-in counts a sliding 60 s window. omni-batch paces with --rpm/--tpm at the limit (it aims at 0.98 of it by design, PACING_MARGIN). In-process at concurrency 8; 3 workers x 4.\n\n${markdown(table)}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) await ratelimit(process.argv.slice(2));
