// DashScope's OpenAI-compatible Batch API: files (purpose=batch) and batches, with the documented limits
// (MODELS-2026.md section 4). Each request line is validated exactly as a real-time request is (validate.ts, with
// the batch rule that `stream` must not be set) and answered with the same scripted answer and usage the
// streaming path would give it, so a batch run and a real-time run of the same job can be compared row by row.
// Time does not pass by itself: a batch moves one status on each retrieve (default) or on `step()` calls.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { ApiError, errors, invalidParameter } from './errors.js';
import { buildCompletion } from './sse.js';
import type { ChatRequestSummary } from './types.js';
import { validateChatRequest, type ValidateOptions } from './validate.js';

export const BATCH_FILE_LIMITS = { bytesPerFile: 500 * 1024 * 1024, linesPerFile: 50_000, bytesPerLine: 6 * 1024 * 1024 } as const;
const ENDPOINT = '/v1/chat/completions';
const TERMINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);

export type BatchStatus = 'validating' | 'in_progress' | 'finalizing' | 'completed' | 'failed' | 'expired' | 'cancelling' | 'cancelled';

/** Switches that make batches misbehave. Every predicate gets the batch's 1-based creation number. */
export interface BatchSwitches {
  /** `retrieve` (default): every GET of a batch moves it one status on; `manual`: only `step()` does. */
  advance?: 'retrieve' | 'manual';
  /** The batch expires while in progress (no output, as DashScope gives no partial results). */
  expire?: (n: number) => boolean;
  /** The whole batch fails while validating. */
  failWhole?: (n: number) => boolean;
  /** These requests fail with a 500 line in the error file. */
  failLine?: (customId: string) => boolean;
  /** These requests are in neither the output nor the error file. */
  dropLine?: (customId: string) => boolean;
}

export interface BatchServiceOptions {
  answer?: ((req: ChatRequestSummary) => string) | undefined;
  urlFail?: ((url: string) => boolean) | undefined;
  extraModels?: ValidateOptions['extraModels'];
  batch?: BatchSwitches | undefined;
}

interface StoredFile {
  id: string;
  object: 'file';
  bytes: number;
  created_at: number;
  filename: string;
  purpose: string;
  status: 'processed';
  content: string;
}

interface Batch {
  id: string;
  object: 'batch';
  n: number;
  endpoint: string;
  errors: { object: 'list'; data: { code: string; message: string; line: number | null; param: null }[] } | null;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  metadata: Record<string, string> | null;
  /** Parsed lines, once validated. */
  lines?: { custom_id: string; body: unknown }[];
  /** The output and error lines, once run. */
  results?: { output: string[]; errors: string[] };
}

export interface Reply {
  status: number;
  body: string;
  contentType?: string;
}

const now = () => Math.floor(Date.now() / 1000);
const json = (status: number, value: unknown): Reply => ({ status, body: JSON.stringify(value) });
const fail = (e: ApiError): Reply => ({ status: e.status, body: e.body() });

/** `24h` .. `336h` (or `1d` .. `14d`), as completion_window takes. */
function windowHours(text: unknown): number | undefined {
  const m = typeof text === 'string' ? /^(\d+)(h|d)$/.exec(text) : null;
  if (!m) return undefined;
  return Number(m[1]) * (m[2] === 'd' ? 24 : 1);
}

export class BatchService {
  readonly files = new Map<string, StoredFile>();
  readonly batches = new Map<string, Batch>();
  /** Files uploaded (purpose=batch), for a test that proves a resumed run uploads nothing again. */
  uploads = 0;
  /** Retrieves of one batch, for a test that waits until a run is following its batches. */
  retrieves = 0;

  constructor(private readonly options: () => BatchServiceOptions) {}

  /** True for the paths this service answers. */
  static handles(path: string): boolean {
    return /\/(files|batches)(\/|$)/.test(path);
  }

