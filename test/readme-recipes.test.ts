// The README's recipes, run verbatim as a new user runs them: the command installed once from the clone
// (npm install -g into a prefix of its own), called from a folder outside the clone that holds the user's media
// and a copy of jobs/ and examples/, against the stand-in.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { EXAMPLES, ROOT, readOutputRows, tempDir } from './helpers.js';

const run = promisify(execFile);
const KEY = 'sk-readme-recipes-SENTINEL-3';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());

/** Whether a file under src/ is newer than dist/cli.js (or there is no dist/ yet). */
function distIsStale(): boolean {
  const built = statSync(path.join(ROOT, 'dist', 'cli.js'), { throwIfNoEntry: false })?.mtimeMs ?? 0;
  const files = readdirSync(path.join(ROOT, 'src'), { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
  return files.some((f) => statSync(path.join(f.parentPath ?? f.path, f.name)).mtimeMs > built);
}

/** Every command of the Recipes section's code blocks, continuation lines joined; comments kept (bash drops them). */
function recipeCommands(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Recipes'), readme.indexOf('\n## Reference'));
  const blocks = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  return blocks.flatMap((b) => b.replace(/\\\n/g, ' ').split('\n')).filter((l) => l.trim() && !l.trim().startsWith('#'));
}

test('every README recipe runs verbatim with the installed command from a folder outside the clone', async () => {
  const commands = recipeCommands();
  // What needs Redis or cron is left out, by name, so a new recipe is run unless it is one of these.
  const skipped = commands.filter((c) => / schedule /.test(c) || /^\d/.test(c));
  const runnable = commands.filter((c) => !skipped.includes(c));
  assert.equal(skipped.length, 2, skipped.join('\n'));
  assert.ok(runnable.length >= 5, runnable.join('\n'));
  assert.ok(runnable.every((c) => c.startsWith('omni-batch ')), 'the recipes use the installed command, not npx');

  const prefix = await tempDir('omni-batch-prefix-');
  // As the README says, after npm ci: install the command once (the build in dist/ is already there). npm test
  // compiles into build/ only, so a clone whose src changed since its npm ci gets dist/ built first: the recipes
  // then run the code under test, not an older build.
  if (distIsStale()) await run('npm', ['run', 'build'], { cwd: ROOT });
  await run('npm', ['install', '-g', '--ignore-scripts', '--no-audit', '--no-fund', '--prefix', prefix, '.'], { cwd: ROOT });
  const user = await tempDir('omni-batch-user-');
  assert.ok(path.relative(ROOT, user).startsWith('..'), 'the folder is outside the clone');
  await cp(path.join(ROOT, 'jobs'), path.join(user, 'jobs'), { recursive: true });
  await cp(EXAMPLES, path.join(user, 'examples'), { recursive: true });
  await cp(path.join(EXAMPLES, 'images'), path.join(user, 'photos'), { recursive: true });
  await cp(path.join(EXAMPLES, 'audio'), path.join(user, 'calls'), { recursive: true });
  await mkdir(path.join(user, 'out'), { recursive: true });
  const env = { ...process.env, PATH: `${path.join(prefix, 'bin')}:${process.env.PATH ?? ''}`, DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL, OMNI_BATCH_RPM: '0', OMNI_BATCH_TPM: '0' };
  for (const command of runnable) {
    const r = await run('bash', ['-c', command], { cwd: user, env }).catch((err: { code?: number; stderr?: string }) => err);
    assert.ok(!('code' in r) || r.code === undefined, `${command}\nexit ${'code' in r ? r.code : ''}: ${'stderr' in r ? r.stderr : ''}`);
  }
  for (const file of ['captions.csv', 'calls.jsonl', path.join('out', 'audio-summaries.jsonl'), path.join('out', 'video-descriptions.csv'), path.join('out', 'review-labels-schema.csv')]) {
    const rows = await readOutputRows(path.join(user, file));
    assert.ok(rows.length > 0 && rows.every((r) => r.status === 'ok' || r.error_code === 'invalid_answer'), `${file}: ${JSON.stringify(rows.map((r) => [r.path, r.status, r.error_code]))}`);
  }
});
