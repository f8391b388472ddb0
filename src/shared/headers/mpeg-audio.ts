/**
 * MP3 as libavformat's mp3 demuxer reads its duration: the frame count of the first frame's Xing/Info or VBRI tag,
 * times the samples per frame. A file without such a tag (plain CBR, or VBR written without one) gets a duration
 * that ffprobe estimates from the first frame's bitrate and the file size: that estimate (wrong for VBR) is
 * ffprobe's to make, so such a file goes to ffprobe, as does one whose first frame is not where the header ends.
 * So does a file much larger than the tag's byte count: mp3_parse_info_tag then drops the frame count ("invalid
 * concatenated file detected") and ffprobe estimates, and a tag without a byte count cannot be checked so.
 */
import { avFacts, sure, type AvFacts } from './facts.js';
import { readExactly, type ByteSource } from './source.js';

/** Layer III bitrates in kbit/s by index: MPEG-1, and MPEG-2/2.5. */
const KBPS = { v1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320], v2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160] };
const RATES = [44_100, 48_000, 32_000];

interface FrameHeader {
  readonly sampleRate: number;
  readonly channels: number;
  readonly bytes: number;
  /** MPEG-2 and 2.5: 576 samples a frame, and the Xing tag sits closer to the header. */
  readonly lsf: boolean;
}

/** A layer III frame header, or undefined when the 4 bytes are none. */
export function mp3Frame(b: Buffer, pos = 0): FrameHeader | undefined {
  if (b.length < pos + 4) return undefined;
  const h = b.readUInt32BE(pos);
  const version = (h >>> 19) & 3; // 0: 2.5, 2: 2, 3: 1
  const layer = (h >>> 17) & 3; // 1: layer III
  const rateIndex = (h >>> 10) & 3;
  const brIndex = (h >>> 12) & 15;
  if (h >>> 21 !== 0x7ff || version === 1 || layer !== 1 || rateIndex === 3 || brIndex === 0 || brIndex === 15) return undefined;
  const lsf = version !== 3;
  const sampleRate = (RATES[rateIndex] ?? 0) / (version === 3 ? 1 : version === 2 ? 2 : 4);
  const kbps = (lsf ? KBPS.v2 : KBPS.v1)[brIndex] ?? 0;
  const bytes = Math.floor(((lsf ? 72 : 144) * kbps * 1000) / sampleRate) + ((h >>> 9) & 1);
  return { sampleRate, channels: ((h >>> 6) & 3) === 3 ? 1 : 2, bytes, lsf };
}

export async function readMp3(src: ByteSource, start: number): Promise<AvFacts> {
  const head = await readExactly(src, start, 4, 'the first MP3 frame');
  const first = mp3Frame(head);
  sure(first, 'no MPEG layer III frame where the ID3 tag ends');
  const frame = await readExactly(src, start, first.bytes + 4, 'the first MP3 frame');
  const next = mp3Frame(frame, first.bytes);
  sure(next && next.sampleRate === first.sampleRate && next.lsf === first.lsf, 'the first MP3 frame is not followed by another');
  const tag = vbrTag(frame, first);
  sure(tag && tag.frames > 0, 'no Xing/Info/VBRI frame count: ffprobe would estimate the duration from the bitrate');
  const { frames, bytes } = tag;
  // As mp3_parse_info_tag: the file from after the first frame's header, against the tag's byte count.
  const fsize = src.size - (start + 4);
  sure(bytes > 0 && !(fsize > bytes && fsize - bytes > Math.floor(Math.min(fsize, bytes) / 16)), 'an MP3 larger than its tag counts (concatenated): ffprobe estimates');
  const spf = first.lsf ? 576 : 1152;
  return avFacts('mp3', (frames * spf) / first.sampleRate, undefined, { codec: 'mp3', sampleRate: first.sampleRate, channels: first.channels });
}

/**
 * The frame and byte counts of a Xing/Info tag (after the side info) or a VBRI tag (32 bytes in), as
 * mp3_parse_vbr_tags reads them; bytes is 0 when the Xing tag has no byte count.
 */
function vbrTag(frame: Buffer, h: FrameHeader): { frames: number; bytes: number } | undefined {
  const xing = 4 + (h.lsf ? (h.channels === 1 ? 9 : 17) : h.channels === 1 ? 17 : 32);
  const tag = frame.toString('latin1', xing, xing + 4);
  if ((tag === 'Xing' || tag === 'Info') && frame.length >= xing + 12) {
    const flags = frame.readUInt32BE(xing + 4);
    if ((flags & 1) === 0) return undefined;
    const bytes = (flags & 2) !== 0 && frame.length >= xing + 16 ? frame.readUInt32BE(xing + 12) : 0;
    return { frames: frame.readUInt32BE(xing + 8), bytes };
  }
  if (frame.toString('latin1', 36, 40) === 'VBRI' && frame.length >= 54 && frame.readUInt16BE(40) === 1) return { frames: frame.readUInt32BE(50), bytes: frame.readUInt32BE(46) };
  return undefined;
}