  async serve(method: string, path: string, req: IncomingMessage, raw: string): Promise<Reply> {
    const parts = path.slice(path.search(/\/(files|batches)(\/|$)/) + 1).split('/');
    const [kind, id, action] = parts;
    if (kind === 'files') return this.fileRoute(method, id, action, req, raw);
    return this.batchRoute(method, id, action, raw);
  }

  /** Every batch not settled moves one status on (the injected clock of a test). */
  async step(): Promise<void> {
    for (const b of this.batches.values()) await this.advance(b);
  }

  private async fileRoute(method: string, id: string | undefined, action: string | undefined, req: IncomingMessage, raw: string): Promise<Reply> {
    if (method === 'POST' && id === undefined) return this.upload(req, raw);
    const file = id === undefined ? undefined : this.files.get(id);
    if (!file) return fail(new ApiError(404, 'not_found', 'invalid_request_error', `File not found: ${id ?? ''}`));
    if (method === 'GET' && action === 'content') return { status: 200, body: file.content, contentType: 'application/octet-stream' };
    if (method === 'GET' && action === undefined) return json(200, publicFile(file));
    if (method === 'DELETE') {
      this.files.delete(file.id);
      return json(200, { id: file.id, object: 'file', deleted: true });
    }
    return fail(errors.notFound(method, `/files/${id ?? ''}`));
  }

  private async upload(req: IncomingMessage, raw: string): Promise<Reply> {
    const type = req.headers['content-type'] ?? '';
    if (!type.startsWith('multipart/form-data')) return fail(invalidParameter('files: expected multipart/form-data'));
    const form = await new Request('http://stand-in/', { method: 'POST', headers: { 'content-type': type }, body: Buffer.from(raw, 'utf8') }).formData();
    const purpose = form.get('purpose');
    const file = form.get('file');
    if (purpose !== 'batch') return fail(invalidParameter(`purpose: expected "batch", received ${JSON.stringify(purpose)}`));
    if (!(file instanceof Blob)) return fail(invalidParameter('file: missing'));
    if (file.size > BATCH_FILE_LIMITS.bytesPerFile) return fail(invalidParameter(`File size exceeds the limit of ${BATCH_FILE_LIMITS.bytesPerFile} bytes`));
    const stored: StoredFile = {
      id: `file-batch-${randomUUID()}`,
      object: 'file',
      bytes: file.size,
      created_at: now(),
      filename: (file as File).name || 'upload.jsonl',
      purpose: 'batch',
      status: 'processed',
      content: await file.text(),
    };
    this.files.set(stored.id, stored);
    this.uploads++;
    return json(200, publicFile(stored));
  }

  private async batchRoute(method: string, id: string | undefined, action: string | undefined, raw: string): Promise<Reply> {
    if (method === 'POST' && id === undefined) return this.create(raw);
    if (method === 'GET' && id === undefined) {
      const data = [...this.batches.values()].reverse().map(publicBatch);
      return json(200, { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: false });
    }
    const batch = id === undefined ? undefined : this.batches.get(id);
    if (!batch) return fail(new ApiError(404, 'not_found', 'invalid_request_error', `Batch not found: ${id ?? ''}`));
    if (method === 'GET' && action === undefined) {
      this.retrieves++;
      if ((this.options().batch?.advance ?? 'retrieve') === 'retrieve') await this.advance(batch);
      return json(200, publicBatch(batch));
    }
    if (method === 'POST' && action === 'cancel') {
      if (TERMINAL.has(batch.status) || batch.status === 'cancelling') return fail(invalidParameter(`Cannot cancel a batch with status ${batch.status}`));
      batch.status = 'cancelling';
      batch.cancelling_at = now();
      return json(200, publicBatch(batch));
    }
    return fail(errors.notFound(method, `/batches/${id ?? ''}`));
  }

