/**
 * Ogg Opus and Ogg Vorbis as libavformat's ogg demuxer reads them: one logical stream, the channels of the
 * identification header, its rate (48 kHz for Opus: what every Opus decoder outputs), and the granule position of
 * the last page less where the first audio page starts (its granule less the samples of its packets: for Opus from
 * each packet's TOC byte as opus_duration counts, for Vorbis from the modes of the setup header as vorbis_parser
 * counts). Anything else in Ogg (FLAC, Speex, Theora, more than one stream, chained streams, a stream that starts
 * after 0, a page whose checksum fails) goes to ffprobe.
 */
import { avFacts, steps, sure, type AvFacts } from './facts.js';
import { readExactly, type ByteSource } from './source.js';
import { vorbisModes, vorbisSamples } from './vorbis.js';

interface Page {
  readonly pos: number;
  readonly flags: number;
  readonly granule: bigint;
  readonly serial: number;
  /** Bytes of each complete packet on the page (lacing values summed up to one under 255). */
  readonly packets: { readonly pos: number; readonly bytes: number }[];
  readonly end: number;
}

async function page(src: ByteSource, pos: number): Promise<Page> {
  const h = await readExactly(src, pos, 27, 'an Ogg page header');
  sure(h.toString('latin1', 0, 4) === 'OggS' && h.readUInt8(4) === 0, 'no Ogg page where one should start');
  const lacing = await readExactly(src, pos + 27, h.readUInt8(26), 'an Ogg segment table');
  const packets: { pos: number; bytes: number }[] = [];
  let at = pos + 27 + lacing.length;
  let bytes = 0;
  for (const l of lacing) {
    bytes += l;
    if (l < 255) {
      packets.push({ pos: at, bytes });
      at += bytes;
      bytes = 0;
    }
  }
  const end = at + bytes;
  sure(end <= src.size, 'an Ogg page past the end of the file');
  // As ogg_read_page: a page whose checksum does not match is not read.
  const whole = await readExactly(src, pos, end - pos, 'an Ogg page');
  sure(crc(whole) === h.readUInt32LE(22), 'an Ogg page with a bad checksum');
  return { pos, flags: h.readUInt8(5), granule: h.readBigInt64LE(6), serial: h.readUInt32LE(14), packets, end };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, i) => {
  let r = i << 24;
  for (let k = 0; k < 8; k++) r = r & 0x80000000 ? (r << 1) ^ 0x04c11db7 : r << 1;
  return r >>> 0;
});

/** The Ogg page checksum (CRC-32, polynomial 0x04c11db7, not reflected) with its own field counted as zeros. */
export function crc(pageBytes: Buffer): number {
  let c = 0;
  for (let i = 0; i < pageBytes.length; i++) {
    const byte = i >= 22 && i < 26 ? 0 : pageBytes.readUInt8(i);
    c = ((c << 8) ^ (CRC_TABLE[((c >>> 24) ^ byte) & 0xff] ?? 0)) >>> 0;
  }
  return c;
}

/** Samples at 48 kHz in one Opus packet, from its TOC byte (RFC 6716 3.1), as libavformat's opus_duration counts them. */
function opusSamples(p: Buffer): number {
  const toc = p.readUInt8(0);
  const config = toc >> 3;
  const size = config < 12 ? Math.max(480, 960 * (config & 3)) : config < 16 ? 480 << (config & 1) : 120 << (config & 3);
  const code = toc & 3;
  return size * (code === 3 ? (p.length > 1 ? p.readUInt8(1) & 0x3f : 0) : code === 0 ? 1 : 2);
}

/** The codec of a stream, from its identification packet: what ffprobe reports and how packet lengths are counted. */
interface Codec {
  readonly name: 'opus' | 'vorbis';
  readonly sampleRate: number;
  readonly channels: number;
  /** Header packets after the identification packet. */
  readonly headers: number;
  /** Whether a first page that starts before 0 counts as starting at 0 (vorbis_packet clamps, opus_packet does not). */
  readonly clamps: boolean;
}

function identify(id: Buffer): Codec {
  if (id.toString('latin1', 0, 8) === 'OpusHead' && id.length >= 19) return { name: 'opus', sampleRate: 48_000, channels: id.readUInt8(9), headers: 1, clamps: false };
  sure(id.toString('latin1', 0, 7) === '\x01vorbis' && id.length >= 30, 'Ogg that is neither Opus nor Vorbis');
  return { name: 'vorbis', sampleRate: id.readUInt32LE(12), channels: id.readUInt8(11), headers: 2, clamps: true };
}

