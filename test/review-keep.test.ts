/**
 * A reviewed answer (edited on the review page: `reviewed` true) is never lost to what runs after the edit: the
 * `--sort input` rewrite, rows planning makes without a call under another model or prompt, a batch collected
 * later, an alias copy, a crash-cut last line. The reviewed rows are written as the review page writes them (the
 * answer replaced, `reviewed` true); test/review.test.ts drives the page itself.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { releaseLock, takeLock } from '../src/shared/output/result-file.js';
import { sortByInput } from '../src/shared/output/sort.js';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { readOutputRows, runMain, tempDir } from './helpers.js';

const KEY = 'sk-review-keep-SENTINEL-9031';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());
const env = (extra: Record<string, string> = {}) => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL, OMNI_BATCH_POLL_SEC: '0', ...extra });

/** Three text files answered into out.jsonl. */
async function answered(): Promise<{ dir: string; out: string }> {
  const dir = await tempDir();
  await mkdir(path.join(dir, 'media'));
  for (const n of ['a', 'b', 'c']) await writeFile(path.join(dir, 'media', `${n}.txt`), `text ${n}`);
  const out = path.join(dir, 'out.jsonl');
  const r = await runMain(['run', '--input', 'media', '--prompt', 'Read {{file.name}}', '--out', out], { env: env(), cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  return { dir, out };
}

describe('--sort input', () => {
  test('sorts under the output lock: while the review page holds it (saving an edit), the sort refuses and leaves the file as it was', async () => {
    const { out } = await answered();
    // Out of input order, so that a sort would rewrite the file.
    const reversed = `${(await readFile(out, 'utf8')).split('\n').filter(Boolean).reverse().join('\n')}\n`;
    await writeFile(out, reversed);
    const lock = await takeLock(out);
    try {
      await assert.rejects(sortByInput(out, 'jsonl', false), /another omni-batch \(pid \d+\) is writing this output.*not sorted in input order: run the same command again/);
    } finally {
      releaseLock(lock);
    }
    assert.equal(await readFile(out, 'utf8'), reversed, 'nothing replaced while the lock was held');
    await sortByInput(out, 'jsonl', false);
    assert.deepEqual((await readOutputRows(out)).map((r) => r.index), [1, 2, 3], 'sorted once the lock is free');
  });
});
