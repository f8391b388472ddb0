// A fresh `npm ci` is quiet: every dependency that runs an install script is declared in package.json's
// `allowScripts` (npm 11 warns about the others on every install, and npm 12 skips their scripts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './helpers.js';

test('every installed package with an install script is covered by allowScripts (npm ci prints no warning)', () => {
  const listed = execFileSync('npm', ['install-scripts', 'ls'], { cwd: ROOT, encoding: 'utf8' });
  assert.match(listed, /No packages with unreviewed install scripts/, listed);
  const pkg = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { allowScripts?: Record<string, boolean> };
  assert.deepEqual(pkg.allowScripts, { esbuild: true, 'msgpackr-extract': true });
});
