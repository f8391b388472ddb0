/**
 * Where uploads are remembered: the file beside the output survives a new process (a rerun), and the Redis hash of a
 * distributed run lets a second worker reuse what the first uploaded, on a real redis-server and the stand-in.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runKeys } from '../src/engine/bullmq/keys.js';
import { RedisUploadCache } from '../src/engine/bullmq/upload-cache.js';
import { FileUploadCache, UPLOAD_VALID_MS } from '../src/shared/output/upload-cache.js';
import { uploadedUrl } from '../src/worker/upload.js';
import { tempDir } from './helpers.js';
import { startRedis, type TestRedis } from './redis-server.js';
import { startStandIn, type StandIn } from './stand-in/server.js';

const KEY = 'sk-SENTINEL-upload-cache-55e0c1f9a2';

let api: StandIn;
let redis: TestRedis;
before(async () => {
  [api, redis] = await Promise.all([startStandIn({ apiKey: KEY }), startRedis()]);
});
after(async () => {
  await Promise.all([api.close(), redis.close()]);
});

describe('remembered uploads', () => {
  test('two workers of one distributed run upload a file once: the second finds it in the run\'s Redis hash', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'call.mp3');
    await writeFile(file, Buffer.alloc(64 * 1024, 3));
    const now = () => 1_800_000_000_000;
    const worker = (cache: RedisUploadCache) => ({ apiKey: KEY, baseURL: api.baseURL, cache, now });
    const before = api.uploads.uploads;
    const a = await uploadedUrl(worker(new RedisUploadCache(redis.client(), 'run-1')), file, 'qwen3.5-omni-flash', 'call.mp3');
    const b = await uploadedUrl(worker(new RedisUploadCache(redis.client(), 'run-1')), file, 'qwen3.5-omni-flash', 'call.mp3');
    assert.equal(a.reused, false);
    assert.deepEqual(b, { url: a.url, reused: true });
    assert.equal(api.uploads.uploads - before, 1, 'one upload for both workers');
    // Another model is another upload: a temporary file is bound to the model it was uploaded for.
    const c = await uploadedUrl(worker(new RedisUploadCache(redis.client(), 'run-1')), file, 'qwen3.5-omni-plus', 'call.mp3');
    assert.equal(c.reused, false);
    assert.notEqual(c.url, a.url);
    const client = redis.client();
    const stored = JSON.stringify(await client.hgetall(runKeys('run-1').uploads));
    assert.match(stored, /oss:\/\/dashscope-instant\//);
    assert.doesNotMatch(stored, /ignature|OSSAccessKeyId|policy|LTAI/);
    assert.ok(!stored.includes(KEY));
    const ttl = await client.pttl(runKeys('run-1').uploads);
    assert.ok(ttl > 0 && ttl <= UPLOAD_VALID_MS, `the hash expires with its uploads (pttl ${ttl})`);
  });

  test('the file beside the output is read by a new process, and drops uploads that are gone', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'out.csv.uploads.json');
    const first = new FileUploadCache(file);
    await first.put('m:old', { url: 'oss://a/old.mp3', uploadedAt: 1_000 });
    await first.put('m:new', { url: 'oss://a/new.mp3', uploadedAt: 1_000 + UPLOAD_VALID_MS + 1 });
    const again = new FileUploadCache(file);
    assert.deepEqual(await again.get('m:new'), { url: 'oss://a/new.mp3', uploadedAt: 1_000 + UPLOAD_VALID_MS + 1 });
    assert.equal(await again.get('m:old'), undefined, 'an upload past its 48 h is not kept');
    await writeFile(file, 'not json');
    assert.equal(await new FileUploadCache(file).get('m:new'), undefined, 'an unreadable file remembers nothing (files are uploaded again)');
    assert.match(await readFile(file, 'utf8'), /not json/);
  });

  test('the stand-in\'s upload host refuses a changed signature, an expired policy, a key outside its folder, an overwrite and a file over its cap', async () => {
    let now = 1_800_000_000_000;
    const small = await startStandIn({ apiKey: KEY, uploads: { now: () => now, maxBytes: 1000 } });
    try {
      const origin = new URL(small.baseURL).origin;
      const policyRes = await fetch(`${origin}/api/v1/uploads?action=getPolicy&model=qwen3.5-omni-flash`, { headers: { Authorization: `Bearer ${KEY}` } });
      assert.equal(policyRes.status, 200);
      const p = ((await policyRes.json()) as { data: Record<string, string> }).data;
      const post = async (change: Record<string, string>, bytes = 10) => {
        const fields: Record<string, string> = { OSSAccessKeyId: p.oss_access_key_id ?? '', Signature: p.signature ?? '', policy: p.policy ?? '', 'x-oss-object-acl': p.x_oss_object_acl ?? '', 'x-oss-forbid-overwrite': p.x_oss_forbid_overwrite ?? '', key: `${p.upload_dir}/a.mp3`, success_action_status: '200', ...change };
        const form = new FormData();
        for (const [k, v] of Object.entries(fields)) form.append(k, v);
        form.append('file', new Blob([Buffer.alloc(bytes, 1)]), 'a.mp3');
        const res = await fetch(p.upload_host ?? '', { method: 'POST', body: form });
        return `${res.status} ${/<Code>([^<]+)/.exec(await res.text())?.[1] ?? ''}`.trim();
      };
      assert.equal(await post({ Signature: 'AAAA' }), '403 SignatureDoesNotMatch');
      assert.equal(await post({ key: 'elsewhere/a.mp3' }), '403 AccessDenied');
      assert.equal(await post({}, 1001), '400 EntityTooLarge');
      assert.equal(await post({}), '200');
      assert.equal(await post({}), '409 FileAlreadyExists');
      assert.equal((await fetch(`${origin}/api/v1/uploads?action=getPolicy&model=qwen3.5-omni-flash`)).status, 401, 'no key, no policy');
      now += 301_000;
      assert.equal(await post({ key: `${p.upload_dir}/b.mp3` }), '403 AccessDenied', 'a policy lasts 300 s');
    } finally {
      await small.close();
    }
  });
});