export async function readOgg(src: ByteSource): Promise<AvFacts> {
  const first = await page(src, 0);
  const idPacket = first.packets[0];
  sure((first.flags & 2) !== 0 && idPacket && first.packets.length === 1 && first.end === idPacket.pos + idPacket.bytes, 'no Ogg identification page');
  const id = await readExactly(src, idPacket.pos, Math.min(idPacket.bytes, 64), 'the Ogg identification header');
  const codec = identify(id);
  sure(codec.channels > 0 && codec.sampleRate > 0, 'an Ogg stream without channels or rate');
  const { packets, next } = await headerPackets(src, first, codec.headers);
  // Audio starts on a page of its own: its granule position less the samples of its packets is where it starts.
  const p = await page(src, next);
  sure((p.flags & 3) === 0 && p.serial === first.serial && p.granule > 0n, 'the first Ogg audio page is not one');
  const firsts: Buffer[] = [];
  for (const k of p.packets) firsts.push(await readExactly(src, k.pos, Math.min(k.bytes, 2), 'an Ogg packet'));
  const samples = codec.name === 'opus' ? firsts.reduce((n, b) => n + opusSamples(b), 0) : vorbisSamples(vorbisModes(await setupOf(src, packets), blocksizes(id)), firsts.map((b) => b.readUInt8(0)));
  const startsAt = Number(p.granule) - samples;
  sure(startsAt === 0 || (codec.clamps && startsAt < 0), 'the Ogg stream does not start at 0');
  const last = await lastPage(src);
  sure(last.serial === first.serial && last.granule > 0n, 'the last Ogg page is of another stream');
  return avFacts('ogg', Number(last.granule) / codec.sampleRate, undefined, { codec: codec.name, sampleRate: codec.sampleRate, channels: codec.channels });
}

/** The largest Vorbis setup header read into memory. */
const MAX_SETUP = 1024 * 1024;
/** The most bytes of header pages (comments with cover art included) checked before the audio. */
const MAX_HEADER_PAGES = 16 * 1024 * 1024;

const blocksizes = (id: Buffer): [number, number] => [1 << (id.readUInt8(28) & 15), 1 << (id.readUInt8(28) >> 4)];

/** The setup header (the last header packet) in one buffer. */
async function setupOf(src: ByteSource, packets: { pos: number; bytes: number }[][]): Promise<Buffer> {
  const parts = packets[packets.length - 1] ?? [];
  // Real setup headers are a few KB; lacing values can claim hundreds of MB.
  sure(parts.reduce((n, r) => n + r.bytes, 0) <= MAX_SETUP, 'a Vorbis setup header over 1 MB');
  const bufs = await Promise.all(parts.map((r) => readExactly(src, r.pos, r.bytes, 'the Vorbis setup header')));
  const setup = Buffer.concat(bufs);
  sure(setup.toString('latin1', 0, 7) === '\x05vorbis', 'no Vorbis setup header');
  return setup;
}

/** `count` packets after the identification page, each as the byte ranges it spans over pages, and the page after. */
async function headerPackets(src: ByteSource, first: Page, count: number): Promise<{ packets: { pos: number; bytes: number }[][]; next: number }> {
  const packets: { pos: number; bytes: number }[][] = [];
  let current: { pos: number; bytes: number }[] = [];
  let pos = first.end;
  const step = steps('Ogg header pages');
  while (packets.length < count) {
    step();
    sure(pos - first.end <= MAX_HEADER_PAGES, 'Ogg header pages over 16 MB');
    const h = await readExactly(src, pos, 27, 'an Ogg page header');
    const lacing = await readExactly(src, pos + 27, h.readUInt8(26), 'an Ogg segment table');
    sure(h.toString('latin1', 0, 4) === 'OggS' && (h.readUInt8(5) & 2) === 0 && h.readUInt32LE(14) === first.serial, 'more than one stream in the Ogg file');
    await page(src, pos); // the checksum
    let at = pos + 27 + lacing.length;
    for (const l of lacing) {
      sure(packets.length < count, 'audio on a header page');
      const last = current[current.length - 1];
      if (last && last.pos + last.bytes === at) current[current.length - 1] = { pos: last.pos, bytes: last.bytes + l };
      else current.push({ pos: at, bytes: l });
      at += l;
      if (l < 255) {
        packets.push(current);
        current = [];
      }
    }
    pos = at;
  }
  return { packets, next: pos };
}

/** The page that ends the file: the last capture pattern in its last 64 KB whose page ends exactly at the end. */
async function lastPage(src: ByteSource): Promise<Page> {
  const from = Math.max(0, src.size - 65_536);
  const tail = await src.read(from, src.size - from);
  const step = steps('Ogg capture patterns in the last 64 KB');
  for (let i = tail.lastIndexOf('OggS'); i >= 0; i = i > 0 ? tail.lastIndexOf('OggS', i - 1) : -1) {
    step();
    const p = await page(src, from + i).catch(() => undefined);
    if (p && p.end === src.size) return p;
  }
  sure(false, 'the Ogg file does not end on a whole page');
}
