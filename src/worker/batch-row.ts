/**
 * One line of a Batch output or error file -> the row of its job, with the same columns, id and answer checks as
 * the real-time path; usage from the line, cost at the price given (the batch price). The line format is OpenAI's:
 * `{id, custom_id, response: {status_code, request_id, body}, error}`.
 */
import type { AnswerSchema } from '../shared/answer-schema.js';
import { costOf } from '../shared/cost.js';
import type { ErrorCode } from '../shared/errors.js';
import type { Prices } from '../shared/models.js';
import { rowWithoutAnswer, type Row } from '../shared/row.js';
import type { BatchMeta } from './batch-request.js';
import { parseAnswer } from './parse-answer.js';
import { codeForApiCode, codeForStatus, toUsage } from './qwen-omni.js';

export interface BatchOutputLine {
  readonly id?: string;
  readonly custom_id: string;
  readonly response?: { readonly status_code?: number; readonly request_id?: string; readonly body?: unknown } | null;
  readonly error?: { readonly code?: string | null; readonly message?: string | null } | null;
}

/** How the rows of a batch are made: the answer format of the run, and the prices a batch answer is paid at. */
export interface BatchRowOptions {
  readonly format: AnswerSchema | undefined;
  readonly prices: Prices | undefined;
}

interface Completion {
  choices?: { message?: { content?: unknown; reasoning_content?: unknown }; finish_reason?: unknown }[];
  usage?: Parameters<typeof toUsage>[0];
  error?: { code?: unknown; message?: unknown };
}

/** A row for a job that got no answer line (batch expired, failed, cancelled, or the output left it out). */
export function unansweredRow(meta: BatchMeta, code: ErrorCode, message: string): Row {
  return { ...rowWithoutAnswer(meta, 'failed', code, `${meta.path}: ${message}`), ...meta.columns };
}

function failedLine(meta: BatchMeta, line: BatchOutputLine): Row {
  const body = line.response?.body as Completion | undefined;
  const text = (v: unknown) => (typeof v === 'string' && v ? v : undefined);
  const apiCode = text(line.error?.code) ?? text(body?.error?.code) ?? '';
  const message = text(line.error?.message) ?? text(body?.error?.message) ?? 'no answer in the batch output';
  const status = line.response?.status_code;
  const code = status !== undefined && status !== 200 ? codeForStatus(status, apiCode) : codeForApiCode(apiCode);
  const said = [status ? `HTTP ${status}` : 'batch error', apiCode, message].filter(Boolean).join(' ');
  const request = line.response?.request_id ? ` (request ${line.response.request_id})` : '';
  return { ...rowWithoutAnswer(meta, 'failed', code, `${meta.path}: ${said}${request}`, 1), ...meta.columns };
}

/** The row of one output or error line of the batch. */
export function batchLineRow(meta: BatchMeta, line: BatchOutputLine, opts: BatchRowOptions): Row {
  const body = line.response?.body as Completion | undefined;
  const choice = body?.choices?.[0];
  if (line.response?.status_code !== 200 || line.error || typeof choice?.message?.content !== 'string' || !body?.usage) return failedLine(meta, line);
  const answer = choice.message.content;
  const usage = toUsage(body.usage, meta.undetailed);
  const cost = costOf(usage, opts.prices, meta.afterMedia);
  const answered = { answers: [answer], reasoning: typeof choice.message.reasoning_content === 'string' ? choice.message.reasoning_content : '', usage, cost, latency_ms: null, ttft_ms: null };
  const check = opts.format ? parseAnswer(answer, opts.format) : undefined;
  if (check && !check.ok) {
    // Batch runs one turn per request: the real-time path's second ask is left to `retry` (in any engine).
    return { ...rowWithoutAnswer(meta, 'failed', 'invalid_answer', `${check.error} (batch asks once; omni-batch retry asks again)`, 1), ...answered, ...meta.columns };
  }
  return { ...rowWithoutAnswer(meta, 'failed', 'invalid_answer', '', 1), ...answered, status: 'ok', error_code: '', parsed: check?.ok ? check.value : null, ...meta.columns };
}
