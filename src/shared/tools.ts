/**
 * The media tools omni-batch runs: Debian's ffmpeg and ffprobe on PATH unless FFMPEG_PATH / FFPROBE_PATH say
 * otherwise. Always one process per call with arguments as an array (never a shell string).
 */
import { spawn, type ChildProcess } from 'node:child_process';

export const FFMPEG = process.env.FFMPEG_PATH ?? 'ffmpeg';
export const FFPROBE = process.env.FFPROBE_PATH ?? 'ffprobe';

/**
 * Starts a tool in a process group of its own. A Ctrl-C in a terminal is sent to the whole foreground group: it
 * must reach omni-batch alone, which then lets the files in flight finish (the first Ctrl-C) or kills the tools
 * itself (the second). Started in the same group, ffmpeg quit at once and its file got a spurious failed row.
 */
/** stdin is closed, stderr is piped (for the error message), stdout piped or ignored. */
export function spawnTool(bin: string, args: readonly string[], stdout: 'pipe' | 'ignore'): ChildProcess {
  return spawn(bin, args, { stdio: ['ignore', stdout, 'pipe'], detached: true });
}
