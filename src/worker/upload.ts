/**
 * DashScope's temporary-file flow (MODELS-2026.md section 5) for local media over the data-URL cap: ask the upload
 * API of the run's host for a policy for the model, POST the file to the storage host it names (multipart, streamed
 * from disk with Node's own FormData and a file-backed Blob: a 1 GB file is never held in memory), and send
 * `oss://<key>` with the `X-DashScope-OssResourceResolve: enable` header.
 *
 * A file is uploaded once per content hash and model and reused while its 48 h last (less a margin, by the injected
 * clock), through an UploadCache the engine hands in: a file beside the output in-process, a Redis hash under the
 * run's keys for BullMQ workers. The policy's signed fields and the key are never logged, stored or put in an error.
 */
import { createHash } from 'node:crypto';
import { createReadStream, openAsBlob } from 'node:fs';
import path from 'node:path';
import { OmniError } from '../shared/errors.js';
import { UPLOAD_VALID_MS, type UploadCache, type UploadRecord } from '../shared/output/upload-cache.js';

export type { UploadCache, UploadRecord } from '../shared/output/upload-cache.js';

/** The header that makes the API resolve `oss://` URLs (the DashScope SDK adds it itself; we call over HTTP). */
export const OSS_RESOLVE_HEADER = 'X-DashScope-OssResourceResolve';
/**
 * An upload is reused only while this much of its validity is left: a request that waits out rate limits and
 * retries must not reach the API after the file is gone.
 */
export const UPLOAD_REUSE_MARGIN_MS = 3600 * 1000;

/** Who uploads: the run's API key and base URL (the client's), and what tells time and stops it. */
export interface UploadParty {
  readonly apiKey: string;
  readonly baseURL: string;
  readonly cache: UploadCache;
  readonly now: () => number;
  readonly signal?: AbortSignal | undefined;
}

/**
 * The upload API's URL for a compatible-mode base URL: `https://host/compatible-mode/v1` -> `https://host/api/v1/uploads`
 * (the same host; for a base URL without `/compatible-mode/`, the host's root).
 */
export function uploadsUrl(baseURL: string): string {
  const u = new URL(baseURL);
  const at = u.pathname.indexOf('/compatible-mode/');
  const root = at >= 0 ? u.pathname.slice(0, at) : '';
  return `${u.origin}${root}/api/v1/uploads`;
}

/** The cache key of a file for a model: the SHA-256 of its bytes (streamed) and the model name. */
export async function uploadKey(file: string, model: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return `${model}:${hash.digest('hex')}`;
}

/** Whether a remembered upload may still be sent at `now`. */
export function stillValid(record: UploadRecord, now: number): boolean {
  return now < record.uploadedAt + UPLOAD_VALID_MS - UPLOAD_REUSE_MARGIN_MS;
}

/** Uploads in flight in this process, by cache key: two jobs of one file share one upload. */
const inFlight = new Map<string, Promise<UploadRecord>>();

/**
 * The `oss://` URL of `file` for `model`: remembered (unless `fresh`), or uploaded now (and remembered). `label` names the file in
 * errors. Errors are OmniErrors: retried codes (rate_limited, server_error, network_error) for what may pass,
 * `upload_failed` for a refusal, `auth_failed` for a refused key.
 */
export async function uploadedUrl(party: UploadParty, file: string, model: string, label: string, fresh = false): Promise<{ url: string; reused: boolean }> {
  const key = await uploadKey(file, model);
  // fresh: the remembered upload was refused by the API; a new one replaces it.
  const known = fresh ? undefined : await party.cache.get(key);
  if (known && stillValid(known, party.now())) return { url: known.url, reused: true };
  let pending = inFlight.get(key);
  if (!pending) {
    pending = upload(party, file, model, label, key).finally(() => inFlight.delete(key));
    inFlight.set(key, pending);
  }
  const record = await pending;
  return { url: record.url, reused: false };
}

async function upload(party: UploadParty, file: string, model: string, label: string, key: string): Promise<UploadRecord> {
  const policy = await requestPolicy(party, model, label);
  const url = await postFile(policy, file, `${key.slice(-16)}${path.extname(file)}`, label, party.signal);
  const record = { url, uploadedAt: party.now() };
  await party.cache.put(key, record);
  return record;
}

