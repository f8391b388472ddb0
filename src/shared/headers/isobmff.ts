/**
 * MP4, MOV and M4A (ISO base media) as libavformat's mov demuxer reads them: the duration of the movie header
 * (mvhd), which mov_read_mvhd makes the container's; per track the handler (vide/soun) and the first sample entry:
 * its codec, its picture size (checked against the track header's), and for AAC the rate and channels of the
 * AudioSpecificConfig (its rate checked against the sample entry's). Fragmented files, codecs not listed here and
 * any disagreement go to ffprobe.
 */
import { avFacts, steps, sure, type AudioTrack, type AvFacts, type VideoTrack } from './facts.js';
import { aacConfig } from './aac.js';
import { readExactly, type ByteSource } from './source.js';

export const MOV_FORMAT = 'mov,mp4,m4a,3gp,3g2,mj2';
/** Top-level boxes a file of this family starts with. */
export const MOV_TOP = new Set(['ftyp', 'moov', 'mdat', 'free', 'skip', 'wide', 'pnot']);
/** Picture codecs by sample entry, in ffmpeg's names (mp4v is MPEG-4 Part 2 only with object type 0x20). */
const VIDEO: Record<string, string> = { avc1: 'h264', avc3: 'h264', hvc1: 'hevc', hev1: 'hevc', av01: 'av1', vp09: 'vp9', mp4v: 'mpeg4' };
/** The largest movie header read into memory (an index of hours of video is a few MB). */
const MAX_MOOV = 64 * 1024 * 1024;

interface Box {
  readonly type: string;
  /** Where the body starts and ends. */
  readonly body: number;
  readonly end: number;
}

/** The boxes one after another in buf[from, to). */
function boxes(buf: Buffer, from: number, to: number): Box[] {
  const out: Box[] = [];
  const step = steps('MP4 boxes in one box');
  for (let pos = from; pos + 8 <= to; ) {
    step();
    let size = buf.readUInt32BE(pos);
    let head = 8;
    if (size === 1) {
      size = Number(buf.readBigUInt64BE(pos + 8));
      head = 16;
    } else if (size === 0) size = to - pos;
    sure(size >= head && pos + size <= to, 'an MP4 box that runs past its parent');
    out.push({ type: buf.toString('latin1', pos + 4, pos + 8), body: pos + head, end: pos + size });
    pos += size;
  }
  return out;
}

const child = (buf: Buffer, parent: Box, type: string) => boxes(buf, parent.body, parent.end).find((b) => b.type === type);

/** The moov box, found by walking the top-level box headers (it may follow the media data). */
async function findMoov(src: ByteSource): Promise<Buffer> {
  const step = steps('top-level MP4 boxes');
  for (let pos = 0; pos + 8 <= src.size; ) {
    step();
    const h = await src.read(pos, 16);
    sure(h.length >= 8, 'a cut MP4 box header');
    let size = h.readUInt32BE(0);
    const type = h.toString('latin1', 4, 8);
    if (size === 1) {
      sure(h.length === 16, 'a cut MP4 box header');
      size = Number(h.readBigUInt64BE(8));
    } else if (size === 0) size = src.size - pos;
    sure(size >= 8 && pos + size <= src.size, `the MP4 box ${JSON.stringify(type)} runs past the end of the file`);
    sure(type !== 'moof', 'a fragmented MP4');
    if (type === 'moov') {
      sure(size <= MAX_MOOV, 'an MP4 index over 64 MB');
      return readExactly(src, pos, size, 'the MP4 index');
    }
    pos += size;
  }
  sure(false, 'no MP4 index (moov)');
}

export async function readMov(src: ByteSource): Promise<AvFacts> {
  const buf = await findMoov(src);
  const [moov] = boxes(buf, 0, buf.length);
  sure(moov, 'no moov');
  const inside = boxes(buf, moov.body, moov.end);
  sure(!inside.some((b) => b.type === 'mvex'), 'a fragmented MP4 (mvex)');
  const mvhd = inside.find((b) => b.type === 'mvhd');
  sure(mvhd, 'no movie header');
  const v1 = buf.readUInt8(mvhd.body) === 1;
  const timescale = buf.readUInt32BE(mvhd.body + (v1 ? 20 : 12));
  const duration = v1 ? Number(buf.readBigUInt64BE(mvhd.body + 24)) : buf.readUInt32BE(mvhd.body + 16);
  sure(timescale > 0 && duration > 0, 'a movie header without a duration');
  let video: VideoTrack | undefined;
  let audio: AudioTrack | undefined;
  const traks = inside.filter((b) => b.type === 'trak');
  // A chapter track (referenced by a tref/chap) is one mov_read_header treats apart: ffprobe's to read.
  sure(!traks.some((t) => chapterRef(buf, t)), 'an MP4 with a chapter track');
  for (const trak of traks) {
    const t = track(buf, trak);
    if (t.kind === 'video') video ??= t.track;
    if (t.kind === 'audio') audio ??= t.track;
  }
  return avFacts(MOV_FORMAT, duration / timescale, video, audio);
}

/** Whether a track references chapters (tref/chap). */
function chapterRef(buf: Buffer, trak: Box): boolean {
  const tref = child(buf, trak, 'tref');
  return tref !== undefined && child(buf, tref, 'chap') !== undefined;
}

