// DashScope's temporary-file flow (MODELS-2026.md section 5), as the stand-in serves it:
//   GET  /api/v1/uploads?action=getPolicy&model=M   (Bearer key)  -> { request_id, data: { upload_host, ... } }
//   POST <upload_host> multipart (OSSAccessKeyId, Signature, policy, x-oss-object-acl, x-oss-forbid-overwrite,
//        key=<upload_dir>/<name>, success_action_status=200, file)  -> 200, empty body
//   oss://<key> in a chat request resolves only with `X-DashScope-OssResourceResolve: enable`, only for the model the
//   policy was issued for, and only for 48 h after the upload (by the clock the stand-in is given).
// The signature is an HMAC-SHA1 of the policy, as OSS's PostObject v1 signs it, so a field changed on the way fails.
import { createHmac, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { ApiError, errors, invalidParameter } from './errors.js';
import { resolveModel } from './models.js';

/** How long an uploaded file can be used (documented: 48 h). */
export const UPLOAD_VALID_MS = 48 * 3600 * 1000;
/** The documented size cap of one temporary file: 1 GB. */
export const UPLOAD_MAX_BYTES = 1024 * 1024 * 1024;
/** How long a policy may be used to upload (the real one says `expire_in_seconds: 300`). */
const POLICY_VALID_MS = 300 * 1000;
export const POLICY_PATH = '/api/v1/uploads';
export const UPLOAD_HOST_PATH = '/oss-upload';
export const RESOLVE_HEADER = 'x-dashscope-ossresourceresolve';

interface Issued {
  readonly model: string;
  readonly dir: string;
  readonly expiresAt: number;
}

interface Stored {
  readonly bytes: Buffer;
  readonly model: string;
  readonly uploadedAt: number;
}

export interface UploadOptions {
  /** Milliseconds since the epoch; a test hands in its manual clock to move past the 48 h. Default Date.now. */
  readonly now?: () => number;
  /** Size cap of one upload in bytes. Default 1 GB. */
  readonly maxBytes?: number;
  /** A status to answer the n-th (1-based) policy request or upload with instead (a 503, a 429); default none. */
  readonly fail?: ((step: 'policy' | 'upload', n: number) => number | undefined) | undefined;
}

/** What a multipart POST to the upload host carried, in the order OSS checks it. */
interface PostForm {
  readonly fields: Map<string, string>;
  readonly file: Blob | undefined;
}

export class UploadService {
  private readonly secret = randomUUID();
  private readonly accessKeyId = `LTAI-stand-in-${randomUUID().slice(0, 8)}`;
  private readonly issued = new Map<string, Issued>();
  private readonly objects = new Map<string, Stored>();
  /** Counts for tests: policies issued, files stored. */
  policies = 0;
  uploads = 0;
  private policyRequests = 0;
  private uploadRequests = 0;

  constructor(private readonly opts: UploadOptions = {}) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Whether a request is for the upload API or the upload host (the chat route handles everything else). */
  static handles(path: string): boolean {
    return path === POLICY_PATH || path.startsWith(UPLOAD_HOST_PATH);
  }

  /** GET /api/v1/uploads?action=getPolicy&model=M: a policy to upload one file for that model. */
  policy(url: URL, origin: string, authorized: boolean): { status: number; body: string } {
    if (!authorized) return apiError(errors.badKey());
    const failed = this.opts.fail?.('policy', ++this.policyRequests);
    if (failed) return apiError(failed === 429 ? errors.rpm(1) : failed >= 500 ? errors.unavailable() : invalidParameter('The model does not support file upload'));
    const model = url.searchParams.get('model') ?? '';
    if (url.searchParams.get('action') !== 'getPolicy') return apiError(invalidParameter('action must be getPolicy'));
    if (!resolveModel(model)) return apiError(errors.modelNotFound());
    const dir = `dashscope-instant/stand-in/${new Date(this.now()).toISOString().slice(0, 10)}/${randomUUID()}`;
    const expiresAt = this.now() + POLICY_VALID_MS;
    const max = this.opts.maxBytes ?? UPLOAD_MAX_BYTES;
    const policy = Buffer.from(JSON.stringify({ expiration: new Date(expiresAt).toISOString(), conditions: [['content-length-range', 0, max], ['starts-with', '$key', dir]] })).toString('base64');
    this.issued.set(policy, { model, dir, expiresAt });
    this.policies++;
    const data = {
      policy,
      signature: this.sign(policy),
      upload_dir: dir,
      upload_host: `${origin}${UPLOAD_HOST_PATH}`,
      expire_in_seconds: POLICY_VALID_MS / 1000,
      max_file_size_mb: Math.floor(max / 1024 / 1024),
      capacity_limit_mb: 999_999_999,
      oss_access_key_id: this.accessKeyId,
      x_oss_object_acl: 'private',
      x_oss_forbid_overwrite: 'true',
    };
    return { status: 200, body: JSON.stringify({ request_id: randomUUID(), data }) };
  }

  /** POST to the upload host: checks the signed form as OSS would, stores the file. OSS answers errors in XML. */
  async receive(req: IncomingMessage): Promise<{ status: number; body: string }> {
    const failed = this.opts.fail?.('upload', ++this.uploadRequests);
    if (failed) {
      for await (const _ of req) void _;
      return ossError(failed, failed === 503 ? 'ServiceUnavailable' : 'InternalError', 'Please try again.');
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    const max = this.opts.maxBytes ?? UPLOAD_MAX_BYTES;
    // Refused before reading: the body is far over the cap (the form adds a few hundred bytes).
    if (declared > max + 64 * 1024) return ossError(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size.');
    let form: PostForm;
    try {
      form = await readForm(req);
    } catch {
      return ossError(400, 'MalformedPOSTRequest', 'The body of your POST request is not well-formed multipart/form-data.');
    }
    const f = form.fields;
    const policy = f.get('policy') ?? '';
    const issued = this.issued.get(policy);
    if (f.get('OSSAccessKeyId') !== this.accessKeyId || !issued) return ossError(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.');
    if (f.get('Signature') !== this.sign(policy)) return ossError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    if (this.now() > issued.expiresAt) return ossError(403, 'AccessDenied', 'Invalid according to Policy: Policy expired.');
    const key = f.get('key') ?? '';
    if (!key.startsWith(`${issued.dir}/`) || key.length <= issued.dir.length + 1) return ossError(403, 'AccessDenied', 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", ...]');
    if (f.get('x-oss-object-acl') !== 'private' || f.get('x-oss-forbid-overwrite') !== 'true') return ossError(403, 'AccessDenied', 'Invalid according to Policy: Extra input fields: x-oss-object-acl / x-oss-forbid-overwrite');
    if (!form.file) return ossError(400, 'InvalidArgument', 'The file field is missing.');
    if (form.file.size > max) return ossError(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size.');
    if (this.objects.has(key)) return ossError(409, 'FileAlreadyExists', 'The object you specified already exists and can not be overwritten.');
    this.objects.set(key, { bytes: Buffer.from(await form.file.arrayBuffer()), model: issued.model, uploadedAt: this.now() });
    this.uploads++;
    return { status: f.get('success_action_status') === '200' ? 200 : 204, body: '' };
  }

  /**
   * The bytes of `oss://<key>` for a chat request of `model`. Without the resolve header the URL is not a URL the
   * API knows (its documented 400); unknown, expired or of another model: a 400 in DashScope's error shape (the
   * wording of that 400 is not documented: inferred).
   */
  resolve(url: string, model: string, resolveHeader: boolean): Buffer {
    if (!resolveHeader) throw invalidParameter('The provided URL does not appear to be valid');
    const stored = this.objects.get(url.slice('oss://'.length));
    if (!stored || this.now() > stored.uploadedAt + UPLOAD_VALID_MS) throw invalidParameter(`Failed to download multimodal content: ${url} does not exist or has expired`);
    if (stored.model !== model) throw invalidParameter(`Failed to download multimodal content: ${url} was uploaded for another model`);
    return stored.bytes;
  }

  private sign(policy: string): string {
    return createHmac('sha1', this.secret).update(policy).digest('base64');
  }
}

async function readForm(req: IncomingMessage): Promise<PostForm> {
  const headers = new Headers();
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers.set(k, v);
  const body = Readable.toWeb(req) as ReadableStream<Uint8Array>;
  const data = await new Request('http://stand-in/', { method: 'POST', headers, body, duplex: 'half' }).formData();
  const fields = new Map<string, string>();
  let file: Blob | undefined;
  for (const [k, v] of data.entries()) {
    if (typeof v === 'string') fields.set(k, v);
    else if (k === 'file') file = v;
  }
  return { fields, file };
}

function apiError(e: ApiError): { status: number; body: string } {
  return { status: e.status, body: e.body() };
}

function ossError(status: number, code: string, message: string): { status: number; body: string } {
  return { status, body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>${code}</Code>\n  <Message>${message}</Message>\n  <RequestId>${randomUUID()}</RequestId>\n</Error>\n` };
}

/** Writes a reply of the upload routes. */
export function writeUploadReply(res: ServerResponse, reply: { status: number; body: string }): void {
  const type = reply.body.startsWith('<?xml') ? 'application/xml' : 'application/json';
  res.writeHead(reply.status, reply.body ? { 'content-type': type } : {});
  res.end(reply.body);
}
