/**
 * Writing to disk without the two traps of the plain calls: a `writeSync` that writes only part of its bytes
 * (a disk that fills mid-row), and `mkdir(dir, { recursive: true })`, which loops for ever, at full CPU and deaf to
 * signals, under a folder that refuses new entries with ENOENT (procfs: `--out /proc/nope/x.csv`).
 */
import { ftruncateSync, writeSync } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';

/** Error codes that mean the disk (not this file or folder) cannot take more: a run can do nothing but stop. */
const DISK_CODES: Readonly<Record<string, string>> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is used up',
  EIO: 'the disk failed (I/O error)',
  EROFS: 'the file system is read-only',
  EFBIG: 'the file is larger than the file system allows',
};

/** True for an error that says the disk cannot take more (full, over quota, failing, read-only). */
export function isDiskError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && code in DISK_CODES;
}

/** `ENOSPC: the disk is full`, `EACCES`, or the message: the reason part of a one-line error. */
export function ioReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === undefined) return err instanceof Error ? err.message : String(err);
  const meaning = DISK_CODES[code];
  const reason = meaning ? `${code}: ${meaning}` : code;
  const folder = (err as { folder?: unknown }).folder;
  return typeof folder === 'string' ? `cannot create the folder ${folder}: ${reason}` : reason;
}

/**
 * Writes all of `data` at the end of `fd` (opened for appending, `size` bytes long), or nothing: a short write is
 * continued, and when the disk refuses the rest, the bytes already written are cut off again so that the file
 * never ends with half a record. Returns the new size; throws the write's error.
 */
export function appendAll(fd: number, data: string | Buffer, size: number): number {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  let done = 0;
  try {
    while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done);
  } catch (err) {
    if (done > 0) {
      try {
        ftruncateSync(fd, size);
      } catch {
        // The partial line stays; a reader drops a last line without its newline, and the next run cuts it off.
      }
    }
    throw err;
  }
  return size + buf.length;
}

/** Writes all of `data` at the current position of `fd` (a file being built, thrown away on error). */
export function writeAll(fd: number, data: string | Buffer): void {
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, buf.length - done);
}

/**
 * Creates `dir` and its missing parents one level at a time: a level that cannot be made is an error (the
 * ENOENT of `/proc/nope`), never a retry. An existing non-folder on the way is ENOTDIR.
 */
export async function ensureDir(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let at = path.resolve(dir); ; at = path.dirname(at)) {
    const found = await stat(at).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
    if (found) {
      if (!found.isDirectory()) throw Object.assign(new Error(`${at} is not a folder`), { code: 'ENOTDIR' });
      break;
    }
    missing.push(at);
    if (path.dirname(at) === at) break;
  }
  for (const level of missing.reverse()) {
    try {
      await mkdir(level);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw Object.assign(new Error(`cannot create the folder ${level}`), { code: (err as NodeJS.ErrnoException).code, folder: level });
      }
    }
  }
}

/** The file's size, and whether it ends with a newline (an empty file does): a last line without one was cut by a crash. */
export async function endsWithNewline(file: string): Promise<{ size: number; whole: boolean }> {
  const fh = await open(file, 'r');
  try {
    const { size } = await fh.stat();
    if (size === 0) return { size, whole: true };
    const buf = Buffer.alloc(1);
    await fh.read(buf, 0, 1, size - 1);
    return { size, whole: buf[0] === 0x0a };
  } finally {
    await fh.close();
  }
}
