/**
 * Ogg Opus as libavformat's ogg demuxer reads it: one logical stream, the channel count of OpusHead, 48 kHz (what
 * every Opus decoder outputs), and the granule position of the last page, less the position the first audio page
 * starts at (its granule less the samples of its packets, each packet's length read from its TOC byte, as
 * opus_duration does). Anything else in Ogg (Vorbis, whose packet lengths need its setup header, FLAC, Theora, more
 * than one stream, chained streams, a first page that does not start at 0) goes to ffprobe.
 */
import { avFacts, sure, type AvFacts } from './facts.js';
import { readExactly, type ByteSource } from './source.js';

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
function crc(pageBytes: Buffer): number {
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

export async function readOgg(src: ByteSource): Promise<AvFacts> {
  const first = await page(src, 0);
  const idPacket = first.packets[0];
  sure((first.flags & 2) !== 0 && idPacket && first.packets.length === 1, 'no Ogg identification page');
  const id = await readExactly(src, idPacket.pos, Math.min(idPacket.bytes, 19), 'the Ogg identification header');
  sure(id.toString('latin1', 0, 8) === 'OpusHead' && id.length >= 19, 'not Ogg Opus');
  const channels = id.readUInt8(9);
  // Headers end on pages of their own; the first page with a granule position carries the first audio.
  let p = await page(src, first.end);
  while (p.granule <= 0n) {
    sure((p.flags & 2) === 0 && p.serial === first.serial, 'more than one stream in the Ogg file');
    p = await page(src, p.end);
  }
  sure((p.flags & 1) === 0 && p.serial === first.serial, 'the first Ogg audio page continues a packet');
  let samples = 0;
  for (const k of p.packets) samples += opusSamples(await readExactly(src, k.pos, Math.min(k.bytes, 2), 'an Opus packet'));
  sure(p.granule === BigInt(samples), 'the Ogg stream does not start at 0');
  const last = await lastPage(src);
  sure(last.serial === first.serial && last.granule > 0n, 'the last Ogg page is of another stream');
  sure(channels > 0, 'OpusHead without channels');
  return avFacts('ogg', Number(last.granule) / 48_000, undefined, { codec: 'opus', sampleRate: 48_000, channels });
}

/** The page that ends the file: the last capture pattern in its last 64 KB whose page ends exactly at the end. */
async function lastPage(src: ByteSource): Promise<Page> {
  const from = Math.max(0, src.size - 65_536);
  const tail = await src.read(from, src.size - from);
  for (let i = tail.lastIndexOf('OggS'); i >= 0; i = i > 0 ? tail.lastIndexOf('OggS', i - 1) : -1) {
    const p = await page(src, from + i).catch(() => undefined);
    if (p && p.end === src.size) return p;
  }
  sure(false, 'the Ogg file does not end on a whole page');
}
