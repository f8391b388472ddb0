/**
 * Random access to a file's bytes for the header readers: from the bytes in hand when planning read the whole file,
 * else from an open file handle, a few small reads at the offsets a header points to (never the whole file).
 */
import type { FileHandle } from 'node:fs/promises';
import { sure } from './facts.js';

export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes at `pos`, or fewer only where the file ends. */
  read(pos: number, length: number): Promise<Buffer>;
}

export function bufferSource(buf: Buffer): ByteSource {
  return { size: buf.length, read: (pos, length) => Promise.resolve(buf.subarray(pos, Math.min(buf.length, pos + length))) };
}

export function fileSource(fh: FileHandle, size: number): ByteSource {
  return {
    size,
    async read(pos, length) {
      const n = Math.max(0, Math.min(length, size - pos));
      const buf = Buffer.alloc(n);
      const { bytesRead } = n > 0 ? await fh.read(buf, 0, n, pos) : { bytesRead: 0 };
      return buf.subarray(0, bytesRead);
    },
  };
}

/** `length` bytes at `pos`; a header that points past the end of the file is damaged. */
export async function readExactly(src: ByteSource, pos: number, length: number, what: string): Promise<Buffer> {
  const buf = await src.read(pos, length);
  sure(buf.length === length, `${what} runs past the end of the file`);
  return buf;
}

/** The size of an ID3v2 tag at `pos` (header, body and footer), or 0 when there is none. */
export function id3v2Size(head: Buffer, pos = 0): number {
  if (head.length < pos + 10 || head.toString('latin1', pos, pos + 3) !== 'ID3') return 0;
  const b = [6, 7, 8, 9].map((i) => head.readUInt8(pos + i));
  sure(b.every((x) => x < 0x80), 'an ID3v2 tag with a damaged size');
  const body = b.reduce((n, x) => n * 128 + x, 0);
  return 10 + body + ((head.readUInt8(pos + 5) & 0x10) !== 0 ? 10 : 0);
}
