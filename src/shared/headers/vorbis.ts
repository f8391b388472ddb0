/**
 * Vorbis packet lengths, as libavcodec's vorbis_parser counts them for the ogg demuxer: the block size of each
 * mode comes from the end of the setup header (read backwards, the modes being its last fields), and a packet's
 * samples are a quarter of its block plus a quarter of the previous one.
 */
import { sure } from './facts.js';

export interface VorbisModes {
  readonly blocksize: readonly [number, number];
  /** Per mode: whether it uses the long block. */
  readonly blockflag: readonly boolean[];
}

/** Bits of `buf` read from its last byte backwards, most significant first (Vorbis packs them least first). */
function backwards(buf: Buffer) {
  let bit = 0;
  const total = buf.length * 8;
  return {
    left: () => total - bit,
    at: () => bit,
    seek: (to: number) => void (bit = to),
    read(n: number): number {
      let v = 0;
      for (let i = 0; i < n; i++, bit++) v = v * 2 + ((buf.readUInt8(buf.length - 1 - (bit >> 3)) >> (7 - (bit & 7))) & 1);
      return v;
    },
  };
}

/** The modes of a setup header, found as parse_setup_header finds them; throws when none are. */
export function vorbisModes(setup: Buffer, blocksize: readonly [number, number]): VorbisModes {
  const r = backwards(setup);
  let framing = -1;
  while (r.left() > 97) {
    if (r.read(1)) {
      framing = r.at();
      break;
    }
  }
  sure(framing >= 0, 'a Vorbis setup header without a framing bit');
  let count = 0;
  let header = false;
  while (r.left() >= 97) {
    if (r.read(8) > 63 || r.read(16) || r.read(16)) break;
    r.read(1);
    count++;
    if (count > 64) break;
    const back = r.at();
    if (r.read(6) + 1 === count) header = true;
    r.seek(back);
  }
  sure(header && count > 0 && count <= 64, 'no Vorbis modes in the setup header');
  r.seek(framing);
  const blockflag: boolean[] = new Array<boolean>(count).fill(false);
  for (let i = count - 1; i >= 0; i--) {
    r.read(40);
    blockflag[i] = r.read(1) === 1;
  }
  return { blocksize, blockflag };
}

/** Samples of each packet in `firsts` (their first bytes), one after another from a reset parser. */
export function vorbisSamples(m: VorbisModes, firsts: readonly number[]): number {
  const count = m.blockflag.length;
  // av_log2(0) is 0: one mode still gets a mask of 2 (unused) and a previous-window mask of 4.
  const log2 = count > 1 ? 31 - Math.clz32(count - 1) : 0;
  const modeMask = ((1 << (log2 + 1)) - 1) << 1;
  const prevMask = (modeMask | 1) + 1;
  let previous = m.blocksize[0];
  let total = 0;
  for (const b of firsts) {
    sure((b & 1) === 0, 'a Vorbis header packet among the audio');
    const mode = count === 1 ? 0 : (b & modeMask) >> 1;
    sure(mode < count, 'a Vorbis packet of a mode the setup header does not have');
    const long = m.blockflag[mode] === true;
    if (long) previous = m.blocksize[b & prevMask ? 1 : 0];
    const current = m.blocksize[long ? 1 : 0];
    total += (previous + current) >> 2;
    previous = current;
  }
  return total;
}
