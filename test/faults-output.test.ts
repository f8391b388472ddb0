/**
 * The output under a hostile disk: a real tmpfs, mounted by the test, that fills while a run writes its rows or
 * compacts its output; and an output folder that cannot be made at all (procfs).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { OutputError } from '../src/shared/errors.js';
import { TotalsAccumulator, writeTotals } from '../src/shared/output/totals.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runCli, runMain, tempDir } from './helpers.js';

const KEY = 'sk-SENTINEL-disk-0f4e2a7c9b1d';

let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());

const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

/** A tmpfs of `size` mounted on a fresh folder (unmounted when the file ends), or why there is none. */
async function tmpfs(size: string): Promise<{ dir: string } | { skip: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'omni-batch-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    return { skip: `cannot mount a tmpfs here (${String((err as { stderr?: Buffer }).stderr ?? err).trim()}): the disk-full cases need one` };
  }
  after(async () => {
    execFileSync('umount', ['-l', dir]);
    await rm(dir, { recursive: true, force: true });
  });
  return { dir };
}

/** Bytes still free on the file system of `dir`. */
async function free(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** Fills the file system of `dir` until `leave` bytes are free, with one file that a test can remove to free them. */
async function ballast(dir: string, leave: number): Promise<string> {
  const file = path.join(dir, 'ballast');
  await writeFile(file, Buffer.alloc(Math.max(0, (await free(dir)) - leave)));
  return file;
}

/** `n` small text inputs, on the normal disk. */
async function textInputs(n: number): Promise<string> {
  const dir = path.join(await tempDir(), 'texts');
  await mkdir(dir);
  await Promise.all(Array.from({ length: n }, (_, i) => writeFile(path.join(dir, `t${String(i).padStart(4, '0')}.txt`), `text number ${i}\n`)));
  return dir;
}

/** The one-line error promise: exactly one line on stderr, no stack trace. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => !l.startsWith('  ') && !/^\s*$/.test(l));
  assert.doesNotMatch(stderr, /\n\s+at .+\(.*:\d+:\d+\)/, `a stack trace: ${stderr}`);
  return lines.at(-1) ?? '';
}

/** What Python's csv module reads: the strictest common reader of what we write. */
function pythonCsv(file: string): string[][] {
  const code = 'import csv,json,sys\nprint(json.dumps(list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))))';
  return JSON.parse(execFileSync('python3', ['-c', code, file], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as string[][];
}

/** Hidden files a run left beside its output (locks, temporary and pending files). */
async function leftovers(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.startsWith('.'));
}

describe('a disk that fills: exit 4, one line, and an output that is as it was or complete', () => {
  test('compaction that hits ENOSPC leaves one row per path, and a rerun after freeing space completes it without a request', async (t) => {
    const fs = await tmpfs('8m');
    if ('skip' in fs) return t.skip(fs.skip);
    const inputs = await textInputs(300);
    const out = path.join(fs.dir, 'out.csv');
    const run = (prompt: string) => runMain(['run', '--input', inputs, '--prompt', prompt, '--out', out, '--concurrency', '16'], { env: env(), cwd: fs.dir });
    const first = await run('Describe it, take A.');
    assert.equal(first.code, 0, first.stderr);
    const size = (await readFile(out)).length;
    // Room for this run's 300 new rows (the same size: same prompt length), not for a second copy of them.
    const weight = await ballast(fs.dir, Math.round(size * 1.5));
    const before = api.requests.length;
    const second = await run('Describe it, take B.');
    assert.equal(second.code, 4, `${second.stdout}\n${second.stderr}`);
    assert.match(oneLine(second.stderr), /out\.csv: cannot finish the output \(ENOSPC: the disk is full\).*rerun the same command/);
    assert.equal(api.requests.length - before, 300, 'every file was asked once');
    const rows = pythonCsv(out).slice(1);
    assert.equal(rows.length, 300, 'one row per path: the output as it was');
    assert.equal(new Set(rows.map((r) => r[1])).size, 300);
    assert.deepEqual((await leftovers(fs.dir)).filter((f) => !f.endsWith('.pending')), [], 'no temporary file or lock left');

    await rm(weight);
    const third = await run('Describe it, take B.');
    assert.equal(third.code, 0, third.stderr);
    assert.equal(api.requests.length - before, 300, 'the rerun sends nothing again');
    const done = await readOutputRows(out);
    assert.equal(done.length, 300);
    assert.equal(new Set(done.map((r) => r.path)).size, 300);
    assert.ok(done.every((r) => r.status === 'ok' && /take B/.test(r.answer)), 'every row is the newer answer');
    assert.deepEqual(await leftovers(fs.dir), []);
  });

  test('rows written while the disk fills are whole: no half record, and the rerun finishes with exactly one row per path', async (t) => {
    const fs = await tmpfs('4m');
    if ('skip' in fs) return t.skip(fs.skip);
    const inputs = await textInputs(300);
    const out = path.join(fs.dir, 'out.csv');
    // About 130 of the 300 rows fit (each row is some 400-500 bytes).
    const weight = await ballast(fs.dir, 60_000);
    const argv = ['run', '--input', inputs, '--prompt', 'Describe it.', '--out', out, '--concurrency', '4'];
    const r = await runMain(argv, { env: env(), cwd: fs.dir });
    assert.equal(r.code, 4, `${r.stdout}\n${r.stderr}`);
    const text = await readFile(out, 'utf8');
    assert.ok(text.endsWith('\n'), 'the file ends with a whole record');
    const records = pythonCsv(out);
    const width = records[0]?.length ?? 0;
    assert.ok(records.length > 50, `some rows were written (${records.length})`);
    assert.ok(records.every((rec) => rec.length === width), 'every record has every column');
    assert.match(oneLine(r.stderr), /out\.csv: cannot write the output file any more \(ENOSPC: the disk is full\).*free some space and rerun/);
    assert.deepEqual(await leftovers(fs.dir), []);

    await rm(weight);
    const again = await runMain(argv, { env: env(), cwd: fs.dir });
    assert.equal(again.code, 0, again.stderr);
    const rows = parse<Record<string, string>>(await readFile(out), { columns: true });
    assert.equal(rows.length, 300);
    assert.equal(new Set(rows.map((x) => x.path)).size, 300);
  });
  test('a disk with room for the output but not its settings file stops before any request, leaving no temporary file', async (t) => {
    const fs = await tmpfs('1m');
    if ('skip' in fs) return t.skip(fs.skip);
    const inputs = await textInputs(10);
    // Two pages: the lock and the output's header fit, `.out.csv.run.json.tmp-PID` does not.
    await ballast(fs.dir, 8192);
    const before = api.requests.length;
    const r = await runMain(['run', '--input', inputs, '--prompt', 'Describe it.', '--out', path.join(fs.dir, 'out.csv')], { env: env(), cwd: fs.dir });
    assert.equal(r.code, 4, `${r.stdout}\n${r.stderr}`);
    assert.match(oneLine(r.stderr), /run\.json: cannot write the run settings \(ENOSPC: the disk is full\); free some space and rerun/);
    assert.equal(api.requests.length, before, 'nothing was sent');
    assert.deepEqual(await leftovers(fs.dir), []);
  });

  test('a totals file that does not fit: OutputError naming it, and no temporary file beside it', async (t) => {
    const fs = await tmpfs('1m');
    if ('skip' in fs) return t.skip(fs.skip);
    await ballast(fs.dir, 0);
    const totals = new TotalsAccumulator().result('out.csv', null);
    await assert.rejects(writeTotals(path.join(fs.dir, 'out.csv.totals.json'), totals), (err: unknown) => {
      assert.ok(err instanceof OutputError);
      assert.match(err.message, /out\.csv\.totals\.json: cannot write the totals file \(ENOSPC: the disk is full\)/);
      return true;
    });
    assert.deepEqual(await leftovers(fs.dir), []);
  });
});

describe('an output that cannot be written at all', () => {
  test('--out under /proc exits 4 with one line naming the folder, instead of spinning in a recursive mkdir', async () => {
    const inputs = await textInputs(2);
    // A process of its own: today's fault is a hang (a busy loop deaf to signals), which only a kill can end.
    const r = await runCli(['run', '--input', inputs, '--prompt', 'Describe it.', '--out', '/proc/nope/x.csv'], { env: env(), timeoutMs: 30_000 });
    assert.equal(r.code, 4, r.stderr);
    assert.match(oneLine(r.stderr), /\/proc\/nope\/x\.csv: cannot write the output file \(cannot create the folder \/proc\/nope: ENOENT\)/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});
