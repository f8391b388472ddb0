/**
 * Matroska and WebM as libavformat's matroska demuxer reads them: the segment's Duration times its timestamp scale
 * (truncated to microseconds, as matroska_read_header stores it), and per track its type, codec ID and the picture
 * size or audio rate and channels. Info and Tracks must come before the first cluster (as muxers write them); a
 * file without a Duration (a live recording), cropped pictures, codec IDs not listed and any disagreement between
 * an audio track and its codec's own header go to ffprobe.
 */
import { aacConfig } from './aac.js';
import { avFacts, steps, sure, type AudioTrack, type AvFacts, type VideoTrack } from './facts.js';
import { readExactly, type ByteSource } from './source.js';

const VIDEO: Record<string, string> = { V_VP8: 'vp8', V_VP9: 'vp9', V_AV1: 'av1', 'V_MPEG4/ISO/AVC': 'h264', 'V_MPEGH/ISO/HEVC': 'hevc' };
const ID = { ebml: 0x1a45dfa3, docType: 0x4282, segment: 0x18538067, info: 0x1549a966, tracks: 0x1654ae6b, cluster: 0x1f43b675, scale: 0x2ad7b1, duration: 0x4489 };
const T = { entry: 0xae, type: 0x83, codec: 0x86, priv: 0x63a2, video: 0xe0, audio: 0xe1, width: 0xb0, height: 0xba, rate: 0xb5, outRate: 0x78b5, channels: 0x9f };
const CROP = new Set([0x54aa, 0x54bb, 0x54cc, 0x54dd]);

interface El {
  readonly id: number;
  readonly body: number;
  /** Undefined: unknown size (to the end of the parent). */
  readonly size: number | undefined;
}

/** A variable-length integer at b[pos]: its length and value (the marker bit kept for IDs, dropped for sizes). */
function vint(b: Buffer, pos: number, keepMarker: boolean): { len: number; value: number; allOnes: boolean } {
  const first = b.readUInt8(pos);
  const len = Math.clz32(first) - 23;
  sure(len >= 1 && len <= 8 && pos + len <= b.length, 'a damaged EBML number');
  let value = keepMarker ? first : first & (0xff >> len);
  let allOnes = value === 0xff >> len;
  for (let i = 1; i < len; i++) {
    const x = b.readUInt8(pos + i);
    value = value * 256 + x;
    allOnes &&= x === 0xff;
  }
  return { len, value, allOnes: allOnes && !keepMarker };
}

function header(b: Buffer, pos: number): El {
  const id = vint(b, pos, true);
  const size = vint(b, pos + id.len, false);
  return { id: id.value, body: pos + id.len + size.len, size: size.allOnes ? undefined : size.value };
}

/** The elements in b[from, to). */
function children(b: Buffer, from: number, to: number): El[] {
  const out: El[] = [];
  const step = steps('EBML elements in one element');
  for (let pos = from; pos < to; ) {
    step();
    const el = header(b, pos);
    sure(el.size !== undefined && el.body + el.size <= to, 'an EBML element past its parent');
    out.push(el);
    pos = el.body + el.size;
  }
  return out;
}

/** An unsigned integer element of up to 8 bytes; one past 2^53 (no Number holds it) is not read. */
function uint(b: Buffer, el: El): number {
  const size = el.size ?? 0;
  sure(size <= 8, 'an EBML integer over 8 bytes');
  let value = 0;
  for (let i = 0; i < size; i++) value = value * 256 + b.readUInt8(el.body + i);
  sure(value < 2 ** 53, 'an EBML integer past 2^53');
  return value;
}
const float = (b: Buffer, el: El) => (el.size === 8 ? b.readDoubleBE(el.body) : el.size === 4 ? b.readFloatBE(el.body) : NaN);
const text = (b: Buffer, el: El) => b.toString('latin1', el.body, el.body + (el.size ?? 0)).replace(/\0+$/, '');

export async function readMatroska(src: ByteSource): Promise<AvFacts> {
  const head = await src.read(0, 64);
  const ebml = header(head, 0);
  sure(ebml.id === ID.ebml && ebml.size !== undefined, 'no EBML header');
  const doc = children(head, ebml.body, ebml.body + ebml.size).find((e) => e.id === ID.docType);
  sure(doc && ['matroska', 'webm'].includes(text(head, doc)), 'an EBML file that is not Matroska');
  const segHead = await readExactly(src, ebml.body + ebml.size, 12, 'the Matroska segment');
  const seg = header(segHead, 0);
  sure(seg.id === ID.segment, 'no Matroska segment');
  const start = ebml.body + ebml.size + seg.body;
  const end = seg.size === undefined ? src.size : Math.min(src.size, start + seg.size);
  const top = await topLevel(src, start, end);
  const scale = top.info.find((e) => e.id === ID.scale);
  const timestampScale = scale ? uint(top.infoBuf, scale) : 1_000_000;
  const d = top.info.find((e) => e.id === ID.duration);
  const duration = d ? float(top.infoBuf, d) : NaN;
  sure(duration > 0 && timestampScale > 0, 'a Matroska segment without a duration');
  let video: VideoTrack | undefined;
  let audio: AudioTrack | undefined;
  for (const entry of top.tracks.filter((e) => e.id === T.entry)) {
    const t = trackEntry(top.tracksBuf, entry);
    if (t?.kind === 'video') video ??= t.track;
    if (t?.kind === 'audio') audio ??= t.track;
  }
  return avFacts('matroska,webm', Math.trunc((duration * timestampScale) / 1000) / 1e6, video, audio);
}

