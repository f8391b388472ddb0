/**
 * Whether the API host can be reached at all. A run whose first attempts all fail to connect (nothing listening,
 * a wrong base URL, a name that does not resolve) is stopped after UNREACHABLE_AFTER of them, naming the host and
 * the reason, instead of trying every file six times and ending "successfully" with a failed row for each.
 * Once anything has answered, the watch is off for good: a later connection failure is a flaky network, retried
 * per file as any other.
 */
import { OmniError } from '../shared/errors.js';

/** Connection failures in a row, with no answer before them, that end a run (or stop a worker). */
export const UNREACHABLE_AFTER = 5;

export class ReachWatch {
  private answered = false;
  private failures = 0;

  /** `limit`: failures in a row that mean the host cannot be reached (default UNREACHABLE_AFTER). */
  constructor(private readonly limit = UNREACHABLE_AFTER) {}

  /** The server answered (anything, a refusal included): it can be reached. */
  reached(): void {
    this.answered = true;
  }

  /** A connection failure: returns `error` to retry as usual, or an `api_unreachable` error that ends the run. */
  failed(error: OmniError): OmniError {
    if (this.answered || ++this.failures < this.limit) return error;
    return new OmniError('api_unreachable', `${error.message}; ${this.failures} attempts in a row failed to connect and none has been answered yet`, { cause: error });
  }
}
