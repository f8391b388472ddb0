import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../src/shared/errors.js';
import { compileTemplate, MissingVariableError, render } from '../src/producer/template.js';

describe('prompt templates', () => {
  test('substitutes the known file, media and row variables', () => {
    const t = compileTemplate('{{file.name}}|{{ file.relPath }}|{{file.dir}}|{{file.ext}}|{{media.kind}}|{{media.durationSec}}|{{row.label}}', {
      where: 'prompt',
      rowColumns: ['label'],
    });
    const out = render(t, {
      'file.name': 'a b.jpg',
      'file.relPath': 'x/a b.jpg',
      'file.dir': 'x',
      'file.ext': 'jpg',
      'media.kind': 'image',
      'media.durationSec': '',
      'row.label': 'cat',
    });
    assert.equal(out, 'a b.jpg|x/a b.jpg|x|jpg|image||cat');
  });

  test('refuses an unknown variable when compiling, naming it and the known ones', () => {
    assert.throws(
      () => compileTemplate('Caption {{file.size}}', { where: 'prompt', rowColumns: null }),
      (err: unknown) => err instanceof ConfigError && /prompt: unknown template variable \{\{file\.size\}\}/.test(err.message) && /\{\{file\.name\}\}/.test(err.message),
    );
  });

  test('refuses environment-looking variables: nothing from the environment can be substituted', () => {
    for (const v of ['env.HOME', 'process.env.DASHSCOPE_API_KEY', 'DASHSCOPE_API_KEY']) {
      assert.throws(() => compileTemplate(`x {{${v}}}`, { where: 'prompt', rowColumns: null }), ConfigError);
    }
  });

  test('refuses row variables without a manifest, and columns the CSV header lacks', () => {
    assert.throws(() => compileTemplate('{{row.review}}', { where: 'prompt', rowColumns: null }), /needs a manifest/);
    assert.throws(() => compileTemplate('{{row.reveiw}}', { where: 'follow-up 1', rowColumns: ['id', 'review'] }), /follow-up 1: \{\{row\.reveiw\}\}: the manifest has no column "reveiw"; its columns are id, review/);
  });

  test('substitutes once: a value containing {{...}} is not expanded again', () => {
    const t = compileTemplate('{{row.a}} and {{row.b}}', { where: 'prompt', rowColumns: undefined });
    assert.equal(render(t, { 'row.a': '{{row.b}}', 'row.b': '{{file.name}}' }), '{{row.b}} and {{file.name}}');
  });

  test('a row missing a column used by the template is an error for that row only', () => {
    const t = compileTemplate('{{row.x}}', { where: 'prompt', rowColumns: undefined });
    assert.throws(() => render(t, {}), MissingVariableError);
  });
});
