import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { main } from '../src/cli.js';
import { REGIONS, resolveConfig } from '../src/shared/config.js';
import { ConfigError } from '../src/shared/errors.js';
import { runMain, tempDir } from './helpers.js';

/** The CLI in this process: its exit code and what it printed on stderr. */
async function cliInProcess(args: string[], cwd: string): Promise<{ code: number; stderr: string }> {
  const err: string[] = [];
  const code = await main(args, { out: () => undefined, err: (t) => err.push(t), env: {}, cwd });
  return { code, stderr: err.join('\n') };
}

describe('job files', () => {
  test('a job file resolves its paths against its own folder, and flags override it', async () => {
    const dir = await tempDir();
    const job = path.join(dir, 'jobs', 'j.yaml');
    await (await import('node:fs/promises')).mkdir(path.dirname(job));
    await writeFile(job, 'inputs: [../media]\nprompt: Describe {{file.name}}\nconcurrency: 3\noutput: ../out/r.jsonl\n');
    const cfg = await resolveConfig(job, { concurrency: 7 }, {}, '/somewhere/else');
    assert.deepEqual(cfg.inputs, [path.join(dir, 'media')]);
    assert.equal(cfg.out, path.join(dir, 'out', 'r.jsonl'));
    assert.equal(cfg.format, 'jsonl');
    assert.equal(cfg.totalsPath, path.join(dir, 'out', 'r.jsonl.totals.json'));
    assert.equal(cfg.concurrency, 7);
    assert.equal(cfg.model, 'qwen3.5-omni-flash');
    assert.equal(cfg.baseURL, REGIONS.cn);
  });

  test('a job-file error names the file, the field, what was expected and what arrived', async () => {
    const dir = await tempDir();
    const job = path.join(dir, 'bad.yaml');
    await writeFile(job, 'inputs: [x]\nprompt: hi\nconcurrency: "many"\n');
    await assert.rejects(resolveConfig(job, {}, {}, dir), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /bad\.yaml: field "concurrency": expected a whole number from 1 to 256, or "auto", received "many"/);
      return true;
    });
  });

  test('a misspelt job-file field is refused with a suggestion', async () => {
    const dir = await tempDir();
    const job = path.join(dir, 'typo.yaml');
    await writeFile(job, 'inputs: [x]\npromt: hi\n');
    await assert.rejects(resolveConfig(job, {}, {}, dir), /typo\.yaml: unknown field "promt" \(did you mean "prompt"\?\)/);
  });

});

describe('flags and the environment', () => {
  test('region picks the documented base URL; --base-url wins; DASHSCOPE_BASE_URL is the fallback', async () => {
    const dir = await tempDir();
    const base = { input: [dir], prompt: 'p' };
    assert.equal((await resolveConfig(undefined, { ...base, region: 'intl' }, {}, dir)).baseURL, REGIONS.intl);
    assert.equal((await resolveConfig(undefined, { ...base, region: 'us' }, {}, dir)).baseURL, REGIONS.us);
    assert.equal((await resolveConfig(undefined, { ...base, region: 'us', baseUrl: 'http://127.0.0.1:1/v1' }, {}, dir)).baseURL, 'http://127.0.0.1:1/v1');
    assert.equal((await resolveConfig(undefined, base, { DASHSCOPE_BASE_URL: 'http://127.0.0.1:2/v1' }, dir)).baseURL, 'http://127.0.0.1:2/v1');
    const eu = await cliInProcess(['run', '--input', dir, '--prompt', 'p', '--region', 'eu'], dir);
    assert.equal(eu.code, 2);
    assert.match(eu.stderr, /option '--region <name>' argument 'eu' is invalid\. Allowed choices are cn, intl, us, hk, tokyo, frankfurt, virginia\./);
    await assert.rejects(resolveConfig(undefined, { ...base, region: 'frankfurt' }, {}, dir), /--region: frankfurt has no documented base URL; give it with --base-url/);
    const workspace = await resolveConfig(undefined, { ...base, baseUrl: 'https://ws1.ap-southeast-1.maas.aliyuncs.com/compatible-mode/v1' }, {}, dir);
    assert.equal(workspace.priceRegion, 'intl');
  });

  test('numeric flags and variables say what they expected and what arrived', async () => {
    const dir = await tempDir();
    const zero = await cliInProcess(['run', '--input', dir, '--prompt', 'p', '--concurrency', '0'], dir);
    assert.equal(zero.code, 2);
    assert.match(zero.stderr, /option '-c, --concurrency <n>' argument '0' is invalid\. expected a whole number from 1 to 256/);
    const half = await cliInProcess(['run', '--input', dir, '--prompt', 'p', '--retries', '2.5'], dir);
    assert.equal(half.code, 2);
    assert.match(half.stderr, /option '--retries <n>' argument '2\.5' is invalid\. expected a whole number from 0 to 20/);
    const cost = await cliInProcess(['run', '--input', dir, '--prompt', 'p', '--max-cost', 'lots'], dir);
    assert.equal(cost.code, 2);
    assert.match(cost.stderr, /option '--max-cost <amount>' argument 'lots' is invalid\. expected a number, at least 0/);
    await assert.rejects(
      resolveConfig(undefined, { input: [dir], prompt: 'p' }, { OMNI_BATCH_RPM: 'fast' }, dir),
      /OMNI_BATCH_RPM \(environment\): expected a whole number from 0 to 1000000, received "fast"/,
    );
    assert.equal((await resolveConfig(undefined, { input: [dir], prompt: 'p' }, { OMNI_BATCH_TPM: '5000' }, dir)).tpm, 5000);
    await assert.rejects(resolveConfig(undefined, { input: [dir], prompt: 'p', out: 'x.txt' }, {}, dir), /cannot tell the output format/);
    await assert.rejects(resolveConfig(undefined, { input: [dir], prompt: 'p', maxTokens: 3000, model: 'qwen-omni-turbo' }, {}, dir), /--max-tokens: expected at most 2048 \(the output window of qwen-omni-turbo\), received 3000/);
  });

  test('the CLI exits 2 with one line for a config error, before touching the network', async () => {
    const dir = await tempDir();
    const r = await runMain(['run', '--input', dir, '--prompt', 'Caption {{file.size}}', '--out', path.join(dir, 'o.csv')], {
      env: { DASHSCOPE_API_KEY: 'sk-test', DASHSCOPE_BASE_URL: 'http://127.0.0.1:9/v1' },
    });
    assert.equal(r.code, 2);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    assert.match(r.stderr, /unknown template variable \{\{file\.size\}\}/);
  });

  test('the CLI refuses a missing key with advice, and --dry-run needs none', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.txt'), 'hello');
    const missing = await runMain(['run', '--input', dir, '--prompt', 'p', '--out', path.join(dir, 'o.csv')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /DASHSCOPE_API_KEY is not set/);
    const dry = await runMain(['run', '--input', dir, '--prompt', 'Title for {{file.name}}', '--out', path.join(dir, 'o.csv'), '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /would send +text +.*a\.txt/);
    assert.match(dry.stdout, /"Title for a\.txt"/);
  });
});
