/**
 * The error taxonomy. Every failed or skipped row carries one of these codes.
 *
 * Retried (with backoff): rate_limited, server_error, network_error, timeout, stream_incomplete.
 * Final for the file:     everything else.
 * Fatal for the whole run: auth_failed, access_denied, model_not_found (every other file would fail the same way),
 *                         api_unreachable (the first attempts of a run all failed to connect, none answered).
 */
export const ERROR_CODES = {
  // The API said no for this request.
  auth_failed: 'the API key was refused (401): wrong key, or a key of another region',
  access_denied: 'the account may not use this model (403)',
  model_not_found: 'the model does not exist (404)',
  bad_request: 'the API refused the request (400)',
  moderation_blocked: 'the input or output failed content inspection',
  rate_limited: 'rate limited (429)',
  server_error: 'the API failed (5xx)',
  network_error: 'the connection failed',
  api_unreachable: 'the API host could not be reached at all (the first attempts of the run all failed to connect): the run stopped',
  base_url_not_allowed: "the job names an API base URL that this worker's own configuration does not send its key to",
  timeout: 'no data arrived within the idle timeout',
  stream_incomplete: 'the stream ended without finish_reason or usage',
  invalid_answer: 'the answer did not parse or validate against the answer schema, also when asked once more',
  audio_unwritable: 'the spoken answer could not be written as a WAV file',
  upload_failed: "DashScope's temporary upload (upload policy, or the storage host) refused the file",
  // A DashScope Batch that did not answer a request (the row is ready for `retry`, in any engine).
  batch_expired: 'the batch expired (its completion window ended) before this request was answered',
  batch_failed: 'the batch failed as a whole (validation or a DashScope error)',
  batch_cancelled: 'the batch was cancelled before this request was answered',
  batch_incomplete: 'the batch finished, but its output and error files hold no line for this request',
  // Our checks before any API call.
  unsupported_type: 'not a file kind the model takes',
  unsupported_format: 'a format the API does not take as it is',
  unsupported_by_api: "a part the endpoint's dialect (--api) cannot express",
  too_large: 'larger than the model accepts',
  too_long: 'longer than the model accepts',
  too_short: 'shorter than the model accepts',
  too_small: 'an image side is too small',
  bad_aspect: 'the image aspect ratio is too extreme',
  too_many_frames: 'the frame list is outside the accepted count',
  media_unreadable: 'the file could not be read as media',
  file_unreadable: 'the file could not be read',
  symlink_escapes_root: 'a symlink that points outside the input root',
  path_outside_root: 'a manifest path (or what its symlink points to) outside the manifest root: its folder, or manifestRoot',
  name_not_utf8: 'a file or folder name that is not valid UTF-8: it cannot be written into a row as it is (rename it)',
  symlink_broken: 'a symlink whose target is missing or loops',
  symlink_hidden: 'a symlink to a hidden file or folder (hidden files are never inputs)',
  duplicate: 'the same file as another input, reached through a symlink',
  already_captioned: 'a caption file is already beside it, not written by omni-batch (--skip-captioned)',
  is_caption: 'the caption file of a media file beside it, not an input (--skip-captioned)',
  template_error: 'the prompt template could not be rendered for this item',
  manifest_row_invalid: 'the manifest row could not be used',
  interrupted: 'the run was stopped before this file finished',
  internal_error: 'an unexpected error inside omni-batch (a bug: please report it with this message)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

const RETRIED: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'rate_limited',
  'server_error',
  'network_error',
  'timeout',
  'stream_incomplete',
]);

const FATAL_FOR_RUN: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['auth_failed', 'access_denied', 'model_not_found', 'api_unreachable']);

export function isRetried(code: ErrorCode): boolean {
  return RETRIED.has(code);
}

export function isFatalForRun(code: ErrorCode): boolean {
  return FATAL_FOR_RUN.has(code);
}

/** An error with a stable code that ends up in a row. */
export class OmniError extends Error {
  readonly code: ErrorCode;
  /** Seconds the server asked us to wait (Retry-After), when it said. */
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;

  constructor(code: ErrorCode, message: string, opts: { retryAfterMs?: number | undefined; status?: number | undefined; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'OmniError';
    this.code = code;
    this.retryAfterMs = opts.retryAfterMs;
    this.status = opts.status;
  }
}

/** The `file_unreadable` message for a local file that could not be stat'ed or read: `PATH: no such file` or `PATH: cannot read (EACCES)`. */
export function unreadableMessage(label: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return `${label}: ${code === 'ENOENT' ? 'no such file' : `cannot read (${code})`}`;
}

/**
 * An error the operator can act on: the CLI prints its message as one line (never a stack trace) and exits with
 * `exitCode`. Throw one of the subclasses, which say what kind of problem it is.
 */
export abstract class OperatorError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/**
 * A problem with the run's configuration (flags, job file, template, manifest, inputs): exit 2.
 */
export class ConfigError extends OperatorError {
  constructor(message: string) {
    super(message, EXIT.config);
  }
}

/** The output (or a file beside it) cannot be written or locked: a disk, permission or ownership problem, exit 4. */
export class OutputError extends OperatorError {
  /** @param cause the file system's error, when there is one (a full disk is told apart by its code) */
  constructor(message: string, cause?: unknown) {
    super(message, EXIT.output);
    if (cause !== undefined) this.cause = cause;
  }
}

/**
 * The run is not complete and the command cannot complete it: Redis lost its rows or jobs (evicted, flushed,
 * restarted empty) or stayed unreachable past the give-up time, or rows are still to come: exit 6. The output
 * keeps every row it has; running the same command again sends only what it lacks.
 */
export class IncompleteError extends OperatorError {
  constructor(message: string) {
    super(message, EXIT.incomplete);
  }
}

/** Exit codes scripts can rely on (documented in --help). */
export const EXIT = {
  ok: 0,
  /** Unexpected internal error. */
  internal: 1,
  /** Bad flags, job file, template or manifest. */
  config: 2,
  /** The API refused the key (401), the account (403) or the model (404), or could not be reached at all: nothing could succeed. */
  api: 3,
  /** The output or totals file could not be written. */
  output: 4,
  /** No input: the inputs matched no file and the manifest had no row (run, run --redis, enqueue; --allow-empty makes it 0). */
  empty: 5,
  /** The run's rows are incomplete: Redis lost them or went away, or jobs are still queued (see IncompleteError). */
  incomplete: 6,
  /** Stopped by Ctrl-C / SIGTERM; rerun the same command to finish. */
  interrupted: 130,
} as const;
