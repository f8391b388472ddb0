/**
 * Running ffmpeg: one process per call, arguments as an array (never a shell string), stopped when the run is
 * stopped. A failure carries the last lines of ffmpeg's stderr.
 */
import { spawn } from 'node:child_process';
import { OmniError } from '../../shared/errors.js';
import { FFMPEG, FFPROBE, spawnTool } from '../../shared/tools.js';

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
    child.on('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      reject(err);
    });
    child.on('close', (code) => {
      signal.removeEventListener('abort', onAbort);
      if (signal.aborted) reject(new OmniError('interrupted', 'stopped while ffmpeg was running'));
      else if (code === 0) resolve();
      else reject(new FfmpegError(lastLines(stderr) || `ffmpeg exited with ${code}`));
    });
  });
}

/** Whether both binaries start; the message to print when they do not. */
export function checkFfmpeg(): Promise<string | undefined> {
  const probe = (bin: string) =>
    new Promise<boolean>((resolve) => {
      const child = spawn(bin, ['-version'], { stdio: 'ignore' });
      child.on('error', () => resolve(false));
      child.on('close', (code) => resolve(code === 0));
    });
  return Promise.all([probe(FFMPEG), probe(FFPROBE)]).then(([a, b]) =>
    a && b ? undefined : `${!a ? FFMPEG : FFPROBE} not found or not working: omni-batch needs ffmpeg and ffprobe to read and fit media (Debian/Ubuntu: apt-get install ffmpeg; or set FFMPEG_PATH and FFPROBE_PATH)`,
  );
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
