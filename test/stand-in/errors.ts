// Error responses, worded as API.md records them. Everything the stand-in rejects goes through
// ApiError so the HTTP layer has exactly one way of writing an error body.
import { randomUUID } from 'node:crypto';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    readonly type: string,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Label recorded in RecordedRequest.outcome. */
  get outcome(): string {
    return this.code ?? this.type;
  }

  /** Wire body; key order matches the captures in API.md. */
  body(requestId: string = randomUUID()): string {
    return JSON.stringify({
      error: { message: this.message, type: this.type, param: null, code: this.code },
      request_id: requestId,
    });
  }
}

const INVALID_REQUEST = 'invalid_request_error';

/** 400 invalid_parameter_error, the code DashScope uses for nearly every input problem. */
export function invalidParameter(message: string): ApiError {
  return new ApiError(400, 'invalid_parameter_error', INVALID_REQUEST, message);
}

export const MESSAGES = {
  badKey:
    'Incorrect API key provided. For details, see: https://www.alibabacloud.com/help/en/model-studio/error-code#apikey-error',
  modelNotFound: 'Model not exist.',
  streamOnly:
    'This model only support stream mode, please enable the stream parameter to access the model. ',
  audioNeedsStream: "'audio' output only support with stream=true",
  dataUriTooBig: 'Exceeded limit on max bytes per data-uri item : 10485760',
  fileTooBig: 'Multimodal file size is too large',
  badUrl: 'The provided URL does not appear to be valid',
  downloadFailed: 'Failed to download multimodal content',
  audioEmpty: 'The audio is empty',
  audioIllegal: 'The audio format is illegal and cannot be opened',
  videoPrefix: 'The video modality input does not meet the requirements because: ',
  moderation: 'Input data may contain inappropriate content.',
  rateLimited: 'Requests rate limit exceeded, please try again later.',
  tokenLimited: 'You have exceeded your current request limit. Tokens per minute (TPM) exceeded, please try again later.',
  internal: 'An internal error has occured, please try again later or contact service support.',
  unavailable: 'Model is unavailable, please try again later.',
} as const;

export const errors = {
  badKey: () => new ApiError(401, 'invalid_api_key', INVALID_REQUEST, MESSAGES.badKey),
  modelNotFound: () => new ApiError(404, 'model_not_found', INVALID_REQUEST, MESSAGES.modelNotFound),
  notFound: (method: string, path: string) =>
    new ApiError(404, 'not_found', INVALID_REQUEST, `Not found: ${method} ${path}`),
  /** Turbo snapshots answer with code null and name the snapshot that served the request. */
  turboStreamOnly: (snapshot: string) =>
    new ApiError(400, null, INVALID_REQUEST, `${snapshot} only support with stream=true`),
  streamOnly: () => invalidParameter(MESSAGES.streamOnly),
  audioNeedsStream: () => invalidParameter(MESSAGES.audioNeedsStream),
  badJson: (detail: string) => invalidParameter(`Request body is not valid JSON: ${detail}`),
  moderation: () => new ApiError(400, 'data_inspection_failed', 'data_inspection_failed', MESSAGES.moderation),
  http429: (code: string, retryAfterSec: number | undefined) =>
    new ApiError(429, code, code, MESSAGES.rateLimited, retryAfter(retryAfterSec)),
  rpm: (retryAfterSec: number) =>
    new ApiError(429, 'limit_requests', 'limit_requests', MESSAGES.rateLimited, retryAfter(retryAfterSec)),
  tpm: (retryAfterSec: number) =>
    new ApiError(429, 'insufficient_quota', 'insufficient_quota', MESSAGES.tokenLimited, retryAfter(retryAfterSec)),
  internal: () => new ApiError(500, 'internal_error', 'internal_error', MESSAGES.internal),
  unavailable: () => new ApiError(503, 'ModelUnavailable', 'ModelUnavailable', MESSAGES.unavailable),
  video: (reason: string) => invalidParameter(MESSAGES.videoPrefix + reason),
};

function retryAfter(sec: number | undefined): Record<string, string> {
  return sec === undefined ? {} : { 'retry-after': String(sec) };
}
