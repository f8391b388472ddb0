/**
 * A manifest names files inside its own folder (or inside the root the job names), and nothing else: a path that
 * climbs out, an absolute path elsewhere, or a symlink leading out gets a `skipped` row before anything is read,
 * and its content never reaches the API. The real CLI, the real `openai` SDK, the stand-in, real files.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, ROOT, runMain, tempDir } from './helpers.js';

const KEY = 'sk-SENTINEL-manifest-root-5c1e';
/** What the files outside the manifest's folder hold: it must never appear in a request. */
const SECRET = 'AKIA-SECRET-CREDENTIALS-91f3';

let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());

const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

/** data/project/rows.jsonl with files inside its folder, and secrets beside and far away from it. */
async function layout(): Promise<{ dir: string; project: string; far: string }> {
  const dir = await tempDir();
  const project = path.join(dir, 'data', 'project');
  const far = await tempDir('omni-batch-far-');
  await mkdir(path.join(project, 'notes'), { recursive: true });
  await mkdir(path.join(dir, 'x'));
  await writeFile(path.join(project, 'notes', 'inside.txt'), 'a note that may be sent');
  await writeFile(path.join(dir, 'x', 'creds.txt'), SECRET);
  await writeFile(path.join(far, 'id.json'), `{"key":"${SECRET}"}`);
  await symlink(path.join(dir, 'x', 'creds.txt'), path.join(project, 'notes', 'link.txt'));
  return { dir, project, far };
}

const rowsJsonl = (far: string) =>
  [
    { path: 'notes/inside.txt' },
    { path: '../../x/creds.txt' },
    { path: path.join(far, 'id.json') },
    { path: 'notes/link.txt' },
    { frames: ['notes/a.jpg', 'notes/b.jpg', '../../x/c.jpg', 'notes/d.jpg'] },
    { url: 'https://example.com/../../etc/passwd.jpg' },
  ]
    .map((r) => JSON.stringify(r))
    .join('\n');

describe('manifest paths stay inside the manifest root', () => {
  test('a path climbing out, an absolute path elsewhere and a symlink leading out get path_outside_root rows, and nothing of them is sent', async () => {
    const { dir, project, far } = await layout();
    await writeFile(path.join(project, 'rows.jsonl'), rowsJsonl(far));
    const out = path.join(dir, 'out.csv');
    const from = api.requests.length;
    const r = await runMain(['run', '--manifest', path.join(project, 'rows.jsonl'), '--prompt', 'Read it', '--out', out], { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const rows = await readOutputRows(out);
    const byRow = new Map(rows.map((x) => [String(x.path).replace(/^.*#/, ''), x]));
    assert.equal(rows.length, 6, 'one row per manifest row');
    assert.equal(byRow.get('1')?.status, 'ok', 'a file inside the folder is read and sent');
    for (const n of ['2', '3', '4', '5']) {
      assert.equal(byRow.get(n)?.status, 'skipped', `row ${n}`);
      assert.equal(byRow.get(n)?.error_code, 'path_outside_root', `row ${n}`);
    }
    // The message names the path as written and the root.
    assert.match(byRow.get('2')?.error_message, /rows\.jsonl#2: path "\.\.\/\.\.\/x\/creds\.txt" is outside the manifest root \S*data\/project/);
    assert.match(byRow.get('3')?.error_message, /id\.json" is outside the manifest root/);
    assert.match(byRow.get('4')?.error_message, /path "notes\/link\.txt" links to \S*x\/creds\.txt, outside the manifest root/);
    assert.match(byRow.get('5')?.error_message, /frame 3: path "\.\.\/\.\.\/x\/c\.jpg" is outside the manifest root/);
    // A URL is passed through as it is: not a local path, not this rule's business.
    assert.equal(byRow.get('6')?.status, 'ok');
    const sent = JSON.stringify(api.requests.slice(from).map((q) => q.body));
    assert.ok(!sent.includes(SECRET), 'no request carries the content of a file outside the root');
    assert.ok(sent.includes('a note that may be sent'));
    assert.equal(api.requests.length - from, 2, 'only the row inside the root and the URL were sent');
  });

  test('a wider root named by the job file (or --manifest-root) lets its paths in; the symlink target must be inside it too', async () => {
    const { dir, project, far } = await layout();
    await writeFile(path.join(project, 'rows.jsonl'), rowsJsonl(far));
    await writeFile(path.join(dir, 'job.yaml'), 'manifest: data/project/rows.jsonl\nmanifestRoot: .\nprompt: Read it\noutput: out.csv\n');
    const r = await runMain(['run', path.join(dir, 'job.yaml')], { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const rows = new Map((await readOutputRows(path.join(dir, 'out.csv'))).map((x) => [String(x.path).replace(/^.*#/, ''), x]));
    assert.equal(rows.get('2')?.status, 'ok', '../../x/creds.txt is inside the job root');
    assert.equal(rows.get('4')?.status, 'ok', 'the link leads into the job root');
    assert.equal(rows.get('3')?.error_code, 'path_outside_root', 'an absolute path elsewhere is still outside');
    const flagged = await runMain(['run', '--manifest', path.join(project, 'rows.jsonl'), '--manifest-root', far, '--prompt', 'Read it', '--out', 'flag.csv', '--dry-run'], {
      env: env(),
      cwd: dir,
    });
    assert.equal(flagged.code, 0, flagged.stderr);
    const planned = new Map((await readOutputRows(path.join(dir, 'flag.estimate.csv'))).map((x) => [String(x.path).replace(/^.*#/, ''), x]));
    assert.equal(planned.get('3')?.status, 'planned', 'inside --manifest-root');
    assert.equal(planned.get('1')?.error_code, 'path_outside_root', 'the manifest folder itself is outside a root elsewhere');
  });

  test('every shipped job file still plans every row: the example manifests name only files inside their root', async () => {
    const dir = await tempDir();
    const jobs = (await readdir(path.join(ROOT, 'jobs'))).filter((f) => f.endsWith('.yaml'));
    assert.ok(jobs.includes('mixed-manifest.yaml'));
    for (const job of jobs) {
      const out = path.join(dir, job.replace(/\.yaml$/, '.csv'));
      const r = await runMain(['run', path.join(ROOT, 'jobs', job), '--dry-run', '--out', out, '--format', 'csv'], { env: {}, cwd: dir, timeoutMs: 120_000 });
      assert.equal(r.code, 0, `${job}: ${r.stderr}`);
      const rows = await readOutputRows(out.replace(/\.csv$/, '.estimate.csv'));
      assert.ok(rows.length > 0, job);
      assert.deepEqual(
        rows.filter((x) => x.error_code === 'path_outside_root' || x.error_code === 'file_unreadable').map((x) => `${x.path}: ${x.error_message}`),
        [],
        job,
      );
    }
  });
});
