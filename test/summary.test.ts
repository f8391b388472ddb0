/** The summary printed at the end of a run, as the operator reads it. */
import assert from 'node:assert/strict';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { FIXTURES, runMain, tempDir } from './helpers.js';

const KEY = 'sk-summary-test-0000000000';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY });
});
after(() => api.close());

/** A folder with one file of each kind that works, and three that fail for three reasons. */
async function mixedFolder(dir: string): Promise<string> {
  const media = path.join(dir, 'media');
  await mkdir(media);
  for (const f of ['ok-photo.jpg', 'ok-speech.mp3', 'ok-clip-5s.mp4', 'note.txt', 'truncated.jpg']) await copyFile(path.join(FIXTURES, f), path.join(media, f));
  await writeFile(path.join(media, 'bad.txt'), 'forbidden words');
  await writeFile(path.join(media, 'flaky.txt'), 'the server fails on this one');
  return media;
}

describe('the final summary', () => {
  test('shows a table by kind with tokens per modality and cost, the top failure reasons with an example path, and where the files are', async () => {
    const dir = await tempDir();
    await mixedFolder(dir);
    await writeFile(path.join(dir, 'job.yaml'), 'inputs: [media]\nprompt: Describe\noutput: out/res.csv\nretries: 1\nretryBaseMs: 5\nretryMaxMs: 10\n');
    api.setOptions({
      faults: ({ summary }) => (summary.lastUserText.includes('forbidden') ? { type: 'moderation' } : summary.lastUserText.includes('server fails') ? { type: 'http500' } : null),
    });
    let r;
    try {
      r = await runMain(['run', 'job.yaml'], { env: { DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL }, cwd: dir });
    } finally {
      api.setOptions({ faults: undefined });
    }
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout;
    assert.match(out, /7 rows in .*out\/res\.csv: 4 ok, 3 failed, 0 skipped/);
    const header = out.split('\n').find((l) => l.trimStart().startsWith('kind'));
    assert.match(header ?? '', /kind +files +ok +failed +skipped +text tok +image tok +audio tok +video tok +answer tok +cost \(CNY\)/);
    const cells = (kind: string) => out.split('\n').find((l) => l.trimStart().startsWith(`${kind} `))?.trim().split(/ +/) ?? [];
    // kind files ok failed skipped text image audio video answer cost
    assert.deepEqual(cells('image').slice(0, 5), ['image', '2', '1', '1', '0']);
    assert.ok(Number(cells('image')[6]) > 0, 'image tokens of the ok photo');
    assert.ok(Number(cells('audio')[7]) > 0, 'audio tokens');
    assert.ok(Number(cells('video')[8]) > 0, 'video tokens');
    assert.deepEqual(cells('text').slice(0, 5), ['text', '3', '1', '2', '0']);
    assert.deepEqual(cells('total').slice(0, 5), ['total', '7', '4', '3', '0']);
    assert.ok(Number(cells('total')[10]) > 0, 'cost');
    assert.match(out, /top failure reasons:/);
    assert.match(out, /media_unreadable +1 +e\.g\. media\/truncated\.jpg: /);
    assert.match(out, /moderation_blocked +1 +e\.g\. media\/bad\.txt/);
    assert.match(out, /server_error +1 +e\.g\. media\/flaky\.txt/);
    assert.match(out, /output: .*out\/res\.csv/);
    assert.match(out, /totals: .*out\/res\.csv\.totals\.json/);
  });
});
