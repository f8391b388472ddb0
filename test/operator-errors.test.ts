/**
 * The errors an operator meets first, through the built CLI: each is one line that says what is wrong and what to
 * do, with the documented exit code. (The 401 of a key of another region and the unwritable output are in
 * run.test.ts, against the stand-in.)
 */
import assert from 'node:assert/strict';
import { copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { EXAMPLES, FIXTURES, readOutputRows, runCli, runMain, tempDir } from './helpers.js';
import { startStandIn } from './stand-in/server.js';

const oneLine = (stderr: string) => stderr.trim().split('\n');

describe('errors an operator can act on', () => {
  test('a missing key is one line naming the variable and the way out (--dry-run), exit 2', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.txt'), 'hello');
    const r = await runMain(['run', '--input', dir, '--prompt', 'p', '--out', path.join(dir, 'o.csv')]);
    assert.equal(r.code, 2);
    assert.equal(oneLine(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /DASHSCOPE_API_KEY is not set: export DASHSCOPE_API_KEY=.*or use --dry-run/);
  });

  test('a job file with a typo names the file and the field and suggests the right one, exit 2', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'job.yaml'), 'inputs: [.]\npromt: Caption {{file.name}}\n');
    const r = await runMain(['run', path.join(dir, 'job.yaml')], { env: { DASHSCOPE_API_KEY: 'sk-test' } });
    assert.equal(r.code, 2);
    assert.equal(oneLine(r.stderr).length, 1, r.stderr);
    assert.match(r.stderr, /job\.yaml: unknown field "promt" \(did you mean "prompt"\?\)/);
  });

  test('without ffmpeg on PATH text, images and an MP3 sent as it is still run; the first file that needs ffprobe stops the run with the install command, exit 2', async () => {
    const api = await startStandIn({ apiKey: 'sk-test' });
    try {
      const dir = await tempDir();
      const media = path.join(dir, 'media');
      await mkdir(media);
      await writeFile(path.join(media, 'a.txt'), 'hello');
      await copyFile(path.join(EXAMPLES, 'images', 'astronaut.jpg'), path.join(media, 'astronaut.jpg'));
      // A PATH that holds node and nothing else: no ffmpeg, no ffprobe.
      const bin = path.join(dir, 'bin');
      await mkdir(bin);
      await symlink(process.execPath, path.join(bin, 'node'));
      const env = { PATH: bin, DASHSCOPE_API_KEY: 'sk-test', DASHSCOPE_BASE_URL: api.baseURL, FFMPEG_PATH: undefined, FFPROBE_PATH: undefined };
      const out = path.join(dir, 'o.csv');
      const ok = await runCli(['run', '--input', media, '--prompt', 'p', '--out', out], { env });
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual((await readOutputRows(out)).map((r) => `${path.basename(String(r.path))} ${r.status}`).sort(), ['a.txt ok', 'astronaut.jpg ok']);
      // Its header is read in-process and it goes as it is: no tool is needed.
      await copyFile(path.join(EXAMPLES, 'audio', 'speech-en.mp3'), path.join(media, 'speech-en.mp3'));
      const mp3 = await runCli(['run', '--input', media, '--prompt', 'p', '--out', out], { env });
      assert.equal(mp3.code, 0, mp3.stderr);
      assert.equal((await readOutputRows(out)).find((r) => String(r.path).endsWith('speech-en.mp3'))?.status, 'ok');
      // 16 kHz AAC without video may be HE-AAC, which only decoding tells: ffprobe must read it.
      await copyFile(path.join(FIXTURES, 'speech.m4a'), path.join(media, 'speech.m4a'));
      const r = await runCli(['run', '--input', media, '--prompt', 'p', '--out', out], { env });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /ffprobe not found: .*apt-get install ffmpeg.*FFMPEG_PATH/);
    } finally {
      await api.close();
    }
  });

  test('an unreachable Redis is one line naming the URL and how to start one, exit 2, for run, worker, status and dashboard', async () => {
    const dir = await tempDir();
    await writeFile(path.join(dir, 'a.txt'), 'hello');
    const redis = 'redis://127.0.0.1:1';
    const env = { DASHSCOPE_API_KEY: 'sk-test' };
    for (const args of [
      ['run', '--input', dir, '--prompt', 'p', '--out', path.join(dir, 'o.csv'), '--redis', redis],
      ['worker', '--redis', redis],
      ['status', 'some-run', '--redis', redis],
      ['dashboard', '--redis', redis, '--port', '0'],
    ]) {
      const r = await runMain(args, { env, timeoutMs: 30_000 });
      assert.equal(r.code, 2, `${args[0]}: ${r.stderr}`);
      assert.equal(oneLine(r.stderr).length, 1, r.stderr);
      assert.match(r.stderr, /cannot reach Redis at redis:\/\/127\.0\.0\.1:1 .*start one .* or fix --redis/);
    }
    // A password is never printed, in the URL's user part or in its query (which ioredis also reads).
    const secret = await runMain(['status', 'some-run', '--redis', 'redis://user:hunter2@127.0.0.1:1/0?password=s3cret&db=0'], { env, timeoutMs: 30_000 });
    assert.equal(secret.code, 2, secret.stderr);
    assert.match(secret.stderr, /cannot reach Redis at redis:\/\/user:\*\*\*@127\.0\.0\.1:1\/0\?password=\*\*\*/);
    assert.ok(!secret.stderr.includes('hunter2') && !secret.stderr.includes('s3cret'), secret.stderr);
  });
});
