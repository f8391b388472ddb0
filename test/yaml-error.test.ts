// A job file that is not valid YAML: the error names file:line:column and shows the lines around the mistake.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { runMain, tempDir } from './helpers.js';

test('a YAML mistake shows file:line:column, the reason and a code frame with the line after it', async () => {
  const dir = await tempDir();
  const job = path.join(dir, 'job.yaml');
  // "model" is indented under the plain value of "prompt": the parser names line 2, the mistake is on line 3.
  await writeFile(job, 'inputs: [.]\nprompt: Caption {{file.name}}\n  model: qwen3-omni-flash\nout: captions.csv\n');
  const r = await runMain(['run', job, '--dry-run'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr.trim(),
    [
      `omni-batch: ${job}:2:9: not valid YAML: Nested mappings are not allowed in compact mappings`,
      '  1 | inputs: [.]',
      '  2 | prompt: Caption {{file.name}}',
      '    |         ^',
      '  3 |   model: qwen3-omni-flash',
    ].join('\n'),
  );
});

test('an unclosed quote at the end of the file shows the last lines', async () => {
  const dir = await tempDir();
  const job = path.join(dir, 'job.yaml');
  await writeFile(job, 'inputs: [.]\nprompt: "Caption {{file.name}}\n');
  const r = await runMain(['run', job, '--dry-run'], { cwd: dir });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /job\.yaml:3:1: not valid YAML: Missing closing "quote\n {2}2 \| prompt: "Caption \{\{file\.name\}\}\n {2}3 \|\n {4}\| \^/);
});
