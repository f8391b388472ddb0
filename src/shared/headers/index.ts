/**
 * Audio and video facts read in-process from the headers of the common containers (WAV, MP3, FLAC, Ogg,
 * MP4/MOV/M4A, Matroska/WebM, AVI), the same facts ffprobe gives for them, read where libavformat reads them. No
 * library reads them as ffprobe does (see the README's dependency table): each reader here reads only what it is
 * sure of and answers undefined otherwise, and then ffprobe decides, as it does for every other container (MPEG-TS,
 * ASF, FLV, ...) and for a damaged file, which so gets the same error row as before.
 */
import { open } from 'node:fs/promises';
import { sure, type AvFacts } from './facts.js';
import { readAvi } from './avi.js';
import { readFlac } from './flac.js';
import { MOV_TOP, readMov } from './isobmff.js';
import { readMatroska } from './matroska.js';
import { mp3Frame, readMp3 } from './mpeg-audio.js';
import { readOgg } from './ogg.js';
import { readWav } from './riff.js';
import { bufferSource, fileSource, id3v2Size, type ByteSource } from './source.js';

export type { AvFacts } from './facts.js';

/** The container's reader, by the first bytes (after an ID3v2 tag for MP3 and FLAC), or undefined. */
function readerFor(head: Buffer): ((src: ByteSource) => Promise<AvFacts>) | undefined {
  const at = (pos: number, s: string) => head.toString('latin1', pos, pos + s.length) === s;
  if (at(0, 'RIFF') && at(8, 'WAVE')) return readWav;
  if (at(0, 'RIFF') && at(8, 'AVI ')) return readAvi;
  if (at(0, 'OggS')) return readOgg;
  if (head.length >= 4 && head.readUInt32BE(0) === 0x1a45dfa3) return readMatroska;
  if (MOV_TOP.has(head.toString('latin1', 4, 8))) return readMov;
  const tag = id3v2Size(head);
  if (tag > 0 || at(0, 'fLaC') || mp3Frame(head)) return (src) => readAfterTag(src, tag);
  return undefined;
}

/** What follows an ID3v2 tag (of `tag` bytes, maybe 0) decides between FLAC and MP3. */
async function readAfterTag(src: ByteSource, tag: number): Promise<AvFacts> {
  const b = await src.read(tag, 4);
  if (b.toString('latin1') === 'fLaC') return readFlac(src, tag);
  sure(mp3Frame(b), 'neither FLAC nor MP3 after the ID3 tag');
  return readMp3(src, tag);
}

/**
 * The facts of `file` (or of its bytes, when in hand) from its header; undefined when the container is not one read
 * here or a reader is not sure, and ffprobe must be asked.
 */
export async function readAvHeader(file: string, content?: Buffer): Promise<AvFacts | undefined> {
  if (content) return fromSource(bufferSource(content));
  const fh = await open(file, 'r').catch(() => undefined);
  if (!fh) return undefined;
  try {
    return await fromSource(fileSource(fh, (await fh.stat()).size));
  } finally {
    await fh.close();
  }
}

async function fromSource(src: ByteSource): Promise<AvFacts | undefined> {
  const head = await src.read(0, 4096);
  try {
    const read = readerFor(head);
    return read ? await read(src) : undefined;
  } catch {
    // NotSure, or a read past a damaged header's bounds (RangeError): either way ffprobe decides.
    return undefined;
  }
}
