/**
 * `omni-batch review` as a person meets it: a small mixed run against the DashScope stand-in (images, a 6000x4000
 * photo, audio, video, a text file, a manifest frame list, one file refused by moderation; sidecars on), then
 * `omni-batch review OUT` as a process, read and edited in Debian's Chromium over real HTTP.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { appendFile, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import type { Browser, Page } from 'playwright-core';
import { startStandIn, type StandIn } from './stand-in/server.js';
import { labeler } from './stand-in/scripted-answers.js';
import { EXAMPLES, FIXTURES, readOutputRows, ROOT, runCli, runMain, tempDir, waitFor, type CliResult } from './helpers.js';
import { launchChromium, NO_CHROMIUM } from './browser.js';
import { startRedis } from './redis-server.js';

const KEY = 'sk-review-test-SENTINEL-4417';
let api: StandIn;
before(async () => {
  api = await startStandIn({ apiKey: KEY, faults: ({ summary }) => (summary.lastUserText.includes('Describe blocked.jpg') ? { type: 'moderation' } : null) });
});
after(() => api.close());
const env = () => ({ DASHSCOPE_API_KEY: KEY, DASHSCOPE_BASE_URL: api.baseURL });

/** A folder with one of each kind of media, and a manifest naming a frame list; the run's output and its rows. */
async function mixedRun(format: 'csv' | 'jsonl' = 'csv'): Promise<{ dir: string; out: string }> {
  const dir = await tempDir('omni-batch-review-');
  const media = path.join(dir, 'media');
  await mkdir(media);
  await copyFile(path.join(FIXTURES, 'ok-photo.jpg'), path.join(media, 'a.jpg'));
  await copyFile(path.join(FIXTURES, 'ok-graphic.png'), path.join(media, 'blocked.jpg'));
  await sharp({ create: { width: 6000, height: 4000, channels: 3, background: '#3a6ea5' } }).jpeg().toFile(path.join(media, 'big.jpg'));
  await copyFile(path.join(FIXTURES, 'ok-speech.mp3'), path.join(media, 'speech.mp3'));
  await copyFile(path.join(FIXTURES, 'ok-clip-5s.mp4'), path.join(media, 'clip.mp4'));
  await writeFile(path.join(media, 'note.txt'), 'A note to read: the quick brown fox.');
  const frames = path.join(dir, 'frames');
  await mkdir(frames);
  for (const f of ['001.jpg', '002.jpg', '003.jpg']) await copyFile(path.join(EXAMPLES, 'frames', 'clip1', f), path.join(frames, f));
  await writeFile(path.join(dir, 'clips.jsonl'), `${JSON.stringify({ frames: ['frames/001.jpg', 'frames/002.jpg', 'frames/003.jpg'] })}\n`);
  const out = path.join(dir, `out.${format}`);
  const r = await runMain(['run', '--input', 'media', '--manifest', 'clips.jsonl', '--prompt', 'Describe {{file.name}}', '--out', out, '--retries', '0', '--sidecar', 'txt'], { env: env(), cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  return { dir, out };
}

interface Review {
  url: string;
  child: ChildProcess;
  done: Promise<CliResult>;
  stop(): Promise<void>;
}

/** `omni-batch review OUT --port 0` as a process, once it printed its URL. */
async function startReview(out: string, cwd: string, extra: string[] = []): Promise<Review> {
  let child: ChildProcess | undefined;
  let stdout = '';
  const done = runCli(['review', out, '--port', '0', ...extra], { cwd, timeoutMs: 300_000, onSpawn: (c) => ((child = c), c.stdout?.on('data', (d: Buffer) => (stdout += d.toString()))) });
  let exited: CliResult | undefined;
  void done.then((r) => (exited = r));
  await waitFor(() => exited !== undefined || /http:\/\/\S+\/ /.test(stdout), 'the review page to print its URL');
  if (exited || !child) throw new Error(`review stopped: ${exited?.stderr}`);
  const proc = child;
  const url = /(http:\/\/\S+\/) /.exec(stdout)?.[1] ?? '';
  const review = {
    url,
    child: proc,
    done,
    async stop() {
      proc.kill('SIGTERM');
      const r = await done;
      assert.equal(r.code, 0, r.stderr);
    },
  };
  after(() => (proc.exitCode === null ? review.stop() : undefined));
  return review;
}

function http(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** What the tests read of <img>, <audio> and <video> in the page. */
interface Img {
  complete: boolean;
  naturalWidth: number;
  naturalHeight: number;
}
interface Player {
  readyState: number;
  duration: number;
}

const card = (page: Page, rowPath: string) => page.locator(`article.card[data-path="${rowPath}"]`);

/** The raw text of every CSV record (header included) but the one of `rowPath`, byte for byte. */
async function otherLines(file: string, rowPath: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  const header = text.slice(0, text.indexOf('\n') + 1);
  const records = parse<{ record: Record<string, string>; raw: string }>(text, { columns: true, raw: true });
  assert.ok(records.some((r) => r.record.path === rowPath));
  return [header, ...records.filter((r) => r.record.path !== rowPath).map((r) => r.raw)];
}

describe('omni-batch review', { skip: NO_CHROMIUM }, () => {
  let browser: Browser;
  before(async () => {
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
  });

  test('the grid shows thumbnails, players, frames and text for a real run, and filters narrow the cards', { timeout: 180_000 }, async () => {
    const { dir, out } = await mixedRun();
    const review = await startReview('out.csv', dir);
    const page = await browser.newPage({ viewport: { width: 1366, height: 1000 } });
    await page.goto(review.url);
    await page.locator('article.card').nth(6).waitFor();
    assert.equal(await page.locator('article.card').count(), 7, 'one card per row: 6 files and the frame-list row');
    // Thumbnails load (a decoded image), and the big photo comes as a small JPEG.
    const thumb = card(page, 'media/big.jpg').locator('img[data-field="thumb"]');
    await waitFor(() => thumb.evaluate((img: Img) => img.complete && img.naturalWidth > 0), 'the thumbnail of big.jpg');
    assert.deepEqual(await thumb.evaluate((img: Img) => [img.naturalWidth, img.naturalHeight]), [360, 240]);
    const small = await http(`${review.url}thumb?path=media%2Fbig.jpg`);
    assert.equal(small.status, 200);
    const meta = await sharp(small.body).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.ok(Math.max(meta.width ?? 0, meta.height ?? 0) <= 360 && small.body.length < 60_000, `a thumbnail, not the 6000x4000 photo (${small.body.length} bytes)`);
    // Players that load their media: metadata read means the server answered the browser's requests.
    const audio = card(page, 'media/speech.mp3').locator('audio[data-field="audio"]');
    await waitFor(() => audio.evaluate((a: Player) => a.readyState >= 1 && a.duration > 0), 'the audio player to read its file');
    const video = card(page, 'media/clip.mp4').locator('video[data-field="video"]');
    await waitFor(() => video.evaluate((v: Player) => v.readyState >= 1 && v.duration > 4), 'the video player to read its file');
    const frames = card(page, 'clips.jsonl#1').locator('img[data-field="frame"]');
    assert.equal(await frames.count(), 3);
    await waitFor(() => frames.evaluateAll((imgs: Img[]) => imgs.every((i) => i.complete && i.naturalWidth > 0)), 'the frames');
    assert.match((await card(page, 'media/note.txt').locator('[data-field="text"]').textContent()) ?? '', /the quick brown fox/);
    // Each card has the full answer, editable.
    const rows = await readOutputRows(out);
    const a = rows.find((r) => r.path === 'media/a.jpg');
    assert.equal(await card(page, 'media/a.jpg').locator('textarea').inputValue(), a?.answer);

    // Filters run on the server over the whole file, with counts.
    const status = page.locator('select[data-filter="status"]');
    assert.match((await status.locator('option[value="failed"]').textContent()) ?? '', /failed \(1\)/);
    await status.selectOption('failed');
    await waitFor(async () => (await page.locator('article.card').count()) === 1, 'only the failed card');
    assert.equal(await page.locator('article.card').getAttribute('data-path'), 'media/blocked.jpg');
    await page.locator('select[data-filter="code"]').selectOption('moderation_blocked');
    assert.match((await page.locator('#summary').textContent()) ?? '', /^1 of 7 rows/);
    await status.selectOption('ok');
    await waitFor(async () => (await page.locator('article.card').count()) === 0, 'ok and moderation_blocked: no card');
    await page.locator('select[data-filter="code"]').selectOption('');
    await waitFor(async () => (await page.locator('article.card').count()) === 6, 'the 6 ok cards');
    await page.close();
    await review.stop();
  });

  test('an edit lands in the output with reviewed=true (every other row byte for byte) and in the sidecar; a rerun keeps it', { timeout: 180_000 }, async () => {
    const { dir, out } = await mixedRun();
    const before = await otherLines(out, 'media/a.jpg');
    const review = await startReview('out.csv', dir);
    const page = await browser.newPage();
    await page.goto(review.url);
    const c = card(page, 'media/a.jpg');
    await c.locator('textarea').fill('A hand-written caption, with "quotes", a comma\nand a second line.');
    await c.locator('button[data-field="save"]').click();
    await waitFor(async () => /saved/.test((await card(page, 'media/a.jpg').locator('[data-field="note"]').textContent()) ?? ''), 'saved');
    assert.match((await card(page, 'media/a.jpg').locator('[data-field="note"]').textContent()) ?? '', /sidecars \(\.txt\): 1 written/);
    assert.equal(await card(page, 'media/a.jpg').locator('[data-field="reviewed"]').count(), 1);
    const rows = await readOutputRows(out);
    const a = rows.find((r) => r.path === 'media/a.jpg');
    assert.equal(a?.answer, 'A hand-written caption, with "quotes", a comma\nand a second line.');
    assert.equal(a?.reviewed, 'true');
    assert.equal(rows.filter((r) => r.reviewed !== '').length, 1, 'only the edited row is reviewed');
    assert.deepEqual(await otherLines(out, 'media/a.jpg'), before, 'every other line as it was');
    assert.equal(await readFile(path.join(dir, 'media', 'a.txt'), 'utf8'), 'A hand-written caption, with "quotes", a comma\nand a second line.\n');

    // The failed row, edited: ok and reviewed; a retry then has nothing to send.
    const b = card(page, 'media/blocked.jpg');
    await b.locator('textarea').fill('A graphic, checked by hand.');
    await b.locator('button[data-field="save"]').click();
    await waitFor(async () => (await card(page, 'media/blocked.jpg').getAttribute('data-status')) === 'ok', 'the failed row saved as ok');
    await page.close();
    await review.stop();
    const from = api.requests.length;
    const retry = await runMain(['retry', 'out.csv'], { env: env(), cwd: dir });
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stdout, /nothing to retry/);
    // A rerun with another prompt asks every file again (new job ids), except the two reviewed ones.
    const rerun = await runMain(['run', '--input', 'media', '--manifest', 'clips.jsonl', '--prompt', 'Caption {{file.name}}', '--out', 'out.csv', '--sidecar', 'txt'], { env: env(), cwd: dir });
    assert.equal(rerun.code, 0, rerun.stderr);
    const asked = api.requests.slice(from).map((r) => JSON.stringify(r.body?.messages ?? ''));
    assert.equal(asked.filter((t) => t.includes('Caption ')).length, 5, 'the five files not reviewed, asked again');
    assert.ok(!asked.some((t) => /Caption (a|blocked)\.jpg/.test(t)), 'the reviewed files are not asked again');
    const after = await readOutputRows(out);
    assert.equal(after.find((r) => r.path === 'media/a.jpg')?.answer, 'A hand-written caption, with "quotes", a comma\nand a second line.');
    assert.equal(after.find((r) => r.path === 'media/blocked.jpg')?.answer, 'A graphic, checked by hand.');
    assert.equal(await readFile(path.join(dir, 'media', 'a.txt'), 'utf8'), 'A hand-written caption, with "quotes", a comma\nand a second line.\n');
  });

  test('a save is refused when the output changed on disk since the page read it, or while a run writes it', { timeout: 120_000 }, async () => {
    const { dir, out } = await mixedRun('jsonl');
    const review = await startReview('out.jsonl', dir);
    const page = await browser.newPage();
    await page.goto(review.url);
    await card(page, 'media/a.jpg').waitFor();
    // A run still writing: one more line arrives after the page read the file.
    const lines = (await readFile(out, 'utf8')).split('\n').filter(Boolean);
    await appendFile(out, `${lines[0]}\n`);
    const changed = await readFile(out, 'utf8');
    const c = card(page, 'media/a.jpg');
    await c.locator('textarea').fill('lost?');
    await c.locator('button[data-field="save"]').click();
    const note = c.locator('[data-field="note"]');
    await waitFor(async () => /changed on disk since this page read it/.test((await note.textContent()) ?? ''), 'the refusal');
    assert.equal(await readFile(out, 'utf8'), changed, 'nothing written');
    // After a reload the save goes through; with another omni-batch holding the output's lock it does not.
    await page.reload();
    await writeFile(path.join(dir, '.out.jsonl.lock'), String(review.child.pid));
    const again = card(page, 'media/a.jpg');
    await again.locator('textarea').fill('edited while a run writes');
    await again.locator('button[data-field="save"]').click();
    await waitFor(async () => /another omni-batch \(pid \d+\) is writing this output/.test((await again.locator('[data-field="note"]').textContent()) ?? ''), 'the lock refusal');
    assert.equal(await readFile(out, 'utf8'), changed);
    await page.close();
    await review.stop();
  });

  test('media: a Range request gets 206 with those bytes; a file the output does not name is a 404', { timeout: 120_000 }, async () => {
    const { dir } = await mixedRun();
    await copyFile(path.join(FIXTURES, 'ok-photo.jpg'), path.join(dir, 'media', 'later.jpg'));
    const review = await startReview(path.join(dir, 'out.csv'), ROOT);
    const clip = await readFile(path.join(dir, 'media', 'clip.mp4'));
    const part = await http(`${review.url}media?path=media%2Fclip.mp4`, { headers: { Range: 'bytes=100-1123' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 100-1123/${clip.length}`);
    assert.deepEqual(part.body, clip.subarray(100, 1124));
    assert.equal((await http(`${review.url}media?path=frames%2F002.jpg`)).status, 200, 'a frame of the frame list');
    for (const name of ['media/later.jpg', '../../../etc/passwd', '/etc/passwd', 'clips.jsonl', 'out.csv', 'media/../out.csv', path.join(dir, 'out.csv')]) {
      assert.equal((await http(`${review.url}media?path=${encodeURIComponent(name)}`)).status, 404, name);
      assert.equal((await http(`${review.url}thumb?path=${encodeURIComponent(name)}`)).status, 404, name);
    }
    // An edit from another site's page is refused.
    const foreign = await http(`${review.url}api/rows/0`, { method: 'POST', headers: { 'content-type': 'application/json', origin: 'http://evil.example' }, body: '{}' });
    assert.equal(foreign.status, 403);
    await review.stop();
  });

  test('labels: the label filter counts and narrows; an edit must fit the labels and sets the label columns (JSONL typed)', { timeout: 120_000 }, async () => {
    api.setOptions({ answer: labeler });
    const dir = await tempDir();
    const out = path.join(dir, 'labels.jsonl');
    try {
      const r = await runMain(['run', path.join(ROOT, 'jobs', 'label-dataset-schema.yaml'), '--out', out], { env: env() });
      assert.equal(r.code, 0, r.stderr);
    } finally {
      api.setOptions({ answer: undefined });
    }
    const review = await startReview(out, dir);
    const page = await browser.newPage();
    await page.goto(review.url);
    const label = page.locator('select[data-filter="label"]');
    await label.waitFor();
    assert.match((await label.locator('option[value="label=mixed"]').textContent()) ?? '', /\(2\)/);
    await label.selectOption('label=mixed');
    await waitFor(async () => (await page.locator('article.card').count()) === 2, 'the two mixed cards');
    await label.selectOption('');
    await page.locator('select[data-filter="status"]').selectOption('failed');
    await waitFor(async () => (await page.locator('article.card').count()) === 1, 'the invalid answer');
    const c = page.locator('article.card');
    const rowPath = (await c.getAttribute('data-path')) ?? '';
    await c.locator('textarea').fill('furious');
    await c.locator('button[data-field="save"]').click();
    await waitFor(async () => /does not fit the run's labels/.test((await c.locator('[data-field="note"]').textContent()) ?? ''), 'the label refusal');
    await c.locator('textarea').fill('negative');
    await c.locator('button[data-field="save"]').click();
    await waitFor(async () => (await page.locator(`article.card[data-path="${rowPath}"][data-status="ok"]`).count()) === 1, 'saved');
    const row = (await readOutputRows(out)).find((x) => x.path === rowPath);
    assert.equal(row?.reviewed, true);
    assert.equal(row?.label, 'negative');
    assert.deepEqual(row?.parsed, { label: 'negative' });
    assert.equal(row?.error_code, null);
    await page.close();
    await review.stop();
  });

  test('200,000 rows: one page of cards at a time, more on scrolling, the filters counted over the whole file', { timeout: 180_000 }, async () => {
    const dir = await tempDir();
    const out = path.join(dir, 'big.jsonl');
    const { columnsFor, flatten, rowWithoutAnswer, textLayout } = await import('../src/shared/row.js');
    const { jsonlFormat } = await import('../src/shared/output/jsonl.js');
    const layout = textLayout(1);
    const lines: string[] = [];
    for (let i = 0; i < 200_000; i++) {
      const row = rowWithoutAnswer({ id: `id${i}`, path: `t/${i}.txt`, kind: 'text', model: 'm' }, 'failed', i % 4 === 0 ? 'timeout' : 'server_error', 'x');
      lines.push(jsonlFormat.line(flatten(i % 2 ? { ...row, status: 'ok', error_code: '', error_message: '', answers: [`answer ${i}`] } : row, layout), columnsFor(layout)));
    }
    await writeFile(out, lines.join(''));
    const review = await startReview(out, dir);
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(review.url);
    await page.locator('article.card').first().waitFor();
    assert.equal(await page.locator('article.card').count(), 48);
    assert.match((await page.locator('#summary').textContent()) ?? '', /^200000 of 200000 rows/);
    assert.match((await page.locator('select[data-filter="code"] option[value="timeout"]').textContent()) ?? '', /timeout \(50000\)/);
    await page.locator('#more').scrollIntoViewIfNeeded();
    await waitFor(async () => (await page.locator('article.card').count()) >= 96, 'the next page');
    await page.locator('select[data-filter="code"]').selectOption('timeout');
    await waitFor(async () => /^50000 of 200000 rows/.test((await page.locator('#summary').textContent()) ?? ''), 'the filtered count');
    assert.equal(await page.locator('article.card').first().getAttribute('data-path'), 't/0.txt');
    assert.equal(await page.locator('article.card').nth(1).getAttribute('data-path'), 't/4.txt');
    await page.close();
    await review.stop();
  });
});

describe('omni-batch review: bad outputs', () => {
  test('an output that does not exist, or a CSV that is not an omni-batch output: one line, exit 2', async () => {
    const dir = await tempDir();
    const missing = await runMain(['review', 'nope.csv'], { cwd: dir });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^omni-batch: .*nope\.csv: not found/);
    assert.equal(missing.stderr.trim().split('\n').length, 1);
    await writeFile(path.join(dir, 'people.csv'), 'name,age\nada,36\n');
    const foreign = await runMain(['review', 'people.csv'], { cwd: dir });
    assert.equal(foreign.code, 2);
    assert.match(foreign.stderr, /people\.csv: not an omni-batch output/);
  });
});

describe('omni-batch review: a distributed run', () => {
  test('an edit of a collected output survives collecting again and enqueueing again with another prompt', { timeout: 180_000 }, async () => {
    const redis = await startRedis();
    after(() => redis.close());
    const dir = await tempDir();
    await mkdir(path.join(dir, 'media'));
    for (const n of ['a', 'b', 'c']) await writeFile(path.join(dir, 'media', `${n}.txt`), `text ${n}`);
    const worker = runCli(['worker', '--redis', redis.url, '--concurrency', '2'], { env: env(), timeoutMs: 170_000, onSpawn: (c) => after(() => void c.kill('SIGTERM')) });
    worker.catch(() => undefined);
    const c = redis.client();
    const pass = async (prompt: string) => {
      const e = await runMain(['enqueue', '--input', 'media', '--prompt', prompt, '--out', 'out.jsonl', '--redis', redis.url, '--base-url', api.baseURL], { cwd: dir });
      assert.equal(e.code, 0, e.stderr);
      const runId = e.stdout.trim();
      await waitFor(async () => (await c.scard(`{omni-batch}:run:${runId}:pending`)) === 0, 'the jobs', 60_000);
      const col = await runMain(['collect', runId, '--redis', redis.url], { cwd: dir });
      assert.equal(col.code, 0, col.stderr);
    };
    await pass('Read {{file.name}}');
    const review = await startReview('out.jsonl', dir);
    const page = JSON.parse((await http(`${review.url}api/rows`)).body.toString()) as { version: string; rows: { n: number; path: string }[] };
    const b = page.rows.find((r) => r.path === 'media/b.txt');
    assert.ok(b);
    const saved = await http(`${review.url}api/rows/${b.n}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: page.version, path: b.path, answers: ['checked by hand'] }) });
    assert.equal(saved.status, 200, saved.body.toString());
    await review.stop();
    const from = api.requests.length;
    await pass('Summarize {{file.name}}');
    const asked = api.requests.slice(from).map((r) => JSON.stringify(r.body?.messages ?? ''));
    assert.equal(asked.filter((t) => t.includes('Summarize')).length, 2, 'a.txt and c.txt asked again, b.txt not');
    const rows = await readOutputRows(path.join(dir, 'out.jsonl'));
    const row = rows.find((r) => r.path === 'media/b.txt');
    assert.equal(row?.answer, 'checked by hand');
    assert.equal(row?.reviewed, true);
    assert.ok(rows.filter((r) => r.path !== 'media/b.txt').every((r) => r.reviewed === null && /Summarize/.test(r.answer)));
  });
});

describe('omni-batch review over HTTP', () => {
  test('an edit leaves an existing sidecar alone, even one omni-batch wrote, as the README says; the note says so', { timeout: 120_000 }, async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'media'));
    for (const n of ['a', 'b']) await writeFile(path.join(dir, 'media', `${n}.txt`), `text ${n}`);
    const r = await runMain(['run', '--input', 'media', '--prompt', 'Read {{file.name}}', '--out', 'out.jsonl', '--sidecar', 'json', '--sidecar-skip-existing'], { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const sidecar = path.join(dir, 'media', 'a.json');
    const written = await readFile(sidecar, 'utf8');
    const review = await startReview('out.jsonl', dir);
    const page = JSON.parse((await http(`${review.url}api/rows`)).body.toString()) as { version: string; rows: { n: number; path: string }[] };
    const a = page.rows.find((x) => x.path === 'media/a.txt');
    assert.ok(a);
    const saved = await http(`${review.url}api/rows/${a.n}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ version: page.version, path: a.path, answers: ['checked by hand'] }) });
    assert.equal(saved.status, 200, saved.body.toString());
    assert.match(saved.body.toString(), /sidecars \(\.json\): .*existing/, 'the note says the existing sidecar was kept');
    await review.stop();
    assert.equal((await readOutputRows(path.join(dir, 'out.jsonl'))).find((x) => x.path === 'media/a.txt')?.answer, 'checked by hand');
    assert.equal(await readFile(sidecar, 'utf8'), written, 'the sidecar omni-batch wrote is left as it was');
  });

  test('a foreign Host header (DNS rebinding) is refused: 403, nothing read or saved; --allow-host lets that name in', { timeout: 120_000 }, async () => {
    const dir = await tempDir();
    await mkdir(path.join(dir, 'media'));
    await writeFile(path.join(dir, 'media', 'a.txt'), 'text a');
    const r = await runMain(['run', '--input', 'media', '--prompt', 'Read {{file.name}}', '--out', 'out.jsonl'], { env: env(), cwd: dir });
    assert.equal(r.code, 0, r.stderr);
    const out = path.join(dir, 'out.jsonl');
    const before = await readFile(out, 'utf8');
    const review = await startReview('out.jsonl', dir);
    const ok = JSON.parse((await http(`${review.url}api/rows`)).body.toString()) as { version: string; rows: { n: number; path: string }[] };
    const row = ok.rows[0];
    assert.ok(row);
    const foreign = { host: 'evil.example' };
    const read = await http(`${review.url}api/rows`, { headers: foreign });
    assert.equal(read.status, 403);
    assert.match(read.body.toString(), /this Host \(evil\.example\) is refused/);
    assert.doesNotMatch(read.body.toString(), /Read a\.txt|media\/a\.txt/, 'no row in the refusal');
    assert.equal((await http(`${review.url}media?path=media%2Fa.txt`, { headers: foreign })).status, 403);
    const save = await http(`${review.url}api/rows/${row.n}`, { method: 'POST', headers: { ...foreign, 'content-type': 'application/json' }, body: JSON.stringify({ version: ok.version, path: row.path, answers: ['rebound'] }) });
    assert.equal(save.status, 403);
    assert.equal(await readFile(out, 'utf8'), before, 'nothing saved');
    await review.stop();
    const allowed = await startReview('out.jsonl', dir, ['--allow-host', 'tunnel.example']);
    assert.equal((await http(`${allowed.url}api/rows`, { headers: { host: 'tunnel.example:8080' } })).status, 200);
    assert.equal((await http(`${allowed.url}api/rows`, { headers: foreign })).status, 403);
    await allowed.stop();
  });
});