type Track = { kind: 'video'; track: VideoTrack } | { kind: 'audio'; track: AudioTrack };

function track(buf: Buffer, trak: Box): Track {
  const tkhd = child(buf, trak, 'tkhd');
  const mdia = child(buf, trak, 'mdia');
  const hdlr = mdia && child(buf, mdia, 'hdlr');
  sure(tkhd && hdlr, 'a track without a header or handler');
  const handler = buf.toString('latin1', hdlr.body + 8, hdlr.body + 12);
  // Subtitles, timecode, metadata, hint tracks: not skipped unseen, as ffprobe may count them otherwise.
  sure(handler === 'vide' || handler === 'soun', `an MP4 track of handler ${JSON.stringify(handler)}`);
  const minf = child(buf, mdia, 'minf');
  const stbl = minf && child(buf, minf, 'stbl');
  const stsd = stbl && child(buf, stbl, 'stsd');
  sure(stsd && buf.readUInt32BE(stsd.body + 4) >= 1, 'a track without a sample description');
  const [entry] = boxes(buf, stsd.body + 8, stsd.end);
  sure(entry, 'an empty sample description');
  if (handler === 'vide') {
    const v1 = buf.readUInt8(tkhd.body) === 1;
    const shown = { width: buf.readUInt32BE(tkhd.body + (v1 ? 88 : 76)) / 65536, height: buf.readUInt32BE(tkhd.body + (v1 ? 92 : 80)) / 65536 };
    return { kind: 'video', track: videoEntry(buf, entry, shown) };
  }
  return { kind: 'audio', track: audioEntry(buf, entry) };
}

function videoEntry(buf: Buffer, entry: Box, shown: { width: number; height: number }): VideoTrack {
  let codec = VIDEO[entry.type];
  sure(codec, `MP4 video sample entry ${JSON.stringify(entry.type)}`);
  const width = buf.readUInt16BE(entry.body + 24);
  const height = buf.readUInt16BE(entry.body + 26);
  // Non-square pixels or a crop make the track's size differ from the coded one: ffprobe decodes to tell.
  sure(width === shown.width && height === shown.height && width > 0, 'the sample entry and track header disagree on the picture size');
  if (entry.type === 'mp4v') {
    const esds = boxes(buf, entry.body + 78, entry.end).find((b) => b.type === 'esds');
    sure(esds && decoderConfig(buf, esds).objectType === 0x20, 'mp4v that is not MPEG-4 Part 2');
    codec = 'mpeg4';
  }
  return { codec, width, height };
}

function audioEntry(buf: Buffer, entry: Box): AudioTrack {
  sure(entry.type === 'mp4a', `MP4 audio sample entry ${JSON.stringify(entry.type)}`);
  // QuickTime sound descriptions of version 1 carry 16 more bytes (sizes per packet) before the child boxes.
  const version = buf.readUInt16BE(entry.body + 8);
  sure(version === 0 || version === 1, 'a QuickTime sound description of version 2');
  const channels = buf.readUInt16BE(entry.body + 16);
  const rate = buf.readUInt32BE(entry.body + 24) / 65536;
  const kids = boxes(buf, entry.body + 28 + version * 16, entry.end);
  // In QuickTime the esds sits inside a 'wave' box.
  const wave = kids.find((b) => b.type === 'wave');
  const esds = (wave ? boxes(buf, wave.body, wave.end) : kids).find((b) => b.type === 'esds');
  sure(esds, 'mp4a without esds');
  const dc = decoderConfig(buf, esds);
  sure(dc.objectType === 0x40 && dc.specific, 'mp4a that is not AAC with a decoder config');
  const asc = aacConfig(dc.specific);
  // The entry's channel count is a template (ffmpeg writes 2 for mono); its rate is the rate the muxer was told.
  sure(asc.sampleRate === rate && channels > 0, 'the AAC config and the sample entry disagree on the rate');
  return { codec: 'aac', sampleRate: asc.sampleRate, channels: asc.channels };
}

/** The object type and decoder-specific bytes of an esds box (ISO 14496-1 ES_Descriptor). */
function decoderConfig(buf: Buffer, esds: Box): { objectType: number; specific: Buffer | undefined } {
  let pos = esds.body + 4;
  const descriptor = (tag: number): number => {
    sure(buf.readUInt8(pos) === tag, `esds without descriptor ${tag}`);
    pos++;
    let len = 0;
    for (let i = 0; i < 4; i++) {
      const b = buf.readUInt8(pos++);
      len = len * 128 + (b & 0x7f);
      if (!(b & 0x80)) break;
    }
    return len;
  };
  descriptor(3);
  const flags = buf.readUInt8(pos + 2);
  pos += 3 + (flags & 0x80 ? 2 : 0) + (flags & 0x40 ? 1 + buf.readUInt8(pos + 3) : 0) + (flags & 0x20 ? 2 : 0);
  descriptor(4);
  const objectType = buf.readUInt8(pos);
  pos += 13;
  if (pos >= esds.end || buf.readUInt8(pos) !== 5) return { objectType, specific: undefined };
  const len = descriptor(5);
  sure(pos + len <= esds.end, 'a decoder config past its box');
  return { objectType, specific: buf.subarray(pos, pos + len) };
}
