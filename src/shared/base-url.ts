/**
 * The API base URL: where the DashScope key is sent. Two rules hold wherever one is given (flag, job file,
 * environment, a job in Redis): it never carries credentials (they would be copied into every queued job, the
 * run's settings in Redis and the files beside the output, and `fetch` refuses such a URL anyway), and a worker
 * sends its key only to the places its own configuration names, never to whatever a job in Redis asks for.
 */
import { ConfigError } from './errors.js';

/** A URL for messages: the password (and a user name with it) masked, the rest as given. */
export function maskedUrl(url: URL): string {
  const u = new URL(url.href);
  if (u.password) u.password = '***';
  return u.href;
}

/**
 * Checks a base URL given by `source` (`--base-url`, `baseUrl in the job file`, `DASHSCOPE_BASE_URL`): an http(s)
 * URL without credentials. Returns it as given; throws a ConfigError (one line, the password masked) otherwise.
 */
export function checkBaseUrl(raw: string, source: string): string {
  let u: URL;
  try {
    u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new ConfigError(`${source}: expected an http(s) URL, received ${JSON.stringify(raw.replace(/:[^:@/]*@/, ':***@'))}`);
  }
  if (u.username || u.password) {
    throw new ConfigError(
      `${source}: ${maskedUrl(u)} carries a user name or password; credentials in the URL would be copied into every queued job and the run's settings, and the request refuses them: remove them, and let a proxy or a header your gateway accepts carry them`,
    );
  }
  return raw;
}

/** Where a key may go: scheme, host and port (the path does not change who receives it). */
export function keyDestination(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.username || u.password ? undefined : u.origin;
  } catch {
    return undefined;
  }
}

/**
 * Why a worker will not send its key to `baseURL` (a job's), or undefined when `allowed` (the base URLs of the
 * worker's own configuration) holds its scheme, host and port. A URL with credentials is never allowed.
 */
export function refusedBaseUrl(baseURL: string, allowed: readonly string[]): string | undefined {
  const wanted = keyDestination(baseURL);
  if (wanted !== undefined && allowed.some((a) => keyDestination(a) === wanted)) return undefined;
  let host = '(an invalid URL)';
  try {
    host = new URL(baseURL).host;
  } catch {
    // stays "an invalid URL"
  }
  const shown = allowed.map((a) => keyDestination(a) ?? a).join(', ');
  return `this job names the API host ${host}, where this worker does not send its key (it sends it to ${shown}); to allow it, start the worker with --allow-base-url ${wanted ?? 'URL'}`;
}
