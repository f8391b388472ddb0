/**
 * Running ffmpeg: one process per call, arguments as an array (never a shell string), stopped when the run is
 * stopped. A failure carries the last lines of ffmpeg's stderr.
 */
import { OmniError } from '../../shared/errors.js';
import { FFMPEG_ADVICE, ToolMissingError } from '../../shared/probe.js';
import { FFMPEG, spawnTool } from '../../shared/tools.js';

/** Raised when ffmpeg exits non-zero: the input could not be decoded or converted. */
export class FfmpegError extends Error {}

export function runFfmpeg(args: readonly string[], signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new OmniError('interrupted', 'stopped before ffmpeg started'));
      return;
    }
    const child = spawnTool(FFMPEG, ['-hide_banner', '-nostdin', '-loglevel', 'error', '-y', ...args], 'ignore');
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const onAbort = () => child.kill('SIGKILL');
    signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', onAbort);
      // Checked here, when a file first needs it, not at start-up: text and images run without ffmpeg.
      reject(err.code === 'ENOENT' ? new ToolMissingError(`${FFMPEG} not found: ${FFMPEG_ADVICE}`) : err);
    });
    child.on('close', (code) => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) reject(new OmniError('interrupted', 'stopped while ffmpeg was running'));
      else if (code === 0) resolve();
      else reject(new FfmpegError(lastLines(stderr) || `ffmpeg exited with ${code}`));
    });
  });
}

function lastLines(text: string): string {
  return text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .slice(-2)
    .join('; ')
    .slice(0, 300);
}

/** Seconds with at most 3 decimals, as ffmpeg takes them. */
export const secArg = (n: number) => String(Math.round(n * 1000) / 1000);
