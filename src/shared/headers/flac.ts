/**
 * FLAC as libavformat's flac demuxer reads it: STREAMINFO, the first metadata block, holds the sample rate, the
 * channels and the total sample count. A stream that leaves the count at 0 (written without seeking back) goes to
 * ffprobe, which then estimates.
 */
import { avFacts, steps, sure, type AvFacts } from './facts.js';
import { readExactly, type ByteSource } from './source.js';

export async function readFlac(src: ByteSource, start: number): Promise<AvFacts> {
  const b = await readExactly(src, start, 4 + 4 + 34, 'the STREAMINFO block');
  sure(b.toString('latin1', 0, 4) === 'fLaC' && (b.readUInt8(4) & 0x7f) === 0 && b.readUIntBE(5, 3) >= 34, 'no STREAMINFO block first');
  const s = b.subarray(8);
  // Bytes 10..17: 20 bits of sample rate, 3 of channels - 1, 5 of bits per sample - 1, 36 of total samples.
  const sampleRate = s.readUIntBE(10, 3) >>> 4;
  const channels = ((s.readUInt8(12) >>> 1) & 7) + 1;
  const total = (s.readUInt8(13) & 0x0f) * 2 ** 32 + s.readUInt32BE(14);
  sure(sampleRate > 0 && total > 0, 'STREAMINFO without a sample rate or a sample count');
  // As flac_read_header: every metadata block up to the one flagged last, then the first frame's sync code.
  let pos = start + 4;
  const step = steps('FLAC metadata blocks');
  for (let last = false; !last; ) {
    step();
    const h = await readExactly(src, pos, 4, 'a FLAC metadata block');
    last = (h.readUInt8(0) & 0x80) !== 0;
    pos += 4 + h.readUIntBE(1, 3);
  }
  const sync = await readExactly(src, pos, 2, 'the first FLAC frame');
  sure((sync.readUInt16BE(0) & 0xfffe) === 0xfff8, 'no FLAC frame after the metadata');
  return avFacts('flac', total / sampleRate, undefined, { codec: 'flac', sampleRate, channels });
}
