// The job-file reference (README table + docs/job-file.schema.json) is generated from the validator's schema;
// these tests fail when it is stale, when a documented flag does not exist, or when the JSON Schema and the
// validator disagree about a job file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse as parseYaml } from 'yaml';
import { README, SCHEMA_FILE, readmeWithReference, schemaText } from '../scripts/docs.js';
import { jobFileJsonSchema, jobReferenceMarkdown } from '../src/shared/job-reference.js';
import { JobFileSchema } from '../src/shared/config.js';
import { buildProgram } from '../src/cli.js';
import { runCommand } from '../src/commands/run.js';
import { ROOT } from './helpers.js';

test('the README reference and docs/job-file.schema.json are what the schema generates (npm run docs:job-reference)', () => {
  const readme = readFileSync(README, 'utf8');
  assert.equal(readmeWithReference(readme), readme, 'README.md job-file reference is stale: run npm run docs:job-reference');
  assert.equal(readFileSync(SCHEMA_FILE, 'utf8'), schemaText(), 'docs/job-file.schema.json is stale: run npm run docs:job-reference');
});

test('the reference has a row for every field, nested ones included', () => {
  const table = jobReferenceMarkdown();
  for (const key of Object.keys(JobFileSchema.shape)) assert.match(table, new RegExp(`^\\| \`${key}\` \\|`, 'm'), key);
  for (const key of ['video.mode', 'video.frames', 'audio.out', 'image.fix']) assert.match(table, new RegExp(`^\\| \`${key.replace('.', '\\.')}\` \\|`, 'm'), key);
});

test('every flag named in the reference is a flag of omni-batch run', () => {
  const program = buildProgram(runCommand, { out: () => {}, err: () => {}, env: {}, cwd: ROOT }, () => {});
  const run = program.commands.find((c) => c.name() === 'run');
  assert.ok(run);
  const longs = new Set(run.options.map((o) => o.long));
  const named = [...jobReferenceMarkdown().matchAll(/`(--[a-z-]+)`/g)].map((m) => m[1]);
  assert.ok(named.length >= 15, `only ${named.length} flags named`);
  for (const flag of named) assert.ok(longs.has(flag), `${flag} is in the reference but not a flag of omni-batch run`);
});

const ajv = new Ajv2020({ allErrors: true, strict: true });
ajv.addKeyword('flag');
ajv.addKeyword('defaultText');
ajv.addKeyword('nested');
ajv.addFormat('uri', /^[a-z][a-z0-9+.-]*:\/\/\S+$/i);
const validate = ajv.compile(jobFileJsonSchema());

test('every shipped job file is valid under the JSON Schema and the validator alike', () => {
  const files = readdirSync(path.join(ROOT, 'jobs')).filter((f) => f.endsWith('.yaml'));
  assert.ok(files.length >= 6);
  for (const file of files) {
    const text = readFileSync(path.join(ROOT, 'jobs', file), 'utf8');
    assert.match(text, /^# yaml-language-server: \$schema=\.\.\/docs\/job-file\.schema\.json$/m, `${file} points editors at the schema`);
    const job = parseYaml(text) as unknown;
    assert.equal(validate(job), true, `${file}: ${ajv.errorsText(validate.errors)}`);
    assert.equal(JobFileSchema.safeParse(job).success, true, file);
  }
});

test('the JSON Schema refuses what the validator refuses', () => {
  const bad: unknown[] = [
    { prompt: 'x', promt: 'typo' },
    { prompt: 'x', concurrency: 0 },
    { prompt: 'x', region: 'eu' },
    { prompt: 'x', video: { mode: 'clip' } },
    { prompt: 'x', labels: ['only-one'] },
    { prompt: 'x', output: { path: 'a.csv', format: 'xml' } },
  ];
  for (const job of bad) {
    assert.equal(JobFileSchema.safeParse(job).success, false, JSON.stringify(job));
    assert.equal(validate(job), false, JSON.stringify(job));
  }
});