  private create(raw: string): Reply {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch (e) {
      return fail(errors.badJson((e as Error).message));
    }
    const input = typeof body['input_file_id'] === 'string' ? this.files.get(body['input_file_id']) : undefined;
    if (!input || input.purpose !== 'batch') return fail(invalidParameter(`input_file_id: no batch file ${JSON.stringify(body['input_file_id'])}`));
    if (body['endpoint'] !== ENDPOINT) return fail(invalidParameter(`endpoint: expected ${ENDPOINT}, received ${JSON.stringify(body['endpoint'])}`));
    const hours = windowHours(body['completion_window']);
    if (hours === undefined || hours < 24 || hours > 336) return fail(invalidParameter(`completion_window: expected 24h to 336h, received ${JSON.stringify(body['completion_window'])}`));
    const batch: Batch = {
      id: `batch_${randomUUID()}`,
      object: 'batch',
      n: this.batches.size + 1,
      endpoint: ENDPOINT,
      errors: null,
      input_file_id: input.id,
      completion_window: body['completion_window'] as string,
      status: 'validating',
      output_file_id: null,
      error_file_id: null,
      created_at: now(),
      in_progress_at: null,
      finalizing_at: null,
      completed_at: null,
      failed_at: null,
      expired_at: null,
      cancelling_at: null,
      cancelled_at: null,
      request_counts: { total: 0, completed: 0, failed: 0 },
      metadata: (body['metadata'] as Record<string, string> | undefined) ?? null,
    };
    this.batches.set(batch.id, batch);
    return json(200, publicBatch(batch));
  }

  /** One status on: validating -> in_progress -> finalizing (the requests are answered) -> completed. */
  private async advance(b: Batch): Promise<void> {
    const sw = this.options().batch ?? {};
    switch (b.status) {
      case 'validating':
        return this.validate(b, sw);
      case 'in_progress':
        if (sw.expire?.(b.n)) return this.settle(b, 'expired');
        b.results = await this.run(b, sw);
        b.status = 'finalizing';
        b.finalizing_at = now();
        return;
      case 'finalizing':
        return this.finish(b);
      case 'cancelling':
        return this.settle(b, 'cancelled');
      default:
        return;
    }
  }

  private settle(b: Batch, status: 'expired' | 'cancelled' | 'failed'): void {
    b.status = status;
    b[`${status}_at`] = now();
  }

  private validate(b: Batch, sw: BatchSwitches): void {
    const problems = sw.failWhole?.(b.n) ? [{ code: 'internal_error', message: 'The batch failed (stand-in switch failWhole)', line: null }] : checkLines(this.files.get(b.input_file_id)?.content ?? '');
    if ('lines' in problems) {
      b.lines = problems.lines;
      b.request_counts.total = problems.lines.length;
      b.status = 'in_progress';
      b.in_progress_at = now();
      return;
    }
    b.errors = { object: 'list', data: problems.map((p) => ({ ...p, param: null })) };
    this.settle(b, 'failed');
  }

  private async run(b: Batch, sw: BatchSwitches): Promise<{ output: string[]; errors: string[] }> {
    const output: string[] = [];
    const errs: string[] = [];
    for (const line of b.lines ?? []) {
      if (sw.dropLine?.(line.custom_id)) continue;
      const request_id = randomUUID();
      const answered = sw.failLine?.(line.custom_id) ? errors.internal() : await this.answer(line.body);
      const entry = { id: `batch_req_${randomUUID()}`, custom_id: line.custom_id };
      if (answered instanceof ApiError) errs.push(JSON.stringify({ ...entry, response: { status_code: answered.status, request_id, body: JSON.parse(answered.body(request_id)) }, error: null }));
      else output.push(JSON.stringify({ ...entry, response: { status_code: 200, request_id, body: answered }, error: null }));
    }
    b.request_counts.completed = output.length;
    b.request_counts.failed = errs.length;
    return { output, errors: errs };
  }

