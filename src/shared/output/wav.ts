/**
 * Spoken answers as WAV files. The API streams raw 16-bit mono PCM at 24 kHz (API.md); a player or ffprobe
 * needs the RIFF header in front of it. Written to a hidden temporary file and renamed, so a file that exists is
 * whole.
 */
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureDir } from './disk.js';

/** What DashScope sends: 24 kHz, 16-bit, mono, little-endian. */
export const PCM = { sampleRate: 24_000, bitsPerSample: 16, channels: 1 } as const;

/** The 44-byte canonical RIFF/WAVE header for `dataBytes` of PCM. */
export function wavHeader(dataBytes: number, fmt: { sampleRate: number; bitsPerSample: number; channels: number } = PCM): Buffer {
  const blockAlign = (fmt.channels * fmt.bitsPerSample) / 8;
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'ascii');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'ascii');
  h.write('fmt ', 12, 'ascii');
  h.writeUInt32LE(16, 16); // PCM fmt chunk size
  h.writeUInt16LE(1, 20); // format 1 = integer PCM
  h.writeUInt16LE(fmt.channels, 22);
  h.writeUInt32LE(fmt.sampleRate, 24);
  h.writeUInt32LE(fmt.sampleRate * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(fmt.bitsPerSample, 34);
  h.write('data', 36, 'ascii');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** Writes PCM as a WAV file (an odd trailing byte, half a sample, is dropped). */
export async function writeWav(file: string, pcm: Buffer): Promise<void> {
  const whole = pcm.subarray(0, pcm.length - (pcm.length % 2));
  await ensureDir(path.dirname(file));
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  try {
    await writeFile(tmp, Buffer.concat([wavHeader(whole.length), whole]));
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** A file name for a row's audio: the row path made safe for a file name, plus the id so that names never collide. */
export function wavNameFor(rowPath: string, id: string): string {
  const safe = rowPath.replace(/^[a-z]+:\/\//i, '').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[._]+/, '').slice(-80);
  return `${safe || 'answer'}-${id.slice(0, 8)}.wav`;
}