/** Info and Tracks, the segment's children read from the file, each element's header then (for these two) its body. */
async function topLevel(src: ByteSource, start: number, end: number) {
  let info: { buf: Buffer; els: El[] } | undefined;
  let tracks: { buf: Buffer; els: El[] } | undefined;
  const step = steps('Matroska elements before the tracks');
  for (let pos = start; pos < end && !(info && tracks); ) {
    step();
    const el = header(await src.read(pos, 12), 0);
    sure(el.id !== ID.cluster, 'Matroska Info or Tracks after the first cluster');
    sure(el.size !== undefined, 'a Matroska element of unknown size before the tracks');
    const bodyAt = pos + el.body;
    if (el.id === ID.info || el.id === ID.tracks) {
      sure(el.size <= 16 * 1024 * 1024, 'a Matroska header element over 16 MB');
      const buf = await readExactly(src, bodyAt, el.size, 'a Matroska header element');
      const read = { buf, els: children(buf, 0, buf.length) };
      if (el.id === ID.info) info = read;
      else tracks = read;
    }
    pos = bodyAt + el.size;
  }
  sure(info && tracks, 'no Matroska Info or Tracks');
  return { info: info.els, infoBuf: info.buf, tracks: tracks.els, tracksBuf: tracks.buf };
}

type Track = { kind: 'video'; track: VideoTrack } | { kind: 'audio'; track: AudioTrack } | undefined;

function trackEntry(b: Buffer, entry: El): Track {
  const els = children(b, entry.body, entry.body + (entry.size ?? 0));
  const get = (id: number) => els.find((e) => e.id === id);
  const typeEl = get(T.type);
  const type = typeEl ? uint(b, typeEl) : 0;
  if (type !== 1 && type !== 2) return undefined;
  const codecEl = get(T.codec);
  sure(codecEl, 'a Matroska track without a codec ID');
  const codecId = text(b, codecEl);
  const priv = get(T.priv);
  const privBytes = priv ? b.subarray(priv.body, priv.body + (priv.size ?? 0)) : undefined;
  if (type === 1) {
    const v = get(T.video);
    sure(v, 'a Matroska video track without video settings');
    const ve = children(b, v.body, v.body + (v.size ?? 0));
    sure(!ve.some((e) => CROP.has(e.id)), 'a cropped Matroska picture');
    const w = ve.find((e) => e.id === T.width);
    const h = ve.find((e) => e.id === T.height);
    const codec = VIDEO[codecId];
    sure(codec && w && h, `Matroska video codec ${codecId}`);
    return { kind: 'video', track: { codec, width: uint(b, w), height: uint(b, h) } };
  }
  const a = get(T.audio);
  const ae = a ? children(b, a.body, a.body + (a.size ?? 0)) : [];
  const rateEl = ae.find((e) => e.id === T.rate);
  const chEl = ae.find((e) => e.id === T.channels);
  const declared = { rate: rateEl ? float(b, rateEl) : 8000, channels: chEl ? uint(b, chEl) : 1 };
  sure(!ae.some((e) => e.id === T.outRate), 'a Matroska audio track with an output rate (SBR)');
  return { kind: 'audio', track: audioTrack(codecId, declared, privBytes) };
}

/** The rate and channels ffprobe reports, which come from the codec's own header: it must agree with the track's. */
function audioTrack(codecId: string, declared: { rate: number; channels: number }, priv: Buffer | undefined): AudioTrack {
  if (codecId === 'A_OPUS') {
    sure(priv && priv.length >= 19 && priv.toString('latin1', 0, 8) === 'OpusHead', 'Opus without OpusHead');
    sure(declared.rate === 48_000 && priv.readUInt8(9) === declared.channels, 'an Opus track that disagrees with its OpusHead');
    return { codec: 'opus', sampleRate: 48_000, channels: declared.channels };
  }
  sure(codecId === 'A_AAC' && priv, `Matroska audio codec ${codecId}`);
  const asc = aacConfig(priv);
  sure(asc.sampleRate === declared.rate && asc.channels === declared.channels, 'an AAC track that disagrees with its config');
  return { codec: 'aac', ...asc };
}