  /** The answer a real-time request with this body would get, as a non-streaming completion; an ApiError when it is refused. */
  private async answer(body: unknown): Promise<Record<string, unknown> | ApiError> {
    const opts = this.options();
    try {
      const { spec, summary } = await validateChatRequest(body, { urlFail: opts.urlFail, extraModels: opts.extraModels, batch: true });
      const answer = (opts.answer ?? ((s: ChatRequestSummary) => `Answer ${s.turn}: ${s.lastUserText}`))(summary);
      const reasoning = summary.enableThinking ? `Thinking about turn ${summary.turn}.` : null;
      return buildCompletion({ model: summary.model, answer, maxTokens: summary.maxTokens ?? spec.maxOutputTokens, reasoning, prompt: summary.promptTokens }).body;
    } catch (e) {
      if (e instanceof ApiError) return e;
      throw e;
    }
  }

  private finish(b: Batch): void {
    const { output, errors: errs } = b.results ?? { output: [], errors: [] };
    b.output_file_id = output.length ? this.store(output, 'batch_output') : null;
    b.error_file_id = errs.length ? this.store(errs, 'batch_error') : null;
    b.status = 'completed';
    b.completed_at = now();
  }

  private store(lines: string[], purpose: string): string {
    const content = `${lines.join('\n')}\n`;
    const id = `file-batch_output-${randomUUID()}`;
    this.files.set(id, { id, object: 'file', bytes: Buffer.byteLength(content), created_at: now(), filename: `${purpose}.jsonl`, purpose, status: 'processed', content });
    return id;
  }
}

type LineProblem = { code: string; message: string; line: number | null };

/** The documented limits of a request file: lines, bytes per line, unique custom_id, POST to the endpoint, one model. */
function checkLines(content: string): { lines: { custom_id: string; body: unknown }[] } | LineProblem[] {
  const texts = content.split('\n').filter((l) => l.trim() !== '');
  if (texts.length > BATCH_FILE_LIMITS.linesPerFile) return [{ code: 'too_many_lines', message: `The file has ${texts.length} lines; at most ${BATCH_FILE_LIMITS.linesPerFile}`, line: null }];
  const seen = new Set<string>();
  const models = new Set<unknown>();
  const lines: { custom_id: string; body: unknown }[] = [];
  const problems: LineProblem[] = [];
  texts.forEach((text, i) => {
    const line = i + 1;
    if (Buffer.byteLength(text) > BATCH_FILE_LIMITS.bytesPerLine) return problems.push({ code: 'line_too_large', message: `Line ${line} is over ${BATCH_FILE_LIMITS.bytesPerLine} bytes`, line });
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return problems.push({ code: 'invalid_json_line', message: `Line ${line} is not JSON`, line });
    }
    const id = parsed['custom_id'];
    if (typeof id !== 'string' || id === '') return problems.push({ code: 'missing_custom_id', message: `Line ${line} has no custom_id`, line });
    if (seen.has(id)) return problems.push({ code: 'duplicate_custom_id', message: `Line ${line}: custom_id ${id} is not unique`, line });
    seen.add(id);
    if (parsed['method'] !== 'POST' || parsed['url'] !== ENDPOINT) return problems.push({ code: 'invalid_url', message: `Line ${line}: expected POST ${ENDPOINT}`, line });
    const body = parsed['body'] as Record<string, unknown> | undefined;
    models.add(body?.['model']);
    lines.push({ custom_id: id, body });
    return undefined;
  });
  if (models.size > 1) problems.push({ code: 'mixed_models', message: `A batch file takes one model; this one has ${[...models].map(String).join(', ')}`, line: null });
  return problems.length ? problems : { lines };
}

function publicFile(f: StoredFile): Omit<StoredFile, 'content'> {
  const { content: _content, ...rest } = f;
  return rest;
}

function publicBatch(b: Batch): Omit<Batch, 'lines' | 'results' | 'n'> {
  const { lines: _lines, results: _results, n: _n, ...rest } = b;
  return rest;
}