/** The fields of a policy (the answer's `data`); `policy`, `signature` and `oss_access_key_id` are secret-ish. */
interface Policy {
  readonly upload_host: string;
  readonly upload_dir: string;
  readonly policy: string;
  readonly signature: string;
  readonly oss_access_key_id: string;
  readonly x_oss_object_acl: string;
  readonly x_oss_forbid_overwrite: string;
}

const POLICY_FIELDS = ['upload_host', 'upload_dir', 'policy', 'signature', 'oss_access_key_id', 'x_oss_object_acl', 'x_oss_forbid_overwrite'] as const;

async function requestPolicy(party: UploadParty, model: string, label: string): Promise<Policy> {
  const url = `${uploadsUrl(party.baseURL)}?action=getPolicy&model=${encodeURIComponent(model)}`;
  const res = await call(label, 'the upload policy', () => fetch(url, { headers: { Authorization: `Bearer ${party.apiKey}` }, signal: party.signal ?? null }));
  const text = await res.text();
  if (!res.ok) throw httpError(label, 'the upload policy', res.status, apiMessage(text), res.headers);
  let data: Partial<Record<(typeof POLICY_FIELDS)[number], unknown>> | undefined;
  try {
    data = (JSON.parse(text) as { data?: typeof data }).data;
  } catch {
    data = undefined;
  }
  const missing = POLICY_FIELDS.filter((f) => typeof data?.[f] !== 'string');
  if (!data || missing.length) throw new OmniError('upload_failed', `${label}: the upload policy answer lacks ${missing.join(', ') || 'data'}`);
  return data as Policy;
}

async function postFile(policy: Policy, file: string, name: string, label: string, signal: AbortSignal | undefined): Promise<string> {
  const key = `${policy.upload_dir}/${name}`;
  const form = new FormData();
  form.append('OSSAccessKeyId', policy.oss_access_key_id);
  form.append('Signature', policy.signature);
  form.append('policy', policy.policy);
  form.append('x-oss-object-acl', policy.x_oss_object_acl);
  form.append('x-oss-forbid-overwrite', policy.x_oss_forbid_overwrite);
  form.append('key', key);
  form.append('success_action_status', '200');
  // Last, as OSS wants it; a Blob backed by the file, read as it is sent.
  form.append('file', await openAsBlob(file), name);
  const res = await call(label, 'the upload', () => fetch(policy.upload_host, { method: 'POST', body: form, signal: signal ?? null }));
  const text = await res.text();
  if (!res.ok) throw httpError(label, 'the upload', res.status, ossMessage(text), res.headers);
  return `oss://${key}`;
}

async function call(label: string, what: string, send: () => Promise<Response>): Promise<Response> {
  try {
    return await send();
  } catch (err) {
    if (err instanceof Error && err.name === 'AbortError') throw new OmniError('interrupted', 'stopped by the user', { cause: err });
    const reason = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new OmniError('network_error', `${label}: ${what} failed to connect (${reason})`, { cause: err });
  }
}

function httpError(label: string, what: string, status: number, detail: string, headers: Headers): OmniError {
  const message = `${label}: ${what} was refused: HTTP ${status}${detail ? ` ${detail}` : ''}`;
  const retry = Number(headers.get('retry-after'));
  const opt = { status, retryAfterMs: Number.isFinite(retry) && retry > 0 ? retry * 1000 : undefined };
  if (status === 401) return new OmniError('auth_failed', message, opt);
  if (status === 429) return new OmniError('rate_limited', message, opt);
  if (status >= 500) return new OmniError('server_error', message, opt);
  return new OmniError('upload_failed', message, opt);
}

/** `code message` of a DashScope error body; never the body itself. */
function apiMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown }; code?: unknown; message?: unknown };
    const e = body.error ?? body;
    return [e.code, e.message].filter((v) => typeof v === 'string').join(' ').slice(0, 300);
  } catch {
    return '';
  }
}

/** `Code: Message` of OSS's XML error; nothing else of it (it may echo the signed fields). */
function ossMessage(text: string): string {
  const code = /<Code>([^<]*)<\/Code>/.exec(text)?.[1];
  const message = /<Message>([^<]*)<\/Message>/.exec(text)?.[1];
  return [code, message].filter(Boolean).join(': ').slice(0, 300);
}
